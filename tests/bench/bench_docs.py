"""The docs federation: ``docs`` from memory against ``status``, and a poll of 20 endpoints.

Two measurements against real ``docmgr api serve`` processes (``make tools``):

* ``docs`` and ``status --no-diffs`` over the control socket (one connection per call, as the
  CLI makes), interleaved in shuffled order in one run, with a supervisor that federates 4
  repo endpoints and serves its run's workspace; p50 and p95 of each. Limit: ``docs`` p95 at
  most 2x ``status`` p95 (both answer from memory: the federation's snapshot, the status cache).
* one :class:`~metawsm.supervisor.docs_federation.DocsFederation` poll of 20 endpoints (docs
  roots of 5 to 100 tickets) against a poll of each endpoint alone, every round; the medians
  over rounds of the 20-endpoint poll and of the slowest single poll. Limit: 1.5x (the polls
  run concurrently; a sequential poll would cost their sum).

Run: ``.venv/bin/python -m tests.bench bench_docs``.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from typing import Any

import anyio

from metawsm.control.client import ControlClient
from metawsm.docs.federation import Endpoint
from metawsm.supervisor.docs_federation import DocsFederation
from tests.bench.bench_supervisor import Root, log
from tests.helpers.docmgr_server import DocmgrServer
from tests.helpers.docs import TicketSpec, build_docs_root
from tests.helpers.sshd import free_port
from tests.helpers.tools import find_tool

SOCKET_ROUNDS = int(os.environ.get("METAWSM_BENCH_DOCS_ROUNDS", "300"))
POLL_ROUNDS = int(os.environ.get("METAWSM_BENCH_POLL_ROUNDS", "15"))
LIMITS = {"docs p95 / status p95": 2.0, "20 endpoints / slowest single": 1.5}


def _docs_root(base: Path, name: str, tickets: int) -> Path:
    specs = [TicketSpec(f"{name.upper()}-{i}", f"Ticket {i} of {name}") for i in range(tickets)]
    return build_docs_root(base / name / "ttmp", *specs)


def _start_all(servers: list[DocmgrServer]) -> None:
    for server in servers:
        server.launch()
    for server in servers:
        server.wait_ready()


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _socket_rounds(root: Root) -> dict[str, list[float]]:
    params = {
        "status": {"run_id": root.run_id, "diffs": False},
        "docs": {},
    }
    times: dict[str, list[float]] = {name: [] for name in params}
    for _ in range(SOCKET_ROUNDS):
        order = list(params)
        random.shuffle(order)
        for name in order:
            started = time.perf_counter()
            async with ControlClient(root.control_socket) as client:
                await client.call(name, params[name], timeout=60)
            times[name].append((time.perf_counter() - started) * 1000)
    return times


async def _wait_federated(root: Root, expected: int) -> dict[str, Any]:
    with anyio.fail_after(300):
        while True:
            async with ControlClient(root.control_socket) as client:
                data: dict[str, Any] = await client.call("docs", {}, timeout=60)
            if sum(1 for e in data["endpoints"] if e["reachable"]) >= expected:
                return data
            await anyio.sleep(0.5)


def _socket_bench(docmgr: Path, base: Path) -> dict[str, list[float]]:
    with ExitStack() as stack:
        servers = [DocmgrServer(docmgr, _docs_root(base, f"r{i}", 20)) for i in range(4)]
        _start_all(servers)
        for server in servers:
            stack.callback(server.stop)
        root = Root(1)
        stack.callback(root.close)
        policy_file = root.dir / ".metawsm" / "policy.json"
        policy = json.loads(policy_file.read_text())
        policy["docs"] = {
            "api": {
                "poll_interval_seconds": 2,
                "repo_endpoints": [
                    {"name": f"r{i}", "base_url": s.base_url, "repo": f"r{i}"}
                    for i, s in enumerate(servers)
                ],
            }
        }
        policy_file.write_text(json.dumps(policy))
        root.serve_env["PATH"] = f"{docmgr.parent}{os.pathsep}{root.serve_env['PATH']}"
        root.start()
        data = anyio.run(_wait_federated, root, 5, backend="asyncio")
        log(f"federating {len(data['endpoints'])} endpoints, {len(data['tickets'])} tickets")
        log(f"{SOCKET_ROUNDS} rounds of status and docs over the socket")
        return anyio.run(_socket_rounds, root, backend="asyncio")


async def _poll_rounds(endpoints: list[Endpoint]) -> dict[str, list[float]]:
    together = DocsFederation(endpoints, interval=60.0, timeout=30.0, stale_after=900.0)
    alone = [DocsFederation([e], interval=60.0, timeout=30.0, stale_after=900.0) for e in endpoints]
    times: dict[str, list[float]] = {"together": [], "slowest": [], "sum": []}
    async with AsyncExitStack() as sessions:
        for fed in [together, *alone]:
            await sessions.enter_async_context(fed.session())
        await together.poll_once(all_endpoints=True)  # warm the connections
        for fed in alone:
            await fed.poll_once(all_endpoints=True)
        for _ in range(POLL_ROUNDS):
            singles = []
            for fed in random.sample(alone, len(alone)):
                started = time.perf_counter()
                await fed.poll_once(all_endpoints=True)
                singles.append((time.perf_counter() - started) * 1000)
            times["slowest"].append(max(singles))
            times["sum"].append(sum(singles))
            started = time.perf_counter()
            await together.poll_once(all_endpoints=True)
            times["together"].append((time.perf_counter() - started) * 1000)
    assert all(s.reachable for s in together.snapshots.values()), together.snapshots
    return times


def _poll_bench(docmgr: Path, base: Path) -> dict[str, dict[str, list[float]]]:
    sizes = [5 + 5 * i for i in range(20)]
    with ExitStack() as stack:
        servers = [DocmgrServer(docmgr, _docs_root(base, f"p{i}", n)) for i, n in enumerate(sizes)]
        _start_all(servers)
        for server in servers:
            stack.callback(server.stop)
        local = [Endpoint(f"p{i}", "repo", s.base_url, f"p{i}") for i, s in enumerate(servers)]
        # The same servers as remote endpoints: 20 to 96 ms of one-way latency each.
        ports = [free_port() for _ in servers]
        specs = [
            f"{p}:{s.port}:{20 + 4 * i}"
            for i, (p, s) in enumerate(zip(ports, servers, strict=True))
        ]
        proxy = subprocess.Popen(
            [sys.executable, "-m", "tests.helpers.latency_proxy", *specs],
            stdout=subprocess.PIPE,
            text=True,
        )
        stack.callback(lambda: (proxy.kill(), proxy.wait()))
        assert proxy.stdout is not None and proxy.stdout.readline().strip() == "ready"
        remote = [
            Endpoint(f"p{i}", "repo", f"http://127.0.0.1:{p}", f"p{i}") for i, p in enumerate(ports)
        ]
        log(f"{POLL_ROUNDS} rounds: 20 single polls, then one poll of all 20 (local, then remote)")
        return {
            "local": anyio.run(_poll_rounds, local, backend="asyncio"),
            "remote": anyio.run(_poll_rounds, remote, backend="asyncio"),
        }


def main() -> None:
    docmgr = find_tool("docmgr")
    if docmgr is None:
        print("docmgr is not installed (`make tools`): nothing measured.")
        return
    random.seed(20261202)
    home = Path(tempfile.mkdtemp(prefix="mwd-", dir="/tmp"))
    os.environ["XDG_CONFIG_HOME"] = str(home / "xdg")
    times = _socket_bench(docmgr, home)
    polls = _poll_bench(docmgr, home)
    status_p95, docs_p95 = _p(times["status"], 0.95), _p(times["docs"], 0.95)
    print(
        f"{SOCKET_ROUNDS} rounds of `status --no-diffs` and `docs` over the control socket, "
        "shuffled; supervisor up with one holding agent, 4 repo endpoints and its workspace's "
        "docmgr server (20 tickets each)."
    )
    print()
    print("| call | p50 ms | p95 ms |")
    print("|---|---:|---:|")
    for name in ("status", "docs"):
        print(f"| {name} | {_p(times[name], 0.5):.2f} | {_p(times[name], 0.95):.2f} |")
    ratio = docs_p95 / status_p95
    print()
    print(
        f"docs p95 / status p95 = {ratio:.2f} (limit {LIMITS['docs p95 / status p95']}): "
        f"{'ok' if ratio <= LIMITS['docs p95 / status p95'] else 'OVER'}"
    )
    print()
    print(
        f"{POLL_ROUNDS} rounds against 20 real docmgr servers (5 to 100 tickets), on loopback and "
        "as remote endpoints (a proxy adding 20 to 96 ms of latency to each): each endpoint "
        "polled alone, then all 20 in one poll; medians over rounds."
    )
    print()
    print(
        "| endpoints | slowest single ms | sum of singles ms | all 20 in one poll ms | × slowest |"
    )
    print("|---|---:|---:|---:|---:|")
    limit = LIMITS["20 endpoints / slowest single"]
    for name, figures in polls.items():
        slowest = statistics.median(figures["slowest"])
        together = statistics.median(figures["together"])
        total = statistics.median(figures["sum"])
        print(
            f"| {name} | {slowest:.1f} | {total:.1f} | {together:.1f} | {together / slowest:.2f} |"
        )
    remote = polls["remote"]
    poll_ratio = statistics.median(remote["together"]) / statistics.median(remote["slowest"])
    print()
    print(
        f"remote: 20 endpoints / slowest single = {poll_ratio:.2f} (limit {limit}): "
        f"{'ok' if poll_ratio <= limit else 'OVER'}"
    )
