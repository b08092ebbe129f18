"""The core as the supervisor runs it: runs go through run controllers, status reads SQLite plus
the live status cache the agent actors keep up to date."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import anyio

from actors import ActorError, ActorRef, Restart, Supervisor, UnknownChild
from metawsm.control.protocol import Notification
from metawsm.control.server import Send
from metawsm.core import (
    AgentParams,
    CleanupParams,
    CloseParams,
    DocsParams,
    FollowParams,
    HostsParams,
    IterateParams,
    LoopOps,
    ReadingCore,
    RestartParams,
    Selector,
    SignalNotify,
    StatusParams,
    StopParams,
    SubmitParams,
    cleanup_plan,
    cleanup_runs,
    dry_run_view,
    event,
    is_active,
    plan_view,
    record_new_run,
    resolve_run_id,
)
from metawsm.errors import MetawsmError, TransitionError, UsageError
from metawsm.forum import store as forum_store
from metawsm.forum.actor import ForumActor
from metawsm.forum.model import WatchParams
from metawsm.forum.service import ForumOps
from metawsm.hsm import EntityKind, RunStatus, can_transition
from metawsm.loop.iterate import prepare_iteration
from metawsm.runs.spec import RunSpec
from metawsm.status import LiveAgent
from metawsm.store.client import StoreClient
from metawsm.store.reader import Reader
from metawsm.store.records import RunRecord
from metawsm.supervisor.agent import ScanSignals
from metawsm.supervisor.docs_federation import (
    DocsFederation,
    add_federation_health,
    stale_warnings,
)
from metawsm.supervisor.environment import Environment
from metawsm.supervisor.events import EventBus
from metawsm.supervisor.observer import HostObserver
from metawsm.supervisor.offline import cleanup_workspaces, prune_run_branches, stop_run_offline
from metawsm.supervisor.run import (
    AgentCommand,
    Execute,
    RestartAgents,
    RunContext,
    RunController,
    StopRun,
)

log = logging.getLogger("metawsm.service")

PLAN_TIMEOUT = 1800.0  # provisioning many repos can take a while; bounded all the same
CONTROL_TIMEOUT = 300.0
#: How often a watch stream glances at the forum's sequence (memory, not the database).
FORUM_GLANCE = 1.0


class ServiceCore(ForumOps, LoopOps, ReadingCore):
    """The supervisor's implementation of :class:`~metawsm.core.Core`."""

    supervisor_up = True

    def __init__(
        self,
        env: Environment,
        store: StoreClient,
        observer: HostObserver,
        runs_sup: Supervisor,
        bus: EventBus,
        forum: ForumActor | None = None,
        *,
        observers: dict[str, HostObserver] | None = None,
    ) -> None:
        super().__init__(env)
        self.bus = bus
        self.forum = forum
        self.store = store
        self.observer = observer
        self.runs_sup = runs_sup
        self._live: dict[str, dict[tuple[str, str], LiveAgent]] = {}
        self._reader: Reader | None = None
        self._specs: dict[str, tuple[str, dict[str, Any]]] = {}
        self.observers = dict(observers or {})
        self.started_at = time.time()
        self.run_ctx = RunContext(env, store, observer, self._publish, self.observers)
        #: Set by ``serve`` once the federation child exists (None in tests that build no tree).
        self.federation: DocsFederation | None = None

    # -- reading, without a connection or a JSON parse per status call ---------------------

    @contextmanager
    def reader(self) -> Iterator[Reader]:
        # One read-only connection for the life of the supervisor: a status call then costs
        # queries, not a connect (it runs on the event loop thread only, so it is not shared
        # between threads).
        if self._reader is None:
            self._reader = Reader(self.env.db_path)
        yield self._reader

    def parsed_spec(self, record: RunRecord) -> dict[str, Any]:
        cached = self._specs.get(record.run_id)
        if cached is not None and cached[0] == record.spec_json:
            return cached[1]
        spec = super().parsed_spec(record)
        self._specs[record.run_id] = (record.spec_json, spec)
        return spec

    def close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    # -- the forum --------------------------------------------------------------------------

    @contextmanager
    def forum_conn(self) -> Iterator[sqlite3.Connection | None]:
        # The supervisor's one read connection: a forum read costs its queries, not a connect.
        with self.reader() as reader:
            yield reader.conn

    async def forum_next_change(self, timeout: float, seen: int) -> None:
        if self.forum is None:
            await super().forum_next_change(timeout, seen)
        else:
            await self.forum.next_change(timeout, seen)

    async def forum_follow(self, params: dict[str, Any], send: Send) -> None:
        """The ``forum watch --follow`` stream: every forum event after the cursor, then each
        new one as it commits."""
        follow = WatchParams.model_validate(params)
        async for item in self.forum_follow_events(follow):
            await send(Notification(method="forum.event", params=item))

    # -- status cache -----------------------------------------------------------------------

    def _publish(self, run_id: str, agent: str, workspace: str, live: LiveAgent) -> None:
        self._live.setdefault(run_id, {})[(agent, workspace)] = live

    def live(self, run_id: str) -> Mapping[tuple[str, str], LiveAgent] | None:
        return self._live.get(run_id)

    # -- run supervisors --------------------------------------------------------------------

    async def controller(self, run_id: str) -> ActorRef[Any]:
        """The run's controller, starting its run supervisor if it is not running."""
        spec = self.runs_sup.child_spec(run_id)
        if spec is None:
            # The controller adds agents to its own run supervisor; the factory runs only when
            # the child starts, by which time the supervisor exists.
            owner: list[Supervisor] = []
            ctrl_spec = RunController.spec(
                "controller",
                lambda: RunController(run_id, self.run_ctx, owner[0]),
                shutdown=10.0,
            )
            run_sup = Supervisor(f"run:{run_id}", [ctrl_spec], intensity=10, period=60.0)
            owner.append(run_sup)
            await self.runs_sup.start_child(run_sup.spec(run_id, restart=Restart.TRANSIENT))
            spec = self.runs_sup.child_spec(run_id)
        assert spec is not None and spec.supervisor is not None
        ctrl = spec.supervisor.child_spec("controller")
        assert ctrl is not None and ctrl.mailbox is not None
        return ctrl.mailbox.ref

    async def retire(self, run_id: str) -> None:
        """Remove a run's supervisor (its agents keep running unless they were stopped)."""
        with contextlib.suppress(UnknownChild):
            await self.runs_sup.terminate_child(run_id)
        self._live.pop(run_id, None)

    async def adopt_active_runs(self) -> list[str]:
        """Reconcile at start: every active run gets its run supervisor back; its controller
        adopts live sessions, marks vanished ones dead, and resumes a plan cut short."""
        with Reader(self.env.db_path) as reader:
            active = [r.run_id for r in reader.list_runs() if is_active(r)]
        for run_id in active:
            try:
                await self.controller(run_id)
            except (MetawsmError, ActorError) as exc:
                log.error("could not adopt run %s: %s", run_id, exc)
        return active

    # -- operations -------------------------------------------------------------------------

    @asynccontextmanager
    async def write_store(self) -> AsyncIterator[StoreClient]:
        yield self.store

    async def submit_run(self, params: SubmitParams) -> dict[str, Any]:
        brief = None if params.brief is None else params.brief.to_brief()
        # The policy as the file is now (an edit since the supervisor started counts), or the
        # file this run names with --policy; the run keeps that snapshot for its whole life.
        env = self.env.reread_policy(params.request.policy_path)
        with Reader(self.env.db_path) as reader:
            spec = await record_new_run(self.store, env, params.request, reader, brief)
        if spec.dry_run:
            return await dry_run_view(env, spec)
        ref = await self.controller(spec.run_id)
        if not params.wait:
            ref.send_nowait(Execute())
            return {**plan_view(spec), "status": RunStatus.PLANNING.value}
        steps = await ref.request(Execute(), timeout=PLAN_TIMEOUT)
        return {**plan_view(spec, steps), "status": self._status_of(spec.run_id)}

    def _status_of(self, run_id: str) -> str:
        with Reader(self.env.db_path) as reader:
            record = reader.get_run(run_id)
        return record.status if record is not None else ""

    async def hosts(self, params: HostsParams) -> dict[str, Any]:
        """Every host's connection, load and last observation, from the live objects."""
        from metawsm.status.hosts import live_hosts

        return live_hosts(
            self.env, {"local": self.observer, **self.observers}, started_at=self.started_at
        )

    async def stop(self, params: StopParams) -> dict[str, Any]:
        with Reader(self.env.db_path) as reader:
            record = resolve_run_id(reader, params)
        _require(record.run_id, record.status, RunStatus.STOPPING, also=RunStatus.STOPPED)
        if self.runs_sup.child_spec(record.run_id) is not None:
            ref = await self.controller(record.run_id)
            result: dict[str, Any] = await ref.request(
                StopRun(force=params.force), timeout=CONTROL_TIMEOUT
            )
        else:
            result = await stop_run_offline(self.env, self.store, record.run_id, force=params.force)
        if not result.get("deferred"):
            # A deferred stop keeps the run's actors: they carry it out when the host returns.
            await self.retire(record.run_id)
        return result

    async def resume(self, params: Selector) -> dict[str, Any]:
        with Reader(self.env.db_path) as reader:
            record = resolve_run_id(reader, params)
        _require(record.run_id, record.status, RunStatus.RUNNING)
        if record.status != RunStatus.RUNNING:
            await self.store.transition(
                EntityKind.RUN,
                record.run_id,
                record.status,
                RunStatus.RUNNING,
                "resume requested",
                run_id=record.run_id,
            )
        ref = await self.controller(record.run_id)
        steps = await ref.request(Execute(), timeout=PLAN_TIMEOUT)
        restarted = await ref.request(
            RestartAgents("resume requested", unfinished_only=True), timeout=CONTROL_TIMEOUT
        )
        return {"run_id": record.run_id, "steps": steps, **restarted}

    async def restart(self, params: RestartParams) -> dict[str, Any]:
        with Reader(self.env.db_path) as reader:
            record = resolve_run_id(reader, params)
            agents = reader.list_agents(record.run_id)
        if record.status == RunStatus.CLOSED:
            raise MetawsmError(f"run {record.run_id} is closed and cannot be restarted")
        if params.dry_run:
            return {
                "run_id": record.run_id,
                "dry_run": True,
                "actions": [
                    f"respawn {a.agent_name}@{a.workspace_name} in tmux session "
                    f"{a.session_name} as generation {a.generation + 1}"
                    for a in agents
                ],
            }
        ref = await self.controller(record.run_id)
        result: dict[str, Any] = await ref.request(RestartAgents(), timeout=CONTROL_TIMEOUT)
        return result

    async def iterate(self, params: IterateParams) -> dict[str, Any]:
        record = self._record(params)
        result = await prepare_iteration(
            self.run_env(record), self.store, record, params.feedback, dry_run=params.dry_run
        )
        if params.dry_run:
            return result
        ref = await self.controller(record.run_id)
        restarted = await ref.request(
            RestartAgents("iterate: operator feedback"), timeout=CONTROL_TIMEOUT
        )
        return {**result, **restarted}

    async def stop_agents_for_close(self, store: Any, run_id: str) -> dict[str, Any]:
        # Through the run's controller when it drives the run: killing a session under a live
        # agent actor would read as a crash and be restarted.
        if self.runs_sup.child_spec(run_id) is not None:
            ref = await self.controller(run_id)
            result: dict[str, Any] = await ref.request(
                StopRun("run closed"), timeout=CONTROL_TIMEOUT
            )
            return result
        return await stop_run_offline(self.env, self.store, run_id, reason="run closed")

    # -- docs federation (answers from the federation's snapshot in memory) -------------------

    async def docs(self, params: DocsParams) -> dict[str, Any]:
        if self.federation is None:
            return await super().docs(params)
        if not self.federation.endpoints:
            raise UsageError(
                "no docs.api endpoints configured in policy and no workspace docs served",
                hint="add docs.api.workspace_endpoints or repo_endpoints, or start a run "
                "(its workspace docs are served while docmgr is installed)",
            )
        refreshed = await self.federation.refresh(params.endpoints) if params.refresh else None
        view = self.federation.view(
            self.active_doc_contexts(), ticket=params.ticket, refresh=refreshed
        )
        return {**view, "supervisor": "up"}

    async def close(self, params: CloseParams) -> dict[str, Any]:
        """Close as offline, plus a warning per stale workspace docs index (never a block)."""
        result = await super().close(params)
        if result.get("status") == RunStatus.CLOSED and not params.keep_agents:
            await self.retire(result["run_id"])  # its agents are stopped: nothing to drive
        if self.federation is not None:
            spec = self.parsed_spec(self._record(params))
            workspaces = set(spec.get("workspaces", {}).values())
            endpoints = [
                ep for ep in self.federation.view(())["endpoints"] if ep["workspace"] in workspaces
            ]
            warnings = stale_warnings(endpoints)
            if warnings:
                result = {**result, "docs_warnings": warnings}
        return result

    async def status(self, params: StatusParams) -> dict[str, Any]:
        view = await super().status(params)
        if self.federation is not None:
            add_federation_health(view, self.federation)
        return view

    async def follow(self, params: dict[str, Any], send: Send) -> None:
        """The ``watch`` stream: every committed event of the selected run (or of all runs),
        and a heartbeat with the runs' state every ``heartbeat_seconds`` of quiet."""
        follow = FollowParams.model_validate(params)
        run_id = ""
        if follow.run_id or follow.ticket:
            run_id = self._record(follow).run_id
        heartbeat = follow.heartbeat_seconds
        events = self.bus.subscribe()
        forum_seen = self.forum.sequence if self.forum is not None else 0
        quiet_for = 0.0
        with events:
            await send(Notification(method="heartbeat", params=self._heartbeat(run_id)))
            # A watcher that reconnects names the last event it saw: what was committed since
            # comes first, from the store; the live stream then skips what was replayed.
            sent = follow.after_id
            while follow.after_id:
                with self.reader() as reader:
                    missed = reader.list_events(run_id or None, after_id=sent, limit=REPLAY_BATCH)
                if not missed:
                    break
                for record in missed:
                    sent = record.id
                    await send(Notification(method="event", params=self._event(asdict(record))))
            while True:
                # A forum change (a new urgent thread) gets a heartbeat at once, so watch
                # alerts its escalation without waiting for the quiet interval.
                if self.forum is not None and self.forum.sequence != forum_seen:
                    forum_seen = self.forum.sequence
                    await send(Notification(method="heartbeat", params=self._heartbeat(run_id)))
                wait = heartbeat if self.forum is None else min(heartbeat, FORUM_GLANCE)
                with anyio.move_on_after(wait) as quiet:
                    try:
                        event = await events.receive()
                    except anyio.EndOfStream:
                        await send(
                            Notification(
                                method="dropped",
                                params={
                                    "reason": "the watcher fell behind or the supervisor stopped"
                                },
                            )
                        )
                        return
                if quiet.cancelled_caught:
                    quiet_for += wait
                    if quiet_for >= heartbeat:
                        quiet_for = 0.0
                        await send(Notification(method="heartbeat", params=self._heartbeat(run_id)))
                    continue
                quiet_for = 0.0
                if (run_id and event["run_id"] != run_id) or event["id"] <= sent:
                    continue
                await send(Notification(method="event", params=self._event(event)))

    def _event(self, event: dict[str, Any]) -> dict[str, Any]:
        """An event as ``watch`` sends it: with its run's status and tickets, and, when the run
        waits for guidance, the pending questions."""
        with self.reader() as reader:
            record = reader.get_run(event["run_id"])
            waiting = event.get("entity_type") == "run" and event.get("to_state") == (
                RunStatus.AWAITING_GUIDANCE
            )
            questions = _questions(reader, event["run_id"]) if waiting else None
        event["run_status"] = record.status if record is not None else ""
        event["tickets"] = list(record.tickets) if record is not None else []
        if questions is not None:
            event["questions"] = questions
        return event

    def _heartbeat(self, run_id: str) -> dict[str, Any]:
        with self.reader() as reader:
            records = (
                [r for r in [reader.get_run(run_id)] if r is not None]
                if run_id
                else [r for r in reader.list_runs() if is_active(r)]
            )
            questions = {r.run_id: _questions(reader, r.run_id) for r in records}
            agents = {r.run_id: reader.list_agents(r.run_id) for r in records}
            now = datetime.now(UTC)
            sla = self.env.policy.forum.sla.escalation_minutes
            forum = {
                r.run_id: forum_store.escalations(reader.conn, r.run_id, now=now, sla_minutes=sla)
                for r in records
                if is_active(r)
            }
        unhealthy = {"dead", "stalled", "failed"}
        return {
            "runs": [
                {
                    "run_id": r.run_id,
                    "status": r.status,
                    "tickets": list(r.tickets),
                    "guidance": len(questions[r.run_id]),
                    "questions": questions[r.run_id],
                    "unhealthy_agents": sum(
                        1
                        for a in agents[r.run_id]
                        if a.status in unhealthy or a.health_state in ("dead", "stalled")
                    ),
                    "forum_escalations": forum.get(r.run_id, []),
                }
                for r in records
            ]
        }

    async def agent_restart(self, params: AgentParams) -> dict[str, Any]:
        return await self._agent_command(params, "restart")

    async def agent_stop(self, params: AgentParams) -> dict[str, Any]:
        return await self._agent_command(params, "stop")

    async def _agent_command(self, params: AgentParams, action: str) -> dict[str, Any]:
        record = self._record(params)
        ref = await self.controller(record.run_id)
        result: dict[str, Any] = await ref.request(
            AgentCommand(params.agent, params.workspace, action), timeout=CONTROL_TIMEOUT
        )
        return result

    async def signal_notify(self, params: SignalNotify) -> dict[str, Any]:
        """An agent just wrote a signal file: have its actor read it now, not at its next
        recheck."""
        run = self.runs_sup.child_spec(params.run_id)
        child = None
        if run is not None and run.supervisor is not None:
            child = run.supervisor.child_spec(f"{params.agent}@{params.workspace}")
        if child is None or child.mailbox is None:
            return {"taken": False}
        with contextlib.suppress(ActorError):
            child.mailbox.ref.send_nowait(ScanSignals())
            return {"taken": True}
        return {"taken": False}

    async def cleanup(self, params: CleanupParams) -> dict[str, Any]:
        async def one(record: RunRecord) -> dict[str, Any]:
            return await self._cleanup_one(record, params)

        return await cleanup_runs(self.env, params, one)

    async def _cleanup_one(self, record: RunRecord, params: CleanupParams) -> dict[str, Any]:
        spec = RunSpec.model_validate_json(record.spec_json)
        if params.dry_run:
            return cleanup_plan(
                record.run_id,
                spec,
                keep=params.keep_workspaces,
                prune_branches=params.prune_branches,
            )
        stopped: dict[str, Any] = {}
        if record.status != RunStatus.STOPPED:
            if self.runs_sup.child_spec(record.run_id) is not None:
                ref = await self.controller(record.run_id)
                stopped = await ref.request(StopRun("cleanup requested"), timeout=CONTROL_TIMEOUT)
            else:
                stopped = await stop_run_offline(
                    self.env, self.store, record.run_id, reason="cleanup requested"
                )
        await self.retire(record.run_id)
        deleted = (
            [] if params.keep_workspaces else await cleanup_workspaces(self.run_env(record), spec)
        )
        pruned = await prune_run_branches(self.env, spec) if params.prune_branches else {}
        await event(
            self.store,
            record.run_id,
            "cleanup",
            f"cleanup completed; workspaces deleted: {len(deleted)}"
            + (f"; branches deleted: {len(pruned['branches_deleted'])}" if pruned else ""),
        )
        return {"run_id": record.run_id, **stopped, "workspaces_deleted": deleted, **pruned}


def _require(run_id: str, current: str, target: RunStatus, *, also: str | None = None) -> None:
    if current in (target, also):
        return
    if not can_transition(EntityKind.RUN, current, target):
        raise TransitionError(f"run {run_id} cannot transition from {current} to {target}")


#: Events replayed per store read when a watcher resumes.
REPLAY_BATCH = 1000


def _questions(reader: Reader, run_id: str) -> list[dict[str, Any]]:
    """The run's pending guidance questions, oldest first."""
    return [
        {"agent": g.agent_name, "workspace": g.workspace_name, "question": g.question}
        for g in reader.list_guidance(run_id, pending_only=True)
    ]
