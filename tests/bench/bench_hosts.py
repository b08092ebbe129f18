"""SSH hosts against this machine: the same agents on H hosts (network namespaces, a real
OpenSSH sshd each) and on this machine, side by side in one run.

Two metawsm roots, each with one supervisor (``metawsm serve``), ``supervisor.tick_seconds`` =
1.0 and H runs of P scripted agents that hold (``METAWSM_BENCH_HOSTS``, default 5, and
``METAWSM_BENCH_PER_HOST``, default 50): in the remote root each run is placed on its own SSH
host (``--host h<i>``), in the local root every run is on this machine. The sshds run in their
own network namespaces joined by veth pairs (``tests/helpers/sshd.py``), with ``LogLevel
DEBUG1`` so the commands they run can be counted on their side.

Measured, the two roots interleaved where it matters:

1. ``status`` of one run through the control socket (connect, call, close), p50 and p95.
2. SSH connections per host, counted by sshd (``Accepted publickey`` lines), after the runs
   started and after the idle window.
3. Remote commands per host per tick over an idle window (exec requests in sshd's log).
4. ``kill -9`` of an agent's process (the namespaces share this machine's pids), a random pause
   first: time until status shows it running again as generation + 1, in ticks.
5. A host cut (``ip link set ... down``): time until ``hosts`` shows it ``unreachable``,
   against 2 ticks plus the keepalive period.

Run: ``.venv/bin/python -m tests.bench bench_hosts`` (as root: namespaces; several minutes,
the agents start one after another). Everything is stopped and deleted at the end.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from metawsm.control.client import ControlClient
from metawsm.docs.native import NativeDocsProvider
from metawsm.hosts import LocalHost
from tests.helpers.sshd import Sshd, make_sshd
from tests.supervisor.world import HOLD, World, wait_until

HOSTS = int(os.environ.get("METAWSM_BENCH_HOSTS", "5"))
PER_HOST = int(os.environ.get("METAWSM_BENCH_PER_HOST", "50"))
TICK = 1.0
KEEPALIVE = 2.0
STATUS_CALLS = 200
IDLE_WINDOW = 20.0
KILLS = 8


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _policy(hosts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "supervisor": {"tick_seconds": TICK, "shutdown_seconds": 20},
        "operator": {"restart_budget": 1000, "restart_cooldown_seconds": 1},
        "hosts": hosts,
    }


def _world(folder: Path, hosts: dict[str, dict[str, Any]]) -> World:
    folder.mkdir()
    agents = {f"a{i:03d}": HOLD for i in range(PER_HOST)}
    world = World(folder, agents, ticket="B-0", policy=_policy(hosts))
    docs = NativeDocsProvider(LocalHost(), str(folder / "ttmp"))
    for index in range(1, HOSTS):
        anyio.run(docs.create_ticket, f"B-{index}", "bench")
    return world


async def _call(world: World, method: str, params: dict[str, Any]) -> Any:
    async with ControlClient(world.root / ".metawsm" / "control.sock") as client:
        return await client.call(method, params, timeout=60)


def _status(world: World, run_id: str) -> dict[str, Any]:
    result: dict[str, Any] = anyio.run(
        _call, world, "status", {"run_id": run_id, "diffs": False}, backend="asyncio"
    )
    return result


def _hosts(world: World) -> dict[str, dict[str, Any]]:
    data = anyio.run(_call, world, "hosts", {}, backend="asyncio")
    return {row["name"]: row for row in data["hosts"]}


def _pane_pid(tmux: list[str], session: str) -> int:
    out = subprocess.run(
        [*tmux, "list-panes", "-t", f"={session}", "-F", "#{pane_pid}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.split()[0])


def _status_latency(pairs: list[tuple[World, str]]) -> list[list[float]]:
    """``status`` through the socket, the roots interleaved call by call."""

    async def measure() -> list[list[float]]:
        times: list[list[float]] = [[] for _ in pairs]
        for index in range(STATUS_CALLS):
            for slot, (world, run_id) in enumerate(pairs):
                started = time.perf_counter()
                await _call(world, "status", {"run_id": run_id, "diffs": False})
                if index >= 10:  # warm-up
                    times[slot].append((time.perf_counter() - started) * 1000)
        return times

    result: list[list[float]] = anyio.run(measure, backend="asyncio")
    return result


def _respawns(world: World, runs: list[str], tmux_for: Callable[[int], list[str]]) -> list[float]:
    """Kill agents' processes; ticks until each is running again as its next generation."""
    rng = random.Random(7)
    ticks: list[float] = []
    for kill in range(KILLS):
        index = kill % len(runs)
        run_id = runs[index]
        agent = _status(world, run_id)["agents"][kill % PER_HOST]
        session, generation = agent["session"], agent["generation"]
        pid = _pane_pid(tmux_for(index), session)
        time.sleep(rng.uniform(0.0, TICK))
        os.kill(pid, signal.SIGKILL)
        killed = time.perf_counter()

        def back(
            run_id: str = run_id, session: str = session, generation: int = generation
        ) -> bool:
            for row in _status(world, run_id)["agents"]:
                if row["session"] == session:
                    return bool(row["generation"] == generation + 1 and row["status"] == "running")
            return False

        wait_until(back, timeout=60, what=f"respawn of {session}")
        ticks.append((time.perf_counter() - killed) / TICK)
    return ticks


def main() -> None:
    if os.geteuid() != 0:
        print("bench_hosts needs root (network namespaces); skipped")
        return
    tmp = Path(tempfile.mkdtemp(prefix="mwbh-"))
    worlds: list[World] = []
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, tmp, True)
        servers: list[Sshd] = [
            stack.enter_context(make_sshd(netns=True, log_level="DEBUG1")) for _ in range(HOSTS)
        ]
        sockets = [str(tmp / f"h{i}.sock") for i in range(HOSTS)]
        for sock in sockets:
            stack.callback(subprocess.run, ["tmux", "-S", sock, "kill-server"], capture_output=True)
        remote_dir = tmp / "remote"
        hosts = {
            f"h{i}": server.host_policy(
                repos={"api": str(remote_dir / "repos" / "api")},
                workspaces_root=str(remote_dir / f"ws-h{i}"),
                tmux_socket=sockets[i],
                keepalive_seconds=KEEPALIVE,
            )
            for i, server in enumerate(servers)
        }
        remote = _world(remote_dir, hosts)
        local = _world(tmp / "local", {})
        worlds = [remote, local]
        for world in worlds:
            stack.callback(world.close)
        agents = ",".join(f"a{i:03d}" for i in range(PER_HOST))
        runs: dict[str, list[str]] = {"remote": [], "local": []}
        started = time.perf_counter()
        for name, world in (("remote", remote), ("local", local)):
            world.serve()
            for index in range(HOSTS):
                where = f"h{index}" if name == "remote" else "local"
                out = world.json(
                    "run", "--ticket", f"B-{index}", "--repos", "api", "--agent", agents,
                    "--host", where, "--detach",
                )  # fmt: skip
                runs[name].append(out["run_id"])
        print(f"{HOSTS} runs x {PER_HOST} agents started in each root in "
              f"{time.perf_counter() - started:.0f}s", flush=True)  # fmt: skip
        time.sleep(5 * TICK)
        logins_started = [s.accepted_logins() for s in servers]

        latency = _status_latency([(remote, runs["remote"][0]), (local, runs["local"][0])])
        execs_before = [s.exec_requests() for s in servers]
        time.sleep(IDLE_WINDOW)
        execs = [s.exec_requests() - b for s, b in zip(servers, execs_before, strict=True)]
        per_tick = [count / (IDLE_WINDOW / TICK) for count in execs]

        remote_respawn = _respawns(remote, runs["remote"], lambda i: ["tmux", "-S", sockets[i]])
        local_respawn = _respawns(
            local, runs["local"], lambda _: ["env", f"TMUX_TMPDIR={local.tmux_tmpdir}", "tmux",
                                             "-L", local.socket]
        )  # fmt: skip

        servers[0].cut()
        cut_at = time.perf_counter()
        wait_until(
            lambda: _hosts(remote)["h0"]["state"] == "unreachable", timeout=120, what="cut seen"
        )
        seen_after = time.perf_counter() - cut_at
        servers[0].restore()
        wait_until(lambda: _hosts(remote)["h0"]["state"] == "connected", timeout=120, what="return")
        logins_end = [s.accepted_logins() for s in servers]

        print("\n| measure | on SSH hosts | on this machine | ratio / bound |")
        print("|---|---|---|---|")
        r50, r95 = statistics.median(latency[0]), _p(latency[0], 0.95)
        l50, l95 = statistics.median(latency[1]), _p(latency[1], 0.95)
        print(f"| status via socket, p50 | {r50:.2f} ms | {l50:.2f} ms | {r50 / l50:.2f}x |")
        print(f"| status via socket, p95 | {r95:.2f} ms | {l95:.2f} ms | {r95 / l95:.2f}x "
              "(bound 1.5x) |")  # fmt: skip
        print(f"| SSH connections per host after start (sshd) | {logins_started} | - | 1 each |")
        print(f"| remote commands per host per tick, idle {IDLE_WINDOW:.0f}s | "
              f"{', '.join(f'{v:.2f}' for v in per_tick)} | - | 1 each |")  # fmt: skip
        print(f"| agent killed -> running as next generation, p50 | "
              f"{statistics.median(remote_respawn):.2f} ticks | "
              f"{statistics.median(local_respawn):.2f} ticks | |")  # fmt: skip
        print(f"| agent killed -> running as next generation, p95 | "
              f"{_p(remote_respawn, 0.95):.2f} ticks | {_p(local_respawn, 0.95):.2f} ticks | "
              "bound 1.5 ticks |")  # fmt: skip
        bound = 2 * TICK + KEEPALIVE
        print(f"| host cut -> shown unreachable | {seen_after:.2f} s | - | bound {bound:.1f} s "
              f"(2 ticks + keepalive {KEEPALIVE:g}s) |")  # fmt: skip
        print(f"| SSH connections per host at the end (one reconnect on h0) | {logins_end} | - | |")
        for world, ids in ((remote, runs["remote"]), (local, runs["local"])):
            for run_id in ids:
                with contextlib.suppress(AssertionError):
                    world.cli("stop", "--run-id", run_id, "--force")


if __name__ == "__main__":
    main()
