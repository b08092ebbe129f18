"""``metawsm forum``: threads between agents and operators.

Every command works through the supervisor's control socket when it runs, and directly on
SQLite when it does not. Inside an agent (the ``METAWSM_*`` environment metawsm gives it),
``ask``, ``wait`` and ``thread`` find the metawsm root from ``METAWSM_SOCKET``, and ``ask``
fills ticket, run, agent and the actor (``agent``/<agent name>) by itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
from cyclopts import App

from metawsm.cli import app
from metawsm.cli.common import RemoteCore, print_json
from metawsm.cli.params import JsonFlag, Root
from metawsm.cli.run_cmds import ROOT, Flag
from metawsm.control.client import ControlClient
from metawsm.errors import MetawsmError
from metawsm.naming import validate_name
from metawsm.supervisor.environment import Environment
from metawsm.supervisor.lock import supervisor_is_running

forum_app = App(
    name="forum",
    help="Threads between agents and operators: ask, answer, triage, wait, watch.",
    help_epilogue='Example: metawsm forum ask --ticket T-1 --title "Which DB?" --body "SQLite?"',
)
app.command(forum_app)


# -- plumbing -------------------------------------------------------------------------------


def _agent_env() -> dict[str, str]:
    """The agent's identity when run inside an agent session, else {}."""
    run_id = os.environ.get("METAWSM_RUN_ID", "").strip()
    agent = os.environ.get("METAWSM_AGENT", "").strip()
    if not run_id or not agent:
        return {}
    return {
        "run_id": run_id,
        "agent": agent,
        "workspace": os.environ.get("METAWSM_WORKSPACE", "").strip(),
    }


def _env(root: Root) -> Environment:
    """The metawsm root: found from the current directory, or inside an agent the one its
    control socket is in (``<root>/.metawsm/control.sock``)."""
    socket = os.environ.get("METAWSM_SOCKET", "").strip()
    if socket and not root.db:
        policy, _ = root.files()
        return Environment.load(root=Path(socket).parent.parent, policy=policy)
    return root.env()


def _call(env: Environment, method: str, params: dict[str, Any], timeout: float = 60.0) -> Any:
    for key, kind in (("run_id", "run id"), ("ticket", "ticket")):
        value = params.get(key)
        if isinstance(value, str) and value:
            validate_name(kind, value)
    if supervisor_is_running(env):
        return anyio.run(RemoteCore(env).call, method, params, timeout, backend="asyncio")
    from metawsm.cli.offline import OFFLINE_METHODS, OfflineCore

    model, name = OFFLINE_METHODS[method]
    core = OfflineCore(env)
    return anyio.run(getattr(core, name), model.model_validate(params), backend="asyncio")


def summary_line(t: dict[str, Any]) -> str:
    """The original's thread summary (``printForumThreadSummary``)."""
    assignee = f"{t['assignee_type'] or '-'}/{t['assignee_name'] or '-'}"
    return (
        f"thread={t['thread_id']} ticket={t['ticket']} run_id={t['run_id'] or '-'} "
        f"state={t['state']} priority={t['priority']} assignee={assignee} "
        f"posts={t['posts_count']} updated_at={t['updated_at']} title={t['title']}"
    )


def event_line(e: dict[str, Any]) -> str:
    return (
        f"sequence={e['sequence']} event_id={e['event_id']} type={e['type']} "
        f"thread={e['thread_id']} ticket={e['ticket']} run_id={e['run_id'] or '-'} "
        f"actor={e['actor']} occurred_at={e['occurred_at']}"
    )


def _thread_out(result: dict[str, Any], json_output: bool) -> int:
    if json_output:
        print_json(result)
    else:
        sys.stdout.write(summary_line(result) + "\n")
    return 0


# -- commands -------------------------------------------------------------------------------


@forum_app.command
def ask(
    *,
    ticket: str = "",
    run_id: str = "",
    agent: str = "",
    title: str = "",
    body: str = "",
    priority: str = "normal",
    actor_type: str = "",
    actor_name: str = "",
    event_id: str = "",
    root: Root = ROOT,
    json_output: JsonFlag = False,
) -> int:
    """Open a thread (state new) with its first post; prints the thread.

    Inside an agent, ticket, run, agent and actor come from its environment.

    Example: metawsm forum ask --ticket T-1 --title "Which DB?" --body "SQLite or Postgres?"

    Parameters
    ----------
    ticket
        The ticket (inside an agent: its run's).
    run_id
        The run (inside an agent: its own).
    agent
        The agent asking (inside an agent: itself).
    title
        One line.
    body
        The question.
    priority
        low, normal, high or urgent.
    actor_type
        agent, operator, human or system (default: agent).
    actor_name
        Who asks (inside an agent: the agent).
    event_id
        Idempotency key: a retry with the same id is applied once.
    json_output
        Print the thread as JSON.
    """
    mine = _agent_env()
    params = {
        "ticket": ticket,
        "run_id": run_id or mine.get("run_id", ""),
        "agent": agent or mine.get("agent", ""),
        "workspace": mine.get("workspace", ""),
        "title": title,
        "body": body,
        "priority": priority,
        "actor_type": actor_type or "agent",
        "actor_name": actor_name or (agent or mine.get("agent", "")),
        "event_id": event_id,
    }
    return _thread_out(_call(_env(root), "forum.ask", params), json_output)


def _actor_cmd(method: str, params: dict[str, Any], root: Root, as_json: bool) -> int:
    return _thread_out(_call(_env(root), method, params), as_json)


@forum_app.command
def answer(
    *,
    thread_id: str = "",
    body: str = "",
    actor_type: str = "operator",
    actor_name: str = "",
    event_id: str = "",
    root: Root = ROOT,
    json_output: JsonFlag = False,
) -> int:
    """Post an answer; the thread becomes answered. A thread opened by an agent's guidance
    request answers the agent too (response file written, run back to running).

    Example: metawsm forum answer --thread-id fthr-1a2b --body "Use SQLite."

    Parameters
    ----------
    thread_id
        The thread.
    body
        The answer.
    actor_type
        agent, operator, human or system.
    actor_name
        Who answers.
    event_id
        Idempotency key: a retry with the same id is applied once.
    json_output
        Print the thread as JSON.
    """
    params = {
        "thread_id": thread_id,
        "body": body,
        "actor_type": actor_type,
        "actor_name": actor_name,
        "event_id": event_id,
    }
    return _actor_cmd("forum.answer", params, root, json_output)


@forum_app.command
def assign(
    *,
    thread_id: str = "",
    assignee_type: str = "operator",
    assignee: str = "",
    note: str = "",
    actor_type: str = "operator",
    actor_name: str = "",
    event_id: str = "",
    root: Root = ROOT,
    json_output: JsonFlag = False,
) -> int:
    """Set a thread's assignee.

    Example: metawsm forum assign --thread-id fthr-1a2b --assignee alice

    Parameters
    ----------
    thread_id
        The thread.
    assignee_type
        agent, operator, human or system.
    assignee
        The assignee's name (required).
    note
        Why.
    actor_type
        Who assigns: agent, operator, human or system.
    actor_name
        Who assigns.
    event_id
        Idempotency key: a retry with the same id is applied once.
    json_output
        Print the thread as JSON.
    """
    params = {
        "thread_id": thread_id,
        "assignee_type": assignee_type,
        "assignee_name": assignee,
        "note": note,
        "actor_type": actor_type,
        "actor_name": actor_name,
        "event_id": event_id,
    }
    return _actor_cmd("forum.assign", params, root, json_output)


@forum_app.command
def state(
    *,
    thread_id: str = "",
    state: str = "",
    actor_type: str = "operator",
    actor_name: str = "",
    event_id: str = "",
    root: Root = ROOT,
    json_output: JsonFlag = False,
) -> int:
    """Move a thread to another state, as the transition table allows.

    new -> triaged|waiting_operator|waiting_human|answered|closed; triaged ->
    waiting_operator|waiting_human|answered|closed; waiting_operator ->
    waiting_human|answered|triaged|closed; waiting_human -> waiting_operator|answered|
    triaged|closed; answered -> waiting_operator|waiting_human|closed; closed -> nothing.

    Example: metawsm forum state --thread-id fthr-1a2b --state waiting_human

    Parameters
    ----------
    thread_id
        The thread.
    state
        new, triaged, waiting_operator, waiting_human, answered or closed.
    actor_type
        agent, operator, human or system.
    actor_name
        Who changes it.
    event_id
        Idempotency key: a retry with the same id is applied once.
    json_output
        Print the thread as JSON.
    """
    params = {
        "thread_id": thread_id,
        "state": state,
        "actor_type": actor_type,
        "actor_name": actor_name,
        "event_id": event_id,
    }
    return _actor_cmd("forum.state", params, root, json_output)


@forum_app.command(name="priority")
def priority_cmd(
    *,
    thread_id: str = "",
    priority: str = "",
    actor_type: str = "operator",
    actor_name: str = "",
    event_id: str = "",
    root: Root = ROOT,
    json_output: JsonFlag = False,
) -> int:
    """Set a thread's priority.

    Example: metawsm forum priority --thread-id fthr-1a2b --priority urgent

    Parameters
    ----------
    thread_id
        The thread.
    priority
        low, normal, high or urgent.
    actor_type
        agent, operator, human or system.
    actor_name
        Who changes it.
    event_id
        Idempotency key: a retry with the same id is applied once.
    json_output
        Print the thread as JSON.
    """
    params = {
        "thread_id": thread_id,
        "priority": priority,
        "actor_type": actor_type,
        "actor_name": actor_name,
        "event_id": event_id,
    }
    return _actor_cmd("forum.priority", params, root, json_output)


@forum_app.command(name="close")
def close_cmd(
    *,
    thread_id: str = "",
    actor_type: str = "operator",
    actor_name: str = "",
    event_id: str = "",
    root: Root = ROOT,
    json_output: JsonFlag = False,
) -> int:
    """Close a thread (closing a closed one changes nothing).

    Example: metawsm forum close --thread-id fthr-1a2b

    Parameters
    ----------
    thread_id
        The thread.
    actor_type
        agent, operator, human or system.
    actor_name
        Who closes it.
    event_id
        Idempotency key: a retry with the same id is applied once.
    json_output
        Print the thread as JSON.
    """
    params = {
        "thread_id": thread_id,
        "actor_type": actor_type,
        "actor_name": actor_name,
        "event_id": event_id,
    }
    return _actor_cmd("forum.close", params, root, json_output)


@forum_app.command(name="list")
def list_cmd(
    *,
    ticket: str = "",
    run_id: str = "",
    state: str = "",
    priority: str = "",
    assignee: str = "",
    limit: int = 50,
    root: Root = ROOT,
    json_output: JsonFlag = False,
) -> int:
    """List threads: urgent, high, normal, low, then newest first.

    Example: metawsm forum list --run-id run-1 --state new --json

    Parameters
    ----------
    ticket
        Only this ticket's.
    run_id
        Only this run's.
    state
        Only threads in this state.
    priority
        Only threads of this priority.
    assignee
        Only threads assigned to this name.
    limit
        At most this many (1..1000).
    json_output
        Print {"threads": [...]}.
    """
    params = {
        "ticket": ticket,
        "run_id": run_id,
        "state": state,
        "priority": priority,
        "assignee": assignee,
        "limit": limit,
    }
    result = _call(_env(root), "forum.list", params)
    if json_output:
        print_json(result)
    elif not result["threads"]:
        sys.stdout.write("No forum threads found.\n")
    else:
        sys.stdout.write("".join(summary_line(t) + "\n" for t in result["threads"]))
    return 0


@forum_app.command
def thread(
    *,
    thread_id: str = "",
    root: Root = ROOT,
    json_output: JsonFlag = False,
) -> int:
    """Show a thread and its posts.

    Example: metawsm forum thread --thread-id fthr-1a2b

    Parameters
    ----------
    thread_id
        The thread.
    json_output
        Print {"thread": {...}, "posts": [...]}.
    """
    result = _call(_env(root), "forum.thread", {"thread_id": thread_id})
    if json_output:
        print_json(result)
        return 0
    lines = [summary_line(result["thread"]), "Posts:"]
    lines += [
        f"  - {p['created_at']} {p['author_type']} {p['author_name'] or '-'}: {p['body']}"
        for p in result["posts"]
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


@forum_app.command
def wait(
    *,
    thread_id: str = "",
    timeout: float = 600.0,
    root: Root = ROOT,
    json_output: JsonFlag = False,
) -> int:
    """Block until the thread is answered or closed; print the answer. Exit 3 on timeout.

    The pattern for an agent: `forum ask --json`, take thread_id, `forum wait`, act.

    Example: metawsm forum wait --thread-id fthr-1a2b --timeout 900

    Parameters
    ----------
    thread_id
        The thread.
    timeout
        Seconds to wait at most.
    json_output
        Print {"thread_id", "state", "answer"}.
    """
    params = {"thread_id": thread_id, "timeout": timeout}
    result = _call(_env(root), "forum.wait", params, timeout=timeout + 30.0)
    if json_output:
        print_json(result)
    else:
        sys.stdout.write((result["answer"] or f"(thread {result['state']})") + "\n")
    return 0


@forum_app.command
def watch(
    *,
    ticket: str = "",
    run_id: str = "",
    thread_id: str = "",
    cursor: int = 0,
    limit: int = 50,
    follow: Flag = False,
    root: Root = ROOT,
    json_output: JsonFlag = False,
) -> int:
    """Forum events after a sequence number, oldest first; --follow keeps streaming.

    Example: metawsm forum watch --cursor 120 --follow --json

    Parameters
    ----------
    ticket
        Only this ticket's events.
    run_id
        Only this run's events.
    thread_id
        Only this thread's events.
    cursor
        Start after this sequence number.
    limit
        At most this many per page (1..1000).
    follow
        Keep streaming new events from the supervisor (needs `metawsm serve`).
    json_output
        One JSON object per line per event.
    """
    env = _env(root)
    params = {
        "ticket": ticket,
        "run_id": run_id,
        "thread_id": thread_id,
        "cursor": cursor,
        "limit": limit,
    }

    def show(event: dict[str, Any]) -> None:
        line = json.dumps(event, sort_keys=False) if json_output else event_line(event)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    if not follow:
        result = _call(env, "forum.watch", params)
        if not result["events"] and not json_output:
            sys.stdout.write("No forum events found.\n")
        for event in result["events"]:
            show(event)
        return 0
    for key, kind in (("run_id", "run id"), ("ticket", "ticket")):
        if params[key]:
            validate_name(kind, str(params[key]))
    if not supervisor_is_running(env):
        raise MetawsmError(
            f"no supervisor is running for {env.root}; --follow streams its events",
            hint="start it with `metawsm serve`, or page with --cursor",
        )

    async def stream() -> None:
        async with ControlClient(env.socket_path) as client:
            async for note in client.stream("forum.follow", params):
                show(note.params)

    with contextlib.suppress(BrokenPipeError):  # `| head` closed our output: done
        anyio.run(stream, backend="asyncio")
    return 0
