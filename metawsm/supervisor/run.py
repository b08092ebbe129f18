"""The run controller: one per active run, first child of that run's supervisor.

It owns the run's state machine and plan. :class:`Execute` runs the plan from its first step
that is not done (so resume is the same call), with each step retried
``execution.step_retries`` times; ``tmux_start`` steps add an agent actor as a dynamic child of
the run supervisor and wait for its verified start. Consecutive ``tmux_start`` steps run
concurrently, at most :data:`START_CONCURRENCY` at once, each still verified and retried on its
own (starting 200 agents one after another took 200 verification windows). Agents report when
they end for good; when all have, the run is ``completed`` (every agent exited 0) or ``failed``
(with who and why).
Stop, restart and cleanup go through here too, so the run's state changes in one place.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from actors import (
    Actor,
    ActorError,
    ActorStopped,
    ChildSpec,
    Failed,
    Restart,
    StartFailed,
    Supervisor,
    SupervisorState,
)
from metawsm.core import run_policy
from metawsm.errors import MetawsmError
from metawsm.hosts import LocalHost
from metawsm.hsm import (
    AgentStatus,
    EntityKind,
    HealthState,
    RunStatus,
    StepStatus,
    can_transition,
)
from metawsm.loop.bootstrap import Brief
from metawsm.loop.dochome import brief_from_row, docs_repo_of_run, seed_workspace_docs
from metawsm.loop.gates import read_run_brief
from metawsm.runs.spec import RunSpec
from metawsm.status import LiveAgent
from metawsm.store import ops
from metawsm.store.client import StoreClient
from metawsm.store.reader import Reader
from metawsm.store.records import AgentRecord, DocSyncRecord, NewEvent, StepRecord
from metawsm.supervisor.agent import AgentActor, AgentContext, Respawn, Start, StartError, Stop
from metawsm.supervisor.agent_logs import agent_log_dir
from metawsm.supervisor.environment import Environment
from metawsm.supervisor.health import Thresholds
from metawsm.supervisor.observer import HostObserver
from metawsm.supervisor.signal_watch import signal_roots
from metawsm.workspaces.base import Workspace

log = logging.getLogger("metawsm.run")

STEP_RETRY_PAUSE = 0.3  # the original's pause between attempts
AGENT_REQUEST_TIMEOUT = 60.0
#: Agent starts under way at once: each one is a tmux call, then a verification window spent
#: mostly waiting for the observer's shared snapshots, so many overlap well. The tmux calls
#: themselves are bounded apart (``TmuxServer(max_concurrent=...)``), so this bound is on the
#: actors and waits a run holds, not on processes.
START_CONCURRENCY = 100


def escalation_title(run_id: str, entity_id: str) -> str:
    """The title of the urgent forum thread of an agent past its restart budget: the command
    that acts on it."""
    return (
        f"Agent {entity_id} failed past its restart budget: metawsm resume --run-id {run_id}"
        f" (the failed agents) or metawsm restart --run-id {run_id} (all), each with a fresh"
        f" budget; or metawsm stop --run-id {run_id}"
    )


@dataclass(frozen=True)
class Execute:
    """Run the plan from its first step that is not done; reply with the steps."""


@dataclass(frozen=True)
class Adopt:
    """Give every agent that should be alive its actor back (sent by the controller to itself
    at start: its run supervisor takes new children only once it is running)."""


@dataclass(frozen=True)
class StopRun:
    reason: str = "stop requested"
    force: bool = False


@dataclass(frozen=True)
class AgentCommand:
    """Restart or stop one agent (``action``: restart|stop), for the tui."""

    agent: str
    workspace: str
    action: str


@dataclass(frozen=True)
class RestartAgents:
    """Respawn the run's agents as new generations (``unfinished_only``: skip agents that
    exited 0, which is what resume wants)."""

    reason: str = "restart requested"
    unfinished_only: bool = False


@dataclass(frozen=True)
class AgentEnded:
    entity_id: str
    status: str
    exit_status: int | None


@dataclass(frozen=True)
class AgentSignalled:
    """An agent's signal was taken: ``kind`` is guidance, complete or validate."""

    entity_id: str
    kind: str


RunMessage = Adopt | Execute | StopRun | RestartAgents | AgentCommand | AgentEnded | AgentSignalled


@dataclass
class RunContext:
    """What a run controller works with (shared by all runs of the supervisor)."""

    env: Environment
    store: StoreClient
    observer: HostObserver
    publish: Callable[[str, str, str, LiveAgent], None]  #: (run, agent, ws, live) → status cache
    observers: dict[str, HostObserver] = field(default_factory=dict)
    """Observers of the remote hosts, by host name (``observer`` is this machine's)."""

    def observer_for(self, host: str) -> HostObserver:
        if host == "local":
            return self.observer
        if host not in self.observers:
            raise MetawsmError(
                f"host {host} is not observed by this supervisor",
                hint="add it to the policy's hosts and restart `metawsm serve`",
            )
        return self.observers[host]


class RunController(Actor[RunMessage]):
    """Drives one run; see the module docstring."""

    def __init__(self, run_id: str, ctx: RunContext, run_sup: Supervisor) -> None:
        super().__init__()
        self.run_id = run_id
        self.ctx = ctx
        self.run_sup = run_sup
        self.reader = Reader(ctx.env.db_path)
        self.run_spec: RunSpec | None = None
        #: The environment with the run's own policy snapshot in force (set at start).
        self.env = ctx.env
        self._workspaces: dict[str, Workspace] = {}
        self._workspace_lock = anyio.Lock()
        self._plan_error: MetawsmError | None = None  #: why the last execution failed

    async def on_start(self) -> None:
        record = self.reader.get_run(self.run_id)
        if record is None:
            raise MetawsmError(f"run {self.run_id} is not in the store")
        self.run_spec = RunSpec.model_validate_json(record.spec_json)
        # The policy the run was submitted with, not the supervisor's: an edit of the file
        # applies to the runs submitted after it, and a run's rules never change under it.
        self.env = self.ctx.env.with_policy(run_policy(record, self.ctx.env.policy))
        if self.ref is None:
            return
        # Re-adopt through a message, not here: this runs while the run supervisor is still
        # starting (the controller is its first child), and a supervisor that is starting
        # refuses new children, so adopting in on_start failed the controller's start and the
        # run was never supervised again (its agents were only visible in SQLite).
        self.ref.send_nowait(Adopt())
        # A plan cut short by a dead supervisor resumes: the run is still `planning`, or it is
        # `running` (the executor moves it there before the first step) with steps not done.
        unfinished = any(
            s.status not in (StepStatus.DONE, StepStatus.SKIPPED)
            for s in self.reader.list_steps(self.run_id)
        )
        if record.status == RunStatus.PLANNING or (
            record.status == RunStatus.RUNNING and unfinished
        ):
            self.ref.send_nowait(Execute())

    async def on_stop(self) -> None:
        self.reader.close()

    async def handle(self, message: RunMessage) -> Any:
        try:
            return await self._dispatch(message)
        except (MetawsmError, StartError, StartFailed) as exc:
            # An operator-facing failure answers the request; the controller goes on.
            error = exc if isinstance(exc, MetawsmError) else MetawsmError(str(exc))
            return Failed(error)

    async def _dispatch(self, message: RunMessage) -> Any:
        if isinstance(message, Adopt):
            return await self._adopt()
        if isinstance(message, Execute):
            return await self._execute()
        if isinstance(message, StopRun):
            return await self._stop(message.reason, force=message.force)
        if isinstance(message, RestartAgents):
            return await self._restart(message.reason, unfinished_only=message.unfinished_only)
        if isinstance(message, AgentEnded):
            await self._check_finished(message)
            return None
        if isinstance(message, AgentCommand):
            return await self._agent_command(message)
        if isinstance(message, AgentSignalled):
            await self._on_signal(message)
            return None
        raise TypeError(f"run controller got {message!r}")

    async def _adopt(self) -> int:
        """Every agent whose session should be alive gets its actor back; the actor finds its
        session in the snapshot (or marks it dead and applies the restart rules)."""
        adopted = 0
        with anyio.move_on_after(AGENT_REQUEST_TIMEOUT):
            # Sent from on_start: wait until the run supervisor takes children (the kernel
            # offers no event for that, and this wait is short and bounded).
            while self.run_sup.state is SupervisorState.STARTING:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        if self.run_sup.state is not SupervisorState.RUNNING:
            return 0  # stopping already: nothing to adopt
        for agent in self.reader.list_agents(self.run_id):
            if agent.status in (
                AgentStatus.RUNNING,
                AgentStatus.IDLE,
                AgentStatus.STALLED,
                AgentStatus.DEAD,
                AgentStatus.STOPPING,  # a stop deferred while its host was away
            ):
                await self._ensure_agent(agent)
                adopted += 1
        return adopted

    # -- plan -------------------------------------------------------------------------------

    def _run_status(self) -> str:
        record = self.reader.get_run(self.run_id)
        return record.status if record is not None else ""

    async def _to_run_status(self, to_state: RunStatus, message: str) -> None:
        current = self._run_status()
        if current != to_state:
            await self.ctx.store.transition(
                EntityKind.RUN, self.run_id, current, to_state, message, run_id=self.run_id
            )

    async def _execute(self) -> list[dict[str, Any]]:
        assert self.run_spec is not None
        status = self._run_status()
        if status not in (RunStatus.CREATED, RunStatus.PLANNING, RunStatus.RUNNING):
            # The plan already ran and ended the run. A new controller finds a submitted run in
            # `planning` and executes its plan from on_start, so the submitter's own Execute
            # comes second: it used to run a failed plan all over again (every step's attempts
            # twice). It gets the first execution's outcome instead. (Resume moves the run to
            # `running` before it asks, so it does execute.)
            if status == RunStatus.FAILED and self._plan_error is not None:
                raise self._plan_error
            return [_step_view(s) for s in self.reader.list_steps(self.run_id)]
        if status in (RunStatus.CREATED,):
            await self._to_run_status(RunStatus.PLANNING, "planning run")
            status = RunStatus.PLANNING
        if status != RunStatus.RUNNING:
            await self._to_run_status(RunStatus.RUNNING, "executing plan")
        retries = self.env.policy.execution.step_retries
        ran = False
        self._plan_error = None
        for batch in _batches(self.reader.list_steps(self.run_id)):
            ran = True
            try:
                if len(batch) == 1:
                    await self._run_step(batch[0], attempts=retries + 1)
                else:
                    await self._run_concurrently(batch, attempts=retries + 1)
            except MetawsmError as exc:
                self._plan_error = exc
                raise
        if ran:
            await self._event("run", self.run_id, "plan_executed", "all steps done")
        return [_step_view(s) for s in self.reader.list_steps(self.run_id)]

    async def _run_concurrently(self, steps: list[StepRecord], *, attempts: int) -> None:
        """Run ``steps`` (agent starts) at most :data:`START_CONCURRENCY` at once; each is
        retried on its own. When any fails for good, the run fails once all have ended, naming
        the first failed step in plan order."""
        limiter = anyio.CapacityLimiter(START_CONCURRENCY)
        failures: dict[int, tuple[str, str | None]] = {}
        errors: list[MetawsmError] = []

        async def one(step: StepRecord) -> None:
            async with limiter:
                try:
                    failed = await self._attempt_step(step, attempts=attempts)
                except MetawsmError as exc:
                    # What a lone step raises (a store refusal) is raised as itself, not
                    # wrapped in an exception group the controller would not recognise.
                    errors.append(exc)
                    return
            if failed is not None:
                failures[step.step_index] = failed

        async with anyio.create_task_group() as tg:
            for step in steps:
                tg.start_soon(one, step)
        if errors:
            raise errors[0]
        if failures:
            first = min(failures)
            step = next(s for s in steps if s.step_index == first)
            await self._fail_plan(step, *failures[first])

    async def _run_step(self, step: StepRecord, *, attempts: int) -> None:
        failed = await self._attempt_step(step, attempts=attempts)
        if failed is not None:
            await self._fail_plan(step, *failed)

    async def _attempt_step(
        self, step: StepRecord, *, attempts: int
    ) -> tuple[str, str | None] | None:
        """Run one step with its retries; ``None`` when done, else its last error and hint."""
        entity = ops.step_entity_id(step.step_index)
        status = step.status
        error = ""
        cause_hint: str | None = None
        if status == StepStatus.RUNNING:
            # Left running by a supervisor that died during the step: record the interruption
            # (running -> running is not a transition, so the retry would fail otherwise).
            await self.ctx.store.transition(
                EntityKind.STEP,
                entity,
                status,
                StepStatus.FAILED,
                "interrupted: the supervisor stopped during this step",
                run_id=self.run_id,
            )
            status = StepStatus.FAILED
        for attempt in range(1, attempts + 1):
            await self.ctx.store.transition(
                EntityKind.STEP,
                entity,
                status,
                StepStatus.RUNNING,
                f"attempt {attempt}",
                run_id=self.run_id,
            )
            status = StepStatus.RUNNING
            try:
                await self._do_step(step)
            except (MetawsmError, StartError, ActorError) as exc:
                # ActorError too: an agent actor that crashed or timed out on Start fails the
                # step (recorded, retried) instead of crashing the controller mid-plan.
                error = exc.message if isinstance(exc, MetawsmError) else str(exc)
                cause_hint = exc.hint if isinstance(exc, MetawsmError) else None
                await self.ctx.store.transition(
                    EntityKind.STEP, entity, status, StepStatus.FAILED, error, run_id=self.run_id
                )
                status = StepStatus.FAILED
                if attempt < attempts:
                    await anyio.sleep(STEP_RETRY_PAUSE)
                continue
            await self.ctx.store.transition(
                EntityKind.STEP, entity, status, StepStatus.DONE, "done", run_id=self.run_id
            )
            return None
        return error, cause_hint

    async def _fail_plan(self, step: StepRecord, error: str, cause_hint: str | None) -> None:
        """Fail the run for ``step`` and raise the error the submitter sees."""
        message = f"step {step.step_index} {step.name} failed: {error}"
        await self._to_run_status(RunStatus.FAILED, message)
        # Keep the cause's own hint (which names the fix) ahead of how to go on.
        resume = f"`metawsm resume --run-id {self.run_id}`"
        raise MetawsmError(
            message,
            hint=f"{cause_hint}; then {resume}" if cause_hint else f"fix the cause, then {resume}",
        )

    async def _do_step(self, step: StepRecord) -> None:
        assert self.run_spec is not None
        if step.kind == "verify_ticket":
            await self._verify_ticket(step.ticket)
        elif step.kind == "workspace":
            await self._provision(step.workspace_name)
        elif step.kind == "ticket_context_sync":
            await self._seed(step.ticket, step.workspace_name)
        elif step.kind == "tmux_start":
            agent = self._agent_row(step.agent_name, step.workspace_name)
            ref = await self._ensure_agent(agent)
            await ref.request(Start(), timeout=AGENT_REQUEST_TIMEOUT)
        else:
            raise MetawsmError(f"unknown step kind: {step.kind}")

    async def _verify_ticket(self, ticket_id: str) -> None:
        """The ticket exists in ``docs.root``; a bootstrap run whose docs root lies in one of
        its repos may lack it: seeding creates it in the workspace (never in the operator's
        checkout)."""
        assert self.run_spec is not None
        docs = self.env.docs_provider()
        if (
            self.run_spec.mode == "bootstrap"
            and self.run_spec.doc_seed_mode == "copy_from_repo_on_start"
            and docs_repo_of_run(self.env, self.run_spec.repos, self.run_spec.host) is not None
            and self._brief() is not None
        ):
            await docs.find_ticket(ticket_id)  # a duplicate still fails here
            return
        await docs.get_ticket(ticket_id)

    def _brief(self) -> Brief | None:
        row = read_run_brief(self.reader.conn, self.run_id)
        if row is None:
            return None
        return brief_from_row(
            row.ticket, row.goal, row.scope, row.done_criteria, row.constraints_text,
            row.merge_intent, row.qa_json,
        )  # fmt: skip

    async def _provision(self, name: str) -> Workspace:
        assert self.run_spec is not None
        provider = self.env.workspace_provider(self.run_spec.host)
        existing = await provider.info(name)
        strategy = self.run_spec.workspace_strategy
        if existing is not None and strategy != "reuse":
            workspace = existing  # a retried or resumed step: it was made before
        elif strategy == "reuse":
            workspace = await provider.reuse(name)
        elif strategy == "fork":
            raise MetawsmError(
                "workspace strategy fork is not supported for runs yet",
                hint="use --workspace-strategy create or reuse",
            )
        else:
            branch = self.run_spec.branch_for(name)
            workspace = await provider.create(
                name, list(self.run_spec.repos), branch, self.run_spec.base_branch
            )
        self._workspaces[name] = workspace
        return workspace

    async def _workspace(self, name: str) -> Workspace:
        if name in self._workspaces:
            return self._workspaces[name]
        # Concurrent agent starts of one workspace ask for it once, not once each.
        async with self._workspace_lock:
            return await self._find_workspace(name)

    async def _find_workspace(self, name: str) -> Workspace:
        if name not in self._workspaces:
            assert self.run_spec is not None
            found = await self.env.workspace_provider(self.run_spec.host).info(name)
            if found is None:
                raise MetawsmError(
                    f"workspace {name} of run {self.run_id} does not exist",
                    hint="run `metawsm resume` to provision it again",
                )
            self._workspaces[name] = found
        return self._workspaces[name]

    def _doc_repo_path(self, workspace: Workspace) -> str:
        assert self.run_spec is not None
        repo = self.run_spec.doc_home_repo
        if repo not in workspace.repos:
            raise MetawsmError(f"doc home repo {repo} is not in workspace {workspace.name}")
        return workspace.repos[repo]

    async def _seed(self, ticket_id: str, workspace_name: str) -> None:
        assert self.run_spec is not None
        record = DocSyncRecord(
            run_id=self.run_id,
            ticket=ticket_id,
            workspace_name=workspace_name,
            doc_home_repo=self.run_spec.doc_home_repo,
            doc_authority_mode=self.run_spec.doc_authority_mode,
            doc_seed_mode=self.run_spec.doc_seed_mode,
            status="pending",
        )
        await self.ctx.store.write(ops.upsert_doc_sync_state(record))
        try:
            workspace = await self._workspace(workspace_name)
            result = await seed_workspace_docs(
                self.env,
                self.run_spec,
                ticket_id,
                self._doc_repo_path(workspace),
                self._brief() if self.run_spec.mode == "bootstrap" else None,
            )
        except MetawsmError as exc:
            failed = DocSyncRecord(
                **{**_fields(record), "status": "failed", "error_text": exc.message}
            )
            await self.ctx.store.write(ops.upsert_doc_sync_state(failed))
            raise
        synced = DocSyncRecord(
            **{**_fields(record), "status": "synced", "revision": result.revision}
        )
        self.run_spec = self.run_spec.model_copy(update={"doc_freshness_revision": result.revision})
        await self.ctx.store.write(
            ops.upsert_doc_sync_state(synced),
            ops.set_run_spec(self.run_id, self.run_spec.model_dump_json()),
        )

    # -- agents -----------------------------------------------------------------------------

    def _agent_row(self, agent: str, workspace: str) -> AgentRecord:
        for row in self.reader.list_agents(self.run_id):
            if row.agent_name == agent and row.workspace_name == workspace:
                return row
        raise MetawsmError(f"agent {agent}@{workspace} is not part of run {self.run_id}")

    async def _ensure_agent(self, row: AgentRecord) -> Any:
        """The agent's actor, started as a child of the run supervisor if it is not there."""
        assert self.run_spec is not None
        child_id = ops.agent_entity_id(row.agent_name, row.workspace_name)
        existing = self.run_sup.child_spec(child_id)
        if existing is not None and existing.mailbox is not None:
            if not existing.mailbox.is_closed:
                return existing.mailbox.ref
            await self.run_sup.terminate_child(child_id)
        workspace = await self._workspace(row.workspace_name)
        agent_spec = next(a for a in self.run_spec.agents if a.name == row.agent_name)
        env = self.env
        policy = env.policy
        publish = self.ctx.publish
        run_id = self.run_id

        def load_row() -> AgentRecord | None:
            with Reader(env.db_path) as reader:
                for r in reader.list_agents(run_id):
                    if r.agent_name == row.agent_name and r.workspace_name == row.workspace_name:
                        return r
            return None

        def ended(entity: str, status: str, exit_status: int | None) -> None:
            if self.ref is not None:
                try:
                    self.ref.send_nowait(AgentEnded(entity, status, exit_status))
                except (ActorStopped, anyio.WouldBlock) as exc:  # pragma: no cover - defensive
                    log.warning("could not tell run %s that %s ended: %s", run_id, entity, exc)

        def pending_questions() -> set[str]:
            with Reader(env.db_path) as reader:
                return {
                    g.question
                    for g in reader.list_guidance(run_id, pending_only=True)
                    if g.agent_name == row.agent_name and g.workspace_name == row.workspace_name
                }

        def signalled(entity: str, kind: str) -> None:
            if self.ref is not None:
                with contextlib.suppress(ActorStopped, anyio.WouldBlock):
                    self.ref.send_nowait(AgentSignalled(entity, kind))

        ctx = AgentContext(
            run_id=run_id,
            agent=row.agent_name,
            workspace=row.workspace_name,
            session=row.session_name,
            argv=tuple(agent_spec.argv),
            cwd=self._doc_repo_path(workspace),
            workspace_root=workspace.root,
            host=env.host_for(self.run_spec.host),
            tmux=env.tmux_for(self.run_spec.host),
            observer=self.ctx.observer_for(self.run_spec.host),
            store=self.ctx.store,
            load_row=load_row,
            thresholds=Thresholds.from_policy(policy),
            restart_budget=policy.operator.restart_budget,
            restart_cooldown=float(policy.operator.restart_cooldown_seconds),
            socket_path=str(env.socket_path),
            publish=lambda live: publish(run_id, row.agent_name, row.workspace_name, live),
            on_final=ended,
            signal_roots=signal_roots(
                workspace.root, self._doc_repo_path(workspace), row.agent_name
            ),
            on_signal=signalled,
            pending_questions=pending_questions,
            owns_shared_roots=sum(
                1 for r in self.reader.list_agents(run_id) if r.workspace_name == row.workspace_name
            )
            == 1,
            # Output history is kept in the root, so only for agents on this machine.
            log_dir=(
                agent_log_dir(env.logs_dir, run_id, row.workspace_name, row.agent_name)
                if isinstance(env.host_for(self.run_spec.host), LocalHost)
                else ""
            ),
        )
        spec: ChildSpec = AgentActor.spec(
            child_id, lambda: AgentActor(ctx), restart=Restart.TRANSIENT, shutdown=5.0
        )
        await self.run_sup.start_child(spec)
        assert spec.mailbox is not None
        return spec.mailbox.ref

    async def _on_signal(self, signalled: AgentSignalled) -> None:
        if signalled.kind == "guidance":
            if self._run_status() == RunStatus.RUNNING:
                await self._to_run_status(RunStatus.AWAITING_GUIDANCE, "awaiting operator guidance")
            return
        if signalled.kind == "complete":
            await self._check_completed()

    def _signalled_complete(self) -> set[str]:
        """Agents whose current generation signalled completion (events survive restarts of
        this controller; an older generation's completion does not count)."""
        generation = {
            ops.agent_entity_id(a.agent_name, a.workspace_name): a.generation
            for a in self.reader.list_agents(self.run_id)
        }
        return {
            e.entity_id
            for e in self.reader.list_events(self.run_id, limit=100_000)
            if e.event_type == "completion" and generation.get(e.entity_id) == e.generation
        }

    async def _check_completed(self) -> None:
        """Complete the run when every agent is done: in a bootstrap run every agent must
        signal completion; in a plain run an exit 0 counts as done too. Not when tmux starts,
        as the original did."""
        assert self.run_spec is not None
        if self._run_status() != RunStatus.RUNNING:
            return
        agents = self.reader.list_agents(self.run_id)
        signalled = self._signalled_complete()
        bootstrap = self.run_spec.mode == "bootstrap"

        def done(agent: AgentRecord) -> bool:
            entity = ops.agent_entity_id(agent.agent_name, agent.workspace_name)
            exited_clean = agent.status == AgentStatus.STOPPED and agent.last_exit_status == 0
            return entity in signalled or (exited_clean and not bootstrap)

        if agents and all(done(a) for a in agents):
            await self._to_run_status(RunStatus.COMPLETED, "all agents finished")

    async def _check_finished(self, ended: AgentEnded) -> None:
        if self._run_status() == RunStatus.STOPPING:
            # A deferred stop carried out: the run is stopped once its last agent is.
            rows = self.reader.list_agents(self.run_id)
            if all(a.status in (AgentStatus.STOPPED, AgentStatus.FAILED) for a in rows):
                await self._to_run_status(RunStatus.STOPPED, "run stopped (host returned)")
            return
        if ended.status == AgentStatus.FAILED:
            message = f"agent {ended.entity_id} failed (exit {ended.exit_status})"
            await self._event("run", self.run_id, "agent_failed", message)
            # Escalate: the operator sees it under guidance with the reason and the commands
            # that act on it (an answer through `guide` reaches no one: the agent is gone).
            agent, _, workspace = ended.entity_id.rpartition("@")
            row = next(
                (
                    a
                    for a in self.reader.list_agents(self.run_id)
                    if a.agent_name == agent and a.workspace_name == workspace
                ),
                None,
            )
            await self.ctx.store.add_guidance_request(
                self.run_id,
                workspace,
                agent,
                escalation_question(self.run_id, ended.entity_id),
                message,
                generation=row.generation if row is not None else 0,
                priority="urgent",
                opened_by=("system", "metawsm"),
                title=escalation_title(self.run_id, ended.entity_id),
            )
        await self._check_completed()
        agents = self.reader.list_agents(self.run_id)
        if any(a.status not in (AgentStatus.STOPPED, AgentStatus.FAILED) for a in agents):
            return
        if self._run_status() not in (RunStatus.RUNNING, RunStatus.AWAITING_GUIDANCE):
            return
        failed = [
            ops.agent_entity_id(a.agent_name, a.workspace_name)
            for a in agents
            if a.status == AgentStatus.FAILED or a.last_exit_status != 0
        ]
        if failed:
            await self._to_run_status(RunStatus.FAILED, f"agents failed: {', '.join(failed)}")

    async def _stop(self, reason: str, *, force: bool = False) -> dict[str, Any]:
        status = self._run_status()
        moving = status != RunStatus.STOPPED and can_transition(
            EntityKind.RUN, status, RunStatus.STOPPING
        )
        if moving:
            await self._to_run_status(RunStatus.STOPPING, reason)
        stopped = 0
        deferred: list[str] = []
        for row in self.reader.list_agents(self.run_id):
            child_id = ops.agent_entity_id(row.agent_name, row.workspace_name)
            spec = self.run_sup.child_spec(child_id)
            if spec is not None and spec.mailbox is not None and not spec.mailbox.is_closed:
                try:
                    live = await spec.mailbox.ref.request(
                        Stop(reason, force=force), timeout=AGENT_REQUEST_TIMEOUT
                    )
                    if live.status == AgentStatus.STOPPING:
                        deferred.append(child_id)
                    else:
                        stopped += 1
                    continue
                except ActorStopped:
                    pass
            await stop_agent_offline(self.env, self.ctx.store, row, reason, force=force)
            stopped += 1
        result: dict[str, Any] = {"run_id": self.run_id, "agents_stopped": stopped}
        if deferred:
            host = self.run_spec.host if self.run_spec is not None else "?"
            result["deferred"] = deferred
            result["host"] = host
            await self._event(
                "run",
                self.run_id,
                "stop_deferred",
                f"host {host} is unreachable: {len(deferred)} agent(s) stop when it returns",
            )
            return result
        if moving or status == RunStatus.STOPPING:
            await self._to_run_status(RunStatus.STOPPED, "run stopped")
        return result

    async def _restart(self, reason: str, *, unfinished_only: bool = False) -> dict[str, Any]:
        status = self._run_status()
        if status == RunStatus.CLOSED:
            raise MetawsmError(f"run {self.run_id} is closed and cannot be restarted")
        rows = self.reader.list_agents(self.run_id)
        if not rows:
            raise MetawsmError(f"run {self.run_id} has no agents to restart")
        if status != RunStatus.RUNNING:
            await self._to_run_status(RunStatus.RUNNING, reason)
        restarted = 0
        for row in rows:
            if row.status == AgentStatus.PENDING:
                continue
            finished = row.status == AgentStatus.STOPPED and row.last_exit_status == 0
            live = row.status in (AgentStatus.RUNNING, AgentStatus.IDLE, AgentStatus.STALLED)
            if unfinished_only and (finished or live):
                continue
            ref = await self._ensure_agent(row)
            live = await ref.request(Respawn(reason), timeout=AGENT_REQUEST_TIMEOUT)
            await self._supersede_questions(row, live.generation)
            restarted += 1
        await self._event("run", self.run_id, "restart", f"restarted {restarted} agents")
        return {"run_id": self.run_id, "agents_restarted": restarted}

    async def _agent_command(self, command: AgentCommand) -> dict[str, Any]:
        row = self._agent_row(command.agent, command.workspace)
        entity = ops.agent_entity_id(row.agent_name, row.workspace_name)
        if command.action == "stop":
            spec = self.run_sup.child_spec(entity)
            if spec is not None and spec.mailbox is not None and not spec.mailbox.is_closed:
                await spec.mailbox.ref.request(
                    Stop("stopped by the operator"), timeout=AGENT_REQUEST_TIMEOUT
                )
            else:
                await stop_agent_offline(self.env, self.ctx.store, row, "stopped by the operator")
            return {"run_id": self.run_id, "agent": entity, "action": "stopped"}
        if command.action == "restart":
            if self._run_status() not in (RunStatus.RUNNING, RunStatus.AWAITING_GUIDANCE):
                await self._to_run_status(RunStatus.RUNNING, f"restart of {entity} requested")
            ref = await self._ensure_agent(row)
            live = await ref.request(
                Respawn("restarted by the operator"), timeout=AGENT_REQUEST_TIMEOUT
            )
            await self._supersede_questions(row, live.generation)
            return {
                "run_id": self.run_id,
                "agent": entity,
                "action": "restarted",
                "generation": live.generation,
            }
        raise MetawsmError(f"unknown agent action {command.action!r}", hint="restart or stop")

    async def _supersede_questions(self, row: AgentRecord, generation: int) -> None:
        """After the operator restarted an agent, its pending questions from older generations
        (the escalation of a spent budget among them) are closed: the new generation starts
        with its signal files cleared, so no answer could reach the one that asked."""
        for request in self.reader.list_guidance(self.run_id, pending_only=True):
            if (
                request.agent_name == row.agent_name
                and request.workspace_name == row.workspace_name
                and request.generation < generation
            ):
                await self.ctx.store.answer_guidance(
                    request.id,
                    f"superseded: the operator restarted the agent as generation {generation}",
                )
        if self._run_status() == RunStatus.AWAITING_GUIDANCE and not self.reader.list_guidance(
            self.run_id, pending_only=True
        ):
            await self._to_run_status(RunStatus.RUNNING, "no guidance pending after the restart")

    async def _event(self, entity_type: str, entity_id: str, event_type: str, message: str) -> None:
        await self.ctx.store.append_event(
            NewEvent(self.run_id, entity_type, entity_id, event_type, message=message)
        )


def escalation_question(run_id: str, entity_id: str) -> str:
    """The guidance request recorded for an agent that failed for good: it names the commands
    that act, since an answer cannot restart it."""
    return (
        f"agent {entity_id} failed and metawsm will not restart it again; an answer cannot "
        f"restart it: `metawsm resume --run-id {run_id}` restarts it with a fresh restart "
        f"budget (`metawsm restart --run-id {run_id}` restarts every agent), "
        f"`metawsm stop --run-id {run_id}` stops the run"
    )


async def stop_agent_offline(
    env: Environment, store: Any, row: AgentRecord, reason: str, *, force: bool = False
) -> None:
    """Stop an agent that has no actor: kill its session (unless ``force``), record it
    stopped."""
    if not force:
        await env.tmux_for(row.host).kill_session(row.session_name)
    entity = ops.agent_entity_id(row.agent_name, row.workspace_name)
    if row.health_state == HealthState.HEALTHY:  # a stopped agent is not "healthy"
        await store.write(
            ops.update_agent_health(
                row.run_id,
                row.agent_name,
                row.workspace_name,
                health_state=HealthState.IDLE,
                last_activity_at=row.last_activity_at,
                last_progress_at=row.last_progress_at,
                last_exit_status=row.last_exit_status,
            )
        )
    status = row.status
    if status in (AgentStatus.RUNNING, AgentStatus.IDLE, AgentStatus.STALLED):
        await store.transition(
            EntityKind.AGENT,
            entity,
            status,
            AgentStatus.STOPPING,
            reason,
            run_id=row.run_id,
            generation=row.generation,
        )
        status = AgentStatus.STOPPING
    if status not in (AgentStatus.STOPPED,):
        await store.transition(
            EntityKind.AGENT,
            entity,
            status,
            AgentStatus.STOPPED,
            reason,
            run_id=row.run_id,
            generation=row.generation,
        )


def _fields(record: DocSyncRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def _batches(steps: list[StepRecord]) -> list[list[StepRecord]]:
    """The steps not done yet, in plan order, as batches: consecutive agent starts together
    (they depend on nothing but the steps before them), every other step alone."""
    batches: list[list[StepRecord]] = []
    for step in steps:
        if step.status in (StepStatus.DONE, StepStatus.SKIPPED):
            continue
        if step.kind == "tmux_start" and batches and batches[-1][0].kind == "tmux_start":
            batches[-1].append(step)
        else:
            batches.append([step])
    return batches


def _step_view(step: StepRecord) -> dict[str, Any]:
    return {
        "index": step.step_index,
        "name": step.name,
        "kind": step.kind,
        "status": step.status,
        "error": step.error_text,
    }
