"""The store across processes: an acknowledged write survives ``kill -9``, and two processes
writing one database at once never see "database is locked"."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from metawsm.store.client import DirectStore
from metawsm.store.ops import append_event
from metawsm.store.records import NewEvent
from tests.store._support import LineReader

WRITER_PROC = Path(__file__).with_name("_writer_proc.py")


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    """Started child processes; whatever is still running at the end is killed."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def start_writer(
    procs: list[subprocess.Popen[str]], db: Path, *args: str
) -> tuple[subprocess.Popen[str], LineReader]:
    proc = subprocess.Popen(
        [sys.executable, str(WRITER_PROC), str(db), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs.append(proc)
    lines = LineReader(proc)
    assert lines.next_line(time.monotonic() + 15) == "ready"
    return proc, lines


def present_ids(db: Path) -> set[int]:
    conn = sqlite3.connect(db)
    try:
        return {i for (i,) in conn.execute("SELECT id FROM events")}
    finally:
        conn.close()


def test_every_acknowledged_write_survives_kill_9(
    db_path: Path, spawn: list[subprocess.Popen[str]]
) -> None:
    acked: list[int] = []
    # Three rounds on one file: each writer also starts on the file the last one left behind.
    for _round in range(3):
        proc, lines = start_writer(spawn, db_path, "--producers", "8")
        deadline = time.monotonic() + 15
        target = len(acked) + 300
        while len(acked) < target:
            line = lines.next_line(deadline)
            assert line is not None, "the writer process ended early"
            acked.append(int(line))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        # Lines printed between our last read and the kill are acknowledged too.
        acked.extend(int(line) for line in lines.rest())

    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    missing = set(acked) - present_ids(db_path)
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    assert len(set(acked)) == len(acked)


def test_two_processes_writing_at_once_never_see_a_locked_database(
    db_path: Path, spawn: list[subprocess.Popen[str]]
) -> None:
    proc, lines = start_writer(spawn, db_path, "--producers", "4", "--seconds", "2.5")
    mine: list[int] = []
    errors: list[BaseException] = []

    def write_directly() -> None:
        # A CLI command writing while the supervisor writes: one transaction per write.
        try:
            with DirectStore(db_path) as direct:
                stop = time.monotonic() + 2.0
                while time.monotonic() < stop:
                    event = NewEvent("cli", "run", "cli", "note")
                    rowid = direct.write_sync(append_event(event)).last_rowid
                    assert rowid is not None
                    mine.append(rowid)
        except BaseException as exc:
            errors.append(exc)

    direct = threading.Thread(target=write_directly, daemon=True)
    direct.start()
    direct.join(timeout=20)
    assert not direct.is_alive()
    theirs = [int(line) for line in lines.rest(timeout=20)]
    proc.wait(timeout=10)
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    assert errors == []
    assert proc.returncode == 0, stderr
    assert "locked" not in stderr
    # Both really wrote, interleaved, and every acknowledged id of both is there.
    assert len(mine) > 50 and len(theirs) > 50
    assert min(theirs) < max(mine) and min(mine) < max(theirs)
    assert set(mine) | set(theirs) <= present_ids(db_path)
    assert set(mine).isdisjoint(theirs)
