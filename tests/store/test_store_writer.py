"""The store writer: batches concurrent writes into few transactions, answers only after
commit, fails a bad request alone, and refuses writes once stopped."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from actors import Mailbox
from metawsm.errors import StoreClosedError, StoreError, StoreNewerError, TransitionError
from metawsm.hsm import EntityKind
from metawsm.store import ops
from metawsm.store.client import DirectStore, StoreClient
from metawsm.store.db import connect
from metawsm.store.ops import WriteResult
from metawsm.store.records import NewEvent
from metawsm.store.schema import LATEST_VERSION, schema_version
from metawsm.store.writer import StoreWriter, Write, WriterStats, commit_batch
from tests.store._support import count, holding_write_lock

pytestmark = pytest.mark.anyio


@dataclass
class Running:
    client: StoreClient
    writer: StoreWriter
    mailbox: Mailbox[Write]

    @property
    def stats(self) -> WriterStats:
        return self.writer.stats


@asynccontextmanager
async def running_writer(path: Path, *, max_batch: int = 500) -> AsyncIterator[Running]:
    writer = StoreWriter(path, max_batch=max_batch)
    mailbox: Mailbox[Write] = Mailbox("store-writer", 1024)
    async with anyio.create_task_group() as tg:
        await tg.start(writer.run, mailbox)
        try:
            yield Running(StoreClient(mailbox.ref, timeout=20), writer, mailbox)
        finally:
            mailbox.close()  # the writer sees its inbox end and returns


def note(i: int, run_id: str = "r1") -> NewEvent:
    return NewEvent(run_id, "run", run_id, "note", message=f"note {i}")


async def test_the_writer_migrates_the_database_when_it_starts(db_path: Path) -> None:
    async with running_writer(db_path):
        pass
    conn = connect(db_path)
    assert schema_version(conn) == LATEST_VERSION
    conn.close()


async def test_a_writer_refuses_to_start_on_a_newer_database(db_path: Path) -> None:
    conn = connect(db_path)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    mailbox: Mailbox[Write] = Mailbox("store-writer", 8)
    try:
        with pytest.raises(StoreNewerError, match="newer than this metawsm"):
            await StoreWriter(db_path).run(mailbox, task_status=anyio.TASK_STATUS_IGNORED)
    finally:
        mailbox.close()


async def test_concurrent_writes_share_transactions(db_path: Path) -> None:
    async with running_writer(db_path) as store:
        ids: list[int] = []

        async def produce(i: int) -> None:
            ids.append(await store.client.append_event(note(i)))

        async with anyio.create_task_group() as tg:
            # Hold the lock as another process would. The first write takes it and waits in
            # its transaction; every write sent meanwhile queues and must go out together.
            with holding_write_lock(db_path):
                tg.start_soon(produce, 0)
                await _until(lambda: store.stats.requests == 0 and store.mailbox.queued() == 0)
                await anyio.sleep(0.05)
                for i in range(1, 201):
                    tg.start_soon(produce, i)
                await _until(lambda: store.mailbox.queued() == 200)
        assert sorted(ids) == list(range(1, 202))
        assert store.stats.requests == 201
        assert store.stats.transactions == 2
        assert store.stats.largest_batch == 200


async def test_a_batch_is_bounded_by_max_batch(db_path: Path) -> None:
    async with running_writer(db_path, max_batch=7) as store:
        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(store.client.append_event, note(i))
        assert store.stats.requests == 50
        assert store.stats.largest_batch <= 7
        assert store.stats.transactions >= 50 // 7


async def test_a_reply_means_the_write_is_committed(db_path: Path) -> None:
    async with running_writer(db_path) as store:
        # A separate connection sees only committed rows: each acknowledged id must be there.
        fresh = sqlite3.connect(db_path, check_same_thread=False)
        missing: list[int] = []

        async def produce(i: int) -> None:
            event_id = await store.client.append_event(note(i))
            seen = fresh.execute("SELECT count(*) FROM events WHERE id = ?", (event_id,))
            if seen.fetchone() != (1,):
                missing.append(event_id)

        async with anyio.create_task_group() as tg:
            for i in range(300):
                tg.start_soon(produce, i)
        fresh.close()
        assert missing == []
        assert store.stats.transactions < 300


async def test_a_failing_request_fails_alone_in_its_batch(db_path: Path) -> None:
    async with running_writer(db_path) as store:
        await store.client.write(*ops.create_run("r1", spec_json="{}", policy_json="{}"))
        outcomes: dict[str, object] = {}

        async def attempt(name: str, *write: ops.AnyOp) -> None:
            try:
                outcomes[name] = await store.client.write(*write)
            except StoreError as exc:
                outcomes[name] = exc

        before = store.stats.transactions
        async with anyio.create_task_group() as tg:
            with holding_write_lock(db_path):
                tg.start_soon(attempt, "plug", ops.append_event(note(0)))
                await _until(lambda: store.mailbox.queued() == 0)
                await anyio.sleep(0.05)
                tg.start_soon(attempt, "good-1", ops.append_event(note(1)))
                duplicate = ops.create_run("r1", spec_json="{}", policy_json="{}")
                tg.start_soon(attempt, "duplicate", ops.append_event(note(2)), *duplicate)
                tg.start_soon(attempt, "good-2", ops.append_event(note(3)))
                await _until(lambda: store.mailbox.queued() == 3)
        assert store.stats.transactions - before == 2  # the plug, then the three together
        assert isinstance(outcomes["good-1"], WriteResult)
        assert isinstance(outcomes["good-2"], WriteResult)
        failed = outcomes["duplicate"]
        assert isinstance(failed, StoreError)
        assert "UNIQUE constraint failed: runs.run_id" in failed.message
        # The failed write's event was rolled back with it; its neighbours committed.
        messages = {m for (m,) in sqlite3.connect(db_path).execute("SELECT message FROM events")}
        assert messages == {"note 0", "note 1", "note 3"}
        assert store.stats.failed_requests == 1


def test_commit_batch_returns_one_outcome_per_write(conn: sqlite3.Connection) -> None:
    bad = (ops.Op("INSERT INTO no_such_table VALUES (?)", (1,)),)
    good = (ops.append_event(note(1)),)
    outcomes = commit_batch(conn, [good, bad, TypeError("not a write"), good], "test.db")
    assert isinstance(outcomes[0], WriteResult)
    assert isinstance(outcomes[1], StoreError) and "no such table" in outcomes[1].message
    assert isinstance(outcomes[2], TypeError)
    assert isinstance(outcomes[3], WriteResult)
    assert conn.execute("SELECT count(*) FROM events").fetchone() == (2,)
    assert not conn.in_transaction


async def test_an_illegal_transition_raises_transition_error(db_path: Path) -> None:
    async with running_writer(db_path) as store:
        await store.client.write(*ops.create_run("r1", spec_json="{}", policy_json="{}"))
        with pytest.raises(TransitionError, match="illegal run transition created -> closed"):
            await store.client.transition(EntityKind.RUN, "r1", "created", "closed", run_id="r1")
        assert count(db_path, "events") == 0


async def test_a_transition_lost_to_another_writer_raises_transition_error(
    db_path: Path,
) -> None:
    async with running_writer(db_path) as store:
        await store.client.write(*ops.create_run("r1", spec_json="{}", policy_json="{}"))
        # Another process (a CLI command) moves the run first.
        with DirectStore(db_path) as other:
            await other.transition(EntityKind.RUN, "r1", "created", "planning", run_id="r1")
        with pytest.raises(TransitionError, match="changed concurrently"):
            await store.client.transition(EntityKind.RUN, "r1", "created", "planning", run_id="r1")
        assert count(db_path, "events", "event_type = 'transition'") == 1


async def test_writes_to_a_stopped_writer_raise_store_closed(db_path: Path) -> None:
    async with running_writer(db_path) as store:
        await store.client.append_event(note(1))
    with pytest.raises(StoreClosedError, match="stopped"):
        await store.client.append_event(note(2))
    assert count(db_path, "events") == 1


async def test_a_stopped_writer_answers_the_writes_still_queued(db_path: Path) -> None:
    errors: list[BaseException] = []
    async with running_writer(db_path) as store:

        async def produce(i: int) -> None:
            try:
                await store.client.append_event(note(i))
            except StoreClosedError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            with holding_write_lock(db_path):
                tg.start_soon(produce, 0)
                await _until(lambda: store.mailbox.queued() == 0)
                await anyio.sleep(0.05)
                for i in range(1, 21):
                    tg.start_soon(produce, i)
                await _until(lambda: store.mailbox.queued() == 20)
                store.mailbox.close()  # what a supervisor does when it stops the writer
    # The batch in flight committed once the lock was free; every queued caller was told.
    assert count(db_path, "events") == 1
    assert len(errors) == 20


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for state owned by other tasks (an inbox's length); nothing signals it."""
    with anyio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110 - no event exists for these conditions
            await anyio.sleep(0.005)
