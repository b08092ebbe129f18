"""The kernel's clocks: FakeClock moves only when told (or autojumps), like trio's MockClock,
and behaves like SystemClock at the edges (zero and infinite timeouts)."""

from __future__ import annotations

import math

import anyio
import pytest
from actors_kit import settle
from anyio.lowlevel import checkpoint

from actors import SYSTEM_CLOCK, Clock, FakeClock, SystemClock

pytestmark = pytest.mark.anyio


async def test_advance_wakes_sleepers_in_deadline_order_at_their_deadlines(
    clock: FakeClock,
) -> None:
    woke: list[tuple[str, float]] = []

    async def nap(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    async with anyio.create_task_group() as tg:
        for name, seconds in [("late", 3.0), ("early", 1.0), ("middle", 2.0)]:
            tg.start_soon(nap, name, seconds)
        await settle()
        assert clock.pending() == 3
        await clock.advance(2.5)
        assert woke == [("early", 1.0), ("middle", 2.0)]
        assert clock.now() == 2.5
        await clock.advance(0.5)
    assert woke == [("early", 1.0), ("middle", 2.0), ("late", 3.0)]
    assert clock.pending() == 0


async def test_a_sleep_started_by_a_woken_task_fires_within_the_same_advance(
    clock: FakeClock,
) -> None:
    woke: list[float] = []

    async def chain() -> None:
        await clock.sleep(1.0)
        woke.append(clock.now())
        await clock.sleep(1.0)
        woke.append(clock.now())

    async with anyio.create_task_group() as tg:
        tg.start_soon(chain)
        await settle()
        await clock.advance(5.0)
    assert woke == [1.0, 2.0]
    assert clock.now() == 5.0


async def test_move_on_after_cancels_at_its_deadline(clock: FakeClock) -> None:
    outcome: list[float] = []

    async def wait() -> None:
        with clock.move_on_after(2.0) as scope:
            await anyio.sleep_forever()
        assert scope.cancelled_caught
        outcome.append(clock.now())

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        await clock.advance(1.999)
        assert outcome == []
        await clock.advance(0.001)
        assert outcome == [2.0]


@pytest.mark.parametrize("seconds", [0.0, -1.0])
@pytest.mark.parametrize("kind", ["fake", "system"])
async def test_a_timeout_already_reached_cancels_at_the_first_checkpoint(
    kind: str, seconds: float
) -> None:
    """FakeClock agrees with SystemClock: a zero (or negative) timeout needs no time to pass."""
    clock: Clock = FakeClock() if kind == "fake" else SystemClock()
    with anyio.fail_after(5):  # a regression would hang: fail instead (real seconds)
        with clock.move_on_after(seconds) as scope:
            await anyio.sleep_forever()
    assert scope.cancelled_caught


@pytest.mark.parametrize("kind", ["fake", "system"])
async def test_an_infinite_timeout_never_fires(kind: str) -> None:
    clock: Clock = FakeClock() if kind == "fake" else SystemClock()
    with clock.move_on_after(math.inf) as scope:
        await checkpoint()
    assert not scope.cancelled_caught
    if isinstance(clock, FakeClock):
        assert clock.pending() == 0
        await clock.advance(1e9)
        assert not scope.cancel_called


async def test_sleep_zero_only_checkpoints(clock: FakeClock) -> None:
    await clock.sleep(0)
    await clock.sleep(-5)
    assert clock.now() == 0.0
    assert clock.pending() == 0


async def test_a_cancelled_sleeper_leaves_no_live_timer(clock: FakeClock) -> None:
    with anyio.CancelScope() as scope:
        scope.cancel()
        await clock.sleep(10.0)
    assert clock.pending() == 0


async def test_autojump_moves_time_whenever_every_task_is_blocked() -> None:
    clock = FakeClock(start=100.0)
    woke: list[float] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(clock.autojump)

        await clock.sleep(3600.0)  # an hour, at once
        woke.append(clock.now())
        with clock.move_on_after(60.0):
            await anyio.sleep_forever()
        woke.append(clock.now())

        tg.cancel_scope.cancel()
    assert woke == [3700.0, 3760.0]


async def test_system_clock_follows_the_event_loop() -> None:
    assert SYSTEM_CLOCK.now() == pytest.approx(anyio.current_time(), abs=0.05)
    before = SYSTEM_CLOCK.now()
    await SYSTEM_CLOCK.sleep(0.001)
    await SYSTEM_CLOCK.sleep(-1.0)
    assert SYSTEM_CLOCK.now() >= before + 0.001
    with SYSTEM_CLOCK.move_on_after(0.001) as scope:
        await anyio.sleep_forever()
    assert scope.cancelled_caught
