"""Lifecycle state machines for runs, steps and agents.

The tables are the original's (``kball/metawsm`` ``internal/hsm``), enforced on every
transition of every kind (the original enforced only runs). Staying in the same state is always
allowed. Where the original's agent table had no way out of ``dead``, ``failed`` or ``stopped``
although its restart code moved agents back to ``running`` anyway, this table says so
explicitly: a restart (new generation) or a resume is a transition like any other.

A :class:`Transition` is checked by :func:`check` and recorded by the store as a row of
``events`` (``event_type='transition'``) in the same transaction as the status change.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from metawsm.errors import TransitionError


class RunStatus(enum.StrEnum):
    CREATED = "created"
    PLANNING = "planning"
    RUNNING = "running"
    AWAITING_GUIDANCE = "awaiting_guidance"
    PAUSED = "paused"
    PLANNED = "planned"  #: a dry run: its plan is written, nothing else was done
    FAILED = "failed"
    STOPPING = "stopping"
    STOPPED = "stopped"
    CLOSING = "closing"
    CLOSED = "closed"
    COMPLETED = "completed"


class StepStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class AgentStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    IDLE = "idle"
    STALLED = "stalled"
    DEAD = "dead"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class HealthState(enum.StrEnum):
    HEALTHY = "healthy"
    IDLE = "idle"
    STALLED = "stalled"
    DEAD = "dead"
    UNKNOWN = "unknown"  #: tmux could not be asked (permission, connection): never "dead"


class EntityKind(enum.StrEnum):
    RUN = "run"
    STEP = "step"
    AGENT = "agent"


R, S, A = RunStatus, StepStatus, AgentStatus

RUN_TRANSITIONS: Mapping[str, frozenset[str]] = {
    R.CREATED: frozenset({R.PLANNING}),
    R.PLANNING: frozenset({R.RUNNING, R.PAUSED, R.PLANNED, R.FAILED, R.STOPPING}),
    R.RUNNING: frozenset({R.AWAITING_GUIDANCE, R.PAUSED, R.FAILED, R.COMPLETED, R.STOPPING}),
    R.AWAITING_GUIDANCE: frozenset({R.RUNNING, R.FAILED, R.STOPPING}),
    R.PAUSED: frozenset({R.RUNNING, R.STOPPING}),
    # Ours: the original ended a dry run in paused, so it was listed as waiting for an operator.
    R.PLANNED: frozenset({R.RUNNING, R.STOPPING}),
    R.FAILED: frozenset({R.RUNNING, R.STOPPING}),
    R.STOPPING: frozenset({R.STOPPED}),
    R.STOPPED: frozenset({R.RUNNING}),
    R.COMPLETED: frozenset({R.CLOSING, R.RUNNING}),
    # Ours: a close that fails (a merge conflict, a ticket that cannot be closed) puts the run
    # back where it was, so the operator fixes the cause and closes again.
    R.CLOSING: frozenset({R.CLOSED, R.FAILED, R.COMPLETED}),
    R.CLOSED: frozenset(),
}

STEP_TRANSITIONS: Mapping[str, frozenset[str]] = {
    S.PENDING: frozenset({S.RUNNING, S.SKIPPED}),
    S.RUNNING: frozenset({S.DONE, S.FAILED}),
    S.FAILED: frozenset({S.RUNNING, S.SKIPPED}),
    S.DONE: frozenset(),
    S.SKIPPED: frozenset(),
}

AGENT_TRANSITIONS: Mapping[str, frozenset[str]] = {
    A.PENDING: frozenset({A.RUNNING, A.STOPPED, A.FAILED}),
    A.RUNNING: frozenset({A.IDLE, A.STALLED, A.DEAD, A.STOPPING, A.FAILED, A.STOPPED}),
    A.IDLE: frozenset({A.RUNNING, A.STALLED, A.DEAD, A.STOPPING, A.FAILED, A.STOPPED}),
    A.STALLED: frozenset({A.RUNNING, A.IDLE, A.DEAD, A.STOPPING, A.FAILED, A.STOPPED}),
    A.STOPPING: frozenset({A.STOPPED}),
    # Additions to the original table (its restart code did these without saying so):
    A.DEAD: frozenset({A.RUNNING, A.FAILED, A.STOPPED}),  # respawn, budget spent, cleanup
    A.FAILED: frozenset({A.RUNNING, A.STOPPED}),  # operator restart, cleanup
    A.STOPPED: frozenset({A.RUNNING}),  # resume
}

TABLES: Mapping[EntityKind, Mapping[str, frozenset[str]]] = {
    EntityKind.RUN: RUN_TRANSITIONS,
    EntityKind.STEP: STEP_TRANSITIONS,
    EntityKind.AGENT: AGENT_TRANSITIONS,
}

#: Runs that a supervisor still drives, as the original counted them. (The original also left
#: dry runs in ``paused``, so they lingered here as "active"; the run planner must not.)
ACTIVE_RUN_STATUSES = frozenset(
    {R.PLANNING, R.RUNNING, R.AWAITING_GUIDANCE, R.PAUSED, R.STOPPING, R.CLOSING}
)


def can_transition(kind: EntityKind, from_state: str, to_state: str) -> bool:
    """True when ``from_state -> to_state`` is allowed for ``kind`` (same state always is)."""
    if from_state == to_state:
        return True
    return to_state in TABLES[kind].get(from_state, frozenset())


@dataclass(frozen=True, slots=True)
class Transition:
    """A checked state change of one entity, ready to be recorded as an event."""

    kind: EntityKind
    entity_id: str
    from_state: str
    to_state: str
    message: str = ""


def check(
    kind: EntityKind, entity_id: str, from_state: str, to_state: str, message: str = ""
) -> Transition:
    """Return the transition, or raise :class:`TransitionError` with the original's wording
    (``illegal run transition running -> closed``) plus the entity."""
    if not can_transition(kind, from_state, to_state):
        raise TransitionError(
            f"illegal {kind.value} transition {from_state} -> {to_state} ({entity_id})",
            hint=_hint(kind, from_state),
        )
    return Transition(kind, entity_id, from_state, to_state, message)


def _hint(kind: EntityKind, from_state: str) -> str:
    allowed = sorted(TABLES[kind].get(from_state, frozenset()))
    if not allowed:
        return f"a {kind.value} in {from_state!r} is final"
    return f"from {from_state!r} a {kind.value} can go to: {', '.join(allowed)}"
