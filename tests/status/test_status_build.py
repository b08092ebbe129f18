"""build_status: store rows (+ supervisor memory) → RunStatusView, and its JSON contract."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from metawsm.status import (
    LiveAgent,
    RunStatusView,
    build_status,
    doc_warnings,
    next_commands,
    parse_spec,
    summarize,
)
from metawsm.store.records import DocSyncRecord
from tests.status.sample import (
    AGENT_EVENTS,
    AGENTS,
    DIFFS,
    DOC_STATES,
    GUIDANCE,
    NOW,
    RUN_ID,
    STEPS,
    run_record,
)


def build(**kwargs: Any) -> RunStatusView:
    options: dict[str, Any] = {"now": NOW, "supervisor_up": False}
    options.update(kwargs)
    run = options.pop("run", run_record())
    return build_status(run, STEPS, AGENTS, DOC_STATES, GUIDANCE, **options)


def test_without_a_supervisor_stored_rows_are_shown_as_stored() -> None:
    view = build()
    assert view.supervisor == "down"
    coder = view.agents[0]
    assert (coder.name, coder.workspace, coder.session) == ("coder", "ws-a", "coder-ws-a")
    assert (coder.status, coder.health, coder.generation) == ("stalled", "stalled", 2)
    assert (coder.host, coder.restarts, coder.exit_status) == ("local", 1, 1)
    assert coder.alive is None  # nobody is watching: not known
    assert coder.last_activity == "2026-02-07T23:57:57.250000Z"
    assert coder.activity_age_seconds == 3722  # 1h2m2.75s, truncated
    assert coder.progress_age_seconds == 45
    reviewer = view.agents[1]
    assert reviewer.last_activity is None and reviewer.activity_age_seconds is None


def test_live_supervisor_memory_overrides_the_stored_row() -> None:
    live = {
        ("coder", "ws-a"): LiveAgent(
            status="running",
            health="healthy",
            generation=3,
            restarts=2,
            exit_status=None,
            alive=True,
            activity_at=(NOW - timedelta(seconds=5)).timestamp(),
            progress_at=None,  # not observed yet: the stored value stays
        )
    }
    view = build(live=live, supervisor_up=True)
    assert view.supervisor == "up"
    coder = view.agents[0]
    assert (coder.status, coder.health, coder.generation, coder.restarts) == (
        "running",
        "healthy",
        3,
        2,
    )
    assert coder.exit_status is None and coder.alive is True
    assert coder.last_activity == "2026-02-08T00:59:55.000000Z"
    assert coder.activity_age_seconds == 5
    assert coder.last_progress == "2026-02-08T00:59:15.000000Z"
    # An agent the supervisor has no memory of keeps its row.
    assert view.agents[1].status == "pending" and view.agents[1].alive is None


def test_json_has_the_stable_field_names() -> None:
    data = json.loads(build(diffs=DIFFS).model_dump_json())
    assert {
        "run_id",
        "status",
        "mode",
        "tickets",
        "supervisor",
        "docs",
        "steps",
        "step_counts",
        "agents",
        "diffs",
        "guidance",
        "next",
        "last_message",
    } <= data.keys()
    assert {
        "name",
        "workspace",
        "session",
        "status",
        "health",
        "generation",
        "host",
        "restarts",
        "exit_status",
        "last_activity",
        "activity_age_seconds",
        "last_progress",
        "progress_age_seconds",
        "alive",
    } <= data["agents"][0].keys()
    assert {"index", "name", "kind", "status", "error", "started_at", "finished_at"} <= data[
        "steps"
    ][0].keys()
    assert set(data["step_counts"]) == {"total", "done", "running", "pending", "failed"}
    assert {"home_repo", "authority", "seed_mode", "freshness_revision", "sync", "warnings"} <= (
        data["docs"].keys()
    )
    assert {"workspace", "path", "repos", "error"} <= data["diffs"][0].keys()
    assert {"repo", "path", "clean", "files", "insertions", "deletions", "lines", "error"} <= (
        data["diffs"][0]["repos"][0].keys()
    )
    assert RunStatusView.model_validate(data) == build(diffs=DIFFS)  # round-trips


def test_steps_are_counted_with_skipped_as_pending() -> None:
    counts = build().step_counts
    assert (counts.total, counts.done, counts.running, counts.pending, counts.failed) == (
        6,
        2,
        1,
        2,
        1,
    )


def test_only_pending_guidance_is_listed() -> None:
    assert [g.id for g in build().guidance] == [7]


def test_header_facts_come_from_the_run_and_its_spec() -> None:
    view = build()
    assert (view.run_id, view.status, view.mode, view.tickets) == (
        RUN_ID,
        "awaiting_guidance",
        "bootstrap",
        ["METAWSM-006"],
    )
    assert view.last_message == "agent coder@ws-a asked for guidance"
    assert view.generated_at == "2026-02-08T01:00:00.000000Z"


def test_diffs_are_none_when_not_collected() -> None:
    assert build().diffs is None
    assert build(diffs=[]).diffs == []


def test_docs_fall_back_to_sync_states_and_newest_revision() -> None:
    bare = run_record(doc_home_repo="", doc_repo="", doc_freshness_revision="", doc_seed_mode="")
    docs = build(run=bare).docs
    assert docs.home_repo == "metawsm"
    assert docs.seed_mode == "copy_from_repo_on_start"
    assert docs.freshness_revision == "rev-42"


def test_unparsable_spec_is_an_empty_spec() -> None:
    assert parse_spec("") == {} and parse_spec("{oops") == {} and parse_spec("[1]") == {}


def sync_state(status: str, updated_at: str, workspace: str = "ws-a") -> DocSyncRecord:
    return DocSyncRecord(RUN_ID, "T-1", workspace, status, updated_at=updated_at)


@pytest.mark.parametrize(
    ("seed_mode", "states", "threshold", "expected"),
    [
        ("none", [], 900, []),
        (
            "copy_from_repo_on_start",
            [],
            900,
            ["docmgr index freshness unavailable for copy_from_repo_on_start"],
        ),
        ("copy_from_repo_on_start", [sync_state("synced", "2026-02-08T00:50:00Z")], 900, []),
        (
            "copy_from_repo_on_start",
            [sync_state("synced", "2026-02-08T00:40:00Z")],
            900,
            ["docmgr index freshness stale (last seed 2026-02-08T00:40:00Z)"],
        ),
        # A non-positive threshold means the original's 900 s.
        ("copy_from_repo_on_start", [sync_state("synced", "2026-02-08T00:50:00Z")], 0, []),
        (
            "copy_from_repo_on_start",
            [
                sync_state("failed", "2026-02-08T00:59:00Z", "ws-b"),
                sync_state("synced", "2026-02-08T00:59:00Z"),
            ],
            900,
            ["doc seed failed for T-1/ws-b"],
        ),
    ],
    ids=["seed-none", "never-seeded", "fresh", "stale", "zero-threshold", "one-failed"],
)
def test_doc_freshness_warnings(
    seed_mode: str, states: list[DocSyncRecord], threshold: int, expected: list[str]
) -> None:
    assert doc_warnings(seed_mode, states, NOW, threshold) == expected


def test_next_commands_only_for_a_completed_run() -> None:
    assert next_commands("r", "running", ["T-1"]) == []
    assert next_commands("r", "completed", ["T-1"]) == [
        'metawsm iterate --ticket T-1 --feedback "<feedback from diff review>"',
        "metawsm merge --ticket T-1 --dry-run",
        "metawsm merge --ticket T-1 --human",
        "metawsm close --ticket T-1",
    ]
    assert (
        next_commands("r-9", "completed", ["T-1", "T-2"])[1]
        == "metawsm merge --run-id r-9 --dry-run"
    )
    assert build(run=run_record("completed")).next[-1] == "metawsm close --ticket METAWSM-006"


def test_summary_of_a_run() -> None:
    summary = summarize(run_record("running"), agents=2)
    assert summary.model_dump() == {
        "run_id": RUN_ID,
        "status": "running",
        "mode": "bootstrap",
        "tickets": ["METAWSM-006"],
        "created_at": "2026-02-08T00:00:00.000000Z",
        "updated_at": "2026-02-08T00:45:00.000000Z",
        "agents": 2,
        "last_message": "agent coder@ws-a asked for guidance",
    }


def test_an_agent_that_is_not_running_is_never_shown_healthy() -> None:
    # A row whose health was written while the agent ran, then stopped (or killed).
    rows = [
        replace(AGENTS[0], status=status, health_state="healthy")
        for status in ("stopped", "stopping", "dead", "failed", "pending")
    ]
    view = build_status(
        run_record(), STEPS, rows, DOC_STATES, GUIDANCE, now=NOW, supervisor_up=False
    )
    assert [a.health for a in view.agents] == ["idle", "idle", "dead", "dead", "unknown"]
    live = {("coder", "ws-a"): LiveAgent(status="stopped", health="healthy", generation=2)}
    view = build_status(
        run_record(), STEPS, AGENTS[:1], DOC_STATES, GUIDANCE, now=NOW, supervisor_up=True,
        live=live,
    )  # fmt: skip
    assert view.agents[0].health == "idle"
    # A running agent keeps what its observation said.
    assert build().agents[0].health == "stalled"


def test_each_agent_shows_the_signals_of_its_current_generation() -> None:
    view = build(agent_events=AGENT_EVENTS)
    coder, reviewer = view.agents
    assert coder.signals.model_dump() == {
        "guidance_pending": 1,
        "complete": True,
        "validation": "passed",  # the last one of generation 2
    }
    assert reviewer.signals.model_dump() == {
        "guidance_pending": 0,
        "complete": False,
        "validation": None,
    }
    # After a restart (generation 3) nothing is in yet.
    restarted = build_status(
        run_record(), STEPS, [replace(AGENTS[0], generation=3)], DOC_STATES, [], now=NOW,
        supervisor_up=False, agent_events=AGENT_EVENTS,
    )  # fmt: skip
    assert restarted.agents[0].signals.model_dump() == {
        "guidance_pending": 0,
        "complete": False,
        "validation": None,
    }
    assert "signals" in json.loads(view.model_dump_json())["agents"][0]
