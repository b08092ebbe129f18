"""The agent actor: one per (agent, workspace) of a run; it owns that agent's tmux session.

It starts the agent (or adopts a session that is already there), reads its pane in the host
observer's snapshot every tick, evaluates health, and applies the restart rules when the agent
process exits: a non-zero exit or a death by signal is respawned as a new generation. The
first respawn after a crash is immediate; ``operator.restart_cooldown_seconds`` is the least
time between two crash restarts (not from the agent's start). Only crash restarts count against
``operator.restart_budget``; past it the agent is ``failed`` and the run is told why. A restart
by the operator (``restart``, ``iterate``, ``resume``, ``agent restart``) gives a fresh budget.
An exit 0 is recorded and not restarted.

The agent process is an external resource: stopping or crashing this actor never kills it.
Only an explicit :class:`Stop` (``metawsm stop``/``cleanup``) kills the session.
"""

from __future__ import annotations

import logging
import posixpath
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
from anyio.abc import TaskStatus

from actors import Actor, ActorStopped, Failed, InboxFull
from actors.mailbox import Mailbox
from metawsm.agents.signals import (
    AGENT_SIGNAL_FILES,
    GuidanceRequest,
    ImplementationComplete,
    ValidationResult,
)
from metawsm.hosts import FileStat, Host
from metawsm.hosts.tmux import PaneState, TmuxError, TmuxServer, TmuxUnavailable
from metawsm.hsm import AgentStatus, EntityKind, HealthState
from metawsm.status import LiveAgent
from metawsm.store import ops
from metawsm.store.client import StoreClient
from metawsm.store.db import format_utc
from metawsm.store.records import AgentRecord, NewEvent
from metawsm.supervisor.agent_logs import generation_log
from metawsm.supervisor.health import Observation, Thresholds, assess
from metawsm.supervisor.observer import HostObserver, Tick
from metawsm.supervisor.signal_watch import SignalWatcher, agent_signal_root

log = logging.getLogger("metawsm.agent")

LIVE = frozenset({AgentStatus.RUNNING, AgentStatus.IDLE, AgentStatus.STALLED})
#: How long a freshly started agent is watched before its start counts as verified.
START_VERIFY_SECONDS = 1.0
#: Health rows are rewritten at most this often when nothing but activity changed.
HEALTH_WRITE_INTERVAL = 10.0
#: An agent whose pane did not change is re-evaluated this often (its ages still grow).
RECHECK_SECONDS = 5.0
_NOTHING = object()
_UNKNOWN = object()


@dataclass(frozen=True)
class AgentContext:
    """Everything an agent actor needs, fixed for the life of the run."""

    run_id: str
    agent: str
    workspace: str
    session: str
    argv: tuple[str, ...]
    cwd: str  #: the doc-home repo inside the workspace
    workspace_root: str
    host: Host
    tmux: TmuxServer
    observer: HostObserver
    store: StoreClient
    load_row: Callable[[], AgentRecord | None]
    thresholds: Thresholds
    restart_budget: int
    restart_cooldown: float
    socket_path: str
    publish: Callable[[LiveAgent], None]  #: the status cache; called on every change
    on_final: Callable[[str, str, int | None], None]  #: (agent id, status, exit) when it ends
    extra_env: Mapping[str, str] = field(default_factory=dict)
    #: ``.metawsm/`` of the workspace root and of the doc-home repo, read in that order.
    signal_roots: tuple[str, ...] = ()
    #: Tells the run controller of a signal taken (entity id, kind: guidance/complete/validate).
    on_signal: Callable[[str, str], None] = lambda _entity, _kind: None
    #: This agent's questions still pending in the store (a blocking read, run in a thread).
    pending_questions: Callable[[], set[str]] = set
    #: Whether the shared signal roots are this agent's alone (one agent in the workspace), so
    #: a respawn may clear them too.
    owns_shared_roots: bool = False
    #: Where each generation's output is kept (``gen-<N>.log``, by tmux ``pipe-pane``); empty:
    #: not kept.
    log_dir: str = ""

    @property
    def entity_id(self) -> str:
        return ops.agent_entity_id(self.agent, self.workspace)

    async def output_log(self, generation: int) -> str | None:
        """The file generation ``generation`` prints into (its folder made), or None."""
        if not self.log_dir:
            return None
        await self.host.makedirs(self.log_dir, mode=0o700)
        return generation_log(self.log_dir, generation)


@dataclass(frozen=True)
class Start:
    """Start the agent unless its session is already there; reply once the start is verified
    (a process that dies at once fails the start with its exit status)."""


@dataclass(frozen=True)
class Stop:
    """Kill the session and mark the agent stopped (``metawsm stop`` / ``cleanup``)."""

    reason: str = "stop requested"
    force: bool = False
    """Record the agent stopped without reaching its host (``stop --force``)."""


@dataclass(frozen=True)
class Respawn:
    """Restart the agent now as a new generation (``metawsm restart``)."""

    reason: str = "restart requested"


@dataclass(frozen=True)
class ScanSignals:
    """Read the signal files now (``metawsm signal`` says one was just written)."""


@dataclass(frozen=True)
class _Observed:
    tick: Tick


AgentMessage = Start | Stop | Respawn | ScanSignals | _Observed


class StartError(Exception):
    """The agent could not be started, or died at once; the message says how."""


class AgentActor(Actor[AgentMessage]):
    """Owns one agent's tmux session."""

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.status = AgentStatus.PENDING.value
        self.health = HealthState.IDLE.value
        self.generation = 1
        #: Crash restarts since the start or the operator's last restart (against the budget).
        self.restarts = 0
        self.exit_status: int | None = None
        self.alive: bool | None = None
        self.activity_at: float | None = None
        self.progress_at: float | None = None
        #: When the last crash restart happened (None: none since the start or the operator's
        #: last restart, so the next crash is respawned at once).
        self.last_crash_restart_at: float | None = None
        self.respawn_due: float | None = None
        self._seen = 0
        #: Ticks before this one may predate this actor's last start or respawn; see _changed.
        self._fresh_from = 0
        self._health_written_at = 0.0
        self.signals = SignalWatcher(ctx.host, ctx.signal_roots)
        self._deferred_stop: str | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def run(self, mailbox: Mailbox[AgentMessage], *, task_status: TaskStatus[Any]) -> None:
        watched = self.signals.paths()
        self.ctx.observer.watch(watched)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch, mailbox)
                await super().run(mailbox, task_status=task_status)
                tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # Crash with the actor's own exception: the supervisor reports it as the reason
            # (`which_children`, the log), and "ExceptionGroup: unhandled errors in a
            # TaskGroup" named no bug at all.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        finally:
            self.ctx.observer.unwatch(watched)

    async def on_start(self) -> None:
        row = await anyio.to_thread.run_sync(self.ctx.load_row)
        if row is not None:
            self.status = row.status
            self.health = row.health_state
            self.generation = row.generation
            self.restarts = row.restart_count
            self.exit_status = row.last_exit_status
        if self.status == AgentStatus.DEAD:
            # Dead when the last supervisor stopped, waiting for its respawn: that schedule
            # died with it. Respawn after one cooldown (when the last crash restart was is not
            # kept, and this never makes two crash restarts closer than the cooldown).
            self.respawn_due = time.time() + self.ctx.restart_cooldown
        tick = self.ctx.observer.latest or await self.ctx.observer.next_tick()
        self._seen = tick.seq
        pane = None if tick.snapshot is None else tick.snapshot.get(self.ctx.session)
        if pane is not None and self.status == AgentStatus.PENDING:
            # A supervisor died between creating the session and recording it: adopt it.
            await self._transition(AgentStatus.RUNNING, "adopted a session started earlier")
        if pane is not None:
            await self._event("adopted", f"session {self.ctx.session} generation {self.generation}")
        self._publish()
        if tick.snapshot is not None:
            await self._observe(tick)

    async def _watch(self, mailbox: Mailbox[AgentMessage]) -> None:
        """Turn the observer's ticks into messages; a full inbox just skips a tick.

        A tick in which this agent's pane looks exactly as last time is not delivered unless a
        recheck is due (health thresholds are ages) or a respawn waits: with many agents, most
        panes do not change from one tick to the next, and waking every actor for nothing kept
        the event loop busy for tens of milliseconds per tick (measured with 200 agents).
        """
        last: object = _NOTHING
        sent_at = 0.0
        while True:
            tick = await self.ctx.observer.next_tick(self._seen, timeout=3600)
            self._seen = tick.seq
            seen: object = (
                _UNKNOWN if tick.snapshot is None else tick.snapshot.get(self.ctx.session)
            )
            quiet = (
                seen == last
                and tick.seq >= self._fresh_from
                and self.respawn_due is None
                and tick.taken_at - sent_at < RECHECK_SECONDS
            )
            if quiet:
                continue
            last, sent_at = seen, tick.taken_at
            try:
                mailbox.ref.send_nowait(_Observed(tick))
            except InboxFull:
                continue
            except ActorStopped:
                return

    async def handle(self, message: AgentMessage) -> Any:
        if isinstance(message, _Observed):
            await self._observe(message.tick)
            return None
        if isinstance(message, Start):
            try:
                return await self._start()
            except StartError as exc:
                # A failed start is an answer, not a bug: raising it crashed this actor, and the
                # caller got ActorCrashed, which the plan executor did not take for a failed
                # step, so the controller crashed too and re-ran the plan after its restart.
                return Failed(exc)
        if isinstance(message, Stop):
            await self._stop(message.reason, force=message.force)
            return self.live()
        if isinstance(message, Respawn):
            await self._respawn(message.reason, operator=True)
            return self.live()
        if isinstance(message, ScanSignals):
            return await self._scan_signals()
        raise TypeError(f"agent actor got {message!r}")

    # -- starting ---------------------------------------------------------------------------

    def _env(self, generation: int) -> dict[str, str]:
        env = {
            "METAWSM_RUN_ID": self.ctx.run_id,
            "METAWSM_AGENT": self.ctx.agent,
            "METAWSM_WORKSPACE": self.ctx.workspace,
            "METAWSM_GENERATION": str(generation),
            "METAWSM_SIGNAL_DIR": agent_signal_root(self.ctx.workspace_root, self.ctx.agent),
            "METAWSM_SOCKET": self.ctx.socket_path,
        }
        env.update(self.ctx.extra_env)
        return env

    async def _start(self) -> dict[str, Any]:
        tick = self.ctx.observer.latest
        present = (
            tick is not None
            and tick.snapshot is not None
            and self.ctx.session in tick.snapshot.sessions
        )
        if present and self.status in LIVE:
            return {"started": False, "adopted": True, "generation": self.generation}
        if self.status in LIVE and (tick is None or tick.snapshot is None):
            # tmux cannot be reached, so the session of an agent recorded alive is unknown, not
            # gone: starting another would run the agent twice once tmux answers again. The
            # observer settles it when tmux answers (a vanished session is respawned then).
            return {"started": False, "adopted": True, "generation": self.generation}
        if present:
            # A leftover session of an earlier attempt (the original's "retry loophole"):
            # never count it as a start.
            await self.ctx.tmux.kill_session(self.ctx.session)
        try:
            await self.ctx.tmux.new_session(
                self.ctx.session,
                cwd=self.ctx.cwd,
                argv=list(self.ctx.argv),
                env=self._env(self.generation),
                pipe_to=await self.ctx.output_log(self.generation),
            )
        except TmuxError as exc:
            raise StartError(f"could not start {self.ctx.entity_id}: {exc.message}") from None
        self._changed()
        await self._transition(AgentStatus.RUNNING, f"started in tmux session {self.ctx.session}")
        pane = await self._watch_start()
        if pane is not None and pane.dead and pane.dead_status != 0:
            how = _exit_text(pane)
            await self._record_exit(pane)
            await self._transition(AgentStatus.FAILED, f"exited during startup: {how}")
            # Not reported as an agent that ended (on_final): the failed start fails the plan
            # step, which is retried and then fails the run with the cause. Reported here too,
            # every attempt recorded `agent_failed` and a guidance request once more.
            raise StartError(
                f"agent {self.ctx.entity_id} (tmux session {self.ctx.session}) {how} "
                "right after start"
            )
        return {"started": True, "adopted": False, "generation": self.generation}

    async def _watch_start(self) -> PaneState | None:
        """Watch the new pane for a moment: a command that fails at once shows here."""
        deadline = time.monotonic() + START_VERIFY_SECONDS
        pane: PaneState | None = None
        while time.monotonic() < deadline:
            try:
                tick = await self.ctx.observer.next_tick(max(self._seen, self._fresh_from - 1))
            except TimeoutError:
                # No snapshot for many ticks (tmux overloaded): the start is unverified, which
                # fails the step (retried) instead of crashing this actor.
                raise StartError(
                    f"could not verify the start of {self.ctx.entity_id}: no tmux snapshot "
                    "came in time"
                ) from None
            self._seen = tick.seq
            if tick.snapshot is None:
                continue
            pane = tick.snapshot.get(self.ctx.session)
            if pane is None or pane.dead:
                return pane
            self.ctx.observer.poke()
            await anyio.sleep(0.05)
        return pane

    # -- observing --------------------------------------------------------------------------

    def _changed(self) -> None:
        """The session was just (re)started: ask for a snapshot now, and ignore every tick that
        may have been taken before. Ticks wait in the inbox while a Start is handled (a second
        or more), and the oldest were taken before the session existed: handled afterwards,
        they showed a running agent with no session, which was recorded as "session vanished"
        and respawned, killing the healthy agent. A tick in flight now is published as
        ``ticks + 1`` and may not show the session; ``ticks + 2`` was started after this."""
        self._fresh_from = self.ctx.observer.ticks + 2
        self.ctx.observer.poke()

    async def _observe(self, tick: Tick) -> None:
        if tick.seq < self._fresh_from:
            return  # may predate the last start or respawn (see _changed)
        if self.status == AgentStatus.STOPPING and tick.snapshot is not None:
            # A stop deferred while the host could not be reached (or by a supervisor that
            # ended before carrying it out): the host answers again, so carry it out now.
            await self._stop(self._deferred_stop or "stop requested while the host was away")
            self.ctx.on_final(self.ctx.entity_id, self.status, self.exit_status)
            return
        if tick.snapshot is None:
            if self.health != HealthState.UNKNOWN:
                self.health = HealthState.UNKNOWN.value
                self._publish()
            return
        if self.status not in LIVE and self.status != AgentStatus.DEAD:
            return  # pending, stopping, stopped or failed: nothing to supervise
        # Signals first: an agent that writes its completion and exits shows both at once.
        await self._scan_signals(tick.stats)
        pane = tick.snapshot.get(self.ctx.session)
        now = tick.taken_at
        if self.status == AgentStatus.DEAD:
            if self.respawn_due is not None and now >= self.respawn_due:
                await self._respawn("restart after exit", operator=False)
            return
        result = assess(
            Observation(pane=pane),
            last_activity=self.activity_at,
            last_progress=self.progress_at,
            thresholds=self.ctx.thresholds,
            now=now,
        )
        self.alive = pane is not None and not pane.dead
        self.activity_at, self.progress_at = result.activity_at, result.progress_at
        if result.exited or pane is None:
            await self._on_exit(pane)
            return
        changed = result.status != self.status or result.health != self.health
        if result.status is not None and result.status != self.status:
            await self._transition(result.status, f"health {result.health}")
        self.health = result.health
        if changed or now - self._health_written_at >= HEALTH_WRITE_INTERVAL:
            await self._write_health()
            self._health_written_at = now
        if changed:
            self._publish()

    async def _on_exit(self, pane: PaneState | None) -> None:
        """The agent process ended (or its session vanished)."""
        clean = pane is not None and pane.dead and pane.dead_status == 0
        self.health = HealthState.IDLE.value if clean else HealthState.DEAD.value
        await self._record_exit(pane)
        if clean:
            await self._transition(AgentStatus.STOPPED, "agent exited with status 0")
            self.ctx.on_final(self.ctx.entity_id, self.status, 0)
            return
        how = "session vanished" if pane is None else _exit_text(pane)
        await self._transition(AgentStatus.DEAD, how)
        if self.restarts >= self.ctx.restart_budget:
            reason = (
                f"{how}; restart budget spent ({self.restarts} of "
                f"{self.ctx.restart_budget} restarts used)"
            )
            await self._transition(AgentStatus.FAILED, reason)
            self.ctx.on_final(self.ctx.entity_id, self.status, self.exit_status)
            return
        now = time.time()
        last = self.last_crash_restart_at
        self.respawn_due = now if last is None else max(now, last + self.ctx.restart_cooldown)
        if self.respawn_due <= now:
            await self._respawn(f"restart after exit ({how})", operator=False)
        else:
            await self._event("restart_scheduled", f"{how}; respawn at cooldown end")
            self._publish()

    async def _record_exit(self, pane: PaneState | None) -> None:
        self.alive = False
        self.exit_status = pane.dead_status if pane is not None and pane.dead else None
        await self._write_health()

    # -- signals ----------------------------------------------------------------------------

    async def _scan_signals(self, known: Mapping[str, FileStat | None] | None = None) -> int:
        """Take the new versions of this agent's signal files; return how many were taken.
        ``known``: their stats from the observer's tick, when it took them."""
        taken = 0
        findings = await self.signals.scan(
            run_id=self.ctx.run_id, agent=self.ctx.agent, generation=self.generation, known=known
        )
        for finding in findings:
            if finding.kind == "rejected":
                await self._event("signal_rejected", f"{finding.path}: {finding.detail}")
                continue
            if finding.kind == "problem":
                await self._event("signal_problem", f"{finding.path}: {finding.detail}")
                continue
            signal = finding.signal
            if isinstance(signal, GuidanceRequest):
                # Deduplicated against the store's pending rows, as the original did: a
                # rewritten request file is not a new question, but the same question asked
                # again after it was answered is, and a restarted supervisor remembers.
                pending = await anyio.to_thread.run_sync(self.ctx.pending_questions)
                if signal.question in pending:
                    continue
                await self.ctx.store.add_guidance_request(
                    self.ctx.run_id,
                    self.ctx.workspace,
                    self.ctx.agent,
                    signal.question,
                    signal.context,
                    generation=self.generation,
                )
            elif isinstance(signal, ImplementationComplete):
                await self._event("completion", signal.summary or "implementation complete")
            elif isinstance(signal, ValidationResult):
                await self._event(
                    "validation", f"status={signal.status} done_criteria={signal.done_criteria}"
                )
            taken += 1
            self.ctx.on_signal(self.ctx.entity_id, finding.kind)
        return taken

    # -- restarting and stopping ------------------------------------------------------------

    async def _clear_signals(self) -> None:
        """Remove the agent-written signal files before a new generation starts, so a file
        without a generation stamp left by the previous one is never taken as the new one's.
        The agent's own folder always; the shared roots only when no other agent uses them."""
        roots = self.ctx.signal_roots if self.ctx.owns_shared_roots else self.ctx.signal_roots[:1]
        for root in roots:
            for name in AGENT_SIGNAL_FILES:
                await self.ctx.host.remove(posixpath.join(root, name))
        self.signals.forget()

    async def _respawn(self, reason: str, *, operator: bool) -> None:
        if self.status in (AgentStatus.STOPPING, AgentStatus.STOPPED) and not operator:
            return
        await self._clear_signals()
        self.respawn_due = None
        new_generation = self.generation + 1
        session_there = (
            self.ctx.observer.latest is not None
            and self.ctx.observer.latest.snapshot is not None
            and self.ctx.session in self.ctx.observer.latest.snapshot.sessions
        )
        try:
            if session_there:
                await self.ctx.tmux.respawn(
                    self.ctx.session,
                    cwd=self.ctx.cwd,
                    argv=list(self.ctx.argv),
                    env=self._env(new_generation),
                    pipe_to=await self.ctx.output_log(new_generation),
                )
            else:
                await self.ctx.tmux.new_session(
                    self.ctx.session,
                    cwd=self.ctx.cwd,
                    argv=list(self.ctx.argv),
                    env=self._env(new_generation),
                    pipe_to=await self.ctx.output_log(new_generation),
                )
        except TmuxError as exc:
            await self._transition(AgentStatus.FAILED, f"respawn failed: {exc.message}")
            self.ctx.on_final(self.ctx.entity_id, self.status, self.exit_status)
            return
        self._changed()
        from_state = self.status
        await self.ctx.store.respawn_agent(
            self.ctx.run_id,
            self.ctx.agent,
            self.ctx.workspace,
            from_state,
            reason,
            crash=not operator,
        )
        now = time.time()
        self.status = AgentStatus.RUNNING.value
        self.health = HealthState.HEALTHY.value
        self.generation = new_generation
        if operator:
            # The operator's restart: a fresh budget, and the next crash is respawned at once.
            self.restarts = 0
            self.last_crash_restart_at = None
        else:
            self.restarts += 1
            self.last_crash_restart_at = now
        self.exit_status = None
        self.alive = True
        self.activity_at = self.progress_at = now
        self._publish()

    async def _stop(self, reason: str, *, force: bool = False) -> None:
        """Kill the session and record the agent stopped. On a host that cannot be reached the
        agent is left ``stopping`` and the kill is carried out on the first tick that sees the
        host again (:meth:`_observe`); ``force`` records it stopped and leaves the host alone."""
        self.respawn_due = None
        if force:
            reason = f"{reason} (forced: the session on {self.ctx.host.name} was not touched)"
        else:
            try:
                await self.ctx.tmux.kill_session(self.ctx.session)
            except TmuxUnavailable as exc:
                self._deferred_stop = reason
                if self.status != AgentStatus.STOPPING:
                    await self._transition(
                        AgentStatus.STOPPING,
                        f"{reason}; deferred until {self.ctx.host.name} answers: {exc.message}",
                    )
                self.health = HealthState.UNKNOWN.value
                self._publish()
                return
        self._deferred_stop = None
        self.alive = False
        self.health = HealthState.IDLE.value  # a stopped agent is not "healthy"
        await self._write_health()
        if self.status in LIVE:
            await self._transition(AgentStatus.STOPPING, reason)
        if self.status != AgentStatus.STOPPED:
            await self._transition(AgentStatus.STOPPED, reason)
        self.ctx.observer.poke()
        self.stop()

    # -- recording --------------------------------------------------------------------------

    async def _transition(self, to_state: AgentStatus | str, message: str) -> None:
        to_value = to_state.value if isinstance(to_state, AgentStatus) else to_state
        if to_value == self.status:
            return
        await self.ctx.store.transition(
            EntityKind.AGENT,
            self.ctx.entity_id,
            self.status,
            to_value,
            message,
            run_id=self.ctx.run_id,
            generation=self.generation,
        )
        log.info(
            "%s %s: %s -> %s (%s)",
            self.ctx.run_id,
            self.ctx.entity_id,
            self.status,
            to_value,
            message,
        )
        self.status = to_value
        self._publish()

    async def _write_health(self) -> None:
        await self.ctx.store.write(
            ops.update_agent_health(
                self.ctx.run_id,
                self.ctx.agent,
                self.ctx.workspace,
                health_state=self.health,
                last_activity_at=_iso(self.activity_at),
                last_progress_at=_iso(self.progress_at),
                last_exit_status=self.exit_status,
            )
        )

    async def _event(self, event_type: str, message: str) -> None:
        """Record an informational event (adopted, restart scheduled, ...)."""
        await self.ctx.store.append_event(
            NewEvent(
                self.ctx.run_id,
                "agent",
                self.ctx.entity_id,
                event_type,
                message=message,
                generation=self.generation,
            )
        )

    def live(self) -> LiveAgent:
        """This agent as the status cache shows it."""
        return LiveAgent(
            status=self.status,
            health=self.health,
            generation=self.generation,
            restarts=self.restarts,
            exit_status=self.exit_status,
            alive=self.alive,
            activity_at=self.activity_at,
            progress_at=self.progress_at,
        )

    def _publish(self) -> None:
        self.ctx.publish(self.live())


def _exit_text(pane: PaneState) -> str:
    if pane.dead_status is not None:
        return f"exited with status {pane.dead_status}"
    if pane.dead_signal is not None:
        return f"was killed by signal {pane.dead_signal}"
    return "exited (status unknown)"


def _iso(epoch: float | None) -> str:
    return "" if epoch is None else format_utc(datetime.fromtimestamp(epoch, UTC))
