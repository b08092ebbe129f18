"""Fixtures for the signal files and the scripted agent: real git repositories in temp dirs, the
scripted agent as a real subprocess, and no process left behind.

A workspace here is ``<tmp>/ws`` with two repos, ``api`` (the doc-home repo, the agent's working
directory) and ``web``; the agent's signal directory is ``<tmp>/ws/.metawsm``. Git runs with no
global or system configuration, so the user's settings never leak into a test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from agents_kit import AGENT_TIMEOUT, Workspace, git, isolated_git_env


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    repos = [root / "api", root / "web"]
    for repo in repos:
        repo.mkdir(parents=True)
        git(repo, "init", "--quiet", "--initial-branch=main")
        (repo / "README.md").write_text(f"# {repo.name}\n")
        git(repo, "add", "-A")
        git(repo, "commit", "--quiet", "-m", "initial")
    return Workspace(root=root, doc_home=repos[0], sibling=repos[1], signal_dir=root / ".metawsm")


@pytest.fixture
def agent_env(workspace: Workspace) -> dict[str, str]:
    """The environment metawsm would give the agent: generation 1 of ``coder`` in run ``run-1``."""
    return isolated_git_env(
        {
            "METAWSM_RUN_ID": "run-1",
            "METAWSM_AGENT": "coder",
            "METAWSM_WORKSPACE": "ws",
            "METAWSM_GENERATION": "1",
            "METAWSM_SIGNAL_DIR": str(workspace.signal_dir),
        }
    )


Spawn = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def spawn_agent(tmp_path: Path, workspace: Workspace, agent_env: dict[str, str]) -> Iterator[Spawn]:
    """Start the scripted agent as a real subprocess; every one is killed at teardown.

    ``spawn_agent(script, env=None, script_text=None)``: ``script`` is written as JSON (or
    ``script_text`` verbatim); ``env`` replaces the agent environment.
    """
    started: list[subprocess.Popen[str]] = []
    counter = 0

    def spawn(
        script: Any = None, *, env: Mapping[str, str] | None = None, script_text: str | None = None
    ) -> subprocess.Popen[str]:
        nonlocal counter
        counter += 1
        script_path = tmp_path / f"script-{counter}.json"
        script_path.write_text(script_text if script_text is not None else json.dumps(script))
        process = subprocess.Popen(
            [sys.executable, "-m", "metawsm.agents.scripted", str(script_path)],
            cwd=workspace.doc_home,
            env=dict(agent_env if env is None else env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield spawn
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=AGENT_TIMEOUT)


@pytest.fixture
def run_agent(spawn_agent: Spawn) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the scripted agent to its end (bounded by :data:`AGENT_TIMEOUT`)."""

    def run(script: Any = None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        process = spawn_agent(script, **kwargs)
        stdout, stderr = process.communicate(timeout=AGENT_TIMEOUT)
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    return run
