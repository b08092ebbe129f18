"""The actor: a task that owns its state and serves one bounded inbox.

Subclass :class:`Actor`, override :meth:`Actor.handle` (and, when needed, :meth:`Actor.on_start`
and :meth:`Actor.on_stop`), and let a supervisor run it through :meth:`Actor.spec`. Messages sent
with :meth:`~actors.mailbox.ActorRef.request` get the return value of ``handle`` as their reply;
an exception in ``handle`` is sent to the caller as :class:`~actors.errors.ActorCrashed` and then
crashes the actor, so its supervisor restarts it with fresh state on the same inbox. A handler
that wants to refuse a request and go on returns :class:`~actors.mailbox.Failed` instead: the
caller gets that error raised as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import anyio
from anyio.abc import TaskStatus

from actors.clock import SYSTEM_CLOCK, Clock
from actors.mailbox import DEFAULT_INBOX_SIZE, ActorRef, Call, Failed, Mailbox
from actors.spec import ChildSpec

M = TypeVar("M")
A = TypeVar("A", bound="Actor[Any]")

#: Bound on ``on_stop``: cleanup must not hold up a shutdown ladder indefinitely.
ON_STOP_TIMEOUT = 5.0


class Actor(Generic[M]):
    """Base class of actors. One instance is one incarnation; state lives on ``self``."""

    clock: Clock = SYSTEM_CLOCK

    def __init__(self) -> None:
        self._stop_requested = False
        self.ref: ActorRef[M] | None = None

    async def on_start(self) -> None:
        """Called before the first message; the actor counts as started when it returns."""

    async def handle(self, message: M) -> Any:
        """Handle one message; the return value answers a request."""
        raise NotImplementedError

    async def on_stop(self) -> None:
        """Called when the actor ends for any reason (shielded, bounded)."""

    def stop(self) -> None:
        """End normally after the message being handled."""
        self._stop_requested = True

    async def run(self, mailbox: Mailbox[M], *, task_status: TaskStatus[Any]) -> None:
        """Serve ``mailbox`` until :meth:`stop`, an exception, cancellation or a closed inbox."""
        self.ref = mailbox.ref
        try:
            await self.on_start()
            task_status.started()
            async for item in mailbox.receive:
                if isinstance(item, Call):
                    try:
                        value = await self.handle(item.message)
                    except Exception as exc:
                        item.answer(error=exc)
                        raise
                    except BaseException:
                        # Cancelled mid-request: the caller learns the actor stopped.
                        item.answer(error=_stopped(mailbox))
                        raise
                    if isinstance(value, Failed):
                        item.answer(error=value.error, crashed=False)
                    else:
                        item.answer(value)
                else:
                    await self.handle(item)
                if self._stop_requested:
                    return
        finally:
            with anyio.CancelScope(shield=True), self.clock.move_on_after(ON_STOP_TIMEOUT):
                await self.on_stop()

    @classmethod
    def spec(
        cls: type[A],
        id: str,
        factory: Callable[[], A] | None = None,
        *,
        inbox_size: int = DEFAULT_INBOX_SIZE,
        clock: Clock = SYSTEM_CLOCK,
        **options: Any,
    ) -> ChildSpec:
        """A child spec running a new actor (``factory()``, default ``cls()``) per incarnation,
        all on one mailbox; ``spec.mailbox.ref`` reaches whichever incarnation is alive."""
        make = factory if factory is not None else cls
        mailbox: Mailbox[Any] = Mailbox(id, inbox_size, clock=clock)

        async def run(*, task_status: TaskStatus[Any]) -> None:
            actor = make()
            actor.clock = clock
            await actor.run(mailbox, task_status=task_status)

        return ChildSpec(id=id, run=run, mailbox=mailbox, **options)


def _stopped(mailbox: Mailbox[Any]) -> Exception:
    from actors.errors import ActorStopped

    return ActorStopped(f"actor {mailbox.name!r} stopped while handling a request")
