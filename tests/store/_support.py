"""Helpers shared by the store's tests: lock holders, row counts, a line reader for child
processes."""

from __future__ import annotations

import queue
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def holding_write_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Hold the database's write lock (as another process would) until the block ends."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield other
        other.execute("COMMIT")
    finally:
        other.close()


def count(path: Path, table: str, where: str = "", params: tuple[object, ...] = ()) -> int:
    """Rows of ``table`` seen by a fresh connection (so only committed rows)."""
    fresh = sqlite3.connect(path)
    try:
        sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
        return int(fresh.execute(sql, params).fetchone()[0])
    finally:
        fresh.close()


class LineReader:
    """Reads a child's stdout lines on a thread, so the test can wait with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def next_line(self, deadline: float) -> str | None:
        """The next line, ``None`` at end of output; raises ``TimeoutError`` past ``deadline``."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no output from the child process in time")
        try:
            return self._lines.get(timeout=remaining)
        except queue.Empty as exc:
            raise TimeoutError("no output from the child process in time") from exc

    def rest(self, timeout: float = 10.0) -> list[str]:
        """Every remaining line up to end of output."""
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while (line := self.next_line(deadline)) is not None:
            lines.append(line)
        return lines
