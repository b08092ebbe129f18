"""Restart delays: exponential with jitter, capped, forgiven after a stable run, visible as the
``restarting`` state, and no obstacle to stopping."""

from __future__ import annotations

import random

import anyio
import pytest
from actors_kit import Puppet, Stage, launch, settle, states
from hypothesis import given
from hypothesis import strategies as st

from actors import Backoff, FakeClock, Supervisor, SupervisorState

pytestmark = pytest.mark.anyio

SEED = 20240601
BACKOFF = Backoff(initial=1.0, factor=2.0, cap=10.0, jitter=0.2, stable_after=60.0)


def make(clock: FakeClock, backoff: Backoff = BACKOFF) -> tuple[Puppet, Supervisor]:
    kid = Puppet("kid", Stage())
    sup = Supervisor(
        "sup",
        [kid.spec],
        clock=clock,
        backoff=backoff,
        rng=random.Random(SEED),
        intensity=100,
        period=1.0,
    )
    return kid, sup


async def crash_and_read_delay(kid: Puppet, sup: Supervisor, clock: FakeClock) -> float:
    """Crash the kid; return the delay the supervisor chose, after checking what it shows."""
    kid.crash()
    await settle()
    [info] = sup.which_children()
    assert info.state == "restarting"
    assert info.next_restart_at is not None
    delay = info.next_restart_at - clock.now()
    await clock.advance(delay)
    [info] = sup.which_children()
    assert info.state == "running"
    assert info.next_restart_at is None
    return delay


async def test_delays_grow_by_the_factor_within_the_jitter_and_stop_at_the_cap(
    clock: FakeClock,
) -> None:
    kid, sup = make(clock)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        delays = [await crash_and_read_delay(kid, sup, clock) for _ in range(7)]
        await sup.stop()
    bases = [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    for delay, base in zip(delays, bases, strict=True):
        assert base * 0.8 <= delay <= min(10.0, base * 1.2)
    # Exactly what a Random with the same seed gives: the supervisor's rng is the only source.
    rng = random.Random(SEED)
    assert delays == pytest.approx([BACKOFF.delay(n, rng) for n in range(1, 8)])
    assert len(set(delays)) == len(delays)  # jittered: no two restarts in lockstep


async def test_restart_waits_for_its_delay_in_the_restarting_state(clock: FakeClock) -> None:
    kid, sup = make(clock, Backoff(initial=4.0, jitter=0.0, stable_after=60.0))
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        kid.crash()
        await settle()
        [info] = sup.which_children()
        assert (info.state, info.next_restart_at) == ("restarting", 4.0)
        assert sup.count_children() == {"total": 1, "restarting": 1}
        assert [e.detail for e in sup.events if e.kind == "restarting"] == ["in 4.000s"]
        await clock.advance(3.999)
        assert kid.incarnations == 1
        await clock.advance(0.001)
        assert kid.incarnations == 2
        assert states(sup) == {"kid": "running"}
        await sup.stop()


async def test_a_stable_run_resets_the_delay(clock: FakeClock) -> None:
    kid, sup = make(
        clock, Backoff(initial=1.0, factor=2.0, cap=100.0, jitter=0.0, stable_after=30.0)
    )
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        assert [await crash_and_read_delay(kid, sup, clock) for _ in range(3)] == [1.0, 2.0, 4.0]
        await clock.advance(29.0)  # not yet stable: the next delay keeps growing
        assert await crash_and_read_delay(kid, sup, clock) == 8.0
        await clock.advance(30.0)  # this incarnation ran stable_after seconds
        assert await crash_and_read_delay(kid, sup, clock) == 1.0
        assert await crash_and_read_delay(kid, sup, clock) == 2.0
        await sup.stop()


async def test_stop_during_a_restart_delay_returns_promptly(clock: FakeClock) -> None:
    kid, sup = make(clock, Backoff(initial=1000.0, cap=1000.0, jitter=0.0))
    async with anyio.create_task_group() as tg:
        running = await launch(tg, sup)
        kid.crash()
        await settle()
        assert states(sup) == {"kid": "restarting"}
        await sup.stop()  # no virtual time passes
        assert clock.now() == 0.0
        await settle()
        assert running.ended.is_set() and running.error is None
    assert sup.state is SupervisorState.STOPPED
    [info] = sup.which_children()
    assert (info.state, info.next_restart_at) == ("stopped", None)
    assert kid.incarnations == 1


async def test_zero_initial_delay_restarts_at_once(clock: FakeClock) -> None:
    kid, sup = make(clock, Backoff(initial=0.0, cap=0.0))
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        kid.crash()
        await settle()
        assert kid.incarnations == 2
        assert clock.now() == 0.0
        await sup.stop()


# -- Backoff.delay as a function (no event loop) ------------------------------------------------

backoffs = st.builds(
    lambda initial, factor, extra, jitter: Backoff(
        initial=initial, factor=factor, cap=initial + extra, jitter=jitter
    ),
    initial=st.floats(0.0, 100.0),
    factor=st.floats(1.0, 10.0),
    extra=st.floats(0.0, 1000.0),
    jitter=st.floats(0.0, 0.99),
)


@given(backoff=backoffs, n=st.integers(-3, 500), seed=st.integers(0, 2**32))
def test_delay_is_always_between_zero_and_the_cap(backoff: Backoff, n: int, seed: int) -> None:
    delay = backoff.delay(n, random.Random(seed))
    assert 0.0 <= delay <= backoff.cap


@given(backoff=backoffs, n=st.integers(1, 500))
def test_delay_without_jitter_never_decreases(backoff: Backoff, n: int) -> None:
    plain = Backoff(initial=backoff.initial, factor=backoff.factor, cap=backoff.cap, jitter=0.0)
    rng = random.Random(0)
    assert plain.delay(n, rng) <= plain.delay(n + 1, rng)


@given(backoff=backoffs, n=st.integers(1, 60), seed=st.integers(0, 2**32))
def test_jitter_stays_within_its_fraction_of_the_base(backoff: Backoff, n: int, seed: int) -> None:
    base = min(backoff.cap, backoff.initial * backoff.factor ** (n - 1))
    delay = backoff.delay(n, random.Random(seed))
    assert (
        base * (1 - backoff.jitter) - 1e-9
        <= delay
        <= min(backoff.cap, base * (1 + backoff.jitter)) + 1e-9
    )


@pytest.mark.parametrize(
    "options",
    [
        {"initial": -1.0},
        {"factor": 0.5},
        {"initial": 2.0, "cap": 1.0},
        {"jitter": 1.0},
        {"jitter": -0.1},
        {"stable_after": 0.0},
    ],
)
def test_invalid_backoff_is_rejected(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**options)


async def test_a_restart_delay_does_not_hold_up_the_other_children(clock: FakeClock) -> None:
    """While a waits out its delay, b's crash is handled at once (b gets its own delay)."""
    a, b = Puppet("a", Stage()), Puppet("b", Stage())
    sup = Supervisor(
        "sup", [a.spec, b.spec], clock=clock, backoff=Backoff(initial=10.0, jitter=0.0)
    )
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        a.crash()
        await settle()
        await clock.advance(4.0)
        b.crash()
        await settle()
        assert states(sup) == {"a": "restarting", "b": "restarting"}
        assert [c.next_restart_at for c in sup.which_children()] == [10.0, 14.0]
        await clock.advance(6.0)
        assert states(sup) == {"a": "running", "b": "restarting"}
        await clock.advance(4.0)
        assert states(sup) == {"a": "running", "b": "running"}
        await sup.stop()


async def test_dynamic_children_come_and_go_during_a_restart_delay(clock: FakeClock) -> None:
    kid, sup = make(clock, Backoff(initial=1000.0, cap=1000.0, jitter=0.0))
    other = Puppet("other", Stage())
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        kid.crash()
        await settle()
        with anyio.fail_after(5):  # real seconds: neither call may wait for the delay
            await sup.start_child(other.spec)
            await sup.terminate_child("other")
        assert clock.now() == 0.0
        assert states(sup) == {"kid": "restarting"}
        await sup.stop()
