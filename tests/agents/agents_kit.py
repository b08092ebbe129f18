"""Helpers shared by the tests of signal files and of the scripted agent."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

AGENT_TIMEOUT = 20.0
"""Upper bound for any one scripted agent run; a hang fails the test instead of the suite."""


@dataclass(frozen=True)
class Workspace:
    """A workspace of two repos; the agent works in ``doc_home`` and signals in ``signal_dir``."""

    root: Path
    doc_home: Path
    sibling: Path
    signal_dir: Path


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` with the isolated environment; return stdout."""
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        env=isolated_git_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout


def isolated_git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` without any ``METAWSM_*``/``GIT_*`` variable, git configuration isolated."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("METAWSM_", "GIT_")) and key != "EMAIL"
    }
    env.update(
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Test Author",
        GIT_AUTHOR_EMAIL="author@example.invalid",
        GIT_COMMITTER_NAME="Test Author",
        GIT_COMMITTER_EMAIL="author@example.invalid",
    )
    env.update(extra or {})
    return env


def wait_for(condition: Callable[[], bool], timeout: float = AGENT_TIMEOUT) -> None:
    """Poll ``condition`` every 20 ms until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:g}s")
        time.sleep(0.02)
