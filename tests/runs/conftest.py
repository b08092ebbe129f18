"""Fixtures for run resolution and planning: a metawsm root in a temp dir, policies, a clock.

The metawsm root is a folder named ``root`` in the test's temp dir, with the policy path
``.metawsm/policy.json`` under it (the file itself is never needed, the path only locates the
root). The home directory used for
``~/.codex/skills`` is ``<tmp>/home``, so the user's real skills never leak into a test.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from pathlib import Path
from typing import Any

import pytest
from runs_kit import NOW, REPOS

from metawsm.policy import Policy, policy_from_data
from metawsm.runs.spec import RunRequest, RunSpec, resolve_run


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    (folder / ".metawsm").mkdir(parents=True)
    return folder


@pytest.fixture
def policy_path(root: Path) -> str:
    return str(root / ".metawsm" / "policy.json")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = value
    return result


MakePolicy = Callable[..., Policy]


@pytest.fixture
def make_policy() -> MakePolicy:
    """A valid policy: the defaults, the test repos, two shell agents, plus ``overrides``."""

    def make(overrides: Mapping[str, Any] | None = None) -> Policy:
        data: dict[str, Any] = {
            "workspace": {"repos": dict(REPOS)},
            "agent_profiles": [
                {"name": "sh", "runner": "shell", "runner_options": {"command": "make work"}}
            ],
            "agents": [{"name": "agent", "profile": "sh"}, {"name": "reviewer", "profile": "sh"}],
        }
        return policy_from_data(_merge(data, overrides or {}))

    return make


Resolve = Callable[..., RunSpec]


@pytest.fixture
def resolve(make_policy: MakePolicy, policy_path: str, home: Path) -> Resolve:
    """``resolve(policy=None, taken=(), **request_fields)`` -> the resolved spec."""

    def run(*, policy: Policy | None = None, taken: Container[str] = (), **fields: Any) -> RunSpec:
        fields.setdefault("policy_path", policy_path)
        request = RunRequest(**fields)
        return resolve_run(
            request, policy or make_policy(), now=NOW, taken_run_ids=taken, home=home
        )

    return run
