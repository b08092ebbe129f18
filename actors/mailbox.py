"""Bounded inboxes and the references used to talk to an actor through them.

A :class:`Mailbox` belongs to a supervisor's child slot, not to one incarnation of the actor:
when the actor restarts, the new incarnation reads the same inbox, so an :class:`ActorRef` stays
valid across restarts and messages queued at a crash are not lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeAlias, TypeVar, Union

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from actors.clock import SYSTEM_CLOCK, Clock
from actors.errors import ActorCrashed, ActorStopped, InboxFull, RequestTimeout

M = TypeVar("M")

DEFAULT_INBOX_SIZE = 64
DEFAULT_REQUEST_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Reply:
    """The outcome of a request: a value, or an error. ``crashed`` tells an exception that
    crashed the actor (raised to the caller as :class:`ActorCrashed`) from a failure the
    handler returned on purpose with :class:`Failed` (raised to the caller as it is)."""

    value: Any = None
    error: BaseException | None = None
    crashed: bool = True


@dataclass(frozen=True, slots=True)
class Failed:
    """Return this from ``handle`` to answer a request with ``error`` while the actor goes
    on: the caller gets ``error`` raised as it is, and the actor does not crash."""

    error: Exception


@dataclass(frozen=True, slots=True)
class Call(Generic[M]):
    """A request: the message and the one-shot channel its reply goes to."""

    message: M
    reply_to: MemoryObjectSendStream[Reply]

    def answer(
        self, value: Any = None, error: BaseException | None = None, *, crashed: bool = True
    ) -> None:
        """Send the reply; a caller that gave up waiting is not an error."""
        try:
            with self.reply_to:
                self.reply_to.send_nowait(Reply(value, error, crashed))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.WouldBlock):
            pass


#: What travels in an inbox: a plain message, or a request awaiting its reply.
Envelope: TypeAlias = Union[M, Call[M]]  # noqa: UP007 - must be subscriptable at run time


class Mailbox(Generic[M]):
    """A bounded inbox: the receiving side for the actor, :attr:`ref` for everybody else.

    A closed mailbox can be reopened (a supervisor does so when it restarts the slot that owns
    it); references taken earlier reach the new inbox.
    """

    def __init__(
        self, name: str, size: int = DEFAULT_INBOX_SIZE, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        if size < 1:
            raise ValueError("an inbox holds at least one message (unbounded is not offered)")
        self.name = name
        self.size = size
        self._open_streams()
        self.ref: ActorRef[M] = ActorRef(self, clock)

    def _open_streams(self) -> None:
        send, receive = anyio.create_memory_object_stream[Envelope[M]](self.size)
        self.send_stream: MemoryObjectSendStream[Envelope[M]] = send
        self.receive: MemoryObjectReceiveStream[Envelope[M]] = receive
        self.is_closed = False

    def reopen(self) -> None:
        """Open a fresh inbox if this one was closed."""
        if self.is_closed:
            self._open_streams()

    def close(self) -> None:
        """Close both ends; pending requests are answered with :class:`ActorStopped`."""
        if self.is_closed:
            return
        self.is_closed = True
        self.send_stream.close()
        while True:
            try:
                item = self.receive.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
            if isinstance(item, Call):
                item.answer(error=ActorStopped(f"actor {self.name!r} stopped"))
        self.receive.close()

    def queued(self) -> int:
        """Messages waiting in the inbox now."""
        return 0 if self.is_closed else self.send_stream.statistics().current_buffer_used


class ActorRef(Generic[M]):
    """How to reach an actor: fire-and-forget sends and request/reply, all bounded."""

    __slots__ = ("_clock", "_mailbox", "name")

    def __init__(self, mailbox: Mailbox[M], clock: Clock) -> None:
        self.name = mailbox.name
        self._mailbox = mailbox
        self._clock = clock

    @property
    def _send(self) -> MemoryObjectSendStream[Envelope[M]]:
        return self._mailbox.send_stream

    def __repr__(self) -> str:
        return f"ActorRef({self.name!r})"

    async def send(self, message: M) -> None:
        """Deliver ``message``, waiting while the inbox is full (backpressure)."""
        try:
            await self._send.send(message)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            raise ActorStopped(f"actor {self.name!r} stopped") from exc

    def send_nowait(self, message: M) -> None:
        """Deliver ``message`` now or raise :class:`InboxFull`."""
        try:
            self._send.send_nowait(message)
        except anyio.WouldBlock as exc:
            raise InboxFull(f"inbox of {self.name!r} is full ({self.queued()} queued)") from exc
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            raise ActorStopped(f"actor {self.name!r} stopped") from exc

    # The timeout goes through the injected clock (virtual in tests), hence a parameter.
    async def request(self, message: M, *, timeout: float = DEFAULT_REQUEST_TIMEOUT) -> Any:
        """Send ``message`` and wait for the handler's return value.

        Raises :class:`RequestTimeout` when no reply comes within ``timeout`` (time spent
        waiting for inbox space counts), :class:`ActorCrashed` when the handler raised, and
        :class:`ActorStopped` when the actor stopped before answering.
        """
        reply_send, reply_receive = anyio.create_memory_object_stream[Reply](1)
        with reply_receive:
            with self._clock.move_on_after(timeout):
                try:
                    await self._send.send(Call(message, reply_send))
                except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
                    reply_send.close()
                    raise ActorStopped(f"actor {self.name!r} stopped") from exc
                except BaseException:
                    # Timed out or cancelled while the inbox was full: the call never reached
                    # the actor, so nobody else will close its reply channel (ResourceWarning).
                    reply_send.close()
                    raise
                try:
                    reply = await reply_receive.receive()
                except anyio.EndOfStream as exc:
                    raise ActorStopped(f"actor {self.name!r} stopped before answering") from exc
                if reply.error is not None:
                    if isinstance(reply.error, ActorStopped) or not reply.crashed:
                        raise reply.error
                    raise ActorCrashed(
                        f"actor {self.name!r} failed on {type(message).__name__}: {reply.error!r}"
                    ) from reply.error
                return reply.value
            raise RequestTimeout(f"no reply from {self.name!r} within {timeout:g}s")

    def queued(self) -> int:
        """Messages waiting in the inbox now."""
        return self._mailbox.queued()

    def closed(self) -> bool:
        """True while the inbox takes no messages."""
        return self._mailbox.is_closed
