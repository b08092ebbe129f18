"""The store's schema, as ordered migrations keyed by ``PRAGMA user_version``.

- **v1** is the original metawsm's schema (``internal/store/sqlite.go``, ERA) table for table,
  column for column: same names, ``NOT NULL`` and defaults, same keys. Its statements say
  ``IF NOT EXISTS``, so a database written by the original (which left ``user_version`` at 0)
  is adopted in place as v1 with its rows.
- **v2** adds what the supervisor needs: the agent's generation, host, last exit status,
  restart count and update time; the event's generation and JSON payload, with an index for
  reading one run's events in order (``events.id`` stays the one global event sequence); the
  generation that asked a guidance question.
- **v3** adds the forum tables of the original's forum milestone, with their indexes.
- **v4** adds what the forum actor needs beyond them: the link between a guidance request
  and its forum thread, the exporters' cursors over ``forum_events`` (the Redis outbox and the
  docs-sync consumer: the durable outbox is the event log itself, each exporter's cursor
  advancing only after delivery), and the docs-sync record of each thread's reference doc.

Each step runs in its own ``BEGIN IMMEDIATE`` transaction together with the
``user_version`` bump and a ``schema_migrations`` row (a table the original created but never
wrote). SQLite DDL is transactional, so a step that fails or a process that dies mid-step
leaves the database at the previous version, never in between.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from metawsm.errors import StoreError, StoreNewerError
from metawsm.store.db import db_label, utc_now, write_transaction


@dataclass(frozen=True, slots=True)
class Migration:
    """One step: the statements that take the schema from ``version - 1`` to ``version``."""

    version: int
    summary: str
    statements: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What :func:`migrate` did: the version found and the version left."""

    previous: int
    current: int

    @property
    def changed(self) -> bool:
        return self.current != self.previous


_V1_ORIGINAL = Migration(
    1,
    "the original metawsm schema (runs, steps, agents, events, briefs, guidance, docs, PRs)",
    (
        """CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            applied_at TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS runs (
            run_id TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            spec_json TEXT NOT NULL,
            policy_json TEXT NOT NULL,
            error_text TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE TABLE IF NOT EXISTS run_tickets (
            run_id TEXT NOT NULL,
            ticket TEXT NOT NULL,
            PRIMARY KEY (run_id, ticket)
        )""",
        """CREATE TABLE IF NOT EXISTS steps (
            run_id TEXT NOT NULL,
            step_index INTEGER NOT NULL,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            command_text TEXT NOT NULL,
            blocking INTEGER NOT NULL,
            ticket TEXT NOT NULL DEFAULT '',
            workspace_name TEXT NOT NULL DEFAULT '',
            agent_name TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL,
            error_text TEXT NOT NULL DEFAULT '',
            started_at TEXT NOT NULL DEFAULT '',
            finished_at TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (run_id, step_index)
        )""",
        """CREATE TABLE IF NOT EXISTS agents (
            run_id TEXT NOT NULL,
            agent_name TEXT NOT NULL,
            workspace_name TEXT NOT NULL,
            session_name TEXT NOT NULL,
            status TEXT NOT NULL,
            health_state TEXT NOT NULL,
            last_activity_at TEXT NOT NULL DEFAULT '',
            last_progress_at TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (run_id, agent_name, workspace_name)
        )""",
        """CREATE TABLE IF NOT EXISTS events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL,
            entity_type TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            event_type TEXT NOT NULL,
            from_state TEXT NOT NULL DEFAULT '',
            to_state TEXT NOT NULL DEFAULT '',
            message TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS run_briefs (
            run_id TEXT PRIMARY KEY,
            ticket TEXT NOT NULL,
            goal TEXT NOT NULL,
            scope TEXT NOT NULL,
            done_criteria TEXT NOT NULL,
            constraints_text TEXT NOT NULL,
            merge_intent TEXT NOT NULL,
            qa_json TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS guidance_requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL,
            workspace_name TEXT NOT NULL,
            agent_name TEXT NOT NULL,
            question TEXT NOT NULL,
            context_text TEXT NOT NULL DEFAULT '',
            answer_text TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            answered_at TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE TABLE IF NOT EXISTS doc_sync_states (
            run_id TEXT NOT NULL,
            ticket TEXT NOT NULL,
            workspace_name TEXT NOT NULL,
            doc_home_repo TEXT NOT NULL DEFAULT '',
            doc_authority_mode TEXT NOT NULL DEFAULT '',
            doc_seed_mode TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL,
            revision TEXT NOT NULL DEFAULT '',
            error_text TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL,
            PRIMARY KEY (run_id, ticket, workspace_name)
        )""",
        """CREATE TABLE IF NOT EXISTS operator_run_states (
            run_id TEXT PRIMARY KEY,
            restart_attempts INTEGER NOT NULL DEFAULT 0,
            last_restart_at TEXT NOT NULL DEFAULT '',
            cooldown_until TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS run_pull_requests (
            run_id TEXT NOT NULL,
            ticket TEXT NOT NULL,
            repo TEXT NOT NULL,
            workspace_name TEXT NOT NULL DEFAULT '',
            head_branch TEXT NOT NULL DEFAULT '',
            base_branch TEXT NOT NULL DEFAULT '',
            remote_name TEXT NOT NULL DEFAULT '',
            commit_sha TEXT NOT NULL DEFAULT '',
            pr_number INTEGER NOT NULL DEFAULT 0,
            pr_url TEXT NOT NULL DEFAULT '',
            pr_state TEXT NOT NULL DEFAULT '',
            credential_mode TEXT NOT NULL DEFAULT '',
            actor TEXT NOT NULL DEFAULT '',
            validation_json TEXT NOT NULL DEFAULT '',
            error_text TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (run_id, ticket, repo)
        )""",
        """CREATE TABLE IF NOT EXISTS run_review_feedback (
            run_id TEXT NOT NULL,
            ticket TEXT NOT NULL,
            repo TEXT NOT NULL,
            workspace_name TEXT NOT NULL DEFAULT '',
            pr_number INTEGER NOT NULL DEFAULT 0,
            pr_url TEXT NOT NULL DEFAULT '',
            source_type TEXT NOT NULL,
            source_id TEXT NOT NULL,
            source_url TEXT NOT NULL DEFAULT '',
            author TEXT NOT NULL DEFAULT '',
            body_text TEXT NOT NULL DEFAULT '',
            file_path TEXT NOT NULL DEFAULT '',
            line_number INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT '',
            error_text TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            addressed_at TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (run_id, ticket, repo, pr_number, source_type, source_id)
        )""",
        """CREATE INDEX IF NOT EXISTS idx_run_review_feedback_run_status
            ON run_review_feedback (run_id, status)""",
    ),
)

_V2_SUPERVISOR = Migration(
    2,
    "agent generation, host, exit status, restarts; event generation and payload",
    (
        # A generation number per agent incarnation; signals from older ones are rejected.
        "ALTER TABLE agents ADD COLUMN generation INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE agents ADD COLUMN host TEXT NOT NULL DEFAULT 'local'",
        # NULL: no exit seen yet, or a death by signal (tmux reports no status for those).
        "ALTER TABLE agents ADD COLUMN last_exit_status INTEGER",
        "ALTER TABLE agents ADD COLUMN restart_count INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE agents ADD COLUMN updated_at TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE events ADD COLUMN generation INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE events ADD COLUMN payload_json TEXT NOT NULL DEFAULT ''",
        # `watch <run>` and the status cache read one run's events after a known id.
        "CREATE INDEX IF NOT EXISTS idx_events_run_id ON events (run_id, id)",
        "ALTER TABLE guidance_requests ADD COLUMN generation INTEGER NOT NULL DEFAULT 0",
    ),
)

_V3_FORUM = Migration(
    3,
    "the forum tables (threads, posts, assignments, state transitions, events, views, stats)",
    (
        """CREATE TABLE IF NOT EXISTS forum_threads (
            thread_id TEXT PRIMARY KEY,
            ticket TEXT NOT NULL,
            run_id TEXT NOT NULL DEFAULT '',
            agent_name TEXT NOT NULL DEFAULT '',
            title TEXT NOT NULL,
            state TEXT NOT NULL,
            priority TEXT NOT NULL,
            assignee_type TEXT NOT NULL DEFAULT '',
            assignee_name TEXT NOT NULL DEFAULT '',
            opened_by_type TEXT NOT NULL,
            opened_by_name TEXT NOT NULL DEFAULT '',
            opened_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            closed_at TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE INDEX IF NOT EXISTS idx_forum_threads_ticket_state_priority
            ON forum_threads (ticket, state, priority)""",
        """CREATE TABLE IF NOT EXISTS forum_posts (
            post_id TEXT PRIMARY KEY,
            thread_id TEXT NOT NULL,
            event_id TEXT NOT NULL UNIQUE,
            author_type TEXT NOT NULL,
            author_name TEXT NOT NULL DEFAULT '',
            body_text TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
        """CREATE INDEX IF NOT EXISTS idx_forum_posts_thread_created
            ON forum_posts (thread_id, created_at)""",
        """CREATE TABLE IF NOT EXISTS forum_assignments (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            thread_id TEXT NOT NULL,
            event_id TEXT NOT NULL UNIQUE,
            from_assignee_type TEXT NOT NULL DEFAULT '',
            from_assignee_name TEXT NOT NULL DEFAULT '',
            to_assignee_type TEXT NOT NULL DEFAULT '',
            to_assignee_name TEXT NOT NULL DEFAULT '',
            changed_by_type TEXT NOT NULL,
            changed_by_name TEXT NOT NULL DEFAULT '',
            changed_at TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS forum_state_transitions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            thread_id TEXT NOT NULL,
            event_id TEXT NOT NULL UNIQUE,
            from_state TEXT NOT NULL DEFAULT '',
            to_state TEXT NOT NULL,
            changed_by_type TEXT NOT NULL,
            changed_by_name TEXT NOT NULL DEFAULT '',
            changed_at TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS forum_events (
            sequence INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            event_type TEXT NOT NULL,
            event_version INTEGER NOT NULL,
            occurred_at TEXT NOT NULL,
            thread_id TEXT NOT NULL,
            run_id TEXT NOT NULL DEFAULT '',
            ticket TEXT NOT NULL,
            agent_name TEXT NOT NULL DEFAULT '',
            actor_type TEXT NOT NULL,
            actor_name TEXT NOT NULL DEFAULT '',
            correlation_id TEXT NOT NULL DEFAULT '',
            causation_id TEXT NOT NULL DEFAULT '',
            payload_json TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE INDEX IF NOT EXISTS idx_forum_events_ticket_sequence
            ON forum_events (ticket, sequence)""",
        """CREATE TABLE IF NOT EXISTS forum_thread_views (
            thread_id TEXT PRIMARY KEY,
            ticket TEXT NOT NULL,
            run_id TEXT NOT NULL DEFAULT '',
            agent_name TEXT NOT NULL DEFAULT '',
            title TEXT NOT NULL,
            state TEXT NOT NULL,
            priority TEXT NOT NULL,
            assignee_type TEXT NOT NULL DEFAULT '',
            assignee_name TEXT NOT NULL DEFAULT '',
            opened_by_type TEXT NOT NULL,
            opened_by_name TEXT NOT NULL DEFAULT '',
            posts_count INTEGER NOT NULL DEFAULT 0,
            last_post_at TEXT NOT NULL DEFAULT '',
            last_post_by_type TEXT NOT NULL DEFAULT '',
            last_post_by_name TEXT NOT NULL DEFAULT '',
            opened_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            closed_at TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE INDEX IF NOT EXISTS idx_forum_thread_views_ticket_filters
            ON forum_thread_views (ticket, state, priority, updated_at)""",
        """CREATE TABLE IF NOT EXISTS forum_thread_stats (
            ticket TEXT NOT NULL,
            run_id TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL,
            priority TEXT NOT NULL,
            thread_count INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (ticket, run_id, state, priority)
        )""",
        """CREATE TABLE IF NOT EXISTS forum_projection_events (
            projection_name TEXT NOT NULL,
            event_id TEXT NOT NULL,
            applied_at TEXT NOT NULL,
            PRIMARY KEY (projection_name, event_id)
        )""",
    ),
)

_V4_FORUM_ACTOR = Migration(
    4,
    "forum: guidance links, exporter cursors (Redis outbox, docs sync), synced docs",
    (
        """CREATE TABLE IF NOT EXISTS forum_guidance_links (
            guidance_id INTEGER PRIMARY KEY,
            thread_id TEXT NOT NULL UNIQUE,
            run_id TEXT NOT NULL,
            agent_name TEXT NOT NULL DEFAULT '',
            workspace_name TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS forum_exports (
            exporter TEXT PRIMARY KEY,
            last_sequence INTEGER NOT NULL DEFAULT 0,
            last_error TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS forum_synced_docs (
            thread_id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL,
            ticket TEXT NOT NULL,
            path TEXT NOT NULL,
            last_sequence INTEGER NOT NULL DEFAULT 0,
            commit_sha TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS idx_forum_events_thread ON forum_events (thread_id, sequence)",
        """CREATE INDEX IF NOT EXISTS idx_forum_thread_views_run
            ON forum_thread_views (run_id, state, priority)""",
    ),
)

#: Every step, in order; version ``n`` is ``MIGRATIONS[n - 1]``.
MIGRATIONS: tuple[Migration, ...] = (_V1_ORIGINAL, _V2_SUPERVISOR, _V3_FORUM, _V4_FORUM_ACTOR)
#: The schema version this metawsm writes.
LATEST_VERSION = MIGRATIONS[-1].version


def schema_version(conn: sqlite3.Connection) -> int:
    """The database's ``PRAGMA user_version`` (0 for a new or an original-metawsm file)."""
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def check_supported(conn: sqlite3.Connection, latest: int = LATEST_VERSION) -> int:
    """Return the schema version, or raise :class:`StoreNewerError` if it is past ``latest``."""
    version = schema_version(conn)
    if version > latest:
        raise StoreNewerError(
            f"database {db_label(conn)} is at schema version {version}, "
            f"newer than this metawsm supports ({latest})",
            hint="upgrade metawsm, or point --db at another database",
        )
    return version


def migrate(
    conn: sqlite3.Connection,
    *,
    target: int | None = None,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> MigrationReport:
    """Bring the database to ``target`` (default: the latest version), one step at a time.

    Raises :class:`StoreNewerError` for a database past the latest version, and
    :class:`StoreError` when a step fails (the database then stays at the previous version).
    Safe against a second process migrating at the same time: each step re-reads the version
    under the write lock and skips what is already applied.
    """
    _check_sequence(migrations)
    latest = migrations[-1].version if migrations else 0
    goal = latest if target is None else target
    if not 0 <= goal <= latest:
        raise ValueError(f"target schema version {goal} is outside 0..{latest}")
    previous = check_supported(conn, latest)
    for step in migrations:
        if step.version > goal:
            break
        if step.version > schema_version(conn):
            _apply(conn, step)
    return MigrationReport(previous=previous, current=schema_version(conn))


def _apply(conn: sqlite3.Connection, step: Migration) -> None:
    def body(c: sqlite3.Connection) -> None:
        if schema_version(c) >= step.version:
            return  # another process applied it while we waited for the lock
        for statement in step.statements:
            c.execute(statement)
        c.execute(
            "INSERT OR REPLACE INTO schema_migrations (version, applied_at) VALUES (?, ?)",
            (step.version, utc_now()),
        )
        # PRAGMA takes no bind parameters; the version is our own integer constant.
        c.execute(f"PRAGMA user_version = {int(step.version)}")

    try:
        write_transaction(conn, body)
    except sqlite3.Error as exc:
        raise StoreError(
            f"migrating {db_label(conn)} to schema version {step.version} failed: {exc}",
            hint=f"the database is unchanged at schema version {schema_version(conn)}",
        ) from exc


def _check_sequence(migrations: Sequence[Migration]) -> None:
    for expected, step in enumerate(migrations, start=1):
        if step.version != expected:
            raise ValueError(f"migration {step.version} is out of order (expected {expected})")
