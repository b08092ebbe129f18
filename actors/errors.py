"""Errors raised by the supervision kernel.

::

    ActorError
    ├── ActorStopped        the actor's inbox is closed: it stopped and will not answer
    ├── ActorCrashed        the actor raised while handling this request (carries the cause)
    ├── RequestTimeout      no reply within the request's timeout
    ├── InboxFull           send_nowait found the bounded inbox full
    ├── StartFailed         a child failed (or timed out) before reporting started
    ├── SupervisorGaveUp    restart intensity exceeded: the supervisor stopped its children
    └── UnknownChild        no child with that id under this supervisor

:class:`Shutdown` is not an error: a child raises it to end with the OTP ``shutdown`` reason,
which a ``transient`` child is not restarted for.
"""

from __future__ import annotations


class ActorError(Exception):
    """Base of the kernel's errors."""


class ActorStopped(ActorError):
    """The actor's inbox is closed, so the message cannot be delivered or answered."""


class ActorCrashed(ActorError):
    """The actor raised while handling the request; ``__cause__`` is what it raised."""


class RequestTimeout(ActorError, TimeoutError):
    """No reply arrived within the request's timeout."""


class InboxFull(ActorError):
    """``send_nowait`` found the actor's bounded inbox full."""


class StartFailed(ActorError):
    """A child raised, returned or timed out before it reported that it had started."""


class SupervisorGaveUp(ActorError):
    """More restarts than the intensity allows within the period: the supervisor gave up.

    The supervisor has stopped all its children when this is raised; its parent treats it as an
    abnormal exit of one child, which is exactly one level of escalation.
    """

    def __init__(self, supervisor: str, reason: str) -> None:
        super().__init__(f"supervisor {supervisor!r} gave up: {reason}")
        self.supervisor = supervisor
        self.reason = reason


class UnknownChild(ActorError, KeyError):
    """No child with this id is known to the supervisor."""


class Shutdown(Exception):
    """Raised by a child to end with reason ``shutdown`` (not restarted when transient)."""
