"""The store writer: the one actor in a process that writes SQLite.

It takes a :class:`Write` request, drains whatever else is already queued (up to
``max_batch``), and executes the whole batch in one short ``BEGIN IMMEDIATE`` transaction in a
worker thread. Inside it every request has its own ``SAVEPOINT``, so a request that fails
(a constraint, a lost compare-and-swap) is rolled back alone and its caller gets the error,
while the rest of the batch commits. Replies go out only after ``COMMIT`` returns: an
acknowledged write is in the WAL and survives a crash of the process.

One thread hop and one commit per batch is what makes it fast: under load, many producers
share each transaction instead of paying for one each (``deps-spike.md`` §5: stdlib
``sqlite3`` behind a one-slot :class:`anyio.CapacityLimiter` is as fast as aiosqlite, runs on
trio as well, and has no "cancelled query keeps running" trap).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import anyio
from anyio.abc import TaskStatus

from actors import Actor, ChildSpec
from actors.actor import ON_STOP_TIMEOUT
from actors.mailbox import Call, Mailbox
from metawsm.errors import StoreClosedError, StoreError, TransitionError
from metawsm.store.db import WRITE_RETRY_SECONDS, connect, db_label, write_transaction
from metawsm.store.ops import AnyOp, WriteResult, execute_ops
from metawsm.store.schema import migrate

log = logging.getLogger(__name__)

#: Requests per transaction at most; bounds the time one transaction holds the write lock.
DEFAULT_MAX_BATCH = 500
#: Inbox size of :meth:`StoreWriter.child_spec`: room for a full batch to queue up while the
#: previous one commits.
DEFAULT_WRITER_INBOX = 1024
#: Shutdown grace of :meth:`StoreWriter.child_spec`. A batch in flight is never abandoned
#: (see :meth:`StoreWriter._commit`), and it can wait up to the busy-retry bound for a lock
#: held by another process; the grace covers that.
WRITER_SHUTDOWN_GRACE = WRITE_RETRY_SECONDS + 5.0

_SAVEPOINT = "metawsm_write"


@dataclass(frozen=True, slots=True)
class Write:
    """A request to the writer: ``ops`` executed atomically. The reply is a
    :class:`~metawsm.store.ops.WriteResult` or the exception that failed this write alone."""

    ops: tuple[AnyOp, ...]


#: The reply to a :class:`Write`. A failed write is a value, not a raised error, because it is
#: not a crash of the writer (the kernel turns raised errors into ``ActorCrashed``).
Outcome: TypeAlias = WriteResult | Exception


@dataclass
class WriterStats:
    """Counters kept across restarts (pass the same object to every incarnation)."""

    transactions: int = 0  #: batches committed, one transaction each
    requests: int = 0  #: writes executed, committed or failed
    failed_requests: int = 0  #: writes that failed alone (their caller got the error)
    failed_batches: int = 0  #: transactions that could not commit (every caller got the error)
    largest_batch: int = 0
    unacknowledged: int = 0  #: plain sends executed without a caller to tell; a misuse


class StoreWriter(Actor[Write]):
    """The single SQLite writer of a process (see the module docstring).

    Opens its own connection and migrates the schema when it starts. Reach it through
    :class:`~metawsm.store.client.StoreClient`, which makes every write a request.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        stats: WriterStats | None = None,
        retry_for: float = WRITE_RETRY_SECONDS,
    ) -> None:
        super().__init__()
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.path = Path(path)
        self.max_batch = max_batch
        self.stats = stats if stats is not None else WriterStats()
        self._retry_for = retry_for
        self._conn: sqlite3.Connection | None = None
        self._label = str(self.path)
        # One slot: the connection is used by one thread at a time, batches never overlap.
        self._limiter = anyio.CapacityLimiter(1)

    @classmethod
    def child_spec(
        cls,
        path: str | Path,
        *,
        id: str = "store-writer",
        max_batch: int = DEFAULT_MAX_BATCH,
        inbox_size: int = DEFAULT_WRITER_INBOX,
        stats: WriterStats | None = None,
        **options: Any,
    ) -> ChildSpec:
        """A supervisor child running a writer on ``path``; ``spec.mailbox.ref`` reaches it."""
        shared = stats if stats is not None else WriterStats()
        options.setdefault("shutdown", WRITER_SHUTDOWN_GRACE)
        return cls.spec(
            id,
            lambda: cls(path, max_batch=max_batch, stats=shared),
            inbox_size=inbox_size,
            **options,
        )

    async def on_start(self) -> None:
        def open_and_migrate() -> sqlite3.Connection:
            conn = connect(self.path, check_same_thread=False)
            try:
                migrate(conn)
            except BaseException:
                conn.close()
                raise
            return conn

        self._conn = await anyio.to_thread.run_sync(open_and_migrate, limiter=self._limiter)
        self._label = db_label(self._conn)

    async def on_stop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await anyio.to_thread.run_sync(conn.close, limiter=self._limiter)

    async def handle(self, message: Write) -> Outcome:
        """Execute one write as a batch of one (the batching loop in :meth:`run` is the
        normal path; this keeps the base class contract)."""
        (outcome,) = await self._commit([message.ops])
        return outcome

    async def run(self, mailbox: Mailbox[Write], *, task_status: TaskStatus[Any]) -> None:
        """Serve ``mailbox`` in batches until :meth:`stop`, cancellation or a closed inbox."""
        self.ref = mailbox.ref
        receive = mailbox.receive
        try:
            await self.on_start()
            task_status.started()
            while not self._stop_requested:
                try:
                    batch = [await receive.receive()]
                except (anyio.EndOfStream, anyio.ClosedResourceError):
                    return
                # Take what is already queued, without waiting: under load the batch fills
                # itself while the previous transaction commits; when idle a write goes alone.
                while len(batch) < self.max_batch:
                    try:
                        batch.append(receive.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                        break
                await self._serve(batch)
        finally:
            with anyio.CancelScope(shield=True), self.clock.move_on_after(ON_STOP_TIMEOUT):
                await self.on_stop()

    async def _serve(self, batch: list[Write | Call[Write]]) -> None:
        writes: list[tuple[AnyOp, ...] | Exception] = []
        for item in batch:
            message = item.message if isinstance(item, Call) else item
            if isinstance(message, Write):
                writes.append(message.ops)
            else:
                writes.append(TypeError(f"the store writer takes Write, not {message!r}"))
        try:
            outcomes = await self._commit(writes)
        except anyio.get_cancelled_exc_class():
            # Cancelled before the thread started (the thread itself is never abandoned):
            # nothing of this batch was written, and these callers are out of the inbox, so
            # the inbox's close will not answer them. Tell them here.
            _answer_all(batch, StoreClosedError("the store writer stopped before this write"))
            raise
        except StoreError as exc:
            # The transaction as a whole could not commit (e.g. locked beyond the retry bound):
            # every write of the batch failed, the writer itself is fine.
            self.stats.failed_batches += 1
            outcomes = [exc] * len(batch)
        except Exception as exc:
            _answer_all(batch, StoreError(f"write to {self._label} failed: {exc!r}"))
            raise
        # Replies go out with send_nowait, with no checkpoint in between, so a cancellation
        # that arrived during the commit cannot come between the commit and its replies.
        for item, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                self.stats.failed_requests += 1
            if isinstance(item, Call):
                item.answer(outcome)
            else:
                self.stats.unacknowledged += 1
                if isinstance(outcome, Exception):
                    log.error("unacknowledged write to %s failed: %s", self._label, outcome)

    async def _commit(self, writes: Sequence[tuple[AnyOp, ...] | Exception]) -> list[Outcome]:
        conn = self._conn
        if conn is None:
            raise StoreClosedError(f"the store writer for {self._label} is not running")
        # The thread call is never abandoned on cancellation (anyio's default, kept on
        # purpose): an abandoned thread would hold the write lock and the connection with the
        # transaction's fate unknown, and its callers could not be told whether their write
        # committed. Waiting is bounded: one short batch, plus the busy-retry bound at worst.
        outcomes = await anyio.to_thread.run_sync(
            commit_batch, conn, writes, self._label, self._retry_for, limiter=self._limiter
        )
        self.stats.transactions += 1
        self.stats.requests += len(writes)
        self.stats.largest_batch = max(self.stats.largest_batch, len(writes))
        return outcomes


class _BatchAborted(Exception):
    """SQLite rolled back the whole transaction (I/O error, disk full): no write survives."""


def commit_batch(
    conn: sqlite3.Connection,
    writes: Sequence[tuple[AnyOp, ...] | Exception],
    label: str,
    retry_for: float = WRITE_RETRY_SECONDS,
) -> list[Outcome]:
    """Execute ``writes`` in one transaction, each inside its own savepoint; return one outcome
    per write. A write given as an exception is not executed and fails with it. Raises
    :class:`StoreError` when the transaction as a whole fails. Blocking: runs in a thread."""

    def body(c: sqlite3.Connection) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for ops in writes:
            if isinstance(ops, Exception):
                outcomes.append(ops)
                continue
            c.execute(f"SAVEPOINT {_SAVEPOINT}")
            try:
                outcomes.append(execute_ops(c, ops))
            except Exception as exc:
                if not c.in_transaction:
                    raise _BatchAborted(exc) from exc
                c.execute(f"ROLLBACK TO {_SAVEPOINT}")
                outcomes.append(_as_store_error(exc, label))
            c.execute(f"RELEASE {_SAVEPOINT}")
        return outcomes

    try:
        return write_transaction(conn, body, retry_for=retry_for)
    except _BatchAborted as exc:
        raise StoreError(f"write to {label} failed and was rolled back: {exc}") from exc
    except sqlite3.Error as exc:
        raise StoreError(f"write to {label} failed: {exc}") from exc


def _as_store_error(exc: Exception, label: str) -> Exception:
    if isinstance(exc, (TransitionError, StoreError)) or not isinstance(exc, sqlite3.Error):
        return exc
    error = StoreError(f"write to {label} failed: {exc}")
    error.__cause__ = exc
    return error


def _answer_all(batch: Sequence[Write | Call[Write]], error: Exception) -> None:
    for item in batch:
        if isinstance(item, Call):
            item.answer(error)
