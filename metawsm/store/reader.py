"""Reading the store: plain synchronous queries over a read-only connection of its own.

Synchronous on purpose. Reads are short indexed queries; the CLI, their main user, is
synchronous; and in WAL mode a reader never waits for the writer. Async code runs them through
:meth:`Reader.run` (a worker thread behind the reader's own one-slot limiter) rather than
through aiosqlite, which is asyncio-only and whose cancelled queries keep running and block the
next one (``deps-spike.md`` §2, §5). Reads never go through the writer: its queue is for
writes, and a reader sees every committed write anyway.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import ParamSpec, TypeVar

import anyio

from metawsm.errors import StoreClosedError, StoreError
from metawsm.hsm import ACTIVE_RUN_STATUSES
from metawsm.store.db import connect, db_label
from metawsm.store.ops import GUIDANCE_PENDING
from metawsm.store.records import (
    AgentRecord,
    DocSyncRecord,
    EventRecord,
    GuidanceRecord,
    RunRecord,
    StepRecord,
)
from metawsm.store.schema import LATEST_VERSION, check_supported, schema_version

P = ParamSpec("P")
T = TypeVar("T")

#: Tables counted by :meth:`Reader.counts` (and ``metawsm db status``).
COUNTED_TABLES = ("runs", "agents", "events")


class Reader:
    """Queries over a read-only connection to an existing database at the latest schema."""

    def __init__(self, path: str | Path) -> None:
        conn = connect(path, readonly=True, check_same_thread=False)
        try:
            version = check_supported(conn)
            if version < LATEST_VERSION:
                raise StoreError(
                    f"database {db_label(conn)} is at schema version {version}, "
                    f"this metawsm reads version {LATEST_VERSION}",
                    hint="run `metawsm db migrate` (or start `metawsm serve`) to upgrade it",
                )
        except BaseException:
            conn.close()
            raise
        conn.row_factory = sqlite3.Row
        self._conn: sqlite3.Connection | None = conn
        self._limiter = anyio.CapacityLimiter(1)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreClosedError("the store reader is closed")
        return self._conn

    async def run(self, query: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one of this reader's queries in a worker thread (for async callers)."""
        return await anyio.to_thread.run_sync(lambda: query(*args, **kwargs), limiter=self._limiter)

    def schema_version(self) -> int:
        """The database's schema version."""
        return schema_version(self.conn)

    def get_run(self, run_id: str) -> RunRecord | None:
        """One run with its tickets, or ``None``."""
        row = self.conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else self._run(row)

    def list_runs(self, *, active_only: bool = False) -> list[RunRecord]:
        """Runs, newest first; only those a supervisor still drives when ``active_only``."""
        if active_only:
            statuses = sorted(ACTIVE_RUN_STATUSES)
            marks = ", ".join("?" * len(statuses))
            rows = self.conn.execute(
                f"SELECT * FROM runs WHERE status IN ({marks}) ORDER BY created_at DESC, run_id",
                statuses,
            ).fetchall()
        else:
            rows = self.conn.execute(
                "SELECT * FROM runs ORDER BY created_at DESC, run_id"
            ).fetchall()
        return [self._run(row) for row in rows]

    def list_steps(self, run_id: str) -> list[StepRecord]:
        """A run's plan steps in order."""
        rows = self.conn.execute(
            "SELECT * FROM steps WHERE run_id = ? ORDER BY step_index", (run_id,)
        ).fetchall()
        return [_record(StepRecord, row, blocking=bool(row["blocking"])) for row in rows]

    def list_agents(self, run_id: str | None = None) -> list[AgentRecord]:
        """Agents of one run, or of every run, by run, agent and workspace."""
        sql = "SELECT * FROM agents"
        params: tuple[str, ...] = ()
        if run_id is not None:
            sql += " WHERE run_id = ?"
            params = (run_id,)
        rows = self.conn.execute(
            sql + " ORDER BY run_id, agent_name, workspace_name", params
        ).fetchall()
        return [_record(AgentRecord, row) for row in rows]

    def list_events(
        self, run_id: str | None = None, *, after_id: int = 0, limit: int = 1000
    ) -> list[EventRecord]:
        """Events with ``id > after_id`` in sequence order, of one run or of all runs."""
        if run_id is None:
            rows = self.conn.execute(
                "SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
            ).fetchall()
        else:
            rows = self.conn.execute(
                "SELECT * FROM events WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?",
                (run_id, after_id, limit),
            ).fetchall()
        return [_record(EventRecord, row) for row in rows]

    def list_agent_events(self, run_id: str, event_types: Sequence[str]) -> list[EventRecord]:
        """A run's agent events of the given types (``completion``, ``validation``...), in
        sequence order: what status needs, without reading every event of a long run."""
        if not event_types:
            return []
        marks = ", ".join("?" for _ in event_types)
        rows = self.conn.execute(
            "SELECT * FROM events WHERE run_id = ? AND entity_type = 'agent'"
            f" AND event_type IN ({marks}) ORDER BY id",
            (run_id, *event_types),
        ).fetchall()
        return [_record(EventRecord, row) for row in rows]

    def list_guidance(self, run_id: str, *, pending_only: bool = False) -> list[GuidanceRecord]:
        """A run's guidance requests, oldest first."""
        sql = "SELECT * FROM guidance_requests WHERE run_id = ?"
        params: tuple[str, ...] = (run_id,)
        if pending_only:
            sql += " AND status = ?"
            params += (GUIDANCE_PENDING,)
        rows = self.conn.execute(sql + " ORDER BY id", params).fetchall()
        return [_record(GuidanceRecord, row) for row in rows]

    def list_doc_sync_states(self, run_id: str) -> list[DocSyncRecord]:
        """A run's docs seeding states by ticket and workspace."""
        rows = self.conn.execute(
            "SELECT * FROM doc_sync_states WHERE run_id = ? ORDER BY ticket, workspace_name",
            (run_id,),
        ).fetchall()
        return [_record(DocSyncRecord, row) for row in rows]

    def counts(self) -> dict[str, int]:
        """Row counts of :data:`COUNTED_TABLES`."""
        return count_rows(self.conn)

    def _run(self, row: sqlite3.Row) -> RunRecord:
        tickets = tuple(
            t
            for (t,) in self.conn.execute(
                "SELECT ticket FROM run_tickets WHERE run_id = ? ORDER BY ticket",
                (row["run_id"],),
            )
        )
        return _record(RunRecord, row, tickets=tickets)

    def close(self) -> None:
        """Close the connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def count_rows(conn: sqlite3.Connection) -> dict[str, int]:
    """Row counts of :data:`COUNTED_TABLES`, 0 for a table that does not exist yet."""
    existing = {
        name for (name,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
    }
    counts: dict[str, int] = {}
    for table in COUNTED_TABLES:
        # Table names come from our own constant, never from input.
        counts[table] = (
            int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            if table in existing
            else 0
        )
    return counts


R = TypeVar("R")


def _record(cls: Callable[..., R], row: sqlite3.Row, **overrides: object) -> R:
    # Iterating a Row yields its values, not its keys.
    fields: dict[str, object] = dict(zip(row.keys(), row, strict=True))
    fields.update(overrides)
    return cls(**fields)
