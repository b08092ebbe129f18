"""The SQLite store: schema, the single writer, and readers.

Design, in four rules:

1. **One writer per process.** Inside ``metawsm serve`` every write goes to the
   :class:`StoreWriter` actor as a request (through :class:`StoreClient`). It drains its inbox
   into batches and commits each batch in one short ``BEGIN IMMEDIATE`` transaction in a worker
   thread, each request in its own savepoint so a failing request fails alone. Under load many
   producers share a transaction, so throughput grows with load instead of being bound by one
   commit per write.
2. **Acknowledged means committed.** A request is answered only after its transaction
   committed, so an acknowledged write survives a crash of the process (WAL +
   ``synchronous=NORMAL``: a power loss may still undo the last few commits).
3. **Writes are data, values are bind parameters.** A write is a tuple of :class:`Op` /
   :class:`ManyOp`; the builders in :mod:`metawsm.store.ops` produce them, and a state change is
   a checked compare-and-swap plus its event, in the same write.
4. **Readers and other processes use their own connections.** :class:`Reader` reads over a
   read-only connection (WAL: readers never wait for the writer). A CLI command that writes
   while no supervisor runs uses :class:`DirectStore`; a second process writing at the same
   time waits for the lock (busy timeout plus a bounded retry), it never fails with
   "database is locked".

Errors: :class:`~metawsm.errors.StoreError` (cannot open, migrate or write),
:class:`~metawsm.errors.StoreNewerError` (the file is from a newer metawsm),
:class:`~metawsm.errors.StoreClosedError` (the writer stopped),
:class:`~metawsm.errors.TransitionError` (an illegal or concurrently lost state change).
"""

from metawsm.store.client import (
    DEFAULT_WRITE_TIMEOUT,
    DirectStore,
    StoreClient,
    StoreWrites,
    WriteHelpers,
)
from metawsm.store.db import (
    BUSY_TIMEOUT_MS,
    DEFAULT_DB_PATH,
    WRITE_RETRY_SECONDS,
    connect,
    format_utc,
    utc_now,
    write_transaction,
)
from metawsm.store.ops import AnyOp, Apply, ManyOp, Op, WriteResult, execute_ops
from metawsm.store.reader import Reader
from metawsm.store.records import (
    AgentRecord,
    DocSyncRecord,
    EventRecord,
    GuidanceRecord,
    NewEvent,
    RunRecord,
    StepRecord,
)
from metawsm.store.schema import (
    LATEST_VERSION,
    MIGRATIONS,
    Migration,
    MigrationReport,
    migrate,
    schema_version,
)
from metawsm.store.writer import StoreWriter, Write, WriterStats

__all__ = [
    "BUSY_TIMEOUT_MS",
    "DEFAULT_DB_PATH",
    "DEFAULT_WRITE_TIMEOUT",
    "LATEST_VERSION",
    "MIGRATIONS",
    "WRITE_RETRY_SECONDS",
    "AgentRecord",
    "AnyOp",
    "Apply",
    "DirectStore",
    "DocSyncRecord",
    "EventRecord",
    "GuidanceRecord",
    "ManyOp",
    "Migration",
    "MigrationReport",
    "NewEvent",
    "Op",
    "Reader",
    "RunRecord",
    "StepRecord",
    "StoreClient",
    "StoreWriter",
    "StoreWrites",
    "Write",
    "WriteHelpers",
    "WriteResult",
    "WriterStats",
    "connect",
    "execute_ops",
    "format_utc",
    "migrate",
    "schema_version",
    "utc_now",
    "write_transaction",
]
