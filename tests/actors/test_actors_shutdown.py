"""The shutdown ladder: cancel, wait up to the child's grace, then abandon it; BRUTAL_KILL and
INFINITY; children stop one at a time in reverse start order, whether the supervisor is stopped
or the scope running it is cancelled."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from actors_kit import Puppet, Stage, kinds, launch, puppets, settle, states
from anyio.abc import TaskStatus

from actors import (
    BRUTAL_KILL,
    INFINITY,
    ChildSpec,
    FakeClock,
    Supervisor,
    SupervisorState,
)

pytestmark = pytest.mark.anyio


def stubborn(id: str, release: anyio.Event, *, shutdown: float) -> ChildSpec:
    """A child that ignores cancellation until the test sets ``release``."""

    async def run(*, task_status: TaskStatus[Any]) -> None:
        task_status.started()
        with anyio.CancelScope(shield=True):
            await release.wait()

    return ChildSpec(id=id, run=run, shutdown=shutdown)


async def stop_in_background(
    tg: anyio.abc.TaskGroup, sup: Supervisor, clock: FakeClock
) -> list[float]:
    """Call ``sup.stop()`` in a task; the list receives the virtual time it returned at."""
    returned_at: list[float] = []

    async def stop() -> None:
        await sup.stop()
        returned_at.append(clock.now())

    tg.start_soon(stop)
    await settle()
    return returned_at


async def test_child_ignoring_cancellation_is_abandoned_after_its_grace(clock: FakeClock) -> None:
    release = anyio.Event()
    sup = Supervisor("sup", [stubborn("mule", release, shutdown=2.0)], clock=clock)
    async with anyio.create_task_group() as tg:
        running = await launch(tg, sup)
        try:
            returned_at = await stop_in_background(tg, sup, clock)

            await clock.advance(1.999)
            assert returned_at == []
            assert states(sup) == {"mule": "stopping"}
            await clock.advance(0.001)
            assert returned_at == [2.0]

            [mule] = sup.which_children()
            assert mule.state == "stopped"
            assert mule.abandoned == 1
            assert mule.last_failure == "ignored cancellation for 2s; abandoned (stopped)"
            assert ("mule", "abandoned") in kinds(sup.events)
            assert sup.state is SupervisorState.STOPPED
            # Python cannot kill a task: run() ends once the abandoned one finally does.
            assert not running.ended.is_set()
        finally:
            release.set()  # the test's own cleanup: let the abandoned task end
    assert running.ended.is_set() and running.error is None


async def test_brutal_kill_does_not_wait_for_the_child(clock: FakeClock) -> None:
    release = anyio.Event()
    sup = Supervisor("sup", [stubborn("mule", release, shutdown=BRUTAL_KILL)], clock=clock)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        try:
            returned_at = await stop_in_background(tg, sup, clock)
            assert returned_at == [0.0]  # no virtual time passed
            assert kinds(sup.events, ["killed", "stopped", "abandoned"]) == [
                ("mule", "killed"),
                ("supervisor", "stopped"),
            ]
        finally:
            release.set()


async def test_infinity_waits_as_long_as_the_child_takes(clock: FakeClock) -> None:
    stage = Stage(clock)
    slow = Puppet("slow", stage, shutdown=INFINITY, cleanup=1000.0)
    sup = Supervisor("sup", [slow.spec], clock=clock)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        returned_at = await stop_in_background(tg, sup, clock)
        await clock.advance(999.0)
        assert returned_at == []
        await clock.advance(1.0)
        assert returned_at == [1000.0]
    assert kinds(sup.events, ["stopped", "abandoned"]) == [
        ("slow", "stopped"),
        ("supervisor", "stopped"),
    ]
    assert sup.which_children()[0].abandoned == 0


async def test_stop_stops_children_one_at_a_time_in_reverse_start_order(
    clock: FakeClock,
) -> None:
    stage = Stage(clock)
    kids = puppets(stage, "abc", cleanup=1.0)
    sup = Supervisor("sup", [kid.spec for kid in kids.values()], clock=clock)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        returned_at = await stop_in_background(tg, sup, clock)
        await clock.advance(3.0)
        assert returned_at == [3.0]
    ends = [(child, at) for what, child, at in stage.timeline if what == "end"]
    assert ends == [("c", 1.0), ("b", 2.0), ("a", 3.0)]
    assert kinds(sup.events, ["stopped"]) == [
        ("c", "stopped"),
        ("b", "stopped"),
        ("a", "stopped"),
        ("supervisor", "stopped"),
    ]


async def test_clean_stop_leaves_every_child_stopped(clock: FakeClock) -> None:
    stage = Stage()
    kids = puppets(stage, "abc")
    sup = Supervisor("sup", [kid.spec for kid in kids.values()], clock=clock)
    async with anyio.create_task_group() as tg:
        running = await launch(tg, sup)
        await sup.stop()
    assert running.error is None
    assert sup.state is SupervisorState.STOPPED
    assert sup.reason == "stopped"
    assert states(sup) == dict.fromkeys("abc", "stopped")
    assert sup.count_children() == {"total": 3, "stopped": 3}
    assert stage.ends() == ["c", "b", "a"]


async def test_stop_on_a_stopped_supervisor_returns_at_once(clock: FakeClock) -> None:
    sup = Supervisor("sup", [], clock=clock)
    await sup.stop()  # never ran
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        await sup.stop()
    await sup.stop()
    assert sup.state is SupervisorState.STOPPED


async def test_cancelling_the_scope_running_the_supervisor_stops_children_in_reverse_order(
    clock: FakeClock,
) -> None:
    """Ctrl-C in steady state: the children are stopped by the ladder, one at a time, in
    reverse start order, not all cancelled at once by the outer scope."""
    stage = Stage(clock)
    kids = puppets(stage, "abc", cleanup=1.0)
    sup = Supervisor("sup", [kid.spec for kid in kids.values()], clock=clock)
    outcome: list[str] = []
    async with anyio.create_task_group() as tg:
        scope = anyio.CancelScope()

        async def run_under_scope() -> None:
            with scope:
                await sup.run()
            outcome.append("cancelled" if scope.cancelled_caught else "returned")

        tg.start_soon(run_under_scope)
        await settle()
        assert states(sup) == dict.fromkeys("abc", "running")

        scope.cancel()
        await clock.advance(3.0)
    assert outcome == ["cancelled"]
    ends = [(child, at) for what, child, at in stage.timeline if what == "end"]
    assert ends == [("c", 1.0), ("b", 2.0), ("a", 3.0)]
    assert sup.state is SupervisorState.STOPPED
    assert sup.reason == "cancelled"
    assert states(sup) == dict.fromkeys("abc", "stopped")


async def test_cancelling_during_startup_stops_the_children_already_started(
    clock: FakeClock,
) -> None:
    """Ctrl-C while the supervisor starts: what started is stopped in reverse, the rest never
    starts."""
    stage = Stage()
    kids = puppets(stage, "ab")
    hang_started = anyio.Event()

    async def hang(*, task_status: TaskStatus[Any]) -> None:
        hang_started.set()
        await anyio.sleep_forever()

    slow = ChildSpec(id="slow", run=hang, start_timeout=60.0)
    late = puppets(stage, "z")["z"]
    sup = Supervisor("sup", [kids["a"].spec, kids["b"].spec, slow, late.spec], clock=clock)
    async with anyio.create_task_group() as tg:
        scope = anyio.CancelScope()

        async def run_under_scope() -> None:
            with scope:
                await sup.run()

        tg.start_soon(run_under_scope)
        await hang_started.wait()
        await settle()
        scope.cancel()
    assert stage.starts() == ["a", "b"]
    assert stage.ends() == ["b", "a"]
    assert late.incarnations == 0
    assert sup.state is SupervisorState.STOPPED
    assert states(sup) == {"a": "stopped", "b": "stopped", "slow": "stopped", "z": "stopped"}
