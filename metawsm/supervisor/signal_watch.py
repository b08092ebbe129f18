"""Reading an agent's signal files from both signal roots, through its host.

An agent writes ``guidance-request.json``, ``implementation-complete.json`` and
``validation-result.json`` into ``.metawsm/`` of the workspace root or of the doc-home repo (its
working directory); both are read, root first. A file is handled once per version (its mtime and
size): a file being written shows as malformed once and is read again when it changes. Files of
another run, agent or generation are rejected, never acted on; malformed, oversized or unreadable
files are reported. Nothing here raises for what an agent wrote.

Only a regular file is ever opened: the paths are looked at with ``lstat`` (a link is reported,
never followed), and what passes is read with :meth:`~metawsm.hosts.base.Host.read_regular`,
which refuses a file swapped for a pipe in between without blocking. A whole scan is bounded by
:data:`SCAN_TIMEOUT`: a file system that stops answering costs the agent's actor that long, not
its supervision.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import anyio

from metawsm.agents.signals import (
    GUIDANCE_REQUEST_FILE,
    IMPLEMENTATION_COMPLETE_FILE,
    MAX_SIGNAL_BYTES,
    SIGNAL_DIR_NAME,
    VALIDATION_RESULT_FILE,
    GuidanceRequest,
    ImplementationComplete,
    SignalModel,
    SignalProblem,
    ValidationResult,
    parse_signal,
    stale_reason,
)
from metawsm.hosts import FileStat, Host, NotRegularFile

#: The most one scan of an agent's signal files may take (nine lstats and a few small reads).
SCAN_TIMEOUT = 10.0

FindingKind = Literal["guidance", "complete", "validate", "rejected", "problem"]

_FILES: tuple[tuple[str, FindingKind, type[SignalModel]], ...] = (
    (GUIDANCE_REQUEST_FILE, "guidance", GuidanceRequest),
    (IMPLEMENTATION_COMPLETE_FILE, "complete", ImplementationComplete),
    (VALIDATION_RESULT_FILE, "validate", ValidationResult),
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One new signal file version: what it says, or why it was not taken."""

    kind: FindingKind
    file: str
    path: str
    detail: str = ""
    signal: SignalModel | None = None


def agent_signal_root(workspace_root: str, agent: str) -> str:
    """The agent's own signal folder (``METAWSM_SIGNAL_DIR``)."""
    return posixpath.join(workspace_root, SIGNAL_DIR_NAME, "agents", agent)


def signal_roots(
    workspace_root: str, doc_home_repo: str | None, agent: str | None = None
) -> tuple[str, ...]:
    """The agent's own folder (when given), ``<workspace>/.metawsm``, then
    ``<doc-home repo>/.metawsm`` (when different): where an agent's signal files are read."""
    roots = [] if agent is None else [agent_signal_root(workspace_root, agent)]
    roots.append(posixpath.join(workspace_root, SIGNAL_DIR_NAME))
    if doc_home_repo and posixpath.normpath(doc_home_repo) != posixpath.normpath(workspace_root):
        roots.append(posixpath.join(doc_home_repo, SIGNAL_DIR_NAME))
    return tuple(roots)


class SignalWatcher:
    """Finds new versions of an agent's signal files."""

    def __init__(self, host: Host, roots: tuple[str, ...]) -> None:
        self.host = host
        self.roots = roots
        self._seen: dict[str, tuple[float, int]] = {}
        self._stuck = False

    def forget(self) -> None:
        """Handle every file again on the next scan (after the files were cleared)."""
        self._seen.clear()

    def paths(self) -> list[str]:
        """Every signal file path this watcher reads."""
        return [posixpath.join(root, name) for root in self.roots for name, _, _ in _FILES]

    async def scan(
        self,
        *,
        run_id: str,
        agent: str,
        generation: int,
        timeout: float = SCAN_TIMEOUT,
        known: Mapping[str, FileStat | None] | None = None,
    ) -> list[Finding]:
        """The new signal file versions; at most ``timeout`` seconds. A scan that runs out of
        time is one ``problem`` finding (reported once until a scan completes again); the files
        it did not reach are read on the next scan. ``known``: lstat results already taken
        (the observer's tick on an SSH host), used when they cover every path."""
        with anyio.move_on_after(timeout):
            findings = await self._scan(
                run_id=run_id, agent=agent, generation=generation, known=known
            )
            self._stuck = False
            return findings
        if self._stuck:
            return []
        self._stuck = True
        where = self.roots[0] if self.roots else ""
        detail = f"unreadable: the signal scan took over {timeout:g}s (file system not answering)"
        return [Finding("problem", "*", where, detail)]

    async def _scan(
        self,
        *,
        run_id: str,
        agent: str,
        generation: int,
        known: Mapping[str, FileStat | None] | None = None,
    ) -> list[Finding]:
        # All the stats in one call: this runs for every agent at every recheck, and one
        # thread hop per file (nine per agent) was the supervisor's main idle cost.
        wanted = [
            (posixpath.join(root, name), name, kind, model)
            for root in self.roots
            for name, kind, model in _FILES
        ]
        stats: list[FileStat | OSError | None]
        if known is not None and all(path in known for path, *_ in wanted):
            stats = [known[path] for path, *_ in wanted]
        else:
            stats = await self.host.lstat_many([path for path, *_ in wanted])
        findings: list[Finding] = []
        for (path, name, kind, model), stat in zip(wanted, stats, strict=True):
            finding = await self._check(
                path,
                stat,
                name,
                kind,
                model,
                run_id=run_id,
                agent=agent,
                generation=generation,
            )
            if finding is not None:
                findings.append(finding)
        return findings

    async def _check(
        self,
        path: str,
        stat: FileStat | OSError | None,
        name: str,
        kind: FindingKind,
        model: type[SignalModel],
        *,
        run_id: str,
        agent: str,
        generation: int,
    ) -> Finding | None:
        if isinstance(stat, OSError):
            found = Finding("problem", name, path, f"unreadable: {stat}")
            return self._once(path, (0.0, -1), found)
        if stat is None:
            self._seen.pop(path, None)
            return None
        version = (stat.mtime, stat.size)
        if self._seen.get(path) == version:
            return None
        self._seen[path] = version
        if stat.is_dir:
            return Finding("problem", name, path, "unreadable: a directory, not a file")
        if stat.is_link:
            return Finding(
                "problem", name, path, "unreadable: a symbolic link (links are not followed)"
            )
        if not stat.is_regular:
            # A named pipe blocked the read forever, and the agent's actor with it; a device
            # or a socket is no signal either.
            return Finding("problem", name, path, "unreadable: not a regular file")
        if stat.size > MAX_SIGNAL_BYTES:
            return Finding(
                "problem", name, path, f"oversized: {stat.size} bytes (limit {MAX_SIGNAL_BYTES})"
            )
        try:
            data = await self.host.read_regular(path, limit=MAX_SIGNAL_BYTES + 1)
        except NotRegularFile as exc:
            # Swapped for a pipe or a link since the lstat: refused, and nothing blocked.
            return Finding("problem", name, path, f"unreadable: {exc.what}, not a regular file")
        except FileNotFoundError:
            # Removed since the stat (an answered request, a consumed file): gone, not broken.
            self._seen.pop(path, None)
            return None
        except OSError as exc:
            return Finding("problem", name, path, f"unreadable: {exc}")
        parsed = parse_signal(data, model, Path(path))
        if isinstance(parsed, SignalProblem):
            return Finding("problem", name, path, parsed.describe())
        reason = stale_reason(parsed.signal, run_id=run_id, agent=agent, generation=generation)
        if reason is not None:
            return Finding("rejected", name, path, reason, parsed.signal)
        return Finding(kind, name, path, signal=parsed.signal)

    def _once(self, path: str, version: tuple[float, int], finding: Finding) -> Finding | None:
        if self._seen.get(path) == version:
            return None
        self._seen[path] = version
        return finding
