"""A fixed run, as store rows, for the status tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from metawsm.status import (
    BranchView,
    CommitView,
    FileStatView,
    RepoDiffView,
    WorkspaceDiffView,
)
from metawsm.store.records import (
    AgentRecord,
    DocSyncRecord,
    EventRecord,
    GuidanceRecord,
    RunRecord,
    StepRecord,
)

NOW = datetime(2026, 2, 8, 1, 0, 0, tzinfo=UTC)
RUN_ID = "run-20260208-000000"
SPEC = {
    "run_id": RUN_ID,
    "mode": "bootstrap",
    "tickets": ["METAWSM-006"],
    "doc_repo": "metawsm",
    "doc_home_repo": "metawsm",
    "doc_authority_mode": "workspace_active",
    "doc_seed_mode": "copy_from_repo_on_start",
    "doc_freshness_revision": "rev-42",
    "base_branch": "main",
}


def run_record(status: str = "awaiting_guidance", **spec_changes: object) -> RunRecord:
    return RunRecord(
        run_id=RUN_ID,
        status=status,
        created_at="2026-02-08T00:00:00.000000Z",
        updated_at="2026-02-08T00:45:00.000000Z",
        spec_json=json.dumps({**SPEC, **spec_changes}),
        policy_json="{}",
        error_text="agent coder@ws-a asked for guidance",
        tickets=("METAWSM-006",),
    )


def step(index: int, name: str, status: str, error: str = "") -> StepRecord:
    return StepRecord(
        run_id=RUN_ID,
        step_index=index,
        name=name,
        kind="tmux_start" if name.startswith("start") else "shell",
        command_text="",
        blocking=True,
        status=status,
        ticket="METAWSM-006",
        workspace_name="ws-a",
        error_text=error,
        started_at="2026-02-08T00:01:00.000000Z" if status != "pending" else "",
    )


STEPS = [
    step(1, "verify ticket METAWSM-006", "done"),
    step(2, "create workspace ws-a", "done"),
    step(3, "seed docs ws-a", "failed", "docmgr: ticket\nnot found"),
    step(4, "start coder@ws-a", "running"),
    step(5, "start reviewer@ws-a", "pending"),
    step(6, "close", "skipped"),
]

AGENTS = [
    AgentRecord(
        run_id=RUN_ID,
        agent_name="coder",
        workspace_name="ws-a",
        session_name="coder-ws-a",
        status="stalled",
        health_state="stalled",
        last_activity_at="2026-02-07T23:57:57.250000Z",
        last_progress_at="2026-02-08T00:59:15.000000Z",
        generation=2,
        host="local",
        last_exit_status=1,
        restart_count=1,
    ),
    AgentRecord(
        run_id=RUN_ID,
        agent_name="reviewer",
        workspace_name="ws-a",
        session_name="reviewer-ws-a",
        status="pending",
        health_state="healthy",
    ),
]

DOC_STATES = [
    DocSyncRecord(
        run_id=RUN_ID,
        ticket="METAWSM-006",
        workspace_name="ws-a",
        status="synced",
        doc_home_repo="metawsm",
        doc_authority_mode="workspace_active",
        doc_seed_mode="copy_from_repo_on_start",
        revision="rev-42",
        updated_at="2026-02-08T00:05:00.000000Z",
    ),
]

GUIDANCE = [
    GuidanceRecord(
        id=7,
        run_id=RUN_ID,
        workspace_name="ws-a",
        agent_name="coder",
        question="Need operator\ndecision",
        context_text="",
        answer_text="",
        status="pending",
        created_at="2026-02-08T00:40:00.000000Z",
        answered_at="",
        generation=2,
    ),
    GuidanceRecord(
        id=3,
        run_id=RUN_ID,
        workspace_name="ws-a",
        agent_name="coder",
        question="Old question",
        context_text="",
        answer_text="Yes",
        status="answered",
        created_at="2026-02-08T00:10:00.000000Z",
        answered_at="2026-02-08T00:11:00.000000Z",
        generation=1,
    ),
]

DIFFS = [
    WorkspaceDiffView(
        workspace="ws-a",
        path="/w/ws-a",
        repos=[
            RepoDiffView(
                repo="metawsm",
                path="/w/ws-a/metawsm",
                clean=False,
                files=10,
                lines=[f"?? new-{i}.txt" for i in range(7)] + [" M README.md"],
            ),
            RepoDiffView(
                repo="web",
                path="/w/ws-a/web",
                clean=True,
                branch=BranchView(
                    base="main",
                    ahead=23,
                    commits=[CommitView(sha="abc1234", subject="T: page\n(cached)")]
                    + [CommitView(sha=f"{i:07x}", subject=f"step {i}") for i in range(19)],
                    files=2,
                    insertions=12,
                    deletions=1,
                    stat=[
                        FileStatView(path="page.html", insertions=12, deletions=1),
                        FileStatView(path="logo.png"),
                    ],
                ),
            ),
            RepoDiffView(repo="api", path="/w/ws-a/api", clean=False, error="fatal: bad\nrepo"),
        ],
    ),
    WorkspaceDiffView(workspace="ws-b", path="/w/ws-b", error="workspace folder missing: /w/ws-b"),
]


def _event(
    event_id: int, entity: str, event_type: str, message: str, generation: int
) -> EventRecord:
    return EventRecord(
        id=event_id,
        run_id=RUN_ID,
        entity_type="agent",
        entity_id=entity,
        event_type=event_type,
        from_state="",
        to_state="",
        message=message,
        created_at="2026-02-08T00:30:00.000000Z",
        generation=generation,
    )


#: The agents' signal events: coder's generation 1 completed and failed validation; its
#: current generation (2) completed and passed. The reviewer signalled nothing.
AGENT_EVENTS = [
    _event(10, "coder@ws-a", "completion", "v1 done", 1),
    _event(11, "coder@ws-a", "validation", "status=failed done_criteria=make test", 1),
    _event(20, "coder@ws-a", "completion", "v2 done", 2),
    _event(21, "coder@ws-a", "validation", "status=failed done_criteria=make test", 2),
    _event(22, "coder@ws-a", "validation", "status=passed done_criteria=make test", 2),
]
