"""Connections, timestamps and write transactions: the pragmas every connection gets, UTC
stamps that sort as times, and a busy peer that is waited out instead of surfacing as
"database is locked"."""

from __future__ import annotations

import re
import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from metawsm.errors import StoreError
from metawsm.store.db import connect, format_utc, utc_now, write_transaction
from tests.store._support import holding_write_lock

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_utc_now_is_fixed_width_iso_8601_in_utc() -> None:
    stamp = utc_now()
    assert STAMP.match(stamp), stamp
    parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(parsed - datetime.now(UTC)) < timedelta(seconds=5)


def test_stamps_sort_as_strings_in_time_order() -> None:
    zones = [timezone(timedelta(hours=h)) for h in (-8, 0, 2, 14)]
    base = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    moments = [
        (base + timedelta(microseconds=step * 999_983)).astimezone(zones[step % len(zones)])
        for step in range(200)
    ]
    stamps = [format_utc(m) for m in moments]
    assert all(len(s) == 27 and STAMP.match(s) for s in stamps)
    assert sorted(stamps) == [format_utc(m) for m in sorted(moments)]
    consecutive = [utc_now() for _ in range(1000)]
    assert consecutive == sorted(consecutive)


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_utc(datetime(2026, 1, 1))


def test_connect_sets_wal_normal_sync_busy_timeout_and_foreign_keys(db_path: Path) -> None:
    conn = connect(db_path)
    assert db_path.parent.is_dir()
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (5000,)
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert conn.isolation_level is None  # explicit transactions only
    conn.close()


def test_a_readonly_connection_cannot_write(db_path: Path) -> None:
    connect(db_path).close()
    ro = connect(db_path, readonly=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.execute("CREATE TABLE t (x)")
    ro.close()


def test_a_readonly_connection_to_a_missing_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as caught:
        connect(tmp_path / "missing.db", readonly=True)
    assert "no database at" in caught.value.message
    assert caught.value.hint and "db migrate" in caught.value.hint
    assert not (tmp_path / "missing.db").exists()


@pytest.mark.parametrize("readonly", [False, True])
def test_a_file_that_is_not_sqlite_is_a_store_error(tmp_path: Path, readonly: bool) -> None:
    junk = tmp_path / "notes.db"
    junk.write_text("these are my notes, not a database\n" * 50)
    with pytest.raises(StoreError, match="is not a SQLite database"):
        connect(junk, readonly=readonly)


def test_write_transaction_commits_the_body(conn: sqlite3.Connection, db_path: Path) -> None:
    conn.execute("CREATE TABLE t (x INTEGER)")
    result = write_transaction(conn, lambda c: c.execute("INSERT INTO t VALUES (1)").lastrowid)
    assert result == 1
    assert not conn.in_transaction
    assert sqlite3.connect(db_path).execute("SELECT x FROM t").fetchall() == [(1,)]


def test_write_transaction_rolls_back_when_the_body_raises(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE t (x INTEGER)")

    def body(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError, match="changed my mind"):
        write_transaction(conn, body)
    assert not conn.in_transaction
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_write_transaction_retries_while_another_writer_holds_the_lock(db_path: Path) -> None:
    # A short busy_timeout makes the retry loop, not SQLite's own wait, do the waiting.
    conn = connect(db_path, busy_timeout_ms=10, check_same_thread=False)
    conn.execute("CREATE TABLE t (x INTEGER)")
    errors: list[BaseException] = []
    done = threading.Event()

    def write() -> None:
        try:
            write_transaction(conn, lambda c: c.execute("INSERT INTO t VALUES (1)"))
        except BaseException as exc:
            errors.append(exc)
        done.set()

    with holding_write_lock(db_path):
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        # Far longer than busy_timeout: only the retry loop keeps the write alive.
        assert not done.wait(0.5)
    writer.join(timeout=10)
    assert not writer.is_alive()
    assert errors == []
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    conn.close()


def test_a_lock_held_past_the_bound_is_a_clear_store_error(db_path: Path) -> None:
    conn = connect(db_path, busy_timeout_ms=10)
    with holding_write_lock(db_path), pytest.raises(StoreError) as caught:
        write_transaction(conn, lambda c: None, retry_for=0.2)
    message = caught.value.message
    assert str(db_path) in message
    assert "stayed locked by another writer for 0.2s" in message
    assert "database is locked" not in message
    assert not conn.in_transaction
    conn.close()
