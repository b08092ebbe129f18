"""Start failures: a child that raises, returns, or hangs before it reports started.

While the supervisor starts, such a failure stops the children already started (in reverse)
and ``run()`` raises :class:`StartFailed`; through ``start_child`` it raises and leaves no slot.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from actors_kit import Puppet, Stage, kinds, launch, launch_soon, puppets, settle
from anyio.abc import TaskStatus

from actors import (
    Actor,
    ChildSpec,
    FakeClock,
    StartFailed,
    Supervisor,
    SupervisorState,
)

pytestmark = pytest.mark.anyio


class Hang:
    """A child that never reports started; it logs when it is cancelled."""

    def __init__(self, id: str, stage: Stage, *, start_timeout: float) -> None:
        self.stage = stage
        self.spec = ChildSpec(id=id, run=self._run, start_timeout=start_timeout)

    async def _run(self, *, task_status: TaskStatus[Any]) -> None:
        self.stage.record("start", self.spec.id)
        try:
            await anyio.sleep_forever()
        finally:
            self.stage.record("end", self.spec.id)


def returns_early(id: str) -> ChildSpec:
    async def run(*, task_status: TaskStatus[Any]) -> None:
        return

    return ChildSpec(id=id, run=run)


async def test_child_raising_before_started_fails_run_and_stops_the_others_in_reverse(
    clock: FakeClock,
) -> None:
    stage = Stage()
    kids = puppets(stage, "abcd")
    kids["c"].fail_starts = 1
    sup = Supervisor("sup", [kid.spec for kid in kids.values()], clock=clock)
    with pytest.raises(StartFailed, match="child 'c' of 'sup'") as caught:
        await sup.run()
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert stage.starts() == ["a", "b"]
    assert stage.ends() == ["b", "a"]
    assert kids["d"].incarnations == 0
    assert sup.state is SupervisorState.STOPPED
    assert sup.reason is not None and sup.reason.startswith("start failed:")
    assert kinds(sup.events) == [
        ("a", "started"),
        ("b", "started"),
        ("c", "start_failed"),
        ("b", "stopped"),
        ("a", "stopped"),
        ("supervisor", "stopped"),
    ]
    c = {child.id: child for child in sup.which_children()}["c"]
    assert c.last_failure == "start failed: abnormal: RuntimeError: c cannot start"


async def test_child_returning_before_started_fails_run(clock: FakeClock) -> None:
    stage = Stage()
    kids = puppets(stage, "a")
    sup = Supervisor("sup", [kids["a"].spec, returns_early("quitter")], clock=clock)
    with pytest.raises(StartFailed, match="returned before reporting started"):
        await sup.run()
    assert stage.log == [("start", "a"), ("end", "a")]


async def test_child_not_reporting_started_in_time_fails_run_and_is_cancelled(
    clock: FakeClock,
) -> None:
    stage = Stage()
    first = Puppet("first", stage)
    hang = Hang("hang", stage, start_timeout=3.0)
    sup = Supervisor("sup", [first.spec, hang.spec], clock=clock)
    async with anyio.create_task_group() as tg:
        running = launch_soon(tg, sup)
        await clock.advance(2.999)
        assert not running.ended.is_set()
        assert sup.state is SupervisorState.STARTING
        await clock.advance(0.001)
    assert isinstance(running.error, StartFailed)
    assert "did not report started within 3s" in str(running.error)
    # The hung child was cancelled, then the one started before it.
    assert stage.log == [("start", "first"), ("start", "hang"), ("end", "hang"), ("end", "first")]


async def test_start_child_with_a_failing_spec_raises_and_leaves_no_slot(clock: FakeClock) -> None:
    stage = Stage()
    kids = puppets(stage, "ab")
    kids["b"].fail_starts = 1
    sup = Supervisor("sup", [kids["a"].spec], clock=clock)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        with pytest.raises(StartFailed, match="b cannot start"):
            await sup.start_child(kids["b"].spec)
        assert [child.id for child in sup.which_children()] == ["a"]
        assert sup.count_children() == {"total": 1, "running": 1}
        assert sup.state is SupervisorState.RUNNING
        # The id is free again: a second attempt that works is accepted.
        info = await sup.start_child(kids["b"].spec)
        assert info.state == "running" and info.dynamic
        await sup.stop()


async def test_start_child_that_hangs_times_out_and_is_cancelled(clock: FakeClock) -> None:
    stage = Stage()
    hang = Hang("hang", stage, start_timeout=1.0)
    sup = Supervisor("sup", [], clock=clock)
    failures: list[BaseException] = []
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)

        async def add() -> None:
            try:
                await sup.start_child(hang.spec)
            except StartFailed as exc:
                failures.append(exc)

        tg.start_soon(add)
        await clock.advance(1.0)
        assert len(failures) == 1
        assert stage.log == [("start", "hang"), ("end", "hang")]
        assert sup.which_children() == []
        await sup.stop()


async def test_start_child_failing_actor_closes_its_mailbox(clock: FakeClock) -> None:
    class Broken(Actor[str]):
        async def on_start(self) -> None:
            raise RuntimeError("no")

    spec = Broken.spec("broken", clock=clock)
    assert spec.mailbox is not None
    sup = Supervisor("sup", [], clock=clock)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        with pytest.raises(StartFailed):
            await sup.start_child(spec)
        assert spec.mailbox.ref.closed()
        await sup.stop()


async def test_start_child_cancelled_midway_leaves_no_child_running(clock: FakeClock) -> None:
    """The caller of start_child gives up (its scope is cancelled) before the child reports
    started: the half-started child must not keep running without a slot."""
    stage = Stage()
    hang = Hang("hang", stage, start_timeout=60.0)
    sup = Supervisor("sup", [], clock=clock)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        with anyio.CancelScope() as scope:
            tg.start_soon(_cancel_soon, scope)
            await sup.start_child(hang.spec)
        assert scope.cancelled_caught
        await settle()
        assert sup.which_children() == []
        assert stage.log == [("start", "hang"), ("end", "hang")]
        await sup.stop()


async def _cancel_soon(scope: anyio.CancelScope) -> None:
    await settle()
    scope.cancel()


@pytest.mark.parametrize(
    "options",
    [
        {"id": ""},
        {"shutdown": -1.0},
        {"start_timeout": 0.0},
    ],
    ids=["empty-id", "negative-shutdown", "zero-start-timeout"],
)
def test_faulty_child_specs_are_rejected(options: dict[str, Any]) -> None:
    async def run(*, task_status: TaskStatus[Any]) -> None:
        task_status.started()

    with pytest.raises(ValueError):
        ChildSpec(**{"id": "x", "run": run, **options})


@pytest.mark.parametrize("options", [{"intensity": -1}, {"period": 0.0}])
def test_faulty_supervisor_flags_are_rejected(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Supervisor("sup", [], **options)


async def test_a_running_supervisor_cannot_be_run_twice(clock: FakeClock) -> None:
    sup = Supervisor("sup", [], clock=clock)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        with pytest.raises(RuntimeError, match="already running"):
            await sup.run()
        await sup.stop()


async def test_a_stopped_supervisor_can_run_again_from_scratch(clock: FakeClock) -> None:
    stage = Stage()
    a = Puppet("a", stage)
    sup = Supervisor("sup", [a.spec], clock=clock)
    for _ in range(2):
        async with anyio.create_task_group() as tg:
            await launch(tg, sup)
            assert [(c.id, c.generation) for c in sup.which_children()] == [("a", 1)]
            await sup.stop()
    assert stage.log == [("start", "a"), ("end", "a")] * 2
