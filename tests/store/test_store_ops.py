"""Write builders: bind parameters only, checked compare-and-swap transitions that carry
their event in the same write, and the row shapes the supervisor records."""

from __future__ import annotations

import sqlite3

import pytest

from metawsm.errors import TransitionError
from metawsm.hsm import EntityKind
from metawsm.store import ops
from metawsm.store.db import write_transaction
from metawsm.store.ops import AnyOp, ManyOp, Op, WriteResult, execute_ops
from metawsm.store.records import AgentRecord, DocSyncRecord, NewEvent, RunRecord, StepRecord

HOSTILE = "it's \"quoted\" '; DROP TABLE runs; --"


def run_write(conn: sqlite3.Connection, *write: AnyOp) -> WriteResult:
    return write_transaction(conn, lambda c: execute_ops(c, write))


def make_run(conn: sqlite3.Connection, run_id: str = "r1", status: str = "created") -> None:
    run_write(
        conn,
        *ops.create_run(
            run_id, spec_json="{}", policy_json="{}", tickets=["T-1", "T-2"], status=status
        ),
    )


def events(conn: sqlite3.Connection) -> list[tuple[str, ...]]:
    return conn.execute(
        "SELECT entity_type, entity_id, event_type, from_state, to_state, message FROM events"
        " ORDER BY id"
    ).fetchall()


def test_an_op_refuses_params_that_do_not_match_its_placeholders() -> None:
    with pytest.raises(ValueError, match="bind parameters"):
        Op("INSERT INTO t VALUES (?, ?)", ("only one",))
    with pytest.raises(ValueError, match="bind parameters"):
        ManyOp("INSERT INTO t VALUES (?)", (("a",), ("b", "c")))


def test_hostile_values_round_trip_intact(conn: sqlite3.Connection) -> None:
    run_write(
        conn, *ops.create_run(HOSTILE, spec_json=HOSTILE, policy_json="{}", tickets=[HOSTILE])
    )
    run_write(conn, ops.append_event(NewEvent(HOSTILE, "run", HOSTILE, "note", message=HOSTILE)))
    assert conn.execute("SELECT run_id, spec_json FROM runs").fetchall() == [(HOSTILE, HOSTILE)]
    assert conn.execute("SELECT ticket FROM run_tickets").fetchall() == [(HOSTILE,)]
    assert conn.execute("SELECT message FROM events").fetchall() == [(HOSTILE,)]


def test_create_run_records_the_run_and_its_tickets(conn: sqlite3.Connection) -> None:
    make_run(conn)
    row = conn.execute("SELECT status, created_at = updated_at, error_text FROM runs").fetchone()
    assert row == ("created", 1, "")
    assert conn.execute("SELECT ticket FROM run_tickets ORDER BY 1").fetchall() == [
        ("T-1",),
        ("T-2",),
    ]


def test_upsert_run_keeps_the_creation_time(conn: sqlite3.Connection) -> None:
    record = RunRecord("r1", "created", "2026-01-01T00:00:00.000000Z", "", "{}", "{}")
    run_write(conn, *ops.upsert_run(record))
    run_write(conn, *ops.upsert_run(RunRecord("r1", "planning", "", "", '{"v": 2}', "{}")))
    assert conn.execute("SELECT status, created_at, spec_json FROM runs").fetchone() == (
        "planning",
        "2026-01-01T00:00:00.000000Z",
        '{"v": 2}',
    )


def test_a_run_transition_updates_the_run_and_appends_its_event(
    conn: sqlite3.Connection,
) -> None:
    make_run(conn)
    result = run_write(
        conn,
        *ops.transition(EntityKind.RUN, "r1", "created", "planning", "planning run", run_id="r1"),
    )
    assert result.rowcounts == (1, 1)
    assert result.last_rowid == 1
    assert conn.execute("SELECT status, error_text FROM runs").fetchone() == (
        "planning",
        "planning run",
    )
    assert events(conn) == [("run", "r1", "transition", "created", "planning", "planning run")]


def test_an_illegal_transition_is_refused_before_anything_is_written() -> None:
    with pytest.raises(TransitionError, match="illegal run transition running -> closed"):
        ops.transition(EntityKind.RUN, "r1", "running", "closed", run_id="r1")


def test_a_lost_compare_and_swap_fails_the_whole_write(conn: sqlite3.Connection) -> None:
    make_run(conn, status="planning")  # someone moved it on already
    with pytest.raises(TransitionError, match="no longer created"):
        run_write(conn, *ops.transition(EntityKind.RUN, "r1", "created", "planning", run_id="r1"))
    assert events(conn) == []  # the event of the failed write was rolled back with it
    assert conn.execute("SELECT status FROM runs").fetchone() == ("planning",)


def test_a_step_transition_records_start_finish_and_failure(conn: sqlite3.Connection) -> None:
    make_run(conn)
    step = StepRecord("r1", 0, "seed docs", "docs", "true", True, "pending", ticket="T-1")
    run_write(
        conn, ops.upsert_steps([step, StepRecord("r1", 1, "x", "shell", "", False, "pending")])
    )
    sid = ops.step_entity_id(0)
    run_write(conn, *ops.transition(EntityKind.STEP, sid, "pending", "running", run_id="r1"))
    started, finished = conn.execute(
        "SELECT started_at, finished_at FROM steps WHERE step_index = 0"
    ).fetchone()
    assert started and finished == ""
    run_write(
        conn, *ops.transition(EntityKind.STEP, sid, "running", "failed", "exit 3", run_id="r1")
    )
    row = conn.execute("SELECT status, error_text, started_at, finished_at FROM steps").fetchone()
    assert row[:3] == ("failed", "exit 3", started)
    assert row[3] >= started
    assert events(conn)[-1] == ("step", "0", "transition", "running", "failed", "exit 3")


def test_an_agent_respawn_is_a_new_generation(conn: sqlite3.Connection) -> None:
    make_run(conn)
    agent = AgentRecord("r1", "coder", "ws-1", "coder-ws-1", "running", "healthy")
    run_write(conn, ops.upsert_agent(agent))
    aid = ops.agent_entity_id("coder", "ws-1")
    run_write(conn, *ops.transition(EntityKind.AGENT, aid, "running", "dead", run_id="r1"))
    run_write(conn, *ops.respawn_agent("r1", "coder", "ws-1", "dead", "restart 1/3"))
    assert conn.execute("SELECT status, generation, restart_count FROM agents").fetchone() == (
        "running",
        2,
        1,
    )
    last = conn.execute("SELECT entity_id, to_state, generation FROM events ORDER BY id DESC")
    assert last.fetchone() == ("coder@ws-1", "running", 2)
    with pytest.raises(TransitionError, match="no longer dead"):
        run_write(conn, *ops.respawn_agent("r1", "coder", "ws-1", "dead"))


def test_an_agent_observation_needs_the_agent_to_exist(conn: sqlite3.Connection) -> None:
    with pytest.raises(TransitionError, match="does not exist"):
        run_write(
            conn,
            ops.update_agent_health(
                "r1", "ghost", "ws", health_state="dead", last_activity_at="", last_progress_at=""
            ),
        )


def test_guidance_is_asked_once_and_answered_once(conn: sqlite3.Connection) -> None:
    asked = run_write(conn, *ops.add_guidance_request("r1", "ws-1", "coder", "which db?", "ctx"))
    guidance_id = asked.rowids[0]
    assert guidance_id == 1
    run_write(conn, *ops.answer_guidance(1, "sqlite"))
    assert conn.execute("SELECT status, answer_text FROM guidance_requests").fetchone() == (
        "answered",
        "sqlite",
    )
    assert events(conn) == [
        ("guidance", "1", "requested", "", "pending", "coder@ws-1"),
        ("guidance", "1", "answered", "pending", "answered", "coder@ws-1"),
    ]
    with pytest.raises(TransitionError, match="not pending"):
        run_write(conn, *ops.answer_guidance(1, "again"))


def test_appended_events_take_consecutive_ids(conn: sqlite3.Connection) -> None:
    run_write(conn, ops.append_event(NewEvent("r1", "run", "r1", "first")))
    batch = [NewEvent("r1", "run", "r1", "note", message=str(i), generation=3) for i in range(5)]
    result = run_write(conn, ops.append_events(batch))
    assert result.rowids == (None,) and result.rowcounts == (5,)
    ids = [i for (i,) in conn.execute("SELECT id FROM events ORDER BY id")]
    assert ids == list(range(1, 7))


def test_upserts_report_no_row_id(conn: sqlite3.Connection) -> None:
    state = DocSyncRecord("r1", "T-1", "ws-1", "pending", doc_home_repo="api")
    run_write(conn, ops.append_event(NewEvent("r1", "run", "r1", "first")))
    result = run_write(conn, ops.upsert_doc_sync_state(state))
    assert result.rowids == (None,)
    run_write(conn, ops.upsert_doc_sync_state(DocSyncRecord("r1", "T-1", "ws-1", "synced")))
    assert conn.execute("SELECT status, doc_home_repo FROM doc_sync_states").fetchall() == [
        ("synced", "")
    ]
