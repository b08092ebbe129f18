"""A process that writes events through a StoreWriter and prints each acknowledged id.

Run by the durability and concurrency tests with ``sys.executable``::

    python _writer_proc.py DB [--producers N] [--seconds S]

Prints ``ready`` once the writer runs, then one event id per line, each flushed only after
its write was acknowledged. With ``--seconds 0`` it writes until killed; otherwise it stops
after that long and exits 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anyio

from actors import Mailbox
from metawsm.store import NewEvent, StoreClient, StoreWriter, Write


async def main(db: Path, producers: int, seconds: float) -> None:
    mailbox: Mailbox[Write] = Mailbox("store-writer", 1024)
    async with anyio.create_task_group() as tg:
        await tg.start(StoreWriter(db).run, mailbox)
        client = StoreClient(mailbox.ref)
        print("ready", flush=True)

        async def produce(n: int) -> None:
            i = 0
            while True:
                i += 1
                event = NewEvent("proc", "run", "proc", "note", message=f"{n}-{i}")
                event_id = await client.append_event(event)
                sys.stdout.write(f"{event_id}\n")
                sys.stdout.flush()

        with anyio.move_on_after(seconds if seconds > 0 else None):
            async with anyio.create_task_group() as writers:
                for n in range(producers):
                    writers.start_soon(produce, n)
        mailbox.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("db", type=Path)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=0.0)
    args = parser.parse_args()
    anyio.run(main, args.db, args.producers, args.seconds, backend="asyncio")
