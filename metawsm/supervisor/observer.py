"""Host observers: one ``tmux list-panes -a`` per host per tick, whatever the number of agents.

On an SSH host the same command also takes the stats of every agent's signal files
(:meth:`TmuxServer.snapshot_with_stats`), so a tick costs ONE remote command per host.

Agent actors never spawn a tmux process to look at their session; they wait for the observer's
next tick and read their pane in the shared snapshot. A tick that cannot read tmux (permission,
connection, timeout) is published as *unknown*, so no agent is ever taken for dead because tmux
could not be asked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskStatus

from metawsm.hosts.base import FileStat
from metawsm.hosts.tmux import Snapshot, TmuxServer, TmuxUnavailable

if TYPE_CHECKING:
    from metawsm.supervisor.environment import Site

log = logging.getLogger("metawsm.observer")


@dataclass(frozen=True, slots=True)
class Tick:
    """What one tick saw: a snapshot, or why there is none."""

    seq: int
    snapshot: Snapshot | None
    error: str | None
    taken_at: float
    stats: Mapping[str, FileStat | None] | None = None
    """Stats of the watched signal files, taken in the same host command (remote hosts)."""

    @property
    def unknown(self) -> bool:
        return self.snapshot is None


class HostObserver:
    """Takes a snapshot of one host's tmux server every ``tick_seconds`` (or sooner when poked)
    and publishes it to everyone waiting in :meth:`next_tick`."""

    def __init__(
        self,
        host_name: str,
        tmux: TmuxServer,
        tick_seconds: float,
        *,
        site: Site | None = None,
        wait_first: bool = True,
    ) -> None:
        self.host_name = host_name
        self.tmux = tmux
        self.tick_seconds = tick_seconds
        self.site = site
        self.wait_first = wait_first
        self.last_ok: float | None = None
        #: Take the signal files' stats with the snapshot, in one host command (SSH hosts).
        self.with_stats = site is not None and site.remote
        #: An SSH host whose tick gets no answer within one tick plus its keepalive period (at
        #: least 2 s) is taken for lost, not waited for until tmux's own timeout: a cut is
        #: shown within 2 ticks plus the keepalive period.
        keepalive = float(getattr(site.host, "keepalive_seconds", 5.0)) if site else 5.0
        self.observe_timeout = max(2.0, tick_seconds + keepalive)
        self._watched: dict[str, int] = {}
        self.latest: Tick | None = None
        self.ticks = 0
        self._published = anyio.Event()
        self._poked = anyio.Event()

    def watch(self, paths: Sequence[str]) -> None:
        """Report the stats of ``paths`` with every tick (until :meth:`unwatch`)."""
        for path in paths:
            self._watched[path] = self._watched.get(path, 0) + 1

    def unwatch(self, paths: Sequence[str]) -> None:
        for path in paths:
            left = self._watched.get(path, 0) - 1
            if left > 0:
                self._watched[path] = left
            else:
                self._watched.pop(path, None)

    def poke(self) -> None:
        """Take the next snapshot now (after starting or killing a session)."""
        self._poked.set()

    async def next_tick(self, after: int = 0, *, timeout: float | None = None) -> Tick:
        """The first tick newer than ``after`` (bounded by ``timeout``, default 10 ticks)."""
        limit = timeout if timeout is not None else max(10 * self.tick_seconds, 5.0)
        with anyio.fail_after(limit):
            while self.latest is None or self.latest.seq <= after:
                await self._published.wait()
        assert self.latest is not None
        return self.latest

    async def observe_once(self) -> Tick:
        """Take one snapshot and publish it."""
        stats: Mapping[str, FileStat | None] | None = None
        try:
            snapshot: Snapshot | None
            if self.with_stats:
                snapshot, stats = await self.tmux.snapshot_with_stats(
                    list(self._watched), timeout=self.observe_timeout
                )
            else:
                snapshot = await self.tmux.snapshot()
            error = None
        except TmuxUnavailable as exc:
            snapshot, error = None, exc.message
            suspect = getattr(self.tmux.host, "suspect", None)
            if self.with_stats and suspect is not None and "no answer within" in exc.message:
                suspect(exc.message)
            log.warning("host %s: tmux unavailable: %s", self.host_name, exc.message)
        self.ticks += 1
        tick = Tick(self.ticks, snapshot, error, time.time(), stats)
        if snapshot is not None:
            self.last_ok = tick.taken_at
        self.latest = tick
        published, self._published = self._published, anyio.Event()
        published.set()
        return tick

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Tick until cancelled; started once the first snapshot is published (or at once,
        without ``wait_first``: a remote host's first tick may wait for its connection)."""
        if not self.wait_first:
            task_status.started()
        await self.observe_once()
        if self.wait_first:
            task_status.started()
        while True:
            with anyio.move_on_after(self.tick_seconds):
                await self._poked.wait()
            self._poked = anyio.Event()
            await self.observe_once()
