"""The host interface: run a command, read and write files, atomically replace a file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a finished command left: its exit code and decoded output."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass(frozen=True, slots=True)
class FileStat:
    """The facts of a path that metawsm uses."""

    size: int
    mtime: float
    is_dir: bool
    mode: int


class Host(Protocol):
    """Where commands run and files live. Paths are POSIX strings on that host."""

    @property
    def name(self) -> str:
        """``local`` or the SSH host's name from the policy."""
        ...

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        check: bool = False,
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run ``argv`` (no shell). ``env`` is added to the host's environment.

        Raises :class:`~metawsm.hosts.errors.CommandTimeout` past ``timeout`` (the process
        is killed), and :class:`~metawsm.hosts.errors.CommandFailed` on a non-zero exit when
        ``check`` is true. A missing executable is a ``CommandFailed`` with exit 127.
        """
        ...

    async def read_bytes(self, path: str, *, limit: int | None = None) -> bytes:
        """The file's content (at most ``limit`` bytes); ``FileNotFoundError`` if absent."""
        ...

    async def write_bytes_atomic(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        """Replace ``path`` with ``data`` atomically (temp file in the same folder + rename)."""
        ...

    async def stat(self, path: str) -> FileStat | None:
        """The path's facts, or ``None`` if it does not exist."""
        ...

    async def stat_many(self, paths: Sequence[str]) -> list[FileStat | OSError | None]:
        """:meth:`stat` of many paths in one go (one thread hop locally, one round trip
        remotely): each a stat, ``None`` when absent, or the error met for that path."""
        ...

    async def remove(self, path: str) -> bool:
        """Remove a file; ``False`` if it was already gone."""
        ...

    async def makedirs(self, path: str, *, mode: int = 0o755) -> None:
        """Create a folder and its parents; fine if it exists."""
        ...

    async def listdir(self, path: str) -> list[str]:
        """Names in a folder, sorted; ``FileNotFoundError`` if absent."""
        ...
