"""Actor crashes, in process: the supervisor tree of `metawsm serve` on a real private tmux.

A stale tick handled late does not pass for a vanished session. An actor crash (a bug: here
an unknown message) is not an agent crash. The run supervisor
restarts the actor; the new incarnation re-adopts the live tmux session, keeps the agent's
generation and starts nothing. It then supervises the agent as before.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from actors import ChildInfo, Supervisor
from metawsm.core import SubmitParams
from metawsm.hosts.tmux import Snapshot
from metawsm.runs.spec import RunRequest
from metawsm.status import LiveAgent
from metawsm.store.records import AgentRecord
from metawsm.supervisor.agent import _Observed
from metawsm.supervisor.environment import Environment
from metawsm.supervisor.observer import Tick
from metawsm.supervisor.serve import serve
from metawsm.supervisor.service import ServiceCore
from tests.supervisor.world import HOLD, World

WAIT = 15.0


def _child(sup: Supervisor, child_id: str) -> ChildInfo:
    return next(c for c in sup.which_children() if c.id == child_id)


async def _until(predicate: Callable[[], Any], what: str) -> Any:
    """Poll ``predicate`` (bounded) until it returns something truthy."""
    with anyio.move_on_after(WAIT):
        while True:
            if value := predicate():
                return value
            await anyio.sleep(0.05)
    raise AssertionError(f"timed out after {WAIT}s waiting for {what}")


def test_a_crashed_agent_actor_is_restarted_and_readopts_its_session(
    make_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world({"a": HOLD})
    monkeypatch.setenv("TMUX_TMPDIR", str(world.tmux_tmpdir))
    monkeypatch.delenv("TMUX", raising=False)
    env = Environment.load(root=world.root)
    checked: list[str] = []

    async def row_of(run_id: str) -> AgentRecord:
        rows = await anyio.to_thread.run_sync(world.agent_rows, run_id)
        assert len(rows) == 1
        return rows[0]

    async def job(core: ServiceCore) -> None:
        request = RunRequest(tickets=["T-1"], repos=["api"])
        submitted = await core.submit_run(SubmitParams(request=request))
        run_id = submitted["run_id"]
        run_child = core.runs_sup.child_spec(run_id)
        assert run_child is not None and run_child.supervisor is not None
        run_sup = run_child.supervisor
        row = await row_of(run_id)
        agent_id = f"{row.agent_name}@{row.workspace_name}"
        key = (row.agent_name, row.workspace_name)
        assert _child(run_sup, agent_id).generation == 1
        sessions = await anyio.to_thread.run_sync(world.sessions)
        assert sessions == [row.session_name]
        pid = await anyio.to_thread.run_sync(world.pane_pid, row.session_name)

        spec = run_sup.child_spec(agent_id)
        assert spec is not None and spec.mailbox is not None

        # A tick taken before the session existed and handled late (ticks queue up in the
        # inbox while a Start is handled) is no evidence that the session vanished.
        before = time.time() - 5
        spec.mailbox.ref.send_nowait(_Observed(Tick(1, Snapshot({}, before), None, before)))
        await anyio.sleep(0.6)  # three more ticks
        assert not [e for e in world.events(run_id) if e.to_state == "dead"]
        assert await anyio.to_thread.run_sync(world.pane_pid, row.session_name) == pid

        # A bug in the actor: a message it does not know crashes it.
        spec.mailbox.ref.send_nowait(object())
        info = await _until(
            lambda: (c := _child(run_sup, agent_id)).generation == 2 and c.state == "running" and c,
            "the agent actor restarted",
        )
        assert info.restarts == 1
        assert "TypeError" in (info.last_failure or "")

        # The new incarnation adopted the live session: same pane, same generation.
        def adopted() -> bool:
            return any(
                e.event_type == "adopted" and e.entity_id == agent_id and e.generation == 1
                for e in world.events(run_id)
            )

        await _until(lambda: adopted(), "an adopted event")
        assert await anyio.to_thread.run_sync(world.sessions) == sessions
        assert await anyio.to_thread.run_sync(world.pane_pid, row.session_name) == pid
        row = await row_of(run_id)
        assert (row.status, row.generation, row.restart_count) == ("running", 1, 0)
        live = core.live(run_id)
        assert live is not None
        assert (live[key].status, live[key].generation) == ("running", 1)
        starts = [e for e in world.events(run_id) if e.message.startswith("started in tmux")]
        assert len(starts) == 1  # nothing was started a second time
        checked.append("adopted")

        # And it supervises the agent as before: a killed agent process is respawned.
        os.kill(pid, signal.SIGKILL)

        def respawned() -> LiveAgent | None:
            now = (core.live(run_id) or {}).get(key)
            return now if now is not None and now.generation == 2 and now.alive else None

        await _until(respawned, "the agent respawned as generation 2")
        checked.append("respawned")

        # A crash of the run controller restarts it alone; the agent actor keeps running.
        controller = run_sup.child_spec("controller")
        assert controller is not None and controller.mailbox is not None
        controller.mailbox.ref.send_nowait(object())
        await _until(
            lambda: (c := _child(run_sup, "controller")).generation == 2 and c.state == "running",
            "the controller restarted",
        )
        await anyio.sleep(0.5)  # its re-adoption pass has run
        assert _child(run_sup, agent_id).generation == 2  # not restarted by that
        assert await anyio.to_thread.run_sync(world.sessions) == sessions
        row = await row_of(run_id)
        assert (row.status, row.generation) == ("running", 2)
        checked.append("controller")

    async def main() -> None:
        await serve(env, job=job)

    anyio.run(main, backend="asyncio")
    assert checked == ["adopted", "respawned", "controller"]
    assert world.sessions() != []  # the supervisor stopped; the agent did not
