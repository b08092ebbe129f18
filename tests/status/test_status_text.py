"""The status text: the original's layout (§7), our extra facts, and the watch parser contract."""

from __future__ import annotations

from dataclasses import replace

import pytest

from metawsm.status import (
    RunSummary,
    build_status,
    format_duration,
    render_runs_text,
    render_status_text,
)
from tests.status.sample import (
    AGENT_EVENTS,
    AGENTS,
    DIFFS,
    DOC_STATES,
    GUIDANCE,
    NOW,
    STEPS,
    run_record,
)
from tests.status.watch_parser import parse_watch_snapshot

GOLDEN = """\
Run: run-20260208-000000
Status: awaiting_guidance
Mode: bootstrap
Tickets: METAWSM-006
Supervisor: down
Message: agent coder@ws-a asked for guidance
Docs:
  home_repo=metawsm
  authority=workspace_active
  seed_mode=copy_from_repo_on_start
  freshness_revision=rev-42
  sync ticket=METAWSM-006 workspace=ws-a status=synced revision=rev-42 \
updated_at=2026-02-08T00:05:00Z
  warning=docmgr index freshness stale (last seed 2026-02-08T00:05:00Z) (warning-only)
Guidance:
  - id=7 coder@ws-a question=Need operator decision
Diffs:
  - ws-a path=/w/ws-a
    * metawsm dirty files=10
      ?? new-0.txt
      ?? new-1.txt
      ?? new-2.txt
      ?? new-3.txt
      ?? new-4.txt
      ?? new-5.txt
      ?? new-6.txt
       M README.md
      ... (2 more)
    * web clean
      ahead of main: 23 commits
        abc1234 T: page (cached)
        0000000 step 0
        0000001 step 1
        0000002 step 2
        0000003 step 3
        0000004 step 4
        0000005 step 5
        0000006 step 6
        0000007 step 7
        0000008 step 8
        0000009 step 9
        000000a step 10
        000000b step 11
        000000c step 12
        000000d step 13
        000000e step 14
        000000f step 15
        0000010 step 16
        0000011 step 17
        0000012 step 18
        ... (3 more)
      diffstat main...HEAD: 2 files, +12 -1
        page.html | +12 -1
        logo.png | binary
    * api error=fatal: bad repo
  - ws-b error=workspace folder missing: /w/ws-b
Steps: total=6 done=2 running=1 pending=2 failed=1
  - #3 seed docs ws-a status=failed error=docmgr: ticket not found
  - #4 start coder@ws-a status=running
Agents:
  - coder@ws-a session=coder-ws-a status=stalled health=stalled \
last_activity=2026-02-07T23:57:57Z activity_age=1h2m2s last_progress=2026-02-08T00:59:15Z \
progress_age=45s generation=2 host=local restarts=1 exit=1 \
signals=guidance:1,complete,validation:passed
  - reviewer@ws-a session=reviewer-ws-a status=pending health=unknown last_activity=- \
activity_age=- last_progress=- progress_age=- generation=1 host=local restarts=0 exit=- \
signals=-
"""

ORIGINAL_EXAMPLE = """\
Run: run-123
Status: awaiting_guidance
Mode: bootstrap
Tickets: METAWSM-006
Guidance:
  - id=7 agent@ws question=Need operator decision
Diffs:
  - ws-a path=/tmp/ws-a
    * metawsm dirty files=2
Pull Requests:
  - METAWSM-006/metawsm state=draft head=feature base=main number=0 url=- actor=agent
  - METAWSM-006/metawsm-docs state=open head=feature base=main number=12 url=https://x actor=agent
Review Feedback:
  - status=queued count=3
  - status=new count=1
  - status=addressed count=5
  - status=ignored count=0
Agents:
  - agent@ws session=s1 status=stalled health=stalled last_activity=2026-02-08T00:00:00Z \
activity_age=1h last_progress=2026-02-08T00:00:00Z progress_age=1h
"""


def sample_text(status: str = "awaiting_guidance") -> str:
    view = build_status(
        run_record(status),
        STEPS,
        AGENTS,
        DOC_STATES,
        GUIDANCE,
        now=NOW,
        supervisor_up=False,
        diffs=DIFFS,
        agent_events=AGENT_EVENTS,
    )
    return render_status_text(view)


def test_text_matches_the_golden_example() -> None:
    assert sample_text() == GOLDEN


def test_the_test_parser_reads_the_originals_own_example() -> None:
    snap = parse_watch_snapshot(ORIGINAL_EXAMPLE)
    assert (snap.run_id, snap.status, snap.tickets) == (
        "run-123",
        "awaiting_guidance",
        "METAWSM-006",
    )
    assert snap.guidance_items == ["id=7 agent@ws question=Need operator decision"]
    assert snap.has_dirty_diffs and snap.draft_or_open_prs == 2
    assert (snap.review_feedback_queued, snap.review_feedback_new) == (3, 1)
    assert snap.agents[0]["agent"] == "agent@ws" and snap.agents[0]["health"] == "stalled"


def test_our_text_keeps_the_watch_parser_contract() -> None:
    snap = parse_watch_snapshot(sample_text())
    assert (snap.run_id, snap.status, snap.tickets) == (
        "run-20260208-000000",
        "awaiting_guidance",
        "METAWSM-006",
    )
    assert snap.has_guidance
    assert snap.guidance_items == ["id=7 coder@ws-a question=Need operator decision"]
    assert snap.has_dirty_diffs
    assert [a["agent"] for a in snap.agents] == ["coder@ws-a", "reviewer@ws-a"]
    coder = snap.agents[0]
    assert {k: coder[k] for k in ("session", "status", "health", "activity_age")} == {
        "session": "coder-ws-a",
        "status": "stalled",
        "health": "stalled",
        "activity_age": "1h2m2s",
    }
    assert {k: coder[k] for k in ("generation", "host", "restarts", "exit")} == {
        "generation": "2",
        "host": "local",
        "restarts": "1",
        "exit": "1",
    }
    # Nothing we added leaks into a section the parser reads.
    assert snap.draft_or_open_prs == 0 and snap.review_feedback_queued == 0


def test_clean_run_without_guidance_parses_as_clean() -> None:
    view = build_status(
        run_record("running"), STEPS, AGENTS, DOC_STATES, [], now=NOW, supervisor_up=True
    )
    text = render_status_text(view)
    snap = parse_watch_snapshot(text)
    assert not snap.has_guidance and not snap.has_dirty_diffs
    assert "Supervisor: up\n" in text
    assert "Guidance:" not in text and "Diffs:" not in text  # not collected: no block


def test_next_block_only_when_completed() -> None:
    assert "Next:" not in sample_text("running")
    text = sample_text("completed")
    assert (
        "Next:\n"
        '  - metawsm iterate --ticket METAWSM-006 --feedback "<feedback from diff review>"\n'
        "  - metawsm merge --ticket METAWSM-006 --dry-run\n"
        "  - metawsm merge --ticket METAWSM-006 --human\n"
        "  - metawsm close --ticket METAWSM-006\n"
        "Steps:"
    ) in text


def test_run_without_agents_mode_or_doc_states() -> None:
    spec = {"mode": "", "doc_home_repo": "", "doc_repo": "", "doc_seed_mode": "none"}
    bare = replace(run_record("planning", **spec), error_text="")
    view = build_status(bare, [], [], [], [], now=NOW, supervisor_up=False)
    text = render_status_text(view)
    assert "Mode:" not in text and "Message:" not in text
    assert "  home_repo=unknown\n" in text and "  sync=none\n" in text
    assert "warning=" not in text  # seed mode none: no freshness warnings
    assert text.endswith("Steps: total=0 done=0 running=0 pending=0 failed=0\nAgents:\n  - none\n")
    assert parse_watch_snapshot(text).agents == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (45.9, "45s"),
        (60, "1m0s"),
        (61, "1m1s"),
        (3600, "1h0m0s"),
        (3723, "1h2m3s"),
        (90061, "25h1m1s"),
        (-5, "0s"),
    ],
)
def test_durations_print_like_go_truncated_to_seconds(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_runs_text_one_line_per_run() -> None:
    runs = [
        RunSummary(
            run_id="run-b",
            status="running",
            tickets=["T-1", "T-2"],
            updated_at="2026-02-08T00:45:00.123456Z",
            agents=3,
        ),
        RunSummary(run_id="run-a", status="closed"),
    ]
    assert render_runs_text(runs) == (
        "run-b  running  T-1,T-2  agents=3  updated=2026-02-08T00:45:00Z\n"
        "run-a  closed  -  agents=0  updated=-\n"
    )


def test_runs_text_with_no_runs_gives_a_hint() -> None:
    assert render_runs_text([]) == "No runs.\nStart one with: metawsm run --ticket <TICKET>\n"
