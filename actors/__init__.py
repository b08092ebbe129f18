"""actors: a small OTP-style supervision kernel on anyio, for trio and asyncio alike.

It knows nothing of metawsm. The pieces:

- :class:`Actor` with a bounded :class:`Mailbox`, reached through an :class:`ActorRef`
  (``send``, ``send_nowait``, ``request`` with a timeout);
- :class:`Supervisor` with :class:`ChildSpec` (:class:`Restart` type, shutdown grace, start
  timeout), :class:`Strategy` one_for_one / one_for_all / rest_for_one, dynamic children,
  restart intensity with escalation, :class:`Backoff` restart delays, and introspection
  (:class:`ChildInfo`, :class:`SupervisorInfo`, :class:`SupervisorEvent`);
- :class:`Clock` with :class:`SystemClock` and the virtual :class:`FakeClock` for tests.
"""

from actors.actor import Actor
from actors.backoff import Backoff
from actors.clock import SYSTEM_CLOCK, Clock, FakeClock, SystemClock
from actors.errors import (
    ActorCrashed,
    ActorError,
    ActorStopped,
    InboxFull,
    RequestTimeout,
    Shutdown,
    StartFailed,
    SupervisorGaveUp,
    UnknownChild,
)
from actors.introspect import ChildInfo, SupervisorEvent, SupervisorInfo
from actors.mailbox import ActorRef, Call, Failed, Mailbox, Reply
from actors.spec import BRUTAL_KILL, INFINITY, ChildSpec, Restart, Strategy, worker
from actors.supervisor import ChildState, ExitKind, Supervisor, SupervisorState

__all__ = [
    "BRUTAL_KILL",
    "INFINITY",
    "SYSTEM_CLOCK",
    "Actor",
    "ActorCrashed",
    "ActorError",
    "ActorRef",
    "ActorStopped",
    "Backoff",
    "Call",
    "ChildInfo",
    "ChildSpec",
    "ChildState",
    "Clock",
    "ExitKind",
    "Failed",
    "FakeClock",
    "InboxFull",
    "Mailbox",
    "Reply",
    "RequestTimeout",
    "Restart",
    "Shutdown",
    "StartFailed",
    "Strategy",
    "Supervisor",
    "SupervisorEvent",
    "SupervisorGaveUp",
    "SupervisorInfo",
    "SupervisorState",
    "SystemClock",
    "UnknownChild",
    "worker",
]
