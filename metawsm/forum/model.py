"""The forum's vocabulary: actor types, states, priorities, the transition table, event names,
limits, and the parameters of every command (the original's ``internal/model/forum.go`` and
``service_forum.go``, names and messages kept)."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from metawsm.errors import MetawsmError, NotFoundError, UsageError


class ForumError(MetawsmError):
    """A forum command refused: the original's message, one line."""


class ForumNotFound(NotFoundError):
    """``forum thread <id> not found``."""


class ActorType(StrEnum):
    AGENT = "agent"
    OPERATOR = "operator"
    HUMAN = "human"
    SYSTEM = "system"


class ThreadState(StrEnum):
    NEW = "new"
    TRIAGED = "triaged"
    WAITING_OPERATOR = "waiting_operator"
    WAITING_HUMAN = "waiting_human"
    ANSWERED = "answered"
    CLOSED = "closed"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


#: ``list`` order: urgent first.
PRIORITY_RANK = {Priority.URGENT: 0, Priority.HIGH: 1, Priority.NORMAL: 2, Priority.LOW: 3}

#: ``forumTransitionAllowed``: same -> same is always allowed; nothing leaves ``closed``.
TRANSITIONS: dict[ThreadState, frozenset[ThreadState]] = {
    ThreadState.NEW: frozenset(
        {
            ThreadState.TRIAGED,
            ThreadState.WAITING_OPERATOR,
            ThreadState.WAITING_HUMAN,
            ThreadState.ANSWERED,
            ThreadState.CLOSED,
        }
    ),
    ThreadState.TRIAGED: frozenset(
        {
            ThreadState.WAITING_OPERATOR,
            ThreadState.WAITING_HUMAN,
            ThreadState.ANSWERED,
            ThreadState.CLOSED,
        }
    ),
    ThreadState.WAITING_OPERATOR: frozenset(
        {ThreadState.WAITING_HUMAN, ThreadState.ANSWERED, ThreadState.TRIAGED, ThreadState.CLOSED}
    ),
    ThreadState.WAITING_HUMAN: frozenset(
        {
            ThreadState.WAITING_OPERATOR,
            ThreadState.ANSWERED,
            ThreadState.TRIAGED,
            ThreadState.CLOSED,
        }
    ),
    ThreadState.ANSWERED: frozenset(
        {ThreadState.WAITING_OPERATOR, ThreadState.WAITING_HUMAN, ThreadState.CLOSED}
    ),
    ThreadState.CLOSED: frozenset(),
}


def transition_allowed(from_state: str, to_state: str) -> bool:
    if from_state == to_state:
        return True
    allowed = TRANSITIONS.get(ThreadState(from_state)) if from_state in _STATES else None
    return allowed is not None and ThreadState(to_state) in allowed


_STATES = frozenset(s.value for s in ThreadState)

# Event types (the original's names).
THREAD_OPENED = "forum.thread.opened"
POST_ADDED = "forum.post.added"
ASSIGNED = "forum.assigned"
STATE_CHANGED = "forum.state.changed"
PRIORITY_CHANGED = "forum.priority.changed"
THREAD_CLOSED = "forum.thread.closed"
EVENT_TYPES = (THREAD_OPENED, POST_ADDED, ASSIGNED, STATE_CHANGED, PRIORITY_CHANGED, THREAD_CLOSED)
EVENT_VERSION = 1

#: A post's body at most (UTF-8 bytes); refused before anything is stored. The dashboard's
#: request limit is 64 KiB too, so whatever it accepts fits.
MAX_BODY_BYTES = 32 * 1024
#: A title at most (characters).
MAX_TITLE_CHARS = 200
#: ``list`` and ``watch`` return this many at most per call.
MAX_LIMIT = 1000


def actor_type(value: str) -> ActorType:
    text = value.strip().lower()
    try:
        return ActorType(text)
    except ValueError:
        raise UsageError("forum actor_type must be one of agent|operator|human|system") from None


def thread_state(value: str) -> ThreadState:
    text = value.strip().lower()
    try:
        return ThreadState(text)
    except ValueError:
        raise UsageError(
            "forum state must be one of new|triaged|waiting_operator|waiting_human|answered|closed"
        ) from None


def priority(value: str) -> Priority:
    text = value.strip().lower() or Priority.NORMAL.value
    try:
        return Priority(text)
    except ValueError:
        raise UsageError("forum priority must be one of low|normal|high|urgent") from None


def check_body(body: str) -> str:
    text = body.strip()
    if not text:
        raise UsageError("forum body is required")
    size = len(text.encode("utf-8"))
    if size > MAX_BODY_BYTES:
        raise UsageError(
            f"forum body is {size} bytes, over the limit of {MAX_BODY_BYTES}",
            hint="put long material in a file in the workspace and post its path",
        )
    return text


def check_thread_id(thread_id: str) -> str:
    text = thread_id.strip()
    if not text:
        raise UsageError("forum thread id is required")
    if len(text) > 200 or any(c.isspace() or not c.isprintable() for c in text):
        raise UsageError(f"forum thread id {text[:60]!r} is not valid")
    return text


def new_id(prefix: str) -> str:
    """``fthr-…`` / ``fevt-…``: the original's prefixes; a random suffix instead of its
    nanosecond clock, so two processes never collide."""
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Actor(_Params):
    actor_type: str = ""
    actor_name: str = ""


class AskParams(Actor):
    ticket: str = ""
    run_id: str = ""
    agent: str = ""
    #: The agent's workspace, when asked from inside an agent (to find the run's ticket).
    workspace: str = ""
    title: str = ""
    body: str = ""
    priority: str = "normal"
    event_id: str = ""
    thread_id: str = ""


class AnswerParams(Actor):
    thread_id: str = ""
    body: str = ""
    event_id: str = ""


class PostParams(AnswerParams):
    pass


class AssignParams(Actor):
    thread_id: str = ""
    assignee_type: str = "operator"
    assignee_name: str = ""
    note: str = ""
    event_id: str = ""


class StateParams(Actor):
    thread_id: str = ""
    state: str = ""
    event_id: str = ""


class PriorityParams(Actor):
    thread_id: str = ""
    priority: str = ""
    event_id: str = ""


class CloseParams(Actor):
    thread_id: str = ""
    event_id: str = ""


class ListParams(_Params):
    ticket: str = ""
    run_id: str = ""
    state: str = ""
    priority: str = ""
    assignee: str = ""
    limit: int = Field(50, ge=1, le=MAX_LIMIT)


class ThreadParams(_Params):
    thread_id: str = ""


class WatchParams(_Params):
    ticket: str = ""
    run_id: str = ""
    thread_id: str = ""
    cursor: int = Field(0, ge=0)
    limit: int = Field(50, ge=1, le=MAX_LIMIT)


class WaitParams(_Params):
    thread_id: str = ""
    timeout: float = Field(600.0, gt=0, le=86400.0)


def actor_of(params: Actor, default: ActorType) -> tuple[str, str]:
    kind = actor_type(params.actor_type) if params.actor_type.strip() else default
    return kind.value, params.actor_name.strip()


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
