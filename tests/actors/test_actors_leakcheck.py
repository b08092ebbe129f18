"""The no-task-left-behind check itself: it must see a task a test leaves running."""

from __future__ import annotations

import anyio
import pytest
from actors_kit import leftover_tasks, task_snapshot

pytestmark = pytest.mark.anyio


async def test_leak_check_names_a_task_still_running() -> None:
    baseline = task_snapshot()
    async with anyio.create_task_group() as tg:
        tg.start_soon(anyio.sleep_forever, name="deliberately-left-running")
        assert await leftover_tasks(baseline) == ["deliberately-left-running"]
        tg.cancel_scope.cancel()
    assert await leftover_tasks(baseline) == []


async def test_leak_check_is_quiet_when_every_task_ended() -> None:
    baseline = task_snapshot()
    async with anyio.create_task_group() as tg:
        for n in range(3):
            tg.start_soon(anyio.sleep, 0, name=f"short-{n}")
    assert await leftover_tasks(baseline) == []
