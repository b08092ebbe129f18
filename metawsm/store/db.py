"""Opening the SQLite file, UTC timestamps, and write transactions that outlast a busy peer.

Every connection metawsm opens goes through :func:`connect`, so every one of them has the same
pragmas: WAL (readers never block the writer and the writer never blocks readers),
``synchronous=NORMAL`` (a commit survives a crash of the process; a power loss may undo the last
few commits, which is what WAL + NORMAL trades for a commit that costs no fsync), a busy timeout,
and foreign keys on. Connections use explicit transactions (``isolation_level=None``): the
``sqlite3`` module's implicit ``BEGIN`` would hide where a transaction starts and ends.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from metawsm.errors import StoreError

T = TypeVar("T")

#: Where the store lives, relative to the directory metawsm runs in (the metawsm root).
DEFAULT_DB_PATH = ".metawsm/metawsm.db"
#: How long one statement waits for another connection's lock before SQLite reports busy.
BUSY_TIMEOUT_MS = 5000
#: How long :func:`write_transaction` keeps retrying a busy ``BEGIN IMMEDIATE`` in total.
WRITE_RETRY_SECONDS = 30.0

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_FIRST_BACKOFF = 0.005
_MAX_BACKOFF = 0.5


def utc_now() -> str:
    """The current UTC time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.

    Always 27 characters, so comparing two stamps as strings compares them as times (the
    original mixed local-time, second-precision stamps and ordered them as strings).
    """
    return format_utc(datetime.now(UTC))


def format_utc(moment: datetime) -> str:
    """Format an aware datetime the way :func:`utc_now` does."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no time zone; pass an aware one")
    # isoformat always writes six fraction digits with timespec="microseconds", and is
    # about a third faster than strftime (every event carries a stamp). Drop "+00:00".
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def connect(
    path: str | Path,
    *,
    readonly: bool = False,
    check_same_thread: bool = True,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
) -> sqlite3.Connection:
    """Open the database at ``path`` with metawsm's pragmas.

    A writable connection creates the parent folder and the file when missing and switches the
    file to WAL. A ``readonly`` connection opens an existing file through a ``mode=ro`` URI and
    cannot write, whatever SQL it is given. Raises :class:`StoreError` when the file cannot be
    opened or is not a SQLite database.
    """
    db = Path(path)
    try:
        if readonly:
            if not db.exists():
                raise StoreError(
                    f"no database at {db}", hint="run `metawsm db migrate` to create it"
                )
            conn = sqlite3.connect(
                f"{db.resolve().as_uri()}?mode=ro",
                uri=True,
                isolation_level=None,
                check_same_thread=check_same_thread,
                timeout=busy_timeout_ms / 1000,
            )
        else:
            db.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                db,
                isolation_level=None,
                check_same_thread=check_same_thread,
                timeout=busy_timeout_ms / 1000,
            )
    except OSError as exc:
        raise StoreError(f"cannot open database {db}: {exc.strerror or exc}") from exc
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open database {db}: {exc}") from exc
    try:
        # busy_timeout is a plain integer we own; PRAGMA takes no bind parameters.
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA foreign_keys = ON")
        # Reading the schema is the first real access: a file that is not SQLite fails here.
        retry_busy(conn, lambda c: c.execute("SELECT count(*) FROM sqlite_schema").fetchone())
        if not readonly:
            conn.execute("PRAGMA synchronous = NORMAL")
            retry_busy(conn, _enable_wal)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if "not a database" in str(exc) or "malformed" in str(exc):
            raise StoreError(
                f"{db} is not a SQLite database ({exc})",
                hint="point --db at a metawsm database, or move that file away",
            ) from exc
        raise StoreError(f"cannot open database {db}: {exc}") from exc
    return conn


def _enable_wal(conn: sqlite3.Connection) -> None:
    # journal_mode is stored in the file, so only its first connection has to switch it. The
    # switch needs an exclusive lock and SQLite reports busy at once (no busy_timeout wait) when
    # another connection is opening the same new file: hence the check and the retry.
    (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    if str(mode).lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")


def db_label(conn: sqlite3.Connection) -> str:
    """The file behind ``conn`` (for error messages), or ``:memory:``."""
    try:
        for _seq, name, file in conn.execute("PRAGMA database_list"):
            if name == "main":
                return str(file) or ":memory:"
    except sqlite3.Error:
        pass
    return "the database"


def is_busy(exc: BaseException) -> bool:
    """True when ``exc`` is SQLite saying another connection holds the lock."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        # Extended codes (SQLITE_BUSY_SNAPSHOT, ...) keep the primary code in the low byte.
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    text = str(exc)
    return "database is locked" in text or "database is busy" in text


def write_transaction(
    conn: sqlite3.Connection,
    body: Callable[[sqlite3.Connection], T],
    *,
    retry_for: float = WRITE_RETRY_SECONDS,
) -> T:
    """Run ``body(conn)`` in one ``BEGIN IMMEDIATE`` transaction and commit it.

    ``BEGIN IMMEDIATE`` takes the write lock up front, so once it succeeds nothing in ``body``
    can meet a busy peer. When another process holds the lock, SQLite already waits
    ``busy_timeout``; on top of that the ``BEGIN`` is retried with exponential backoff for
    ``retry_for`` seconds in total, and only then does the caller see a :class:`StoreError`
    naming the database, never "database is locked". An exception from ``body`` rolls the
    transaction back and propagates unchanged. This blocks: call it from a worker thread in
    async code.
    """
    try:
        retry_busy(conn, lambda c: c.execute("BEGIN IMMEDIATE"), retry_for=retry_for)
    except sqlite3.OperationalError as exc:
        raise StoreError(f"cannot start a write on {db_label(conn)}: {exc}") from exc
    try:
        result = body(conn)
        retry_busy(conn, _commit, retry_for=retry_for)
    except BaseException:
        rollback_quietly(conn)
        raise
    return result


def rollback_quietly(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if any; a failing rollback must not mask the cause."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def retry_busy(
    conn: sqlite3.Connection,
    action: Callable[[sqlite3.Connection], T],
    *,
    retry_for: float = WRITE_RETRY_SECONDS,
) -> T:
    """Run ``action(conn)``, retrying with exponential backoff for ``retry_for`` seconds in
    total while SQLite reports busy; then raise :class:`StoreError` naming the database. Other
    errors propagate at once."""
    deadline = time.monotonic() + retry_for
    delay = _FIRST_BACKOFF
    while True:
        try:
            return action(conn)
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            delay = _wait_or_give_up(conn, exc, deadline, delay, retry_for)


def _commit(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        # A busy COMMIT leaves the transaction open and may simply be retried (SQLite docs).
        if is_busy(exc) and conn.in_transaction:
            raise
        raise StoreError(f"commit to {db_label(conn)} failed: {exc}") from exc


def _wait_or_give_up(
    conn: sqlite3.Connection, exc: Exception, deadline: float, delay: float, retry_for: float
) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise StoreError(
            f"database {db_label(conn)} stayed locked by another writer for {retry_for:g}s",
            hint="another process is writing to it; retry, or stop that process",
        ) from exc
    time.sleep(min(delay, remaining))
    return min(delay * 2, _MAX_BACKOFF)
