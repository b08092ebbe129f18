"""Restart types (OTP permanent / transient / temporary) against the three ways a child ends:
a normal return, ``Shutdown`` raised (OTP's ``shutdown`` reason) and any other exception."""

from __future__ import annotations

import anyio
import pytest
from actors_kit import Ending, Puppet, Stage, generations, launch, settle

from actors import Backoff, FakeClock, Restart, Supervisor, SupervisorState

pytestmark = pytest.mark.anyio

NO_DELAY = Backoff(initial=0.0, cap=0.0)

# (restart type, ending) -> restarted?  OTP normal_/shutdown_/abnormal_termination groups.
TABLE = {
    (Restart.PERMANENT, Ending.RETURN): True,
    (Restart.PERMANENT, Ending.SHUTDOWN): True,
    (Restart.PERMANENT, Ending.CRASH): True,
    (Restart.TRANSIENT, Ending.RETURN): False,
    (Restart.TRANSIENT, Ending.SHUTDOWN): False,
    (Restart.TRANSIENT, Ending.CRASH): True,
    (Restart.TEMPORARY, Ending.RETURN): False,
    (Restart.TEMPORARY, Ending.SHUTDOWN): False,
    (Restart.TEMPORARY, Ending.CRASH): False,
}
EXIT_TEXT = {
    Ending.RETURN: "normal",
    Ending.SHUTDOWN: "shutdown",
    Ending.CRASH: "abnormal: RuntimeError: kid crashed",
}


@pytest.mark.parametrize(("restart", "ending"), list(TABLE), ids=lambda v: v.value)
async def test_restart_type_decides_whether_an_ended_child_restarts(
    restart: Restart, ending: Ending, clock: FakeClock
) -> None:
    stage = Stage()
    kid = Puppet("kid", stage, restart=restart)
    bystander = Puppet("bystander", stage)
    sup = Supervisor("sup", [kid.spec, bystander.spec], clock=clock, backoff=NO_DELAY)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        kid.end(ending)
        await settle()

        restarted = TABLE[restart, ending]
        children = {child.id: child for child in sup.which_children()}
        assert kid.incarnations == (2 if restarted else 1)
        if restarted:
            assert children["kid"].state == "running"
            assert children["kid"].generation == 2
            assert children["kid"].restarts == 1
        elif restart is Restart.TEMPORARY:
            # OTP: a temporary child's spec is not retained once it ends.
            assert "kid" not in children
        else:
            assert children["kid"].state == "exited"
            assert children["kid"].last_exit == EXIT_TEXT[ending]
            assert sup.count_children() == {"total": 2, "exited": 1, "running": 1}
        # Failure is only recorded for an abnormal exit.
        if "kid" in children:
            assert (children["kid"].last_failure is not None) == (ending is Ending.CRASH)
        # The bystander is never involved, and the supervisor keeps running.
        assert generations(sup)["bystander"] == 1
        assert sup.state is SupervisorState.RUNNING
        assert sup.info().recent_restarts == (1 if restarted else 0)
        await sup.stop()


@pytest.mark.parametrize("restart", list(Restart), ids=lambda r: r.value)
async def test_a_child_stopped_by_its_supervisor_is_not_restarted(
    restart: Restart, clock: FakeClock
) -> None:
    """Cancellation by the supervisor (terminate_child) is not an exit to restart from."""
    stage = Stage()
    kid = Puppet("kid", stage, restart=restart)
    sup = Supervisor("sup", [kid.spec], clock=clock, backoff=NO_DELAY)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        info = await sup.terminate_child("kid")
        await settle()
        assert info.state == "stopped"
        assert kid.incarnations == 1
        assert sup.which_children() == []
        assert sup.info().recent_restarts == 0
        await sup.stop()


async def test_ended_transient_child_is_not_stopped_again_at_shutdown(clock: FakeClock) -> None:
    stage = Stage()
    kid = Puppet("kid", stage, restart=Restart.TRANSIENT)
    sup = Supervisor("sup", [kid.spec], clock=clock)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        kid.end(Ending.RETURN)
        await settle()
        await sup.stop()
    assert [child.state for child in sup.which_children()] == ["exited"]
    assert [e.kind for e in sup.events if e.child == "kid"] == ["started", "exited"]
