"""``stat`` of many paths in ONE remote command, with nanosecond mtimes.

SFTP (protocol 3, what OpenSSH speaks) reports whole-second mtimes, so a signal file rewritten
with the same size within a second would look unchanged; GNU ``stat -c`` prints ``%.9Y``. The
paths travel on stdin, one a line, so none is ever part of a shell string; the output has one
line per path that exists (a path that is absent or cannot be stat-ed has none).
"""

from __future__ import annotations

import stat as stat_mod
from collections.abc import Sequence

from metawsm.hosts.base import FileStat

STAT_FORMAT = "%s %.9Y %f %n"
"""size, mtime with nanoseconds, raw mode (hex), name: the name last, as it may hold spaces."""


def stat_script(*, follow: bool) -> str:
    """``sh -c`` script: stat every path read from stdin, following links or not (lstat)."""
    link = "-L " if follow else ""
    return f"tr '\\n' '\\0' | xargs -0 -r stat {link}-c '{STAT_FORMAT}' -- 2>/dev/null; exit 0"


def paths_input(paths: Sequence[str]) -> bytes:
    """stdin of :func:`stat_script`: the paths, one a line (a path holding a newline is
    left out: it cannot be asked for this way, and it is reported absent)."""
    return "".join(f"{p}\n" for p in paths if "\n" not in p).encode("utf-8")


def parse_stat_lines(text: str, paths: Sequence[str]) -> dict[str, FileStat | None]:
    """Each of ``paths`` mapped to its facts, ``None`` when the output has no line for it."""
    found: dict[str, FileStat | None] = dict.fromkeys(paths)
    for line in text.splitlines():
        parts = line.split(" ", 3)
        if len(parts) != 4:
            continue
        size, mtime, mode_hex, name = parts
        try:
            mode = int(mode_hex, 16)
            facts = FileStat(int(size), float(mtime), stat_mod.S_ISDIR(mode), mode)
        except ValueError:
            continue
        if name in found:
            found[name] = facts
    return found
