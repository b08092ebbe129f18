"""The forum through a real supervisor: reads against bare SQLite, and concurrent commands.

Side by side in one run, on one database of 1,000 threads with 10 posts each:

- **list bare**: the SQLite query that reads the same rows ``forum list --json --limit 1000``
  returns (the thread views, in the forum's order), on a connection kept open;
- **list socket**: ``forum.list`` with limit 1000 over the control socket of a running
  ``metawsm serve`` (one client connection kept open: request, query, JSON both ways);
- **commands**: 10 concurrent clients, 500 forum commands each (posts with event ids on random
  threads, every tenth an answer), through the socket; errors counted, and every event id
  looked up afterwards (lost = acknowledged but not stored). Beside it, the store events/s
  those commands produced.

Run: ``.venv/bin/python -m tests.bench.bench_forum`` (or ``make bench``).
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

from metawsm.control.client import ControlClient
from metawsm.forum import store as fs
from metawsm.store.db import connect, write_transaction
from metawsm.store.schema import migrate

THREADS = 1000
POSTS = 10
REPEATS = 15
CLIENTS = 10
COMMANDS = 500

_BARE = (
    "SELECT thread_id, ticket, run_id, agent_name, title, state, priority, assignee_type,"
    " assignee_name, posts_count, updated_at FROM forum_thread_views ORDER BY CASE priority"
    " WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 WHEN 'low' THEN 3 ELSE 4"
    " END, updated_at DESC, thread_id LIMIT ?"
)


def _fill(db: Path) -> list[str]:
    conn = connect(db)
    migrate(conn)
    rng = random.Random(1)
    ids: list[str] = []

    def body(c: object) -> None:
        for n in range(THREADS):
            out = fs.open_thread(
                conn,
                fs.Open(
                    ticket=f"T-{n % 20}",
                    title=f"Question {n}",
                    body="Which database should the cache use, and why?",
                    actor=("agent", f"agent-{n % 7}"),
                    run_id=f"run-{n % 5}",
                    priority=rng.choice(["low", "normal", "high", "urgent"]),
                ),
            )
            ids.append(out.thread["thread_id"])
            for p in range(POSTS - 1):
                fs.add_post(conn, fs.Post(ids[-1], f"post {p} of thread {n}", ("operator", "op")))

    write_transaction(conn, lambda c: body(c))
    conn.close()
    return ids


def _serve(root: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "metawsm", "serve"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TMUX_TMPDIR": str(root)},
    )
    sock = root / ".metawsm" / "control.sock"
    deadline = time.monotonic() + 60
    while not sock.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("the supervisor did not start")
        time.sleep(0.1)
    return proc


async def _list_socket(sock: Path) -> list[float]:
    times = []
    async with ControlClient(sock) as client:
        await client.call("forum.list", {"limit": THREADS})
        for _ in range(REPEATS):
            started = time.perf_counter()
            result = await client.call("forum.list", {"limit": THREADS})
            times.append(time.perf_counter() - started)
            assert len(result["threads"]) == THREADS
    return times


def _list_bare(db: Path) -> list[float]:
    conn = connect(db, readonly=True)
    conn.execute(_BARE, (THREADS,)).fetchall()
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        rows = conn.execute(_BARE, (THREADS,)).fetchall()
        times.append(time.perf_counter() - started)
        assert len(rows) == THREADS
    conn.close()
    return times


async def _commands(sock: Path, ids: list[str]) -> tuple[float, int, list[str]]:
    errors = 0
    sent: list[str] = []

    async def client(number: int) -> None:
        nonlocal errors
        rng = random.Random(number)
        async with ControlClient(sock, timeout=120) as conn:
            for i in range(COMMANDS):
                event_id = f"bench-{number}-{i}"
                method = "forum.answer" if i % 10 == 0 else "forum.ask"
                params = (
                    {"thread_id": rng.choice(ids), "body": f"answer {i}", "event_id": event_id}
                    if method == "forum.answer"
                    else {
                        "ticket": "T-B",
                        "title": f"bench {number}/{i}",
                        "body": "b",
                        "event_id": event_id,
                    }
                )
                try:
                    await conn.call(method, params, timeout=120)
                    sent.append(event_id)
                except Exception:
                    errors += 1

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for n in range(CLIENTS):
            tg.start_soon(client, n)
    return time.perf_counter() - started, errors, sent


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mwb-forum-") as tmp:
        root = Path(tmp)
        (root / ".metawsm").mkdir()
        policy = {"forum": {"docs_sync": {"enabled": False}}, "tmux": {"socket": "mwb-forum"}}
        (root / ".metawsm" / "policy.json").write_text(json.dumps(policy))
        db = root / ".metawsm" / "metawsm.db"
        fill_started = time.perf_counter()
        ids = _fill(db)
        fill = time.perf_counter() - fill_started
        proc = _serve(root)
        try:
            sock = root / ".metawsm" / "control.sock"
            bare = _list_bare(db)
            socket_times = anyio.run(_list_socket, sock, backend="asyncio")
            bare2 = _list_bare(db)
            before = fs.last_sequence(connect(db, readonly=True))
            elapsed, errors, sent = anyio.run(_commands, sock, ids, backend="asyncio")
            conn = connect(db, readonly=True)
            after = fs.last_sequence(conn)
            stored = {
                r[0]
                for r in conn.execute(
                    "SELECT event_id FROM forum_events WHERE event_id LIKE 'bench-%'"
                ).fetchall()
            }
            conn.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        lost = len([e for e in sent if e not in stored])
        bare_ms = statistics.median(bare + bare2) * 1000
        sock_ms = statistics.median(socket_times) * 1000
        total = CLIENTS * COMMANDS
        print(f"{THREADS} threads x {POSTS} posts ({THREADS * POSTS} posts) filled in {fill:.1f}s")
        print()
        print("| read (1,000 threads) | median ms | ratio |")
        print("|---|---|---|")
        print(f"| bare SQLite query | {bare_ms:.2f} | 1.0x |")
        print(f"| forum.list through the socket | {sock_ms:.2f} | {sock_ms / bare_ms:.1f}x |")
        print()
        print("| commands | clients x commands | errors | lost | commands/s | store events/s |")
        print("|---|---|---|---|---|---|")
        print(
            f"| ask + answer (1 in 10) | {CLIENTS} x {COMMANDS} | {errors} | {lost} |"
            f" {total / elapsed:.0f} | {(after - before) / elapsed:.0f} |"
        )


if __name__ == "__main__":
    main()
