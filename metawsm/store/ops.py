"""Writes as data: a write is a tuple of :class:`Op` / :class:`ManyOp`, executed atomically.

Values only ever travel as bind parameters: an ``Op`` is SQL text with ``?`` placeholders plus
the values, and its constructor checks that the two agree, so a value spliced into the text
(the original's ``quote()``) has nowhere to go. The builders below are the writes the
supervisor makes; each returns the ops of one atomic write, and whoever executes them (the
store writer, or a direct connection) wraps them in one transaction.

A transition is the guarded write: :func:`transition` checks the state machine
(:func:`metawsm.hsm.check`), then updates the row only if it still holds the expected state
(compare-and-swap, ``... AND status = ?``) and appends the transition event in the same write.
An op with ``expect_rowcount`` makes the whole write fail with :class:`TransitionError` when it
touched another number of rows, so a state that changed concurrently is never overwritten.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from metawsm.errors import TransitionError
from metawsm.hsm import EntityKind, RunStatus, StepStatus, check
from metawsm.store.db import utc_now
from metawsm.store.records import AgentRecord, DocSyncRecord, NewEvent, RunRecord, StepRecord

Param: TypeAlias = str | int | float | bytes | None
Params: TypeAlias = tuple[Param, ...]


@dataclass(frozen=True, slots=True)
class Op:
    """One statement with its bind parameters.

    ``expect_rowcount``: when set, the write fails with :class:`TransitionError` (message
    ``conflict``) unless the statement changed exactly that many rows.
    """

    sql: str
    params: Params = ()
    expect_rowcount: int | None = None
    conflict: str = ""
    #: A plain INSERT, whose row id is worth reporting (an upsert's may be stale).
    inserts: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_placeholders(self.sql, len(self.params))
        head = self.sql.lstrip()[:6].upper()
        object.__setattr__(self, "inserts", head == "INSERT" and "ON CONFLICT" not in self.sql)


@dataclass(frozen=True, slots=True)
class ManyOp:
    """One statement run once per row of parameters (``executemany``)."""

    sql: str
    rows: tuple[Params, ...]

    def __post_init__(self) -> None:
        wanted = self.sql.count("?")
        if any(len(row) != wanted for row in self.rows):
            raise ValueError(f"every row needs {wanted} bind parameters: {self.sql!r}")


@dataclass(frozen=True, slots=True)
class Apply:
    """A step of Python run on the connection inside the write's transaction, for a command
    whose checks read what the same transaction writes (the forum's commands: the thread must
    exist, be open, allow the transition, and the event id must be new). It reads and writes
    with bind parameters like any op; what it returns is in :attr:`WriteResult.values`, and
    what it raises fails the write alone (rolled back to its savepoint)."""

    fn: Callable[[sqlite3.Connection], object]


AnyOp: TypeAlias = Op | ManyOp | Apply


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one write did: per op, the row id it inserted (``None`` for a :class:`ManyOp`, an
    :class:`Apply` or a statement that inserted nothing) and the number of rows it changed;
    per :class:`Apply`, in order, the value it returned."""

    rowids: tuple[int | None, ...]
    rowcounts: tuple[int, ...]
    values: tuple[object, ...] = ()

    @property
    def last_rowid(self) -> int | None:
        """The row id of the last op that inserted one (an event id, a guidance id)."""
        for rowid in reversed(self.rowids):
            if rowid is not None:
                return rowid
        return None


def execute_ops(conn: sqlite3.Connection, ops: Sequence[AnyOp]) -> WriteResult:
    """Execute ``ops`` in order on ``conn`` inside the caller's transaction.

    Raises :class:`TransitionError` for an ``expect_rowcount`` mismatch and lets
    ``sqlite3`` errors through; the caller rolls back (the writer, to a savepoint).
    """
    rowids: list[int | None] = []
    counts: list[int] = []
    values: list[object] = []
    for op in ops:
        if isinstance(op, Apply):
            values.append(op.fn(conn))
            rowids.append(None)
            counts.append(0)
            continue
        if isinstance(op, ManyOp):
            cursor = conn.executemany(op.sql, op.rows)
            rowids.append(None)
        else:
            cursor = conn.execute(op.sql, op.params)
            if op.expect_rowcount is not None and cursor.rowcount != op.expect_rowcount:
                raise TransitionError(
                    op.conflict
                    or f"expected {op.expect_rowcount} changed row(s), got {cursor.rowcount}",
                    hint="the state changed concurrently; read it again and retry",
                )
            # lastrowid keeps its previous value after an UPDATE: report only real inserts.
            rowids.append(cursor.lastrowid if op.inserts and cursor.rowcount > 0 else None)
        counts.append(cursor.rowcount)
    return WriteResult(tuple(rowids), tuple(counts), tuple(values))


def _check_placeholders(sql: str, count: int) -> None:
    # Statements here never contain a literal '?', so the count is exact.
    if sql.count("?") != count:
        raise ValueError(f"{count} bind parameters for {sql.count('?')} placeholders: {sql!r}")


# -- events ---------------------------------------------------------------------------------

_INSERT_EVENT = (
    "INSERT INTO events (run_id, entity_type, entity_id, event_type, from_state, to_state,"
    " message, created_at, generation, payload_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _event_params(event: NewEvent, now: str) -> Params:
    return (
        event.run_id,
        event.entity_type,
        event.entity_id,
        event.event_type,
        event.from_state,
        event.to_state,
        event.message,
        now,
        event.generation,
        event.payload_json,
    )


def append_event(event: NewEvent, *, now: str | None = None) -> Op:
    """Append one event; the write's row id is its place in the global event sequence."""
    return Op(_INSERT_EVENT, _event_params(event, now or utc_now()))


def append_events(events: Iterable[NewEvent], *, now: str | None = None) -> ManyOp:
    """Append many events with one ``executemany`` (ids stay consecutive within the write)."""
    stamp = now or utc_now()
    return ManyOp(_INSERT_EVENT, tuple(_event_params(e, stamp) for e in events))


# -- runs -----------------------------------------------------------------------------------

_INSERT_TICKET = "INSERT OR IGNORE INTO run_tickets (run_id, ticket) VALUES (?, ?)"


def create_run(
    run_id: str,
    *,
    spec_json: str,
    policy_json: str,
    tickets: Iterable[str] = (),
    status: str = RunStatus.CREATED,
    now: str | None = None,
) -> tuple[AnyOp, ...]:
    """Insert a new run and its tickets; fails (unique constraint) if the run id exists."""
    stamp = now or utc_now()
    return (
        Op(
            "INSERT INTO runs (run_id, status, created_at, updated_at, spec_json, policy_json,"
            " error_text) VALUES (?, ?, ?, ?, ?, ?, '')",
            (run_id, status, stamp, stamp, spec_json, policy_json),
        ),
        ManyOp(_INSERT_TICKET, tuple((run_id, t) for t in tickets)),
    )


def upsert_run(run: RunRecord, *, now: str | None = None) -> tuple[AnyOp, ...]:
    """Insert or update a run (keeping its ``created_at``) and add its tickets.

    ``ON CONFLICT ... DO UPDATE`` rather than the original's ``INSERT OR REPLACE``: a replace
    deletes the row first, which loses the creation time and fires delete triggers.
    """
    stamp = now or utc_now()
    return (
        Op(
            "INSERT INTO runs (run_id, status, created_at, updated_at, spec_json, policy_json,"
            " error_text) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET"
            " status = excluded.status, updated_at = excluded.updated_at,"
            " spec_json = excluded.spec_json, policy_json = excluded.policy_json,"
            " error_text = excluded.error_text",
            (
                run.run_id,
                run.status,
                run.created_at or stamp,
                stamp,
                run.spec_json,
                run.policy_json,
                run.error_text,
            ),
        ),
        ManyOp(_INSERT_TICKET, tuple((run.run_id, t) for t in run.tickets)),
    )


def set_run_spec(run_id: str, spec_json: str, *, now: str | None = None) -> Op:
    """Rewrite a run's spec in place (e.g. the docs freshness revision); the run must exist."""
    return Op(
        "UPDATE runs SET spec_json = ?, updated_at = ? WHERE run_id = ?",
        (spec_json, now or utc_now(), run_id),
        expect_rowcount=1,
        conflict=f"run {run_id} does not exist",
    )


# -- steps and agents -----------------------------------------------------------------------

_UPSERT_STEP = (
    "INSERT INTO steps (run_id, step_index, name, kind, command_text, blocking, ticket,"
    " workspace_name, agent_name, status, error_text, started_at, finished_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, step_index) DO UPDATE"
    " SET name = excluded.name, kind = excluded.kind, command_text = excluded.command_text,"
    " blocking = excluded.blocking, ticket = excluded.ticket,"
    " workspace_name = excluded.workspace_name, agent_name = excluded.agent_name,"
    " status = excluded.status, error_text = excluded.error_text,"
    " started_at = excluded.started_at, finished_at = excluded.finished_at"
)


def _step_params(s: StepRecord) -> Params:
    return (
        s.run_id,
        s.step_index,
        s.name,
        s.kind,
        s.command_text,
        int(s.blocking),
        s.ticket,
        s.workspace_name,
        s.agent_name,
        s.status,
        s.error_text,
        s.started_at,
        s.finished_at,
    )


def upsert_step(step: StepRecord) -> Op:
    """Insert or replace the contents of one plan step."""
    return Op(_UPSERT_STEP, _step_params(step))


def upsert_steps(steps: Iterable[StepRecord]) -> ManyOp:
    """Insert or replace a whole plan with one ``executemany``."""
    return ManyOp(_UPSERT_STEP, tuple(_step_params(s) for s in steps))


def upsert_agent(agent: AgentRecord, *, now: str | None = None) -> Op:
    """Insert or update one agent row (``updated_at`` is set to now)."""
    return Op(
        "INSERT INTO agents (run_id, agent_name, workspace_name, session_name, status,"
        " health_state, last_activity_at, last_progress_at, generation, host,"
        " last_exit_status, restart_count, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (run_id, agent_name, workspace_name) DO UPDATE SET"
        " session_name = excluded.session_name, status = excluded.status,"
        " health_state = excluded.health_state, last_activity_at = excluded.last_activity_at,"
        " last_progress_at = excluded.last_progress_at, generation = excluded.generation,"
        " host = excluded.host, last_exit_status = excluded.last_exit_status,"
        " restart_count = excluded.restart_count, updated_at = excluded.updated_at",
        (
            agent.run_id,
            agent.agent_name,
            agent.workspace_name,
            agent.session_name,
            agent.status,
            agent.health_state,
            agent.last_activity_at,
            agent.last_progress_at,
            agent.generation,
            agent.host,
            agent.last_exit_status,
            agent.restart_count,
            now or utc_now(),
        ),
    )


def update_agent_health(
    run_id: str,
    agent_name: str,
    workspace_name: str,
    *,
    health_state: str,
    last_activity_at: str,
    last_progress_at: str,
    last_exit_status: int | None = None,
    now: str | None = None,
) -> Op:
    """Record one observation of an agent (health, activity, exit status); no event."""
    return Op(
        "UPDATE agents SET health_state = ?, last_activity_at = ?, last_progress_at = ?,"
        " last_exit_status = ?, updated_at = ?"
        " WHERE run_id = ? AND agent_name = ? AND workspace_name = ?",
        (
            health_state,
            last_activity_at,
            last_progress_at,
            last_exit_status,
            now or utc_now(),
            run_id,
            agent_name,
            workspace_name,
        ),
        expect_rowcount=1,
        conflict=f"agent {agent_entity_id(agent_name, workspace_name)} of run {run_id} "
        "does not exist",
    )


def agent_entity_id(agent_name: str, workspace_name: str) -> str:
    """The ``entity_id`` of an agent in events: ``<agent>@<workspace>`` (the original's form)."""
    return f"{agent_name}@{workspace_name}"


def step_entity_id(step_index: int) -> str:
    """The ``entity_id`` of a step in events: its index (the original's form)."""
    return str(step_index)


# -- transitions ----------------------------------------------------------------------------


def transition(
    kind: EntityKind,
    entity_id: str,
    from_state: str,
    to_state: str,
    message: str = "",
    *,
    run_id: str,
    generation: int = 0,
    now: str | None = None,
) -> tuple[Op, Op]:
    """A checked, compare-and-swap state change plus its ``transition`` event, as one write.

    ``entity_id`` is the run id for a run, :func:`step_entity_id` for a step and
    :func:`agent_entity_id` for an agent. Raises :class:`TransitionError` at once for a
    transition the state machine forbids; the write fails with :class:`TransitionError` when
    the row is no longer in ``from_state``. A run keeps the message in ``error_text`` (the
    original's "last transition message"); a step records start and finish times and keeps the
    message of a failure.
    """
    check(kind, entity_id, from_state, to_state, message)
    stamp = now or utc_now()
    subject = (
        f"run {run_id}" if kind is EntityKind.RUN else f"{kind.value} {entity_id} of run {run_id}"
    )
    conflict = (
        f"{subject} is no longer {from_state} (changed concurrently); "
        f"{from_state} -> {to_state} not applied"
    )
    update: Op
    if kind is EntityKind.RUN:
        if entity_id != run_id:
            raise ValueError(f"a run transition names the run twice: {entity_id!r} != {run_id!r}")
        update = Op(
            "UPDATE runs SET status = ?, error_text = ?, updated_at = ?"
            " WHERE run_id = ? AND status = ?",
            (to_state, message, stamp, run_id, from_state),
            expect_rowcount=1,
            conflict=conflict,
        )
    elif kind is EntityKind.STEP:
        started = stamp if to_state == StepStatus.RUNNING else None
        finished = "" if to_state == StepStatus.RUNNING else stamp
        update = Op(
            "UPDATE steps SET status = ?, error_text = ?, started_at = COALESCE(?, started_at),"
            " finished_at = ? WHERE run_id = ? AND step_index = ? AND status = ?",
            (
                to_state,
                message if to_state == StepStatus.FAILED else "",
                started,
                finished,
                run_id,
                int(entity_id),
                from_state,
            ),
            expect_rowcount=1,
            conflict=conflict,
        )
    else:
        agent_name, workspace_name = _split_agent_id(entity_id)
        update = Op(
            "UPDATE agents SET status = ?, updated_at = ?"
            " WHERE run_id = ? AND agent_name = ? AND workspace_name = ? AND status = ?",
            (to_state, stamp, run_id, agent_name, workspace_name, from_state),
            expect_rowcount=1,
            conflict=conflict,
        )
    event = NewEvent(
        run_id, kind.value, entity_id, "transition", from_state, to_state, message, generation
    )
    return update, append_event(event, now=stamp)


def respawn_agent(
    run_id: str,
    agent_name: str,
    workspace_name: str,
    from_state: str,
    message: str = "",
    *,
    crash: bool = True,
    now: str | None = None,
) -> tuple[Op, Op]:
    """Move an agent back to ``running`` as a new incarnation: the generation goes up by one in
    the same compare-and-swap, and the transition event carries the new generation (so signals
    from the old one can be told apart). The restart count is what counts against the restart
    budget: a crash restart (``crash``) adds one, the operator's restart starts it again at 0."""
    entity_id = agent_entity_id(agent_name, workspace_name)
    check(EntityKind.AGENT, entity_id, from_state, "running", message)
    stamp = now or utc_now()
    key = (run_id, agent_name, workspace_name)
    update = Op(
        "UPDATE agents SET status = 'running', generation = generation + 1,"
        f" restart_count = {'restart_count + 1' if crash else '0'},"
        " last_exit_status = NULL, updated_at = ?"
        " WHERE run_id = ? AND agent_name = ? AND workspace_name = ? AND status = ?",
        (stamp, *key, from_state),
        expect_rowcount=1,
        conflict=f"agent {entity_id} of run {run_id} is no longer {from_state} "
        "(changed concurrently); respawn not applied",
    )
    event = Op(
        "INSERT INTO events (run_id, entity_type, entity_id, event_type, from_state, to_state,"
        " message, created_at, generation, payload_json)"
        " SELECT ?, 'agent', ?, 'transition', ?, 'running', ?, ?, generation, ''"
        " FROM agents WHERE run_id = ? AND agent_name = ? AND workspace_name = ?",
        (run_id, entity_id, from_state, message, stamp, *key),
    )
    return update, event


def _split_agent_id(entity_id: str) -> tuple[str, str]:
    # Workspace names are sanitized tokens without '@'; agent names may contain one.
    agent_name, sep, workspace_name = entity_id.rpartition("@")
    if not sep or not agent_name or not workspace_name:
        raise ValueError(f"an agent entity id is <agent>@<workspace>, got {entity_id!r}")
    return agent_name, workspace_name


# -- docs and guidance ----------------------------------------------------------------------


def upsert_doc_sync_state(state: DocSyncRecord, *, now: str | None = None) -> Op:
    """Insert or update the docs seeding state of one ticket in one workspace."""
    return Op(
        "INSERT INTO doc_sync_states (run_id, ticket, workspace_name, doc_home_repo,"
        " doc_authority_mode, doc_seed_mode, status, revision, error_text, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (run_id, ticket, workspace_name) DO UPDATE SET"
        " doc_home_repo = excluded.doc_home_repo,"
        " doc_authority_mode = excluded.doc_authority_mode,"
        " doc_seed_mode = excluded.doc_seed_mode, status = excluded.status,"
        " revision = excluded.revision, error_text = excluded.error_text,"
        " updated_at = excluded.updated_at",
        (
            state.run_id,
            state.ticket,
            state.workspace_name,
            state.doc_home_repo,
            state.doc_authority_mode,
            state.doc_seed_mode,
            state.status,
            state.revision,
            state.error_text,
            now or utc_now(),
        ),
    )


GUIDANCE_PENDING = "pending"
GUIDANCE_ANSWERED = "answered"


def add_guidance_request(
    run_id: str,
    workspace_name: str,
    agent_name: str,
    question: str,
    context_text: str = "",
    *,
    generation: int = 0,
    now: str | None = None,
) -> tuple[Op, Op]:
    """Record a pending guidance question and its ``requested`` event in one write.

    The write's first row id is the guidance id. The event takes that id from
    ``last_insert_rowid()`` inside the same transaction; the original read it back with a
    second, racy query.
    """
    stamp = now or utc_now()
    insert = Op(
        "INSERT INTO guidance_requests (run_id, workspace_name, agent_name, question,"
        " context_text, answer_text, status, created_at, answered_at, generation)"
        " VALUES (?, ?, ?, ?, ?, '', ?, ?, '', ?)",
        (
            run_id,
            workspace_name,
            agent_name,
            question,
            context_text,
            GUIDANCE_PENDING,
            stamp,
            generation,
        ),
    )
    event = Op(
        "INSERT INTO events (run_id, entity_type, entity_id, event_type, from_state, to_state,"
        " message, created_at, generation, payload_json)"
        " VALUES (?, 'guidance', CAST(last_insert_rowid() AS TEXT), 'requested', '', ?, ?, ?,"
        " ?, '')",
        (run_id, GUIDANCE_PENDING, agent_entity_id(agent_name, workspace_name), stamp, generation),
    )
    return insert, event


def answer_guidance(guidance_id: int, answer: str, *, now: str | None = None) -> tuple[Op, Op]:
    """Answer a pending guidance request (compare-and-swap on ``pending``) and append its
    ``answered`` event; fails with :class:`TransitionError` if it was already answered."""
    stamp = now or utc_now()
    update = Op(
        "UPDATE guidance_requests SET answer_text = ?, status = ?, answered_at = ?"
        " WHERE id = ? AND status = ?",
        (answer, GUIDANCE_ANSWERED, stamp, guidance_id, GUIDANCE_PENDING),
        expect_rowcount=1,
        conflict=f"guidance request {guidance_id} is not pending (answered already, or unknown)",
    )
    event = Op(
        "INSERT INTO events (run_id, entity_type, entity_id, event_type, from_state, to_state,"
        " message, created_at, generation, payload_json)"
        " SELECT run_id, 'guidance', CAST(id AS TEXT), 'answered', ?, ?,"
        " agent_name || '@' || workspace_name, ?, generation, '' FROM guidance_requests"
        " WHERE id = ?",
        (GUIDANCE_PENDING, GUIDANCE_ANSWERED, stamp, guidance_id),
    )
    return update, event
