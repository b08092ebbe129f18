from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.supervisor.world import World, world_fixture


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Callable[..., World]]:
    yield from world_fixture(tmp_path)
