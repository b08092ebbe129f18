"""Schema migrations: from nothing and from every earlier version to the latest, faithfully
to the original's tables, atomically per step, and never onto a newer database."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from metawsm.errors import StoreError, StoreNewerError
from metawsm.store.db import connect
from metawsm.store.schema import (
    LATEST_VERSION,
    MIGRATIONS,
    Migration,
    migrate,
    schema_version,
)

# The original's ERA tables (reference §3.2): columns in order; "=x" marks a default.
# Every column is NOT NULL.
ORIGINAL_TABLES = {
    "schema_migrations": "version applied_at",
    "runs": "run_id status created_at updated_at spec_json policy_json error_text=''",
    "run_tickets": "run_id ticket",
    "steps": "run_id step_index name kind command_text blocking ticket='' workspace_name=''"
    " agent_name='' status error_text='' started_at='' finished_at=''",
    "agents": "run_id agent_name workspace_name session_name status health_state"
    " last_activity_at='' last_progress_at=''",
    "events": "id run_id entity_type entity_id event_type from_state='' to_state='' message=''"
    " created_at",
    "run_briefs": "run_id ticket goal scope done_criteria constraints_text merge_intent qa_json"
    " created_at updated_at",
    "guidance_requests": "id run_id workspace_name agent_name question context_text=''"
    " answer_text='' status created_at answered_at=''",
    "doc_sync_states": "run_id ticket workspace_name doc_home_repo='' doc_authority_mode=''"
    " doc_seed_mode='' status revision='' error_text='' updated_at",
    "operator_run_states": "run_id restart_attempts=0 last_restart_at='' cooldown_until=''"
    " updated_at",
    "run_pull_requests": "run_id ticket repo workspace_name='' head_branch='' base_branch=''"
    " remote_name='' commit_sha='' pr_number=0 pr_url='' pr_state='' credential_mode=''"
    " actor='' validation_json='' error_text='' created_at updated_at",
    "run_review_feedback": "run_id ticket repo workspace_name='' pr_number=0 pr_url=''"
    " source_type source_id source_url='' author='' body_text='' file_path='' line_number=0"
    " status='' error_text='' created_at updated_at last_seen_at addressed_at=''",
}

ORIGINAL_KEYS = {
    "schema_migrations": ["version"],
    "runs": ["run_id"],
    "run_tickets": ["run_id", "ticket"],
    "steps": ["run_id", "step_index"],
    "agents": ["run_id", "agent_name", "workspace_name"],
    "events": ["id"],
    "run_briefs": ["run_id"],
    "guidance_requests": ["id"],
    "doc_sync_states": ["run_id", "ticket", "workspace_name"],
    "operator_run_states": ["run_id"],
    "run_pull_requests": ["run_id", "ticket", "repo"],
    "run_review_feedback": ["run_id", "ticket", "repo", "pr_number", "source_type", "source_id"],
}

FORUM_TABLES = {
    "forum_threads",
    "forum_posts",
    "forum_assignments",
    "forum_state_transitions",
    "forum_events",
    "forum_thread_views",
    "forum_thread_stats",
    "forum_projection_events",
}

FORUM_INDEXES = {
    "idx_forum_threads_ticket_state_priority",
    "idx_forum_posts_thread_created",
    "idx_forum_events_ticket_sequence",
    "idx_forum_thread_views_ticket_filters",
}


def _columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, int, str | None, int]]:
    """(name, notnull, default, pk position) per column."""
    return [(r[1], r[3], r[4], r[5]) for r in conn.execute(f"PRAGMA table_info({table})")]


def _names(conn: sqlite3.Connection, kind: str) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_schema WHERE type = ?", (kind,))
    return {name for (name,) in rows}


def _db_at(path: Path, version: int) -> sqlite3.Connection:
    conn = connect(path)
    migrate(conn, target=version)
    assert schema_version(conn) == version
    return conn


def test_an_empty_file_migrates_to_the_latest_version(db_path: Path) -> None:
    conn = connect(db_path)
    report = migrate(conn)
    assert (report.previous, report.current) == (0, LATEST_VERSION)
    assert schema_version(conn) == LATEST_VERSION
    applied = [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert applied == [m.version for m in MIGRATIONS]
    conn.close()


def test_v1_is_the_original_schema_column_for_column(db_path: Path) -> None:
    conn = _db_at(db_path, 1)
    for table, spec in ORIGINAL_TABLES.items():
        expected = [(*item.split("=")[:1], item.partition("=")[2] or None) for item in spec.split()]
        actual = _columns(conn, table)
        assert [(name, default) for name, _nn, default, _pk in actual] == expected, table
        # Every column is NOT NULL, except an INTEGER PRIMARY KEY (a rowid alias).
        assert all(nn or pk for _name, nn, _d, pk in actual), table
        keys = sorted((pk, name) for name, _nn, _d, pk in actual if pk)
        assert [name for _pk, name in keys] == ORIGINAL_KEYS[table], table
    assert "idx_run_review_feedback_run_status" in _names(conn, "index")
    conn.close()


def test_v2_adds_generation_host_and_event_payload(db_path: Path) -> None:
    conn = _db_at(db_path, 2)
    agents = {name: (nn, default) for name, nn, default, _pk in _columns(conn, "agents")}
    assert agents["generation"] == (1, "1")
    assert agents["host"] == (1, "'local'")
    assert agents["last_exit_status"] == (0, None)
    assert agents["restart_count"] == (1, "0")
    assert agents["updated_at"] == (1, "''")
    events = {name: (nn, default) for name, nn, default, _pk in _columns(conn, "events")}
    assert events["generation"] == (1, "0")
    assert events["payload_json"] == (1, "''")
    assert "generation" in {c[0] for c in _columns(conn, "guidance_requests")}
    assert "idx_events_run_id" in _names(conn, "index")
    conn.close()


def test_v3_adds_the_forum_tables_and_indexes(db_path: Path) -> None:
    conn = _db_at(db_path, 3)
    assert _names(conn, "table") >= FORUM_TABLES
    assert _names(conn, "index") >= FORUM_INDEXES
    conn.close()


@pytest.mark.parametrize("start", range(LATEST_VERSION))
def test_every_earlier_version_migrates_to_the_latest_keeping_its_rows(
    db_path: Path, start: int
) -> None:
    conn = _db_at(db_path, start)
    if start >= 1:
        conn.execute(
            "INSERT INTO runs (run_id, status, created_at, updated_at, spec_json, policy_json)"
            " VALUES ('r1', 'running', 't0', 't1', '{}', '{}')"
        )
        conn.execute(
            "INSERT INTO agents (run_id, agent_name, workspace_name, session_name, status,"
            " health_state) VALUES ('r1', 'coder', 'ws1', 's1', 'running', 'healthy')"
        )
        conn.execute(
            "INSERT INTO events (run_id, entity_type, entity_id, event_type, created_at)"
            " VALUES ('r1', 'run', 'r1', 'bootstrap', 't1')"
        )
    report = migrate(conn)
    assert (report.previous, report.current) == (start, LATEST_VERSION)
    if start >= 1:
        assert conn.execute("SELECT status FROM runs WHERE run_id = 'r1'").fetchone() == (
            "running",
        )
        # Columns added later take their defaults on old rows.
        assert conn.execute("SELECT generation, host, restart_count FROM agents").fetchone() == (
            1,
            "local",
            0,
        )
        assert conn.execute("SELECT id, generation, payload_json FROM events").fetchone() == (
            1,
            0,
            "",
        )
    conn.close()


def test_a_database_of_the_original_metawsm_is_adopted_as_v1(db_path: Path) -> None:
    # The original ran its CREATE statements on every start and never set user_version.
    db_path.parent.mkdir(parents=True)
    original = sqlite3.connect(db_path, isolation_level=None)
    for statement in MIGRATIONS[0].statements:
        original.execute(statement)
    original.execute(
        "INSERT INTO runs (run_id, status, created_at, updated_at, spec_json, policy_json,"
        " error_text) VALUES ('old', 'completed', '2025-01-02T03:04:05+01:00',"
        " '2025-01-02T03:04:05+01:00', '{}', '{}', 'run completed')"
    )
    original.close()
    conn = connect(db_path)
    assert migrate(conn).current == LATEST_VERSION
    assert conn.execute("SELECT status, error_text FROM runs").fetchall() == [
        ("completed", "run completed")
    ]
    conn.close()


def test_migrating_twice_changes_nothing(db_path: Path) -> None:
    conn = connect(db_path)
    migrate(conn)
    report = migrate(conn)
    assert not report.changed
    assert report.current == LATEST_VERSION
    conn.close()


def test_a_newer_database_is_refused(db_path: Path) -> None:
    conn = connect(db_path)
    migrate(conn)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    with pytest.raises(StoreNewerError) as caught:
        migrate(conn)
    assert f"schema version {LATEST_VERSION + 1}" in caught.value.message
    assert f"supports ({LATEST_VERSION})" in caught.value.message
    assert caught.value.hint and "upgrade metawsm" in caught.value.hint
    assert schema_version(conn) == LATEST_VERSION + 1
    conn.close()


def test_a_failing_step_leaves_the_previous_version_intact(db_path: Path) -> None:
    broken = Migration(
        2,
        "half good, half broken",
        (
            "ALTER TABLE agents ADD COLUMN generation INTEGER NOT NULL DEFAULT 1",
            "CREATE TABLE halfway (x INTEGER)",
            "CREATE TABL oops",
        ),
    )
    conn = _db_at(db_path, 1)
    with pytest.raises(StoreError) as caught:
        migrate(conn, migrations=(MIGRATIONS[0], broken))
    assert "schema version 2 failed" in caught.value.message
    assert schema_version(conn) == 1
    assert "generation" not in {c[0] for c in _columns(conn, "agents")}
    assert "halfway" not in _names(conn, "table")
    assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone() == (1,)
    assert not conn.in_transaction
    # The real step still applies afterwards.
    assert migrate(conn).current == LATEST_VERSION
    conn.close()


@pytest.mark.parametrize("attempt", range(10))
def test_processes_opening_a_new_file_at_once_all_end_at_the_latest(
    tmp_path: Path, attempt: int
) -> None:
    # Several connections racing to create, switch to WAL and migrate one new file: the WAL
    # switch reports busy without waiting, which must be retried, never surfaced.
    db_path = tmp_path / f"race-{attempt}.db"
    errors: list[BaseException] = []
    barrier = threading.Barrier(4, timeout=10)

    def open_and_migrate() -> None:
        try:
            barrier.wait()
            conn = connect(db_path)
            try:
                migrate(conn)
            finally:
                conn.close()
        except BaseException as exc:
            barrier.abort()  # never leave the other threads waiting
            errors.append(exc)

    # Daemon threads: a broken test must fail, never hang the interpreter's exit.
    threads = [threading.Thread(target=open_and_migrate, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    conn = connect(db_path)
    assert schema_version(conn) == LATEST_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()


def test_migrations_must_be_numbered_in_order(db_path: Path) -> None:
    conn = connect(db_path)
    with pytest.raises(ValueError, match="out of order"):
        migrate(conn, migrations=(MIGRATIONS[1],))
    conn.close()
