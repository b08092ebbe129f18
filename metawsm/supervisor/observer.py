"""Host observers: one ``tmux list-panes -a`` per host per tick, whatever the number of agents.

Agent actors never spawn a tmux process to look at their session; they wait for the observer's
next tick and read their pane in the shared snapshot. A tick that cannot read tmux (permission,
connection, timeout) is published as *unknown*, so no agent is ever taken for dead because tmux
could not be asked.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskStatus

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
        self.latest: Tick | None = None
        self.ticks = 0
        self._published = anyio.Event()
        self._poked = anyio.Event()

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
        try:
            snapshot: Snapshot | None = await self.tmux.snapshot()
            error = None
        except TmuxUnavailable as exc:
            snapshot, error = None, exc.message
            log.warning("host %s: tmux unavailable: %s", self.host_name, exc.message)
        self.ticks += 1
        tick = Tick(self.ticks, snapshot, error, time.time())
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
