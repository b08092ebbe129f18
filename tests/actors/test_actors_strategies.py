"""Restart strategies (OTP one_for_one / one_for_all / rest_for_one).

Three children a, b, c; crash one of them and check exactly which restarted (generations), in
which order the others were stopped (reverse start order) and everything started again (spec
order), both in the supervisor's events and in the order the children really ended and began.
"""

from __future__ import annotations

import anyio
import pytest
from actors_kit import Puppet, Stage, generations, kinds, puppets, settle, since, states

from actors import Backoff, FakeClock, Strategy, Supervisor, SupervisorGaveUp

pytestmark = pytest.mark.anyio

IDS = ("a", "b", "c")
NO_DELAY = Backoff(initial=0.0, cap=0.0)


def restarted_with(strategy: Strategy, crashed: str) -> list[str]:
    """The children OTP restarts when ``crashed`` fails, in start order."""
    if strategy is Strategy.ONE_FOR_ALL:
        return list(IDS)
    if strategy is Strategy.REST_FOR_ONE:
        return list(IDS[IDS.index(crashed) :])
    return [crashed]


def make(
    strategy: Strategy, clock: FakeClock, **options: object
) -> tuple[Stage, dict[str, Puppet], Supervisor]:
    stage = Stage()
    kids = puppets(stage, IDS)
    sup = Supervisor(
        "sup",
        [kid.spec for kid in kids.values()],
        strategy=strategy,
        clock=clock,
        backoff=NO_DELAY,
        **options,  # type: ignore[arg-type]
    )
    return stage, kids, sup


@pytest.mark.parametrize("strategy", list(Strategy), ids=lambda s: s.value)
@pytest.mark.parametrize("crashed", IDS)
async def test_crash_restarts_exactly_the_strategy_group(
    strategy: Strategy, crashed: str, clock: FakeClock
) -> None:
    stage, kids, sup = make(strategy, clock)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        assert stage.starts() == list(IDS)
        kids[crashed].crash()
        await settle()

        group = restarted_with(strategy, crashed)
        assert generations(sup) == {id: 2 if id in group else 1 for id in IDS}
        assert states(sup) == dict.fromkeys(IDS, "running")
        await sup.stop()
    assert {id: kid.incarnations for id, kid in kids.items()} == generations(sup)


@pytest.mark.parametrize("strategy", list(Strategy), ids=lambda s: s.value)
@pytest.mark.parametrize("crashed", IDS)
async def test_group_restart_stops_in_reverse_and_starts_in_spec_order(
    strategy: Strategy, crashed: str, clock: FakeClock
) -> None:
    stage, kids, sup = make(strategy, clock)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        stage.clear()
        mark = len(sup.events)

        kids[crashed].crash()
        await settle()

        group = restarted_with(strategy, crashed)
        others_reversed = [id for id in reversed(group) if id != crashed]
        expected: list[tuple[str, str]] = [(crashed, "exited")]
        expected += [(id, "stopped") for id in others_reversed]
        for id in group:
            if id == crashed:
                expected.append((id, "restarting"))
            expected.append((id, "started"))
        assert kinds(since(sup, mark)) == expected
        # What the children themselves saw: the crashed one ended, then the others one at a
        # time in reverse; only then did the group begin again, in spec order.
        assert stage.log == [("end", id) for id in [crashed, *others_reversed]] + [
            ("start", id) for id in group
        ]
        await sup.stop()


@pytest.mark.parametrize(
    "strategy", [Strategy.ONE_FOR_ALL, Strategy.REST_FOR_ONE], ids=lambda s: s.value
)
async def test_other_child_fails_restart_is_counted_retried_and_recovers(
    strategy: Strategy, clock: FakeClock
) -> None:
    """OTP ``X_other_child_fails_restart``: during the group restart after a crashes, c fails to
    start once; the failed start counts against the intensity, c is retried, all end running."""
    _, kids, sup = make(strategy, clock, intensity=3, period=5.0)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        mark = len(sup.events)
        kids["c"].fail_starts = 1

        kids["a"].crash()
        await settle()

        assert states(sup) == dict.fromkeys(IDS, "running")
        # c: 1 = first run, 2 = the failed start, 3 = the retry that worked.
        assert generations(sup) == {"a": 2, "b": 2, "c": 3}
        assert sup.info().recent_restarts == 2  # a's crash and c's failed start
        c = {child.id: child for child in sup.which_children()}["c"]
        assert c.last_failure is not None and "cannot start" in c.last_failure
        assert [e.kind for e in since(sup, mark) if e.child == "c"] == [
            "stopped",
            "start_failed",
            "restarting",
            "started",
        ]
        await sup.stop()


@pytest.mark.parametrize(
    "strategy", [Strategy.ONE_FOR_ALL, Strategy.REST_FOR_ONE], ids=lambda s: s.value
)
async def test_other_child_failing_every_restart_exhausts_the_intensity(
    strategy: Strategy, clock: FakeClock
) -> None:
    """A sibling that never starts again makes the supervisor give up, not loop forever (OTP
    ``hanging_restart_loop``): every failed start is one more restart in the window."""
    _, kids, sup = make(strategy, clock, intensity=3, period=5.0)
    with pytest.RaisesGroup(SupervisorGaveUp):
        async with anyio.create_task_group() as tg:
            await tg.start(sup.run)
            kids["c"].fail_starts = 100
            kids["a"].crash()
    assert sup.state.value == "given_up"
    assert kids["c"].incarnations == 1 + 3  # the first run, then 3 failed starts
    assert set(states(sup).values()) == {"stopped"}


async def test_children_after_a_delayed_child_wait_for_it(clock: FakeClock) -> None:
    """one_for_all, b crashes with a 2 s restart delay: a starts again at once, c only after b,
    so the group still starts in spec order."""
    stage, kids, sup = make(Strategy.ONE_FOR_ALL, clock)
    sup.backoff = Backoff(initial=2.0, jitter=0.0)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        stage.clear()
        kids["b"].crash()
        await settle()
        assert states(sup) == {"a": "running", "b": "restarting", "c": "stopped"}
        await clock.advance(2.0)
        assert states(sup) == dict.fromkeys(IDS, "running")
        assert stage.starts() == ["a", "b", "c"]
        await sup.stop()


async def test_a_crash_during_a_group_restart_delay_restarts_the_group_once(
    clock: FakeClock,
) -> None:
    stage, kids, sup = make(Strategy.ONE_FOR_ALL, clock)
    sup.backoff = Backoff(initial=2.0, jitter=0.0)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        kids["b"].crash()
        await settle()
        await clock.advance(1.0)
        stage.clear()
        kids["a"].crash()  # a had started again at once; b and c still wait
        await settle()
        assert states(sup) == {"a": "restarting", "b": "stopped", "c": "stopped"}
        await clock.advance(1.0)  # b's old delay is over, but a's group restart superseded it
        assert states(sup) == {"a": "restarting", "b": "stopped", "c": "stopped"}
        await clock.advance(1.0)
        assert states(sup) == dict.fromkeys(IDS, "running")
        assert stage.starts() == ["a", "b", "c"]
        assert generations(sup) == {"a": 3, "b": 2, "c": 2}
        await sup.stop()
