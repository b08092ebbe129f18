"""The forum in SQLite: commands as functions run inside one store transaction, projections
applied from events, and the reads.

Every command is one :class:`~metawsm.store.ops.Apply` step (so one transaction, through the
store writer in ``serve`` or a direct connection offline): it first looks its event id up in
``forum_events`` (a command retried with the same id is applied once and answers with the
thread as it is now), checks the thread (exists, open, the transition allowed) against what
the same transaction sees, writes the command tables (``forum_threads``, ``forum_posts``,
``forum_assignments``, ``forum_state_transitions``), appends its events (one global
``sequence``), and applies each event to the projections (``forum_thread_views``,
``forum_thread_stats``) with :func:`project`, the same function :func:`rebuild_projections`
replays the whole event log through.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from metawsm.forum import model as m
from metawsm.forum.model import ForumError, ForumNotFound
from metawsm.store.db import utc_now
from metawsm.store.ops import Apply

_VIEW_COLUMNS = (
    "thread_id",
    "ticket",
    "run_id",
    "agent_name",
    "title",
    "state",
    "priority",
    "assignee_type",
    "assignee_name",
    "opened_by_type",
    "opened_by_name",
    "posts_count",
    "last_post_at",
    "last_post_by_type",
    "last_post_by_name",
    "opened_at",
    "updated_at",
    "closed_at",
)
_EVENT_COLUMNS = (
    "sequence",
    "event_id",
    "event_type",
    "event_version",
    "occurred_at",
    "thread_id",
    "run_id",
    "ticket",
    "agent_name",
    "actor_type",
    "actor_name",
    "correlation_id",
    "causation_id",
    "payload_json",
)
_PRIORITY_ORDER_SQL = (
    "CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2"
    " WHEN 'low' THEN 3 ELSE 4 END"
)


# -- shapes ---------------------------------------------------------------------------------


def thread_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A thread as ``ask``/``list``/``thread`` print it."""
    return {
        "thread_id": row["thread_id"],
        "ticket": row["ticket"],
        "run_id": row["run_id"],
        "agent": row["agent_name"],
        "state": row["state"],
        "priority": row["priority"],
        "assignee_type": row["assignee_type"],
        "assignee_name": row["assignee_name"],
        "posts_count": int(row["posts_count"]),
        "title": row["title"],
        "updated_at": row["updated_at"],
    }


def event_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """An event as ``watch --json`` prints it (and the Redis export carries it)."""
    payload = json.loads(row["payload_json"]) if row["payload_json"] else {}
    return {
        "sequence": int(row["sequence"]),
        "event_id": row["event_id"],
        "type": row["event_type"],
        "version": int(row["event_version"]),
        "thread_id": row["thread_id"],
        "ticket": row["ticket"],
        "run_id": row["run_id"],
        "agent": row["agent_name"],
        "actor": f"{row['actor_type']}/{row['actor_name'] or '-'}",
        "actor_type": row["actor_type"],
        "actor_name": row["actor_name"],
        "correlation_id": row["correlation_id"],
        "causation_id": row["causation_id"],
        "occurred_at": row["occurred_at"],
        "payload": payload,
    }


def _row(cursor: sqlite3.Cursor, values: tuple[Any, ...] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {d[0]: v for d, v in zip(cursor.description, values, strict=True)}


def _rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def _view(conn: sqlite3.Connection, thread_id: str) -> dict[str, Any] | None:
    cursor = conn.execute(
        f"SELECT {', '.join(_VIEW_COLUMNS)} FROM forum_thread_views WHERE thread_id = ?",
        (thread_id,),
    )
    return _row(cursor, cursor.fetchone())


def _thread(conn: sqlite3.Connection, thread_id: str) -> dict[str, Any]:
    cursor = conn.execute(
        "SELECT thread_id, ticket, run_id, agent_name, title, state, priority, assignee_type,"
        " assignee_name FROM forum_threads WHERE thread_id = ?",
        (thread_id,),
    )
    row = _row(cursor, cursor.fetchone())
    if row is None:
        raise ForumNotFound(
            f"forum thread {thread_id} not found", hint="list threads with `metawsm forum list`"
        )
    return row


def _open_thread(conn: sqlite3.Connection, thread_id: str) -> dict[str, Any]:
    row = _thread(conn, thread_id)
    if row["state"] == m.ThreadState.CLOSED:
        raise ForumError(f"forum thread {thread_id} is closed")
    return row


# -- commands -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a command did: the thread as it is now, and whether it wrote anything."""

    thread: dict[str, Any]
    applied: bool
    sequence: int = 0


def _seen(conn: sqlite3.Connection, event_id: str) -> str | None:
    row = conn.execute(
        "SELECT thread_id FROM forum_events WHERE event_id = ?", (event_id,)
    ).fetchone()
    return None if row is None else str(row[0])


def _replayed(conn: sqlite3.Connection, event_id: str) -> Outcome | None:
    """The outcome of a retried command (its event id is already stored), else None."""
    thread_id = _seen(conn, event_id)
    if thread_id is None:
        return None
    view = _view(conn, thread_id)
    assert view is not None
    return Outcome(thread_json(view), applied=False)


def _append(
    conn: sqlite3.Connection,
    *,
    event_id: str,
    event_type: str,
    thread: Mapping[str, Any],
    actor: tuple[str, str],
    now: str,
    payload: Mapping[str, Any],
    correlation_id: str = "",
    causation_id: str = "",
) -> int:
    cursor = conn.execute(
        "INSERT INTO forum_events (event_id, event_type, event_version, occurred_at, thread_id,"
        " run_id, ticket, agent_name, actor_type, actor_name, correlation_id, causation_id,"
        " payload_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            event_id,
            event_type,
            m.EVENT_VERSION,
            now,
            thread["thread_id"],
            thread["run_id"],
            thread["ticket"],
            thread["agent_name"],
            actor[0],
            actor[1],
            correlation_id or event_id,
            causation_id,
            json.dumps(payload, sort_keys=True),
        ),
    )
    sequence = int(cursor.lastrowid or 0)
    project(
        conn,
        {
            "event_type": event_type,
            "thread_id": thread["thread_id"],
            "ticket": thread["ticket"],
            "run_id": thread["run_id"],
            "agent_name": thread["agent_name"],
            "actor_type": actor[0],
            "actor_name": actor[1],
            "occurred_at": now,
            "payload": payload,
        },
    )
    return sequence


@dataclass(frozen=True)
class Open:
    ticket: str
    title: str
    body: str
    actor: tuple[str, str]
    run_id: str = ""
    agent: str = ""
    priority: str = "normal"
    event_id: str = ""
    thread_id: str = ""


def open_thread(conn: sqlite3.Connection, cmd: Open, now: str | None = None) -> Outcome:
    """``forum ask``: a new thread (state ``new``) with its first post."""
    event_id = cmd.event_id or m.new_id("fevt")
    replayed = _replayed(conn, event_id)
    if replayed is not None:
        return replayed
    if not cmd.ticket.strip():
        raise ForumError("forum ticket is required")
    if not cmd.title.strip():
        raise ForumError("forum title is required")
    if len(cmd.title) > m.MAX_TITLE_CHARS:
        raise ForumError(f"forum title is over {m.MAX_TITLE_CHARS} characters")
    body = m.check_body(cmd.body)
    level = m.priority(cmd.priority)
    stamp = now or utc_now()
    thread_id = cmd.thread_id or m.new_id("fthr")
    thread = {
        "thread_id": thread_id,
        "ticket": cmd.ticket.strip(),
        "run_id": cmd.run_id,
        "agent_name": cmd.agent,
    }
    try:
        conn.execute(
            "INSERT INTO forum_threads (thread_id, ticket, run_id, agent_name, title, state,"
            " priority, assignee_type, assignee_name, opened_by_type, opened_by_name, opened_at,"
            " updated_at, closed_at) VALUES (?, ?, ?, ?, ?, 'new', ?, '', '', ?, ?, ?, ?, '')",
            (
                thread_id,
                thread["ticket"],
                cmd.run_id,
                cmd.agent,
                cmd.title.strip(),
                level.value,
                cmd.actor[0],
                cmd.actor[1],
                stamp,
                stamp,
            ),
        )
    except sqlite3.IntegrityError:
        raise ForumError(f"forum thread {thread_id} already exists") from None
    _insert_post(conn, thread_id, event_id, cmd.actor, body, stamp)
    sequence = _append(
        conn,
        event_id=event_id,
        event_type=m.THREAD_OPENED,
        thread=thread,
        actor=cmd.actor,
        now=stamp,
        payload={"title": cmd.title.strip(), "body": body, "priority": level.value},
    )
    return _done(conn, thread_id, sequence)


def _insert_post(
    conn: sqlite3.Connection,
    thread_id: str,
    event_id: str,
    actor: tuple[str, str],
    body: str,
    now: str,
) -> None:
    conn.execute(
        "INSERT INTO forum_posts (post_id, thread_id, event_id, author_type, author_name,"
        " body_text, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (f"{event_id}.post", thread_id, event_id, actor[0], actor[1], body, now),
    )


def _done(conn: sqlite3.Connection, thread_id: str, sequence: int) -> Outcome:
    view = _view(conn, thread_id)
    assert view is not None
    return Outcome(thread_json(view), applied=True, sequence=sequence)


@dataclass(frozen=True)
class Post:
    thread_id: str
    body: str
    actor: tuple[str, str]
    event_id: str = ""
    #: ``answer``: the post, then the state ``answered``.
    answer: bool = False


def add_post(conn: sqlite3.Connection, cmd: Post, now: str | None = None) -> Outcome:
    """A post on an open thread; with ``answer``, the thread becomes ``answered`` (no
    transition check, as the original's answer did)."""
    event_id = cmd.event_id or m.new_id("fevt")
    replayed = _replayed(conn, event_id)
    if replayed is not None:
        return replayed
    thread_id = m.check_thread_id(cmd.thread_id)
    body = m.check_body(cmd.body)
    thread = _open_thread(conn, thread_id)
    stamp = now or utc_now()
    _insert_post(conn, thread_id, event_id, cmd.actor, body, stamp)
    conn.execute("UPDATE forum_threads SET updated_at = ? WHERE thread_id = ?", (stamp, thread_id))
    sequence = _append(
        conn,
        event_id=event_id,
        event_type=m.POST_ADDED,
        thread=thread,
        actor=cmd.actor,
        now=stamp,
        payload={"body": body},
    )
    if cmd.answer and thread["state"] != m.ThreadState.ANSWERED:
        sequence = _set_state(
            conn,
            thread,
            m.ThreadState.ANSWERED,
            cmd.actor,
            stamp,
            event_id=f"{event_id}.state",
            correlation_id=event_id,
            causation_id=event_id,
        )
    return _done(conn, thread_id, sequence)


def _set_state(
    conn: sqlite3.Connection,
    thread: Mapping[str, Any],
    to_state: m.ThreadState,
    actor: tuple[str, str],
    now: str,
    *,
    event_id: str,
    correlation_id: str = "",
    causation_id: str = "",
    event_type: str = m.STATE_CHANGED,
) -> int:
    from_state = thread["state"]
    closed_at = now if to_state == m.ThreadState.CLOSED else ""
    conn.execute(
        "UPDATE forum_threads SET state = ?, updated_at = ?,"
        " closed_at = CASE WHEN ? = '' THEN closed_at ELSE ? END WHERE thread_id = ?",
        (to_state.value, now, closed_at, closed_at, thread["thread_id"]),
    )
    conn.execute(
        "INSERT INTO forum_state_transitions (thread_id, event_id, from_state, to_state,"
        " changed_by_type, changed_by_name, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (thread["thread_id"], event_id, from_state, to_state.value, actor[0], actor[1], now),
    )
    return _append(
        conn,
        event_id=event_id,
        event_type=event_type,
        thread=thread,
        actor=actor,
        now=now,
        payload={"from_state": from_state, "to_state": to_state.value},
        correlation_id=correlation_id,
        causation_id=causation_id,
    )


@dataclass(frozen=True)
class Assign:
    thread_id: str
    assignee_type: str
    assignee_name: str
    actor: tuple[str, str]
    note: str = ""
    event_id: str = ""


def assign(conn: sqlite3.Connection, cmd: Assign, now: str | None = None) -> Outcome:
    event_id = cmd.event_id or m.new_id("fevt")
    replayed = _replayed(conn, event_id)
    if replayed is not None:
        return replayed
    thread_id = m.check_thread_id(cmd.thread_id)
    if not cmd.assignee_name.strip():
        raise ForumError("forum assignee name is required")
    try:
        kind = m.ActorType(cmd.assignee_type.strip().lower())
    except ValueError:
        raise ForumError(f"invalid assignee type: {cmd.assignee_type}") from None
    thread = _open_thread(conn, thread_id)
    stamp = now or utc_now()
    name = cmd.assignee_name.strip()
    conn.execute(
        "UPDATE forum_threads SET assignee_type = ?, assignee_name = ?, updated_at = ?"
        " WHERE thread_id = ?",
        (kind.value, name, stamp, thread_id),
    )
    conn.execute(
        "INSERT INTO forum_assignments (thread_id, event_id, from_assignee_type,"
        " from_assignee_name, to_assignee_type, to_assignee_name, changed_by_type,"
        " changed_by_name, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            thread_id,
            event_id,
            thread["assignee_type"],
            thread["assignee_name"],
            kind.value,
            name,
            cmd.actor[0],
            cmd.actor[1],
            stamp,
        ),
    )
    sequence = _append(
        conn,
        event_id=event_id,
        event_type=m.ASSIGNED,
        thread=thread,
        actor=cmd.actor,
        now=stamp,
        payload={
            "from_assignee_type": thread["assignee_type"],
            "from_assignee_name": thread["assignee_name"],
            "to_assignee_type": kind.value,
            "to_assignee_name": name,
            "note": cmd.note,
        },
    )
    return _done(conn, thread_id, sequence)


@dataclass(frozen=True)
class ChangeState:
    thread_id: str
    state: str
    actor: tuple[str, str]
    event_id: str = ""


def change_state(conn: sqlite3.Connection, cmd: ChangeState, now: str | None = None) -> Outcome:
    event_id = cmd.event_id or m.new_id("fevt")
    replayed = _replayed(conn, event_id)
    if replayed is not None:
        return replayed
    thread_id = m.check_thread_id(cmd.thread_id)
    target = m.thread_state(cmd.state)
    thread = _thread(conn, thread_id)
    if not m.transition_allowed(thread["state"], target):
        raise ForumError(f"forum state transition {thread['state']} -> {target} is not allowed")
    sequence = _set_state(conn, thread, target, cmd.actor, now or utc_now(), event_id=event_id)
    return _done(conn, thread_id, sequence)


@dataclass(frozen=True)
class SetPriority:
    thread_id: str
    priority: str
    actor: tuple[str, str]
    event_id: str = ""


def set_priority(conn: sqlite3.Connection, cmd: SetPriority, now: str | None = None) -> Outcome:
    event_id = cmd.event_id or m.new_id("fevt")
    replayed = _replayed(conn, event_id)
    if replayed is not None:
        return replayed
    thread_id = m.check_thread_id(cmd.thread_id)
    if not cmd.priority.strip():
        raise ForumError("forum priority must be one of low|normal|high|urgent")
    level = m.priority(cmd.priority)
    thread = _open_thread(conn, thread_id)
    stamp = now or utc_now()
    conn.execute(
        "UPDATE forum_threads SET priority = ?, updated_at = ? WHERE thread_id = ?",
        (level.value, stamp, thread_id),
    )
    sequence = _append(
        conn,
        event_id=event_id,
        event_type=m.PRIORITY_CHANGED,
        thread=thread,
        actor=cmd.actor,
        now=stamp,
        payload={"from_priority": thread["priority"], "to_priority": level.value},
    )
    return _done(conn, thread_id, sequence)


@dataclass(frozen=True)
class Close:
    thread_id: str
    actor: tuple[str, str]
    event_id: str = ""


def close_thread(conn: sqlite3.Connection, cmd: Close, now: str | None = None) -> Outcome:
    """Close a thread; an already closed one is returned unchanged (no event)."""
    event_id = cmd.event_id or m.new_id("fevt")
    replayed = _replayed(conn, event_id)
    if replayed is not None:
        return replayed
    thread_id = m.check_thread_id(cmd.thread_id)
    thread = _thread(conn, thread_id)
    if thread["state"] == m.ThreadState.CLOSED:
        view = _view(conn, thread_id)
        assert view is not None
        return Outcome(thread_json(view), applied=False)
    sequence = _set_state(
        conn,
        thread,
        m.ThreadState.CLOSED,
        cmd.actor,
        now or utc_now(),
        event_id=event_id,
        event_type=m.THREAD_CLOSED,
    )
    return _done(conn, thread_id, sequence)


Command = Open | Post | Assign | ChangeState | SetPriority | Close

_RUNNERS: dict[type[Any], Callable[[sqlite3.Connection, Any], Outcome]] = {
    Open: open_thread,
    Post: add_post,
    Assign: assign,
    ChangeState: change_state,
    SetPriority: set_priority,
    Close: close_thread,
}


def apply(conn: sqlite3.Connection, cmd: Command) -> Outcome:
    """Run one command on ``conn`` inside the caller's transaction."""
    return _RUNNERS[type(cmd)](conn, cmd)


def command_op(cmd: Command) -> Apply:
    """The command as a store write step (its value is the :class:`Outcome`)."""
    return Apply(lambda conn: apply(conn, cmd))


# -- projections ----------------------------------------------------------------------------


def project(conn: sqlite3.Connection, event: Mapping[str, Any]) -> None:
    """Apply one event to ``forum_thread_views`` and ``forum_thread_stats``."""
    kind = event["event_type"]
    payload = event["payload"]
    tid = event["thread_id"]
    at = event["occurred_at"]
    actor_type, actor_name = event["actor_type"], event["actor_name"]
    if kind == m.THREAD_OPENED:
        conn.execute(
            "INSERT INTO forum_thread_views (thread_id, ticket, run_id, agent_name, title, state,"
            " priority, assignee_type, assignee_name, opened_by_type, opened_by_name,"
            " posts_count, last_post_at, last_post_by_type, last_post_by_name, opened_at,"
            " updated_at, closed_at)"
            " VALUES (?, ?, ?, ?, ?, 'new', ?, '', '', ?, ?, 1, ?, ?, ?, ?, ?, '')",
            (
                tid,
                event["ticket"],
                event["run_id"],
                event["agent_name"],
                payload["title"],
                payload["priority"],
                actor_type,
                actor_name,
                at,
                actor_type,
                actor_name,
                at,
                at,
            ),
        )
    elif kind == m.POST_ADDED:
        conn.execute(
            "UPDATE forum_thread_views SET posts_count = posts_count + 1, last_post_at = ?,"
            " last_post_by_type = ?, last_post_by_name = ?, updated_at = ? WHERE thread_id = ?",
            (at, actor_type, actor_name, at, tid),
        )
        return  # counts by state/priority unchanged
    elif kind == m.ASSIGNED:
        conn.execute(
            "UPDATE forum_thread_views SET assignee_type = ?, assignee_name = ?, updated_at = ?"
            " WHERE thread_id = ?",
            (payload["to_assignee_type"], payload["to_assignee_name"], at, tid),
        )
        return
    elif kind in (m.STATE_CHANGED, m.THREAD_CLOSED):
        closing = payload["to_state"] == m.ThreadState.CLOSED
        conn.execute(
            "UPDATE forum_thread_views SET state = ?, updated_at = ?,"
            " closed_at = CASE WHEN ? THEN ? ELSE closed_at END WHERE thread_id = ?",
            (payload["to_state"], at, int(closing), at, tid),
        )
    elif kind == m.PRIORITY_CHANGED:
        conn.execute(
            "UPDATE forum_thread_views SET priority = ?, updated_at = ? WHERE thread_id = ?",
            (payload["to_priority"], at, tid),
        )
    else:
        return  # an event type no projection reads
    _refresh_stats(conn, event["ticket"], at)


def _refresh_stats(conn: sqlite3.Connection, ticket: str, now: str) -> None:
    conn.execute("DELETE FROM forum_thread_stats WHERE ticket = ?", (ticket,))
    conn.execute(
        "INSERT INTO forum_thread_stats (ticket, run_id, state, priority, thread_count,"
        " updated_at) SELECT ticket, run_id, state, priority, COUNT(*), ? FROM"
        " forum_thread_views WHERE ticket = ? GROUP BY ticket, run_id, state, priority",
        (now, ticket),
    )


def rebuild_projections(conn: sqlite3.Connection) -> int:
    """Throw the projections away and replay every event into them, in sequence order, inside
    the caller's transaction; return the number of events replayed."""
    conn.execute("DELETE FROM forum_thread_views")
    conn.execute("DELETE FROM forum_thread_stats")
    count = 0
    cursor = conn.execute(
        "SELECT event_type, thread_id, ticket, run_id, agent_name, actor_type, actor_name,"
        " occurred_at, payload_json FROM forum_events ORDER BY sequence"
    )
    for row in _rows(cursor):
        row["payload"] = json.loads(row.pop("payload_json") or "{}")
        project(conn, row)
        count += 1
    return count


# -- reads ----------------------------------------------------------------------------------


def list_threads(
    conn: sqlite3.Connection,
    *,
    ticket: str = "",
    run_id: str = "",
    state: str = "",
    priority: str = "",
    assignee: str = "",
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Thread summaries, urgent -> high -> normal -> low, then newest first."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("ticket", ticket),
        ("run_id", run_id),
        ("state", m.thread_state(state).value if state else ""),
        ("priority", m.priority(priority).value if priority else ""),
        ("assignee_name", assignee),
    ):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples, whatever the connection's factory
    cursor.execute(
        f"SELECT {_LIST_COLUMNS} FROM forum_thread_views{clause}"
        f" ORDER BY {_PRIORITY_ORDER_SQL}, updated_at DESC, thread_id LIMIT ?",
        (*params, limit),
    )
    # The rows straight into the output shape: this is the forum's hot read.
    return [dict(zip(_LIST_KEYS, row, strict=True)) for row in cursor.fetchall()]


_LIST_KEYS = (
    "thread_id",
    "ticket",
    "run_id",
    "agent",
    "state",
    "priority",
    "assignee_type",
    "assignee_name",
    "posts_count",
    "title",
    "updated_at",
)
_LIST_COLUMNS = ", ".join("agent_name" if k == "agent" else k for k in _LIST_KEYS)


def get_thread(conn: sqlite3.Connection, thread_id: str) -> dict[str, Any]:
    """``{"thread": ..., "posts": [...]}``; raises :class:`ForumNotFound` with the
    original's ``Forum thread <id> not found.``."""
    view = _view(conn, thread_id)
    if view is None:
        raise ForumNotFound(
            f"Forum thread {thread_id} not found.",
            hint="list threads with `metawsm forum list`",
        )
    cursor = conn.execute(
        "SELECT author_type, author_name, body_text AS body, created_at FROM forum_posts"
        " WHERE thread_id = ? ORDER BY created_at, rowid LIMIT 1000",
        (thread_id,),
    )
    return {"thread": thread_json(view), "posts": _rows(cursor)}


def find_view(conn: sqlite3.Connection, thread_id: str) -> dict[str, Any] | None:
    view = _view(conn, thread_id)
    return None if view is None else thread_json(view)


def list_events(
    conn: sqlite3.Connection,
    *,
    cursor: int = 0,
    limit: int = 50,
    ticket: str = "",
    run_id: str = "",
    thread_id: str = "",
) -> list[dict[str, Any]]:
    """Events after sequence ``cursor``, in order (the watch and replay contract)."""
    where = ["sequence > ?"]
    params: list[Any] = [cursor]
    for column, value in (("ticket", ticket), ("run_id", run_id), ("thread_id", thread_id)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    rows = conn.execute(
        f"SELECT {', '.join(_EVENT_COLUMNS)} FROM forum_events WHERE {' AND '.join(where)}"
        " ORDER BY sequence LIMIT ?",
        (*params, limit),
    )
    return [event_json(r) for r in _rows(rows)]


def last_sequence(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT COALESCE(MAX(sequence), 0) FROM forum_events").fetchone()
    return int(row[0])


def last_answer(conn: sqlite3.Connection, thread_id: str) -> str:
    """The body of the newest post not by the thread's opener (the answer), else ''."""
    row = conn.execute(
        "SELECT p.body_text FROM forum_posts p JOIN forum_threads t USING (thread_id)"
        " WHERE p.thread_id = ? AND NOT (p.author_type = t.opened_by_type"
        " AND p.author_name = t.opened_by_name) ORDER BY p.created_at DESC, p.rowid DESC LIMIT 1",
        (thread_id,),
    ).fetchone()
    return "" if row is None else str(row[0])


def escalations(
    conn: sqlite3.Connection, run_id: str, *, now: datetime, sla_minutes: int
) -> list[dict[str, Any]]:
    """Threads of ``run_id`` in ``new``/``waiting_human`` that are urgent or high, or have
    waited ``sla_minutes`` or more since their last change (the original's rule)."""
    from metawsm.status.times import age_seconds

    cursor = conn.execute(
        "SELECT thread_id, title, priority, state, updated_at FROM forum_thread_views"
        " WHERE run_id = ? AND state IN ('new', 'waiting_human')"
        f" ORDER BY {_PRIORITY_ORDER_SQL}, updated_at LIMIT 200",
        (run_id,),
    )
    found: list[dict[str, Any]] = []
    for row in _rows(cursor):
        age = age_seconds(now, row["updated_at"]) or 0
        if row["priority"] in ("urgent", "high") or age >= sla_minutes * 60:
            found.append(
                {
                    "thread_id": row["thread_id"],
                    "title": row["title"],
                    "priority": row["priority"],
                    "state": row["state"],
                    "age_seconds": int(age),
                }
            )
    return found


def guidance_threads(conn: sqlite3.Connection, guidance_ids: Iterable[int]) -> dict[int, str]:
    """The forum thread of each guidance request that has one."""
    ids = list(guidance_ids)
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    rows = conn.execute(
        f"SELECT guidance_id, thread_id FROM forum_guidance_links WHERE guidance_id IN ({marks})",
        ids,
    ).fetchall()
    return {int(r[0]): str(r[1]) for r in rows}


def guidance_of(conn: sqlite3.Connection, thread_id: str) -> tuple[int, str] | None:
    """The guidance request a thread is linked to, and that request's status."""
    row = conn.execute(
        "SELECT g.id, g.status FROM forum_guidance_links l JOIN guidance_requests g"
        " ON g.id = l.guidance_id WHERE l.thread_id = ?",
        (thread_id,),
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


# -- guidance threads -----------------------------------------------------------------------


def _run_ticket(conn: sqlite3.Connection, run_id: str, workspace: str) -> str:
    row = conn.execute("SELECT spec_json FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    if row is not None and row[0]:
        spec = json.loads(row[0])
        for ticket, name in (spec.get("workspaces") or {}).items():
            if name == workspace:
                return str(ticket)
        tickets = spec.get("tickets") or []
        if tickets:
            return str(tickets[0])
    found = conn.execute(
        "SELECT ticket FROM run_tickets WHERE run_id = ? ORDER BY ticket LIMIT 1", (run_id,)
    ).fetchone()
    return str(found[0]) if found is not None else run_id


def run_ticket(conn: sqlite3.Connection, run_id: str, workspace: str = "") -> str:
    """The ticket an agent of ``run_id`` in ``workspace`` works on."""
    return _run_ticket(conn, run_id, workspace)


@dataclass(frozen=True)
class GuidanceThread:
    """The thread that goes with a guidance request written in the same transaction."""

    run_id: str
    workspace: str
    agent: str
    question: str
    context: str = ""
    priority: str = "normal"
    #: Who opens it: the agent that asked, or ``system``/``metawsm`` for an escalation.
    opened_by: tuple[str, str] | None = None
    title: str = ""


def _short(text: str, limit: int) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def open_guidance_thread(conn: sqlite3.Connection, spec: GuidanceThread) -> Outcome:
    """Open the forum thread of the guidance request just inserted (the newest of this agent
    in this run, within this transaction) and link the two."""
    row = conn.execute(
        "SELECT MAX(id) FROM guidance_requests WHERE run_id = ? AND agent_name = ?"
        " AND workspace_name = ?",
        (spec.run_id, spec.agent, spec.workspace),
    ).fetchone()
    guidance_id = int(row[0])
    body = spec.question.strip()
    if spec.context.strip():
        body += f"\n\nContext: {spec.context.strip()}"
    body = body.encode("utf-8")[: m.MAX_BODY_BYTES].decode("utf-8", "ignore")
    title = spec.title or f"Guidance: {_short(spec.question, m.MAX_TITLE_CHARS - 10)}"
    thread_id = f"fthr-g{guidance_id}-{m.new_id('x')[2:12]}"
    outcome = open_thread(
        conn,
        Open(
            ticket=_run_ticket(conn, spec.run_id, spec.workspace),
            title=_short(title, m.MAX_TITLE_CHARS),
            body=body,
            actor=spec.opened_by or (m.ActorType.AGENT.value, spec.agent),
            run_id=spec.run_id,
            agent=spec.agent,
            priority=spec.priority,
            thread_id=thread_id,
        ),
    )
    conn.execute(
        "INSERT INTO forum_guidance_links (guidance_id, thread_id, run_id, agent_name,"
        " workspace_name, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (guidance_id, thread_id, spec.run_id, spec.agent, spec.workspace, utc_now()),
    )
    return outcome


def answer_guidance_thread(
    conn: sqlite3.Connection, guidance_id: int, answer: str, actor: tuple[str, str]
) -> Outcome | None:
    """Post the guidance answer on the request's thread (and mark it answered), if the
    request has an open thread."""
    row = conn.execute(
        "SELECT l.thread_id FROM forum_guidance_links l JOIN forum_threads t"
        " USING (thread_id) WHERE l.guidance_id = ? AND t.state != 'closed'",
        (guidance_id,),
    ).fetchone()
    if row is None:
        return None
    return add_post(conn, Post(str(row[0]), answer, actor, answer=True))


def run_forum(
    conn: sqlite3.Connection, run_id: str, *, now: datetime, sla_minutes: int, first: int = 5
) -> dict[str, Any] | None:
    """The run's forum for ``status``: counts by state, escalations, the first threads; None
    when the run has no thread."""
    counts = {
        str(state): int(n)
        for state, n in conn.execute(
            "SELECT state, COUNT(*) FROM forum_thread_views WHERE run_id = ? GROUP BY state",
            (run_id,),
        ).fetchall()
    }
    if not counts:
        return None
    threads = list_threads(conn, run_id=run_id, limit=first)
    return {
        "total": sum(counts.values()),
        "counts": counts,
        "escalations": escalations(conn, run_id, now=now, sla_minutes=sla_minutes),
        "threads": [{k: v for k, v in t.items() if k not in _NOT_IN_STATUS} for t in threads],
    }


_NOT_IN_STATUS = frozenset({"ticket", "run_id", "agent"})
