"""Runs placed on an SSH host: the supervisor's world (tests/supervisor/world.py) plus private
sshd servers (tests/helpers/sshd.py) standing in for remote machines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.sshd import sshd, sshd_factory
from tests.supervisor.world import World, world_fixture

__all__ = ["sshd", "sshd_factory"]


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Callable[..., World]]:
    yield from world_fixture(tmp_path)
