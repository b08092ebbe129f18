"""Fixtures for the supervision kernel's tests: both anyio backends, a virtual clock, and a
check that no task outlives its test.

Every async module here declares ``pytestmark = pytest.mark.anyio`` (and so runs on asyncio and
on trio), except the one pytest-trio module, which declares ``pytest.mark.trio`` only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from actors_kit import leftover_tasks, task_snapshot

from actors import FakeClock


@pytest.fixture(params=["asyncio", "trio"], scope="module")
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every anyio test of the kernel runs once per backend."""
    return str(request.param)


@pytest.fixture
async def clock() -> FakeClock:
    """A virtual clock at t=0; it moves only through ``await clock.advance(seconds)``."""
    return FakeClock()


# -- no task left behind ---------------------------------------------------------------------


@pytest.fixture
async def _no_task_left_behind() -> AsyncIterator[None]:
    baseline = task_snapshot()
    yield
    leftovers = await leftover_tasks(baseline)
    if leftovers:
        pytest.fail(f"tasks left running after the test: {leftovers}", pytrace=False)


@pytest.fixture(autouse=True)
def no_task_left_behind(request: pytest.FixtureRequest) -> None:
    """Every anyio test of the kernel ends with no task of its own still running.

    Dispatches to the async check only for anyio tests (teardown runs in the test's event loop
    there); the pytest-trio module gets structured concurrency from its own nursery.
    """
    if "anyio_backend" in request.fixturenames:
        request.getfixturevalue("_no_task_left_behind")
