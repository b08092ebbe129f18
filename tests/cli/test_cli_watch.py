"""``watch`` survives a supervisor restart: it reconnects with backoff and resumes after the last
event it saw (no alert lost, none repeated); a guidance alert carries the question."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import anyio

from metawsm.control.client import ControlClient
from tests.supervisor.world import HOLD, World, wait_until

LATE_QUESTION = {
    "steps": [
        {"do": "say", "text": "thinking"},
        {"do": "sleep", "seconds": 20},
        {"do": "guidance", "question": "Left or right?", "timeout": 120},
        {"do": "hold"},
    ]
}


class Lines:
    """The stdout lines of a process, read as they come (a thread per process)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(json.loads(line))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [line for line in list(self.lines) if line.get("type") == kind]

    def alerts(self) -> list[dict[str, Any]]:
        return [line["alert"] for line in list(self.lines) if "alert" in line]


def test_watch_reconnects_after_a_supervisor_restart_and_alerts_once(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"asker": LATE_QUESTION})
    world.serve()
    run_id = world.json("run", "--ticket", "T-1", "--repos", "api", "--detach")["run_id"]
    watcher = subprocess.Popen(
        [sys.executable, "-m", "metawsm", "watch", "--ticket", "T-1", "--json", "--interval", "1"],
        cwd=world.root,
        env=world.env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out = Lines(watcher)
        wait_until(lambda: out.of("heartbeat"), what="the first heartbeat")
        first = world.servers[-1]
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
        wait_until(lambda: out.of("reconnecting"), what="watch reconnecting")
        assert watcher.poll() is None  # still watching, not failed
        world.serve()  # a new supervisor adopts the agent, which asks its question
        watcher.wait(timeout=90)
        _, err = watcher.communicate(timeout=10)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate()
    assert watcher.returncode == 0, err
    guidance = [a for a in out.alerts() if a["event"] == "guidance_needed"]
    assert len(guidance) == 1, out.lines
    assert guidance[0]["run_id"] == run_id
    assert "asker@" in guidance[0]["message"] and "asks: Left or right?" in guidance[0]["message"]
    delays = [line["delay_seconds"] for line in out.of("reconnecting")]
    assert delays == sorted(delays) and delays[0] > 0  # backoff, growing


def test_a_resumed_stream_replays_each_missed_event_once_in_order(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"hold": HOLD})
    world.serve()
    run_id = world.json("run", "--ticket", "T-1", "--repos", "api", "--detach")["run_id"]
    wait_until(lambda: world.status()["agents"][0]["status"] == "running", what="running")
    ids = [e.id for e in world.events(run_id)]
    assert len(ids) >= 4
    after = ids[1]
    seen: list[int] = []

    async def follow() -> None:
        params = {"run_id": run_id, "heartbeat_seconds": 0.5, "after_id": after}
        async with ControlClient(world.state_dir / "control.sock") as client:
            with anyio.fail_after(60):
                restarted = False
                async for note in client.stream("watch", params):
                    if note.method == "event":
                        seen.append(int(note.params["id"]))
                    if not restarted and seen and seen[-1] >= ids[-1]:
                        # Everything missed has come; now a live event must come once too.
                        restarted = True
                        await anyio.to_thread.run_sync(
                            lambda: world.cli(
                                "agent", "restart", "--run-id", run_id, "--agent", "hold"
                            )
                        )
                    if restarted and world.events(run_id)[-1].id in seen:
                        return

    anyio.run(follow)
    expected = [e.id for e in world.events(run_id) if e.id > after]
    # Every missed event, then the live ones, each once and in order: the store's sequence.
    assert seen == expected[: len(seen)]
    assert len(seen) > len([i for i in ids if i > after])
