"""The kernel under pytest-trio, next to the anyio plugin: a plain trio nursery, and trio's
own virtual time (``autojump_clock``), which the kernel's SystemClock follows because it reads
the event loop's clock.

This is the one module on the pytest-trio runner (``pytest.mark.trio`` only, never together
with ``pytest.mark.anyio``); it proves the two plugins coexist in one run.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import trio
import trio.testing

from actors import (
    SYSTEM_CLOCK,
    Actor,
    Backoff,
    RequestTimeout,
    Supervisor,
    worker,
)

pytestmark = pytest.mark.trio


async def test_supervisor_restarts_after_its_delay_in_trio_virtual_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runs: list[float] = []

    async def flaky() -> None:
        runs.append(trio.current_time())
        if len(runs) < 3:
            raise RuntimeError("not yet")
        await trio.sleep_forever()

    sup = Supervisor(
        "sup",
        [worker("flaky", flaky)],
        backoff=Backoff(initial=10.0, factor=3.0, jitter=0.0),
        intensity=5,
        clock=SYSTEM_CLOCK,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(60.0)  # a virtual minute: both delays pass
        assert [child.generation for child in sup.which_children()] == [3]
        await sup.stop()
    # 10 s, then 30 s, of trio's virtual time between the runs.
    assert [b - a for a, b in itertools.pairwise(runs)] == pytest.approx([10.0, 30.0])


class Mute(Actor[Any]):
    async def handle(self, message: Any) -> None:
        await trio.sleep_forever()


async def test_request_timeout_runs_on_trio_virtual_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    spec = Mute.spec("mute")
    assert spec.mailbox is not None
    sup = Supervisor("sup", [spec])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        started = trio.current_time()
        with pytest.raises(RequestTimeout):
            await spec.mailbox.ref.request("hello?", timeout=30.0)
        assert trio.current_time() - started == pytest.approx(30.0)
        await sup.stop()
