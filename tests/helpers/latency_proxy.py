"""A TCP proxy that adds latency to what a server sends back: remote endpoints, on loopback.

``python -m tests.helpers.latency_proxy PORT:TARGET:DELAY_MS ...`` listens on each
``127.0.0.1:PORT`` and forwards to ``127.0.0.1:TARGET``; every chunk the target sends back is
delivered ``DELAY_MS`` after it arrived (order kept, throughput untouched), as over a network
with that one-way latency. It prints ``ready`` once every port listens and runs until killed.
"""

from __future__ import annotations

import asyncio
import sys
import time


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, chunk = await queue.get()
            if not chunk:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(chunk)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(deliver())
    try:
        while chunk := await reader.read(65536):
            queue.put_nowait((time.monotonic() + delay, chunk))
    finally:
        queue.put_nowait((0.0, b""))
        await sender


async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    finally:
        writer.close()


def _handler(target: int, delay: float):  # type: ignore[no-untyped-def]
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(
            _forward(client_r, up_w), _pipe(up_r, client_w, delay), return_exceptions=True
        )

    return handle


async def _main(specs: list[str]) -> None:
    servers = []
    for spec in specs:
        port, target, delay_ms = (int(part) for part in spec.split(":"))
        handler = _handler(target, delay_ms / 1000)
        servers.append(await asyncio.start_server(handler, "127.0.0.1", port))
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1:]))
