"""Restart intensity: at most ``intensity`` restarts within ``period`` seconds, counted per
supervisor across all its children; one more stops everything and escalates one level."""

from __future__ import annotations

import anyio
import pytest
from actors_kit import Puppet, Stage, generations, kinds, launch, puppets, settle, states

from actors import (
    Backoff,
    FakeClock,
    Strategy,
    Supervisor,
    SupervisorGaveUp,
    SupervisorState,
)

pytestmark = pytest.mark.anyio

NO_DELAY = Backoff(initial=0.0, cap=0.0)


def make(
    clock: FakeClock, ids: str = "ab", **options: object
) -> tuple[Stage, dict[str, Puppet], Supervisor]:
    stage = Stage()
    kids = puppets(stage, ids)
    sup = Supervisor(
        "sup",
        [kid.spec for kid in kids.values()],
        clock=clock,
        backoff=NO_DELAY,
        **options,  # type: ignore[arg-type]
    )
    return stage, kids, sup


async def crash(kid: Puppet) -> None:
    kid.crash()
    await settle()


async def test_intensity_crashes_within_the_period_are_survived(clock: FakeClock) -> None:
    _, kids, sup = make(clock, intensity=3, period=5.0)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        for _ in range(3):
            await crash(kids["a"])
        assert sup.state is SupervisorState.RUNNING
        assert generations(sup) == {"a": 4, "b": 1}
        assert sup.info().recent_restarts == 3
        await sup.stop()


async def test_one_restart_more_than_the_intensity_gives_up(clock: FakeClock) -> None:
    stage, kids, sup = make(clock, intensity=3, period=5.0)
    async with anyio.create_task_group() as tg:
        running = await launch(tg, sup)
        for _ in range(4):
            await crash(kids["a"])
    assert isinstance(running.error, SupervisorGaveUp)
    assert running.error.supervisor == "sup"
    assert sup.state is SupervisorState.GIVEN_UP
    assert sup.reason == running.error.reason
    assert sup.reason == (
        "4 restarts within 5s exceed intensity 3; last: child 'a' abnormal: RuntimeError: a crashed"
    )
    assert str(running.error) == f"supervisor 'sup' gave up: {sup.reason}"
    # Every child was stopped before run() raised: b, which never crashed, too.
    assert states(sup) == {"a": "stopped", "b": "stopped"}
    assert stage.ends()[-1] == "b"
    assert kinds(sup.events)[-2:] == [("supervisor", "given_up"), ("supervisor", "gave_up")]


async def test_run_raises_supervisor_gave_up(clock: FakeClock) -> None:
    _, kids, sup = make(clock, intensity=0, period=5.0)
    with pytest.RaisesGroup(pytest.RaisesExc(SupervisorGaveUp, match="exceed intensity 0")):
        async with anyio.create_task_group() as tg:
            await tg.start(sup.run)
            kids["a"].crash()


async def test_intensity_zero_gives_up_at_the_first_crash(clock: FakeClock) -> None:
    _, kids, sup = make(clock, intensity=0, period=5.0)
    async with anyio.create_task_group() as tg:
        running = await launch(tg, sup)
        await crash(kids["b"])
    assert isinstance(running.error, SupervisorGaveUp)
    assert generations(sup) == {"a": 1, "b": 1}


async def test_restarts_spread_beyond_the_period_are_survived(clock: FakeClock) -> None:
    """intensity + 1 crashes, but never more than ``intensity`` inside any window of ``period``
    seconds (the case triotp's per-child retry counter gets wrong)."""
    _, kids, sup = make(clock, intensity=3, period=5.0)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        for _ in range(8):
            await crash(kids["a"])
            await clock.advance(2.0)  # crashes at t = 0, 2, 4, 6, ...: at most 3 per 5 s
        assert sup.state is SupervisorState.RUNNING
        assert generations(sup)["a"] == 9
        assert sup.info().recent_restarts == 2  # at t=16: those at t=12 and t=14
        await sup.stop()


async def test_old_restarts_leave_the_window(clock: FakeClock) -> None:
    _, kids, sup = make(clock, intensity=2, period=5.0)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        await crash(kids["a"])
        await crash(kids["a"])
        assert sup.info().recent_restarts == 2
        await clock.advance(5.0)
        assert sup.info().recent_restarts == 0
        await crash(kids["a"])
        await crash(kids["a"])
        assert sup.state is SupervisorState.RUNNING
        await sup.stop()


async def test_restarts_are_counted_per_supervisor_across_children(clock: FakeClock) -> None:
    """Two children alternating crashes share one window (OTP), unlike a per-child count."""
    _, kids, sup = make(clock, intensity=3, period=5.0)
    async with anyio.create_task_group() as tg:
        running = await launch(tg, sup)
        await crash(kids["a"])
        await crash(kids["b"])
        await crash(kids["a"])
        assert sup.state is SupervisorState.RUNNING
        assert generations(sup) == {"a": 3, "b": 2}
        await crash(kids["b"])  # 2 crashes each, 4 for the supervisor
    assert isinstance(running.error, SupervisorGaveUp)
    assert "child 'b'" in running.error.reason


async def test_a_group_restart_counts_once(clock: FakeClock) -> None:
    """one_for_all restarts three children for one crash: that is one restart, not three."""
    _, kids, sup = make(clock, "abc", strategy=Strategy.ONE_FOR_ALL, intensity=1, period=5.0)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        await crash(kids["b"])
        assert sup.state is SupervisorState.RUNNING
        assert generations(sup) == {"a": 2, "b": 2, "c": 2}
        assert sup.info().recent_restarts == 1
        await sup.stop()


async def test_nested_supervisor_escalates_exactly_one_level(clock: FakeClock) -> None:
    """inner gives up; outer restarts inner once and keeps running; grandparent is untouched."""
    stage = Stage()
    x = Puppet("x", stage)
    w = Puppet("w", stage)
    inner = Supervisor("inner", [x.spec], clock=clock, backoff=NO_DELAY, intensity=1)
    outer = Supervisor("outer", [w.spec, inner.spec()], clock=clock, backoff=NO_DELAY, intensity=3)
    grand = Supervisor("grand", [outer.spec()], clock=clock, backoff=NO_DELAY, intensity=3)
    async with anyio.create_task_group() as tg:
        await launch(tg, grand)
        await crash(x)  # inner restarts x: 1 restart, within its intensity
        assert generations(inner) == {"x": 2}
        marks = {s.name: len(s.events) for s in (inner, outer, grand)}

        await crash(x)  # 2 > 1: inner gives up

        assert kinds(list(inner.events)[marks["inner"] :]) == [
            ("x", "exited"),
            ("supervisor", "given_up"),
            ("supervisor", "gave_up"),
            # outer's restart of inner: a fresh run
            ("x", "started"),
            ("supervisor", "started"),
        ]
        assert kinds(list(outer.events)[marks["outer"] :]) == [
            ("inner", "exited"),
            ("inner", "restarting"),
            ("inner", "started"),
        ]
        assert list(grand.events)[marks["grand"] :] == []
        assert outer.state is SupervisorState.RUNNING
        assert generations(outer) == {"w": 1, "inner": 2}
        assert outer.info().recent_restarts == 1
        [inner_info] = [c for c in outer.which_children() if c.id == "inner"]
        assert inner_info.last_failure is not None and "gave up" in inner_info.last_failure
        # inner runs again, with fresh counters and a fresh x.
        assert inner.state is SupervisorState.RUNNING
        assert inner.info().recent_restarts == 0
        assert generations(inner) == {"x": 1}
        assert grand.state is SupervisorState.RUNNING
        assert generations(grand) == {"outer": 1}
        assert grand.info().recent_restarts == 0
        await grand.stop()
    assert {s.state for s in (inner, outer, grand)} == {SupervisorState.STOPPED}
