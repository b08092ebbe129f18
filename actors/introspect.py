"""What a supervisor tells about itself: plain frozen records, JSON-friendly via ``asdict``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """One child as its supervisor sees it."""

    id: str
    state: str
    restart: str
    dynamic: bool
    generation: int  #: incarnations started so far (1 = never restarted)
    restarts: int
    abandoned: int  #: incarnations that ignored cancellation past their grace
    last_exit: str | None
    last_failure: str | None
    started_at: float | None
    next_restart_at: float | None
    queued: int | None  #: messages waiting in its inbox, for actors
    supervisor: SupervisorInfo | None  #: set when the child is itself a supervisor


@dataclass(frozen=True, slots=True)
class SupervisorInfo:
    """A supervisor's state and its children's, recursively."""

    name: str
    strategy: str
    state: str
    reason: str | None
    intensity: int
    period: float
    recent_restarts: int
    children: tuple[ChildInfo, ...]


@dataclass(frozen=True, slots=True)
class SupervisorEvent:
    """A lifecycle event: started, exited, restarting, start_failed, stopped, killed,
    abandoned, gave_up (``child`` is ``"supervisor"`` for the supervisor's own events)."""

    supervisor: str
    child: str
    kind: str
    detail: str
    generation: int
    at: float
