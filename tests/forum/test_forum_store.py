"""The forum's commands in SQLite: every command, the transition table, the original's
messages, idempotency by event id, ordering, limits, and projections rebuilt from events."""

from __future__ import annotations

import itertools
import random
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from metawsm.errors import MetawsmError, UsageError
from metawsm.forum import model as m
from metawsm.forum import store as fs
from metawsm.store.db import write_transaction

T = TypeVar("T")
OP = ("operator", "alice")
AGENT = ("agent", "coder")


def tx(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    return write_transaction(conn, fn)


def run(conn: sqlite3.Connection, cmd: fs.Command) -> fs.Outcome:
    return tx(conn, lambda c: fs.apply(c, cmd))


def ask(conn: sqlite3.Connection, **kw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"ticket": "T-1", "title": "Which DB?", "body": "SQLite?"}
    fields.update(kw)
    fields.setdefault("actor", AGENT)
    return run(conn, fs.Open(**fields)).thread


def events(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return fs.list_events(conn, limit=1000)


def test_ask_opens_a_new_thread_with_its_first_post(conn: sqlite3.Connection) -> None:
    thread = ask(conn, run_id="run-1", agent="coder", priority="high")
    assert set(thread) == {
        "thread_id", "ticket", "run_id", "agent", "state", "priority", "assignee_type",
        "assignee_name", "posts_count", "title", "updated_at",
    }  # fmt: skip
    assert thread["thread_id"].startswith("fthr-")
    assert (thread["state"], thread["priority"], thread["posts_count"]) == ("new", "high", 1)
    assert (thread["run_id"], thread["agent"], thread["ticket"]) == ("run-1", "coder", "T-1")
    full = fs.get_thread(conn, thread["thread_id"])
    assert full["posts"] == [
        {
            "author_type": "agent",
            "author_name": "coder",
            "body": "SQLite?",
            "created_at": thread["updated_at"],
        }
    ]
    (event,) = events(conn)
    assert event["type"] == "forum.thread.opened"
    assert event["payload"] == {"title": "Which DB?", "body": "SQLite?", "priority": "high"}
    assert event["actor"] == "agent/coder" and event["sequence"] == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ticket": " "}, "forum ticket is required"),
        ({"title": ""}, "forum title is required"),
        ({"body": "  "}, "forum body is required"),
        ({"priority": "soon"}, "forum priority must be one of low|normal|high|urgent"),
    ],
)
def test_ask_refuses_with_the_originals_messages(
    conn: sqlite3.Connection, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(MetawsmError) as caught:
        ask(conn, **fields)
    assert caught.value.message == message
    assert events(conn) == []


def test_a_body_over_the_limit_is_refused_before_anything_is_stored(
    conn: sqlite3.Connection,
) -> None:
    with pytest.raises(UsageError, match="over the limit of 32768"):
        ask(conn, body="x" * (m.MAX_BODY_BYTES + 1))
    thread = ask(conn, body="é" * (m.MAX_BODY_BYTES // 2))  # exactly the limit, in bytes
    with pytest.raises(UsageError, match="over the limit"):
        run(conn, fs.Post(thread["thread_id"], "y" * (m.MAX_BODY_BYTES + 1), OP))
    assert len(events(conn)) == 1
    assert conn.execute("SELECT COUNT(*) FROM forum_posts").fetchone()[0] == 1


def test_answer_posts_and_marks_answered_with_one_correlation(conn: sqlite3.Connection) -> None:
    tid = ask(conn)["thread_id"]
    out = run(conn, fs.Post(tid, "Use SQLite.", OP, event_id="e-answer", answer=True))
    assert (out.thread["state"], out.thread["posts_count"]) == ("answered", 2)
    post, state = events(conn)[1:]
    assert (post["type"], post["event_id"]) == ("forum.post.added", "e-answer")
    assert state["type"] == "forum.state.changed"
    assert state["payload"] == {"from_state": "new", "to_state": "answered"}
    assert state["correlation_id"] == "e-answer" and state["causation_id"] == "e-answer"
    assert fs.last_answer(conn, tid) == "Use SQLite."


def test_a_retried_command_is_applied_once(conn: sqlite3.Connection) -> None:
    first = ask(conn, event_id="e-1")
    again = ask(conn, event_id="e-1", title="other title")
    assert again == first
    tid = first["thread_id"]
    for _ in range(3):
        run(conn, fs.Post(tid, "same", OP, event_id="e-2", answer=True))
        run(conn, fs.Assign(tid, "human", "bob", OP, event_id="e-3"))
        run(conn, fs.SetPriority(tid, "urgent", OP, event_id="e-4"))
        run(conn, fs.ChangeState(tid, "waiting_human", OP, event_id="e-5"))
        run(conn, fs.Close(tid, OP, event_id="e-6"))
    types = [e["type"] for e in events(conn)]
    assert types == [
        "forum.thread.opened",
        "forum.post.added",
        "forum.state.changed",
        "forum.assigned",
        "forum.priority.changed",
        "forum.state.changed",
        "forum.thread.closed",
    ]
    assert fs.get_thread(conn, tid)["thread"]["posts_count"] == 2


def test_assign_priority_and_their_refusals(conn: sqlite3.Connection) -> None:
    tid = ask(conn)["thread_id"]
    out = run(conn, fs.Assign(tid, "human", "bob", OP, note="your area"))
    assert (out.thread["assignee_type"], out.thread["assignee_name"]) == ("human", "bob")
    assert events(conn)[-1]["payload"] == {
        "from_assignee_type": "",
        "from_assignee_name": "",
        "to_assignee_type": "human",
        "to_assignee_name": "bob",
        "note": "your area",
    }
    with pytest.raises(MetawsmError, match=r"^forum assignee name is required$"):
        run(conn, fs.Assign(tid, "human", " ", OP))
    with pytest.raises(MetawsmError, match=r"^invalid assignee type: robot$"):
        run(conn, fs.Assign(tid, "robot", "r2", OP))
    assert run(conn, fs.SetPriority(tid, "LOW", OP)).thread["priority"] == "low"
    assert events(conn)[-1]["payload"] == {"from_priority": "normal", "to_priority": "low"}
    with pytest.raises(UsageError, match=r"^forum priority must be one of low\|normal"):
        run(conn, fs.SetPriority(tid, "meh", OP))


def test_unknown_and_closed_threads(conn: sqlite3.Connection) -> None:
    with pytest.raises(MetawsmError, match=r"^forum thread fthr-nope not found$"):
        run(conn, fs.Post("fthr-nope", "hi", OP))
    with pytest.raises(MetawsmError, match=r"^Forum thread fthr-nope not found.$"):
        fs.get_thread(conn, "fthr-nope")
    tid = ask(conn)["thread_id"]
    closed = run(conn, fs.Close(tid, OP))
    assert closed.applied and closed.thread["state"] == "closed"
    again = run(conn, fs.Close(tid, OP))
    assert not again.applied  # closing a closed thread: unchanged, no event
    assert [e["type"] for e in events(conn)][-1] == "forum.thread.closed"
    assert len(events(conn)) == 2
    for cmd in (
        fs.Post(tid, "late", OP),
        fs.Post(tid, "late", OP, answer=True),
        fs.Assign(tid, "human", "bob", OP),
        fs.SetPriority(tid, "high", OP),
    ):
        with pytest.raises(MetawsmError, match=rf"^forum thread {tid} is closed$"):
            run(conn, cmd)
    with pytest.raises(
        MetawsmError, match=r"^forum state transition closed -> new is not allowed$"
    ):
        run(conn, fs.ChangeState(tid, "new", OP))


@pytest.mark.parametrize(
    ("source", "target"),
    list(itertools.product([s.value for s in m.ThreadState], repeat=2)),
)
def test_every_transition_of_the_table(conn: sqlite3.Connection, source: str, target: str) -> None:
    """Reach ``source`` by an allowed path, then try ``target`` against the table."""
    paths = {
        "new": [],
        "triaged": ["triaged"],
        "waiting_operator": ["waiting_operator"],
        "waiting_human": ["waiting_human"],
        "answered": ["answered"],
        "closed": ["closed"],
    }
    tid = ask(conn)["thread_id"]
    for step in paths[source]:
        run(conn, fs.ChangeState(tid, step, OP))
    allowed = source == target or m.ThreadState(target) in m.TRANSITIONS[m.ThreadState(source)]
    if allowed:
        out = run(conn, fs.ChangeState(tid, target, OP))
        assert out.thread["state"] == target
        assert events(conn)[-1]["payload"] == {"from_state": source, "to_state": target}
    else:
        with pytest.raises(MetawsmError) as caught:
            run(conn, fs.ChangeState(tid, target, OP))
        assert caught.value.message == f"forum state transition {source} -> {target} is not allowed"
        assert fs.find_view(conn, tid)["state"] == source  # type: ignore[index]


def test_state_and_actor_enums(conn: sqlite3.Connection) -> None:
    tid = ask(conn)["thread_id"]
    with pytest.raises(UsageError) as caught:
        run(conn, fs.ChangeState(tid, "done", OP))
    assert caught.value.message == (
        "forum state must be one of new|triaged|waiting_operator|waiting_human|answered|closed"
    )
    with pytest.raises(UsageError) as actor:
        m.actor_of(m.AnswerParams(actor_type="robot"), m.ActorType.OPERATOR)
    assert actor.value.message == "forum actor_type must be one of agent|operator|human|system"
    assert m.actor_of(m.AnswerParams(actor_type=" Human "), m.ActorType.OPERATOR) == ("human", "")


def test_list_is_urgent_first_then_newest_and_filters(conn: sqlite3.Connection) -> None:
    made = {}
    for name, level, ticket in [
        ("a", "low", "T-1"),
        ("b", "normal", "T-1"),
        ("c", "urgent", "T-2"),
        ("d", "high", "T-1"),
        ("e", "normal", "T-1"),
    ]:
        made[name] = ask(conn, title=name, priority=level, ticket=ticket, run_id="run-1")
    order = [t["title"] for t in fs.list_threads(conn)]
    assert order == ["c", "d", "e", "b", "a"]
    assert [t["title"] for t in fs.list_threads(conn, ticket="T-2")] == ["c"]
    assert [t["title"] for t in fs.list_threads(conn, priority="normal")] == ["e", "b"]
    assert len(fs.list_threads(conn, limit=2)) == 2
    run(conn, fs.Assign(made["a"]["thread_id"], "operator", "zed", OP))
    assert [t["title"] for t in fs.list_threads(conn, assignee="zed")] == ["a"]
    run(conn, fs.ChangeState(made["b"]["thread_id"], "triaged", OP))
    assert [t["title"] for t in fs.list_threads(conn, state="triaged")] == ["b"]
    with pytest.raises(UsageError):
        fs.list_threads(conn, state="bogus")


def test_watch_pages_by_sequence_cursor(conn: sqlite3.Connection) -> None:
    one = ask(conn, ticket="T-1")["thread_id"]
    ask(conn, ticket="T-2")
    run(conn, fs.Post(one, "more", OP))
    all_events = fs.list_events(conn)
    assert [e["sequence"] for e in all_events] == [1, 2, 3]
    assert [e["sequence"] for e in fs.list_events(conn, cursor=1)] == [2, 3]
    assert [e["sequence"] for e in fs.list_events(conn, ticket="T-1")] == [1, 3]
    assert [e["sequence"] for e in fs.list_events(conn, cursor=0, limit=1)] == [1]
    for event in all_events:
        assert {"sequence", "type", "thread_id", "ticket", "run_id", "actor", "occurred_at"} <= set(
            event
        )


def _projections(conn: sqlite3.Connection) -> tuple[list[Any], list[Any]]:
    views = conn.execute("SELECT * FROM forum_thread_views ORDER BY thread_id").fetchall()
    stats = conn.execute(
        "SELECT ticket, run_id, state, priority, thread_count FROM forum_thread_stats"
        " ORDER BY ticket, run_id, state, priority"
    ).fetchall()
    return views, stats


def test_rebuilding_the_projections_from_events_equals_the_live_ones(
    conn: sqlite3.Connection,
) -> None:
    rng = random.Random(8)
    threads: list[str] = []
    for step in range(400):
        choice = rng.random()
        try:
            if choice < 0.15 or not threads:
                threads.append(
                    ask(
                        conn,
                        ticket=rng.choice(["T-1", "T-2", "T-3"]),
                        run_id=rng.choice(["", "run-1", "run-2"]),
                        priority=rng.choice(["low", "normal", "high", "urgent"]),
                        title=f"q{step}",
                    )["thread_id"]
                )
                continue
            tid = rng.choice(threads)
            cmd: fs.Command = rng.choice(
                [
                    fs.Post(tid, f"post {step}", OP, answer=rng.random() < 0.3),
                    fs.Assign(tid, rng.choice(["human", "operator"]), f"n{step % 4}", OP),
                    fs.SetPriority(tid, rng.choice(["low", "normal", "high", "urgent"]), OP),
                    fs.ChangeState(tid, rng.choice([s.value for s in m.ThreadState]), OP),
                    fs.Close(tid, OP),
                ]
            )
            run(conn, cmd)
        except MetawsmError:
            pass  # refused (closed, forbidden transition): must leave no trace
    live = _projections(conn)
    assert len(live[0]) == len(threads) and live[1]
    replayed = tx(conn, fs.rebuild_projections)
    assert replayed == len(events(conn))
    assert _projections(conn) == live
    counts = conn.execute("SELECT COUNT(*) FROM forum_posts").fetchone()[0]
    assert counts == sum(t["posts_count"] for t in fs.list_threads(conn, limit=1000))
