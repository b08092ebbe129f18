"""Actor kernel speed: request/reply round trip and one-way messages/s, on both backends.

Side by side in one run: the actor path (``ActorRef.request`` through a supervised actor,
``ActorRef.send`` into its bounded inbox) beside the bare anyio memory object stream it is
built on, so the figure to read is the ratio, not the absolute number on a noisy machine.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import anyio
from anyio.abc import TaskStatus

from actors import Actor, Supervisor

ROUND_TRIPS = 5_000
MESSAGES = 100_000
REPEATS = 5


class Counter(Actor[Any]):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    async def handle(self, message: Any) -> Any:
        self.count += 1
        return self.count


async def _actor_round_trip() -> float:
    spec = Counter.spec("counter")
    assert spec.mailbox is not None
    ref = spec.mailbox.ref
    sup = Supervisor("bench", [spec])
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        for _ in range(200):
            await ref.request("warm")
        started = time.perf_counter()
        for _ in range(ROUND_TRIPS):
            await ref.request("x")
        elapsed = time.perf_counter() - started
        await sup.stop()
    return elapsed / ROUND_TRIPS * 1e6


async def _raw_round_trip() -> float:
    """Request/reply on bare memory streams: the floor the actor path is built on."""
    send, receive = anyio.create_memory_object_stream[Any](64)

    async def server(*, task_status: TaskStatus[None]) -> None:
        task_status.started()
        async for reply_to in receive:
            with reply_to:
                reply_to.send_nowait(1)

    async with anyio.create_task_group() as tg:
        await tg.start(server)
        started = time.perf_counter()
        for _ in range(ROUND_TRIPS):
            r_send, r_recv = anyio.create_memory_object_stream[int](1)
            with r_recv:
                await send.send(r_send)
                await r_recv.receive()
        elapsed = time.perf_counter() - started
        send.close()
    receive.close()
    return elapsed / ROUND_TRIPS * 1e6


async def _actor_throughput() -> float:
    spec = Counter.spec("counter", inbox_size=1000)
    assert spec.mailbox is not None
    ref = spec.mailbox.ref
    sup = Supervisor("bench", [spec])
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        started = time.perf_counter()
        for _ in range(MESSAGES):
            await ref.send("x")
        await ref.request("sync")  # all sent messages are handled once this answers
        elapsed = time.perf_counter() - started
        await sup.stop()
    return MESSAGES / elapsed


async def _raw_throughput() -> float:
    send, receive = anyio.create_memory_object_stream[Any](1000)
    done = anyio.Event()

    async def consumer() -> None:
        n = 0
        async for _ in receive:
            n += 1
            if n == MESSAGES:
                done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(consumer)
        started = time.perf_counter()
        for _ in range(MESSAGES):
            await send.send("x")
        await done.wait()
        elapsed = time.perf_counter() - started
        send.close()
    receive.close()
    return MESSAGES / elapsed


def _median(fn: Any, backend: str) -> float:
    return statistics.median(anyio.run(fn, backend=backend) for _ in range(REPEATS))


def main() -> None:
    print(f"{REPEATS} repeats each; medians. Round trips: {ROUND_TRIPS}; messages: {MESSAGES}.")
    print()
    print(
        "| backend | actor request/reply µs | raw streams µs | ratio | "
        "actor send msg/s | raw stream msg/s | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for backend in ("asyncio", "trio"):
        rt_actor = _median(_actor_round_trip, backend)
        rt_raw = _median(_raw_round_trip, backend)
        tp_actor = _median(_actor_throughput, backend)
        tp_raw = _median(_raw_throughput, backend)
        print(
            f"| {backend} | {rt_actor:.1f} | {rt_raw:.1f} | {rt_actor / rt_raw:.2f}x | "
            f"{tp_actor:,.0f} | {tp_raw:,.0f} | {tp_actor / tp_raw:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
