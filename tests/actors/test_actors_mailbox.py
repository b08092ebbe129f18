"""Actors and their bounded mailboxes: request/reply, crashes, timeouts, backpressure, stop."""

from __future__ import annotations

import gc
import warnings
from typing import Any

import anyio
import pytest
from actors_kit import generations, launch, settle

from actors import (
    Actor,
    ActorCrashed,
    ActorRef,
    ActorStopped,
    Backoff,
    ChildSpec,
    Failed,
    FakeClock,
    InboxFull,
    Mailbox,
    RequestTimeout,
    Restart,
    Supervisor,
)

pytestmark = pytest.mark.anyio

NO_DELAY = Backoff(initial=0.0, cap=0.0)


class Keeper(Actor[Any]):
    """Counts; ``("hold", event)`` blocks its inbox until the event is set."""

    incarnations = 0
    stops: list[int] = []  # noqa: RUF012 - reset per test by make()

    def __init__(self) -> None:
        super().__init__()
        Keeper.incarnations += 1
        self.me = Keeper.incarnations
        self.count = 0

    async def handle(self, message: Any) -> Any:
        match message:
            case "incr":
                self.count += 1
                return self.count
            case "get":
                return self.count
            case "boom":
                raise ValueError("boom")
            case ("hold", anyio.Event() as event):
                await event.wait()
                return "held"
            case ("echo", value):
                return value
            case "stop":
                self.stop()
                return "bye"
        raise AssertionError(f"unexpected {message!r}")

    async def on_stop(self) -> None:
        Keeper.stops.append(self.me)


def make(
    clock: FakeClock, *, inbox_size: int = 16, restart: Restart = Restart.PERMANENT
) -> tuple[ActorRef[Any], ChildSpec, Supervisor]:
    Keeper.incarnations = 0
    Keeper.stops = []
    spec = Keeper.spec("keeper", clock=clock, inbox_size=inbox_size, restart=restart)
    assert spec.mailbox is not None
    sup = Supervisor("sup", [spec], clock=clock, backoff=NO_DELAY)
    return spec.mailbox.ref, spec, sup


async def test_request_is_answered_with_the_handlers_return_value(clock: FakeClock) -> None:
    ref, _, sup = make(clock)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        assert await ref.request(("echo", {"x": 1})) == {"x": 1}
        assert await ref.request("incr") == 1
        assert await ref.request("incr") == 2
        await ref.send("incr")
        assert await ref.request("get") == 3
        await sup.stop()


async def test_handler_exception_reaches_the_caller_as_actor_crashed_with_its_cause(
    clock: FakeClock,
) -> None:
    ref, _, sup = make(clock)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        await ref.request("incr")
        with pytest.raises(ActorCrashed, match="actor 'keeper' failed on str") as caught:
            await ref.request("boom")
        assert isinstance(caught.value.__cause__, ValueError)
        assert str(caught.value.__cause__) == "boom"
        await settle()
        # The actor crashed and was restarted with fresh state, on the same mailbox.
        assert generations(sup) == {"keeper": 2}
        assert await ref.request("get") == 0
        await sup.stop()


async def test_restarted_actor_serves_the_messages_queued_behind_the_crash(
    clock: FakeClock,
) -> None:
    ref, _, sup = make(clock)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        # Queued in one go, before the actor runs again: the crash is in the middle.
        for message in ["incr", "boom", "incr", "incr", "incr"]:
            ref.send_nowait(message)
        assert await ref.request("get") == 3  # the new incarnation got all three
        assert generations(sup) == {"keeper": 2}
        assert Keeper.stops == [1]  # on_stop ran for the crashed incarnation
        await sup.stop()
    assert Keeper.stops == [1, 2]


async def test_request_without_reply_in_time_raises_request_timeout(clock: FakeClock) -> None:
    ref, _, sup = make(clock)
    release = anyio.Event()
    outcome: list[BaseException] = []
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)

        async def ask() -> None:
            try:
                await ref.request(("hold", release), timeout=2.0)
            except RequestTimeout as exc:
                outcome.append(exc)

        tg.start_soon(ask)
        await clock.advance(1.999)
        assert outcome == []
        await clock.advance(0.001)
        assert len(outcome) == 1
        assert isinstance(outcome[0], TimeoutError)
        assert str(outcome[0]) == "no reply from 'keeper' within 2s"
        # The late reply goes nowhere, and the actor is fine.
        release.set()
        assert await ref.request("incr") == 1
        assert generations(sup) == {"keeper": 1}
        await sup.stop()


async def test_request_timing_out_while_waiting_for_inbox_space_leaves_nothing_open(
    clock: FakeClock,
) -> None:
    """The reply channel of a request that never got into the inbox must be closed (an
    unclosed anyio stream is a ResourceWarning, an error under this suite's filters)."""
    ref, _, sup = make(clock, inbox_size=1)
    release = anyio.Event()
    timeouts: list[str] = []  # no exception kept: it would keep the request's frame alive
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with anyio.create_task_group() as tg:
            await launch(tg, sup)
            ref.send_nowait(("hold", release))
            await settle()
            ref.send_nowait("incr")  # the inbox is full now

            async def ask() -> None:
                try:
                    await ref.request("get", timeout=1.0)
                except RequestTimeout as exc:
                    timeouts.append(str(exc))

            tg.start_soon(ask)
            await clock.advance(1.0)
            assert len(timeouts) == 1
            release.set()
            await sup.stop()
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_send_nowait_on_a_full_inbox_raises_inbox_full(clock: FakeClock) -> None:
    ref, _, sup = make(clock, inbox_size=2)
    release = anyio.Event()
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        ref.send_nowait(("hold", release))
        await settle()
        ref.send_nowait("incr")
        ref.send_nowait("incr")
        with pytest.raises(InboxFull, match=r"inbox of 'keeper' is full \(2 queued\)"):
            ref.send_nowait("incr")
        assert ref.queued() == 2
        assert sup.which_children()[0].queued == 2
        release.set()
        assert await ref.request("get") == 2
        await sup.stop()


async def test_send_waits_while_the_inbox_is_full(clock: FakeClock) -> None:
    ref, _, sup = make(clock, inbox_size=1)
    release = anyio.Event()
    delivered = anyio.Event()
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        ref.send_nowait(("hold", release))
        await settle()
        ref.send_nowait("incr")

        async def send() -> None:
            await ref.send("incr")
            delivered.set()

        tg.start_soon(send)
        await settle()
        assert not delivered.is_set()  # backpressure: the sender waits
        release.set()
        await settle()
        assert delivered.is_set()
        assert await ref.request("get") == 2
        await sup.stop()


async def test_messages_to_a_stopped_actor_raise_actor_stopped(clock: FakeClock) -> None:
    ref, _, sup = make(clock)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        await sup.stop()
    assert ref.closed()
    with pytest.raises(ActorStopped):
        await ref.send("incr")
    with pytest.raises(ActorStopped):
        ref.send_nowait("incr")
    with pytest.raises(ActorStopped):
        await ref.request("get")


async def test_pending_requests_at_stop_are_answered_with_actor_stopped(
    clock: FakeClock,
) -> None:
    ref, _, sup = make(clock)
    never = anyio.Event()
    answers: dict[str, BaseException | Any] = {}
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)

        async def ask(name: str, message: Any) -> None:
            try:
                answers[name] = await ref.request(message, timeout=100.0)
            except ActorStopped as exc:
                answers[name] = exc

        tg.start_soon(ask, "in_hand", ("hold", never))
        await settle()
        tg.start_soon(ask, "queued", "get")
        await settle()
        assert ref.queued() == 1
        await sup.stop()
        await settle()
    assert set(answers) == {"in_hand", "queued"}
    assert isinstance(answers["in_hand"], ActorStopped)
    assert "stopped while handling a request" in str(answers["in_hand"])
    assert isinstance(answers["queued"], ActorStopped)


@pytest.mark.parametrize(
    ("restart", "restarted"), [(Restart.PERMANENT, True), (Restart.TRANSIENT, False)]
)
async def test_actor_stop_ends_it_normally(
    restart: Restart, restarted: bool, clock: FakeClock
) -> None:
    ref, _, sup = make(clock, restart=restart)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        assert await ref.request("stop") == "bye"
        await settle()
        [info] = sup.which_children()
        assert info.last_exit == "normal"
        if restarted:
            assert (info.state, info.generation) == ("running", 2)
            assert await ref.request("get") == 0
        else:
            assert info.state == "exited"
            with pytest.raises(ActorStopped):
                await ref.request("get")
        await sup.stop()


async def test_a_crash_on_a_plain_message_restarts_the_actor(clock: FakeClock) -> None:
    ref, _, sup = make(clock)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        await ref.send("boom")
        assert await ref.request("get") == 0
        [info] = sup.which_children()
        assert info.generation == 2
        assert info.last_failure == "abnormal: ValueError: boom"
        await sup.stop()


async def test_mailbox_needs_room_for_a_message() -> None:
    with pytest.raises(ValueError, match="at least one message"):
        Mailbox("m", 0)


async def test_on_stop_is_bounded_so_it_cannot_hold_up_the_ladder(clock: FakeClock) -> None:
    class Clingy(Actor[str]):
        async def handle(self, message: str) -> None:
            pass

        async def on_stop(self) -> None:
            await anyio.sleep_forever()  # the actor's ON_STOP_TIMEOUT (5 s) cuts this short

    spec = Clingy.spec("clingy", clock=clock, shutdown=60.0)
    sup = Supervisor("sup", [spec], clock=clock)
    stopped_at: list[float] = []
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)

        async def stop() -> None:
            await sup.stop()
            stopped_at.append(clock.now())

        tg.start_soon(stop)
        await clock.advance(5.0)
        assert stopped_at == [5.0]
    [info] = sup.which_children()
    assert (info.state, info.abandoned) == ("stopped", 0)


class _Refuser(Actor[str]):
    def __init__(self) -> None:
        super().__init__()
        self.handled = 0

    async def handle(self, message: str) -> object:
        self.handled += 1
        if message == "refuse":
            return Failed(ValueError("not this one"))
        return self.handled


async def test_a_returned_failure_reaches_the_caller_as_is_and_the_actor_goes_on() -> None:
    spec = _Refuser.spec("refuser")
    assert spec.mailbox is not None
    sup = Supervisor("sup", [spec])
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        with pytest.raises(ValueError, match="not this one"):
            await spec.mailbox.ref.request("refuse")
        # Same incarnation: its state survived, so it was not restarted.
        assert await spec.mailbox.ref.request("ok") == 2
        assert sup.which_children()[0].generation == 1
        await sup.stop()
