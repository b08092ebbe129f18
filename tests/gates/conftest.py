"""Fixtures for close-gate and merge tests: real clones, real workspaces, seeded ticket docs.

:class:`GateWorld` builds a run that passes every close gate (workspaces made by the ``git``
provider, the ticket docs seeded into the doc home repo and committed there, a synced doc
state, a brief and a passing ``validation-result.json``); each test then breaks one thing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pytest

from metawsm.hosts import LocalHost
from metawsm.loop.gates import CloseContext, RunBrief
from metawsm.naming import workspace_name_for
from metawsm.runs.spec import RunSpec
from metawsm.store.records import DocSyncRecord, RunRecord
from metawsm.workspaces import GitWorkspaceProvider, Workspace
from tests.helpers.docs import TicketSpec, write_ticket
from tests.helpers.git import RepoFactory, factory, git_env, git_out, host  # noqa: F401 - shared fixtures

RUN_ID = "run-20260208-101500"
DONE = "pytest -q passes and the CLI prints the new status"
REPOS = ("metawsm", "lib")
DOC_HOME = "metawsm"


@pytest.fixture
def anyio_backend() -> str:
    """Gates and merges run under the asyncio backend in production."""
    return "asyncio"


def commit_all(repo: Path | str, message: str) -> None:
    """Commit everything in ``repo`` (a worktree), as an agent would."""
    git_out(repo, "add", "--all")
    git_out(repo, "commit", "--quiet", "-m", message)


def write_validation(folder: Path | str, **fields: Any) -> Path:
    """Write ``<folder>/.metawsm/validation-result.json`` with ``fields``."""
    target = Path(folder) / ".metawsm" / "validation-result.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(fields))
    return target


class GateWorld:
    """A run whose every close gate passes, and the knobs to break each one."""

    def __init__(self, tmp_path: Path, factory: RepoFactory, host: LocalHost) -> None:  # noqa: F811
        self.tmp_path = tmp_path
        self.factory = factory
        self.host = host
        self.run_id = RUN_ID
        self.clones = {name: factory.repo(name) for name in REPOS}
        self.provider = GitWorkspaceProvider(
            host, str(tmp_path / "workspaces"), {n: str(p) for n, p in self.clones.items()}
        )
        self.workspaces: dict[str, Workspace] = {}
        self.tickets: dict[str, str] = {}
        self.status = "completed"
        self.mode: Literal["run", "bootstrap"] = "bootstrap"
        self.seed_mode: Literal["none", "copy_from_repo_on_start"] = "copy_from_repo_on_start"
        self.doc_sync: dict[tuple[str, str], DocSyncRecord] = {}
        self.brief: RunBrief | None = RunBrief(
            self.run_id, "", "Add a status line", "cli", DONE, "", "default", "[]", "", ""
        )
        self.pending_guidance = 0

    async def add_ticket(self, ticket: str, title: str = "First bootstrap flow") -> Workspace:
        """A workspace for ``ticket`` with its docs seeded, committed and recorded as synced,
        and a passing validation result in the workspace root."""
        name = workspace_name_for(ticket, self.run_id)
        ws = await self.provider.create(name, list(REPOS), f"task/{name}", "main")
        self.workspaces[name] = ws
        self.tickets[ticket] = name
        write_ticket(Path(ws.repos[DOC_HOME]) / "ttmp", TicketSpec(ticket, title))
        commit_all(ws.repos[DOC_HOME], f"{ticket}: seed docs")
        self.doc_sync[(ticket, name)] = DocSyncRecord(
            self.run_id, ticket, name, "synced", DOC_HOME, revision="sha256:0123abcd"
        )
        write_validation(ws.root, run_id=self.run_id, status="passed", done_criteria=DONE)
        return ws

    def spec(self) -> RunSpec:
        return RunSpec(
            run_id=self.run_id,
            mode=self.mode,
            tickets=list(self.tickets),
            repos=list(REPOS),
            doc_repo=DOC_HOME,
            doc_home_repo=DOC_HOME,
            doc_seed_mode=self.seed_mode,
            workspaces=dict(self.tickets),
            workspaces_root=str(self.tmp_path / "workspaces"),
        )

    def ctx(self, *, workspaces: Mapping[str, Workspace] | None = None) -> CloseContext:
        spec = self.spec()
        run = RunRecord(
            run_id=self.run_id,
            status=self.status,
            created_at="2026-02-08T10:15:00.000000Z",
            updated_at="2026-02-08T10:15:00.000000Z",
            spec_json=spec.to_json(),
            policy_json="{}",
            tickets=tuple(self.tickets),
        )
        return CloseContext(
            run=run,
            spec=spec,
            host=self.host,
            workspaces=self.workspaces if workspaces is None else workspaces,
            doc_sync=tuple(self.doc_sync.values()),
            brief=self.brief,
            pending_guidance=self.pending_guidance,
        )

    def ws(self, ticket: str = "METAWSM-1") -> Workspace:
        return self.workspaces[self.tickets[ticket]]


@pytest.fixture
async def world(tmp_path: Path, factory: RepoFactory, host: LocalHost) -> GateWorld:  # noqa: F811
    """A completed bootstrap run of ticket ``METAWSM-1`` that passes every close gate."""
    built = GateWorld(tmp_path, factory, host)
    await built.add_ticket("METAWSM-1")
    return built
