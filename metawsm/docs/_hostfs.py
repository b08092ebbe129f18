"""File-tree operations the :class:`~metawsm.hosts.base.Host` protocol does not offer yet.

``Host.stat`` follows symbolic links and there is no lstat, readlink, symlink or recursive
remove, so these run small POSIX commands through ``host.run`` (argv lists, never a shell
string). They work the same on a local and an SSH host, and belong in ``Host`` eventually:

- :func:`list_symlinks` — ``find -H <root> -type l -print0`` (one call per tree);
- :func:`read_symlink` — ``readlink -- <path>``;
- :func:`make_symlink` — ``ln -s -- <target> <path>``;
- :func:`remove_tree` — ``rm -rf -- <path>``;
- :func:`is_symlink` — ``test -L <path>``;
- :func:`walk_tree` — ``listdir``/``stat`` plus :func:`list_symlinks`, so links are seen as
  links and never followed.
"""

from __future__ import annotations

import posixpath
import stat as stat_mod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import anyio

from metawsm.docs.errors import DocsError
from metawsm.hosts.base import FileStat, Host

EntryKind = Literal["dir", "file", "symlink", "other"]
# Bounded fan-out for stat calls: cheap locally, and one round trip each over SSH.
_STAT_CONCURRENCY = 16
_COMMAND_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One path below a walked root; ``rel`` uses ``/`` and never starts with it."""

    rel: str
    kind: EntryKind
    mode: int  # permission bits (0 for symlinks)


async def _run_checked(host: Host, argv: list[str], what: str) -> str:
    result = await host.run(argv, timeout=_COMMAND_TIMEOUT)
    if not result.ok:
        detail = result.stderr.strip() or f"exit {result.returncode}"
        raise DocsError(f"{what} failed on {host.name}: {detail}")
    return result.stdout


async def list_symlinks(host: Host, root: str) -> set[str]:
    """Paths (relative to ``root``) of every symbolic link below it, links not followed."""
    out = await _run_checked(
        host, ["find", "-H", root, "-type", "l", "-print0"], f"listing links under {root}"
    )
    prefix = root.rstrip("/") + "/"
    links: set[str] = set()
    for path in out.split("\0"):
        if path.startswith(prefix):
            links.add(path[len(prefix) :])
    return links


async def read_symlink(host: Host, path: str) -> str:
    """The target text of a symbolic link, as stored (not resolved)."""
    out = await _run_checked(host, ["readlink", "--", path], f"reading link {path}")
    # readlink ends its output with one newline; a target's own trailing newline is lost.
    return out[:-1] if out.endswith("\n") else out


async def make_symlink(host: Host, target: str, path: str) -> None:
    """Create ``path`` as a symbolic link whose text is ``target``."""
    await _run_checked(host, ["ln", "-s", "--", target, path], f"creating link {path}")


async def remove_tree(host: Host, path: str) -> None:
    """``rm -rf`` one path; refuses ``/`` and relative paths as a last line of defence."""
    clean = posixpath.normpath(path)
    if not posixpath.isabs(clean) or clean == "/":
        raise DocsError(f"refusing to remove {path!r}")
    await _run_checked(host, ["rm", "-rf", "--", clean], f"removing {clean}")


async def is_symlink(host: Host, path: str) -> bool:
    """Whether ``path`` itself is a symbolic link (``Host.stat`` follows links)."""
    result = await host.run(["test", "-L", path], timeout=_COMMAND_TIMEOUT)
    return result.returncode == 0


def _kind(found: FileStat) -> EntryKind:
    if found.is_dir:
        return "dir"
    if stat_mod.S_ISREG(found.mode):
        return "file"
    return "other"


async def _stat_all(
    host: Host, root: str, rels: list[str], limiter: anyio.CapacityLimiter
) -> dict[str, FileStat | None]:
    """``stat`` several paths below ``root`` concurrently (bounded by ``limiter``)."""
    stats: dict[str, FileStat | None] = {}

    async def stat_one(rel: str) -> None:
        async with limiter:
            stats[rel] = await host.stat(posixpath.join(root, rel))

    async with anyio.create_task_group() as group:
        for rel in rels:
            group.start_soon(stat_one, rel)
    return stats


async def walk_tree(
    host: Host,
    root: str,
    *,
    prune: Callable[[str], bool] | None = None,
) -> list[TreeEntry]:
    """Every entry below ``root``, sorted by relative path; symlinks are listed, not followed.

    ``prune(rel)`` returning true for a folder skips it and everything inside.
    """
    root = posixpath.normpath(root)
    links = await list_symlinks(host, root)
    entries: list[TreeEntry] = []
    pending = [""]
    limiter = anyio.CapacityLimiter(_STAT_CONCURRENCY)
    while pending:
        folder = pending.pop()
        names = await host.listdir(posixpath.join(root, folder) if folder else root)
        rels = [f"{folder}/{name}" if folder else name for name in names]
        stats = await _stat_all(host, root, [rel for rel in rels if rel not in links], limiter)
        for rel in rels:
            if rel in links:
                entries.append(TreeEntry(rel, "symlink", 0))
                continue
            found = stats.get(rel)
            if found is None:
                continue  # vanished between listdir and stat
            kind = _kind(found)
            if kind == "dir" and prune is not None and prune(rel):
                continue
            entries.append(TreeEntry(rel, kind, stat_mod.S_IMODE(found.mode)))
            if kind == "dir":
                pending.append(rel)
    entries.sort(key=lambda entry: entry.rel)
    return entries
