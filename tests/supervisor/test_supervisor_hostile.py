"""Hostile input against a real `metawsm serve`: planted pipes in signal folders, malformed and
held socket connections, a heartbeat of nothing, a brief with a key missing. The supervisor
answers each with an error where it came from and goes on serving everyone else.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from metawsm.agents.signals import GUIDANCE_REQUEST_FILE, SIGNAL_DIR_NAME, VALIDATION_RESULT_FILE
from metawsm.control.client import ControlClient
from metawsm.control.protocol import INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR
from metawsm.supervisor.agent import RECHECK_SECONDS
from tests.supervisor.world import HOLD, World, wait_until

#: A bound on every socket wait here: a hang fails the test.
LIMIT = 20.0
#: A pipe left in a signal folder is noticed at the agent's next recheck at the latest.
READ_WAIT = 3 * RECHECK_SECONDS


def _start(world: World) -> tuple[str, Path, str]:
    """Serve, start a run of one holding agent; its run id, workspace and session."""
    world.serve()
    out = world.json("run", "--ticket", "T-1", "--repos", "api", "--detach")
    run_id: str = out["run_id"]
    rows = wait_until(
        lambda: (rows := world.agent_rows(run_id)) and rows[0].status == "running" and rows,
        what="the agent to run",
    )
    return run_id, world.workspaces_dir / rows[0].workspace_name, rows[0].session_name


def _release(pipe: Path) -> None:
    """Free a reader blocked in ``open()`` of ``pipe`` (only the bug leaves one)."""
    try:
        fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    os.close(fd)


def test_a_planted_pipe_never_wedges_the_agents_actor(make_world: Callable[..., World]) -> None:
    world = make_world({"a": HOLD})
    run_id, workspace, session = _start(world)
    pipes = [
        workspace / SIGNAL_DIR_NAME / "agents" / "a" / GUIDANCE_REQUEST_FILE,
        workspace / "api" / SIGNAL_DIR_NAME / VALIDATION_RESULT_FILE,
    ]
    try:
        for pipe in pipes:
            pipe.parent.mkdir(parents=True, exist_ok=True)
            os.mkfifo(pipe)
        # The actor reads its folders at its next recheck (the agent's pane is quiet).
        problems = wait_until(
            lambda: (
                (
                    found := [
                        e
                        for e in world.events(run_id)
                        if e.event_type == "signal_problem" and "not a regular file" in e.message
                    ]
                )
                and len(found) == 2
                and found
            ),
            timeout=READ_WAIT,
            what="both pipes reported",
        )
        assert {p.message.split(":")[0] for p in problems} == {str(p) for p in pipes}
        # The actor still supervises: a killed agent is seen dead and respawned.
        os.kill(world.pane_pid(session), signal.SIGKILL)
        wait_until(
            lambda: (
                world.agent_rows(run_id)[0].generation == 2
                and world.agent_rows(run_id)[0].status == "running"
            ),
            what="the killed agent respawned",
        )
        # And a stop is answered (it timed out after 60 s with the actor wedged).
        out = world.cli("stop", "--run-id", run_id, "--json", timeout=LIMIT)
        assert json.loads(out.stdout)
        assert world.run_record(run_id).status == "stopped"
        assert world.sessions() == []
    finally:
        for pipe in pipes:
            _release(pipe)


async def _raw(path: Path, payload: bytes) -> dict[str, Any]:
    """Send ``payload`` on a connection of its own and read the one reply line."""
    with anyio.fail_after(LIMIT):
        async with await anyio.connect_unix(path) as stream:
            await stream.send(payload)
            line = await BufferedByteReceiveStream(stream).receive_until(b"\n", 1 << 20)
    reply: dict[str, Any] = json.loads(line)
    return reply


def _request(method: str, params: dict[str, Any], request_id: int = 5) -> bytes:
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    return json.dumps(body).encode() + b"\n"


HOSTILE: list[tuple[bytes, int, str]] = [
    (b'{"jsonrpc":"2.0","id":2.5,"method":"runs"}\n', INVALID_REQUEST, "id"),
    (b'{"jsonrpc":"2.0","id":[1],"method":"runs"}\n', INVALID_REQUEST, "id"),
    (b'{"jsonrpc":"2.0","id":{"x":1},"method":"runs"}\n', INVALID_REQUEST, "id"),
    (b"[" * 200_000 + b"\n", PARSE_ERROR, "nested too deeply"),
    (
        b'{"jsonrpc":"2.0","id":1,"method":"runs","params":{"x":'
        + b"[" * 5_000
        + b"]" * 5_000
        + b"}}\n",
        PARSE_ERROR,
        "nested too deeply",
    ),
    (_request("watch", {"heartbeat_seconds": 1e-9}), INVALID_PARAMS, "--interval"),
    (
        _request(
            "run.submit",
            {
                "request": {"tickets": ["T-9"], "repos": ["api"]},
                "brief": {
                    "ticket": "T-9",
                    "scope": "s",
                    "done_criteria": "d",
                    "constraints": "c",
                    "merge_intent": "default",
                },
            },
        ),
        INVALID_PARAMS,
        "brief.goal",
    ),
]


def test_hostile_clients_get_their_error_and_nobody_else_notices(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD})
    world.serve()
    sock = world.state_dir / "control.sock"

    async def scenario() -> None:
        async with ControlClient(sock, timeout=LIMIT) as watcher:
            stream = watcher.stream("watch", {"heartbeat_seconds": 0.5})
            first = await anext(stream)
            assert first.method == "heartbeat"
            for payload, code, words in HOSTILE:
                reply = await _raw(sock, payload)
                assert reply["error"]["code"] == code, (payload[:80], reply)
                assert words in reply["error"]["message"], reply
                # The watch stream is still served: its next heartbeat comes.
                with anyio.fail_after(LIMIT):
                    assert (await anext(stream)).method == "heartbeat"
            await stream.aclose()

        # 200 connections held open and idle: the CLI, another process, is still answered.
        held = []
        try:
            for _ in range(200):
                held.append(await anyio.connect_unix(sock))
            with anyio.fail_after(LIMIT):
                proc = await anyio.to_thread.run_sync(
                    lambda: world.cli("runs", "--json", timeout=LIMIT)
                )
            assert json.loads(proc.stdout) == []
        finally:
            for conn in held:
                await conn.aclose()

    anyio.run(scenario, backend="asyncio")
    # Nothing was submitted by the brief without a goal, and the supervisor never restarted.
    assert world.json("runs", "--all") == []
    assert len(world.servers) == 1 and world.servers[0].poll() is None
    assert "Traceback" not in world.serve_log()


BOUNDS = "--interval must be between 0.5 and 3600 seconds"


@pytest.mark.parametrize(
    ("interval", "words"),
    [
        ("0.1", BOUNDS),
        ("1e9", BOUNDS),
        # NaN crosses the socket as JSON null (pydantic's rendering of it): refused all the same.
        ("nan", "invalid params: heartbeat_seconds"),
    ],
)
def test_watch_refuses_an_interval_out_of_bounds(
    make_world: Callable[..., World], interval: str, words: str
) -> None:
    world = make_world({"a": HOLD})
    world.serve()
    proc = world.cli("watch", "--interval", interval, check=False, timeout=LIMIT)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and words in proc.stderr, proc.stderr
