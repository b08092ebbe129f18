"""Store writer throughput: events/s through the StoreWriter actor beside raw sqlite3.

Side by side in one run, same schema, same row shape, same pragmas (WAL, synchronous=NORMAL):

- **raw**: one thread, stdlib ``sqlite3``, ``executemany`` of 500 rows per transaction: the
  physical floor (``deps-spike.md`` §5), with no requests, replies or event loop;
- **writer**: N producer tasks, each sending requests of K events to a supervised
  :class:`~metawsm.store.StoreWriter` through :class:`~metawsm.store.StoreClient` and awaiting
  the acknowledgement (so at most N requests are in flight);
- **direct**: one :class:`~metawsm.store.DirectStore` write (one transaction) per request, to
  show what batching buys.

Every path starts from the same prebuilt event objects and turns them into rows inside its
timing, so the figures compare writing, not building the data.

Run: ``.venv/bin/python -m tests.bench.bench_store`` (or ``make bench`` for every benchmark).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import anyio

from actors import Supervisor
from metawsm.store import DirectStore, NewEvent, StoreClient, StoreWriter, WriterStats
from metawsm.store.db import connect, utc_now
from metawsm.store.ops import append_event, append_events
from metawsm.store.schema import migrate

REPEATS = 5
RAW_ROWS = 200_000
RAW_ROWS_PER_TXN = 500
#: (producers, events per request, total events) for the writer runs.
WRITER_CASES = [(8, 1, 20_000), (64, 1, 40_000), (8, 50, 200_000), (64, 50, 400_000)]
DIRECT_EVENTS = 3_000

_INSERT = (
    "INSERT INTO events (run_id, entity_type, entity_id, event_type, from_state, to_state,"
    " message, created_at, generation, payload_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _event(i: int) -> NewEvent:
    # About 80 bytes of payload per row, as in the spike.
    return NewEvent("run-0001", "agent", "coder@ws-1", "observed", message=f"observation {i:08d}")


def _fresh_db(folder: Path, name: str) -> Path:
    path = folder / f"{name}.db"
    conn = connect(path)
    migrate(conn)
    conn.close()
    return path


def _raw(folder: Path) -> float:
    path = _fresh_db(folder, "raw")
    conn = connect(path)
    events = [_event(i) for i in range(RAW_ROWS)]
    started = time.perf_counter()
    for first in range(0, RAW_ROWS, RAW_ROWS_PER_TXN):
        now = utc_now()
        rows = [
            (
                e.run_id,
                e.entity_type,
                e.entity_id,
                e.event_type,
                e.from_state,
                e.to_state,
                e.message,
                now,
                e.generation,
                e.payload_json,
            )
            for e in events[first : first + RAW_ROWS_PER_TXN]
        ]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_INSERT, rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return RAW_ROWS / elapsed


async def _writer(folder: Path, producers: int, per_request: int, total: int) -> tuple[float, int]:
    path = _fresh_db(folder, f"writer-{producers}-{per_request}")
    stats = WriterStats()
    spec = StoreWriter.child_spec(path, stats=stats)
    assert spec.mailbox is not None
    client = StoreClient(spec.mailbox.ref)
    sup = Supervisor("bench", [spec])
    requests_each = total // per_request // producers
    events = [_event(i) for i in range(requests_each * producers * per_request)]

    async def produce(n: int) -> None:
        for r in range(requests_each):
            first = (n * requests_each + r) * per_request
            if per_request == 1:
                await client.write(append_event(events[first]))
            else:
                await client.write(append_events(events[first : first + per_request]))

    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        started = time.perf_counter()
        async with anyio.create_task_group() as work:
            for n in range(producers):
                work.start_soon(produce, n)
        elapsed = time.perf_counter() - started
        await sup.stop()
    return len(events) / elapsed, stats.transactions


async def _direct(folder: Path) -> float:
    path = _fresh_db(folder, "direct")
    events = [_event(i) for i in range(DIRECT_EVENTS)]
    async with DirectStore(path) as store:
        started = time.perf_counter()
        for event in events:
            await store.write(append_event(event))
        elapsed = time.perf_counter() - started
    return DIRECT_EVENTS / elapsed


def _median(samples: list[float]) -> float:
    return statistics.median(samples)


def _repeat(fn: Callable[[Path], float]) -> float:
    samples = []
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory() as folder:
            samples.append(fn(Path(folder)))
    return _median(samples)


def main() -> None:
    print(
        f"{REPEATS} repeats each, medians; a fresh database per repeat. Raw: {RAW_ROWS:,} rows,"
        f" executemany {RAW_ROWS_PER_TXN}/txn. Writer: asyncio, StoreWriter under a Supervisor."
    )
    print()
    print("| path | producers × events/request | events/s | events/txn | writer/raw |")
    print("|---|---|---|---|---|")
    raw = _repeat(_raw)
    print(
        f"| raw sqlite3 executemany | 1 thread × {RAW_ROWS_PER_TXN}/txn | {raw:,.0f} | "
        f"{RAW_ROWS_PER_TXN} | 1.00 |",
        flush=True,
    )
    for producers, per_request, total in WRITER_CASES:
        rates: list[float] = []
        per_txn: list[float] = []
        for _ in range(REPEATS):
            with tempfile.TemporaryDirectory() as folder:
                rate, transactions = anyio.run(
                    _writer, Path(folder), producers, per_request, total, backend="asyncio"
                )
            rates.append(rate)
            per_txn.append(total / max(transactions, 1))
        rate = _median(rates)
        print(
            f"| StoreWriter | {producers} × {per_request} | {rate:,.0f} | "
            f"{_median(per_txn):,.0f} | {rate / raw:.2f} |",
            flush=True,
        )
    direct = _repeat(lambda folder: anyio.run(_direct, folder, backend="asyncio"))
    print(f"| DirectStore, txn per write | 1 × 1 | {direct:,.0f} | 1 | {direct / raw:.2f} |")


if __name__ == "__main__":
    main()
