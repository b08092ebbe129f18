"""The operations the CLI offers, behind one interface with three implementations.

- :class:`ServiceCore` runs inside ``metawsm serve``: writes go through the store writer, runs
  through their run controllers, and status reads SQLite plus the live status cache.
- :class:`OfflineCore` is used when no supervisor is running: reads come from SQLite (and say
  the supervisor is down); stop and cleanup act on SQLite and tmux directly, to be reconciled
  by the next supervisor; starting a run needs a supervisor.
- :class:`RemoteCore` forwards each call over the control socket to a running supervisor.

Every method takes and returns plain JSON-able data, so the three are interchangeable and the
CLI prints the same objects with ``--json`` whichever answered.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field, field_validator

from metawsm.errors import NotFoundError, UsageError
from metawsm.forum.service import FORUM_METHODS
from metawsm.hsm import ACTIVE_RUN_STATUSES, EntityKind, RunStatus
from metawsm.loop.bootstrap import Brief, render_brief_doc, upsert_brief_op
from metawsm.naming import validate_name
from metawsm.policy.model import Policy
from metawsm.runs.plan import build_plan, seed_agents
from metawsm.runs.preflight import find_missing, preflight
from metawsm.runs.spec import RunRequest, RunSpec, host_load, resolve_run
from metawsm.status import (
    SIGNAL_EVENT_TYPES,
    LiveAgent,
    build_status,
    collect_diffs,
    summarize,
)
from metawsm.status.views import ForumStatusView, RunStatusView
from metawsm.store import ops
from metawsm.store.client import StoreWrites
from metawsm.store.reader import Reader
from metawsm.store.records import NewEvent, RunRecord
from metawsm.supervisor.environment import Environment


class Selector(BaseModel):
    """``--run-id`` or ``--ticket`` (the newest active run of that ticket, else the newest
    finished one; a dry run only when the ticket has no other)."""

    run_id: str = ""
    ticket: str = ""


class StatusParams(Selector):
    diffs: bool = True


class RunsParams(BaseModel):
    all: bool = False


class CleanupParams(Selector):
    keep_workspaces: bool = False
    dry_run: bool = False
    #: Every finished run (:data:`CLEANUP_ALL_STATUSES`) instead of one selected run.
    all: bool = False
    #: Also delete the runs' workspace branches that are merged into their base.
    prune_branches: bool = False


#: The runs ``cleanup --all`` cleans: those that ended. A completed run waits for its review
#: (iterate, merge, close), so it is left alone until it is closed or stopped.
CLEANUP_ALL_STATUSES = (RunStatus.CLOSED, RunStatus.STOPPED, RunStatus.FAILED)


class StopParams(Selector):
    """``stop``; ``force``: record the agents stopped without reaching an unreachable host."""

    force: bool = False


class HostsParams(BaseModel):
    """``hosts``: no parameters."""


class RestartParams(Selector):
    dry_run: bool = False


class BriefParams(BaseModel):
    """A bootstrap brief as it crosses the socket: every field is required, so a brief that
    lacks one is refused as invalid params naming it (it answered ``KeyError: 'goal'``)."""

    ticket: str
    goal: str
    scope: str
    done_criteria: str
    constraints: str
    merge_intent: str
    qa: list[tuple[str, str]] = []

    def to_brief(self) -> Brief:
        return Brief(
            self.ticket,
            self.goal,
            self.scope,
            self.done_criteria,
            self.constraints,
            self.merge_intent,
            tuple(self.qa),
        )


class SubmitParams(BaseModel):
    request: RunRequest
    wait: bool = True
    #: Bootstrap intake (goal, scope, done_criteria, constraints, merge_intent, and the
    #: question/answer pairs), already collected by the CLI.
    brief: BriefParams | None = None


class GuideParams(Selector):
    answer: str = ""


class IterateParams(Selector):
    feedback: str = ""
    dry_run: bool = False


class MergeParams(Selector):
    dry_run: bool = False
    human: bool = False


class CloseParams(Selector):
    dry_run: bool = False
    changelog_entry: str = ""
    #: Leave the run's agents running after the close (by default close stops them).
    keep_agents: bool = False


#: The bounds of a watch heartbeat interval: 1e-9 made the supervisor send 18,000 messages in
#: two seconds, and a day-long quiet would read as a dead supervisor.
MIN_HEARTBEAT_SECONDS = 0.5
MAX_HEARTBEAT_SECONDS = 3600.0


class FollowParams(Selector):
    """``watch``: one run (``run_id``/``ticket``) or every run; a heartbeat after this much
    quiet (within :data:`MIN_HEARTBEAT_SECONDS` .. :data:`MAX_HEARTBEAT_SECONDS`)."""

    heartbeat_seconds: float = 15.0
    #: Resume after this event sequence number: the events committed since are sent first
    #: (a watch that reconnects loses none and repeats none).
    after_id: int = Field(0, ge=0)

    @field_validator("heartbeat_seconds")
    @classmethod
    def _bounded(cls, value: float) -> float:
        # Written so that NaN fails too.
        if not MIN_HEARTBEAT_SECONDS <= value <= MAX_HEARTBEAT_SECONDS:
            raise ValueError(
                f"--interval must be between {MIN_HEARTBEAT_SECONDS:g} and "
                f"{MAX_HEARTBEAT_SECONDS:g} seconds, got {value:g}"
            )
        return value


class AgentParams(Selector):
    """One agent of a run, for ``agent.restart`` / ``agent.stop``."""

    agent: str
    workspace: str


class DocsParams(BaseModel):
    """``docs``: the federated ticket view; ``refresh`` first asks the endpoints to re-index."""

    ticket: str = ""
    refresh: bool = False
    endpoints: list[str] = []


class SignalNotify(BaseModel):
    run_id: str
    agent: str
    workspace: str


class Core(Protocol):
    """What the CLI can ask of metawsm."""

    supervisor_up: bool

    async def submit_run(self, params: SubmitParams) -> dict[str, Any]: ...
    async def status(self, params: StatusParams) -> dict[str, Any]: ...
    async def runs(self, params: RunsParams) -> list[dict[str, Any]]: ...
    async def stop(self, params: StopParams) -> dict[str, Any]: ...
    async def guide(self, params: GuideParams) -> dict[str, Any]: ...
    async def iterate(self, params: IterateParams) -> dict[str, Any]: ...
    async def merge(self, params: MergeParams) -> dict[str, Any]: ...
    async def close(self, params: CloseParams) -> dict[str, Any]: ...
    async def resume(self, params: Selector) -> dict[str, Any]: ...
    async def restart(self, params: RestartParams) -> dict[str, Any]: ...
    async def cleanup(self, params: CleanupParams) -> dict[str, Any]: ...
    async def docs(self, params: DocsParams) -> dict[str, Any]: ...


def run_policy(record: RunRecord, fallback: Policy) -> Policy:
    """The policy snapshot a run started with (``runs.policy_json``); ``fallback`` for a run
    whose snapshot this version cannot read (one written by the original metawsm)."""
    from pydantic import ValidationError

    try:
        return Policy.model_validate_json(record.policy_json or "{}")
    except ValidationError:
        return fallback


def resolve_run_id(reader: Reader, selector: Selector) -> RunRecord:
    """The run a selector names; the original's rule for ``--ticket``."""
    if selector.run_id and selector.ticket:
        raise UsageError(
            "--run-id and --ticket exclude each other; give one",
            hint="--run-id names one run; --ticket picks the newest run of that ticket",
        )
    if not selector.run_id and not selector.ticket:
        raise UsageError(
            "one of --run-id or --ticket is required", hint="list runs with `metawsm runs --all`"
        )
    if selector.run_id:
        validate_name("run id", selector.run_id)
        record = reader.get_run(selector.run_id)
        if record is None:
            raise NotFoundError(
                f"no run {selector.run_id}", hint="list runs with `metawsm runs --all`"
            )
        return record
    validate_name("ticket", selector.ticket)
    candidates = [r for r in reader.list_runs() if selector.ticket in r.tickets]
    # The newest active run first, then the newest finished one; dry runs only when nothing
    # else has the ticket.
    candidates.sort(
        key=lambda r: (
            not json.loads(r.spec_json or "{}").get("dry_run", False),
            r.status in ACTIVE_RUN_STATUSES,
            r.updated_at,
            r.run_id,
        ),
        reverse=True,
    )
    if candidates:
        return candidates[0]
    raise NotFoundError(
        f"no run found for ticket {selector.ticket}",
        hint="start one with `metawsm run --ticket ...`",
    )


def _summary(record: RunRecord, agents: int) -> dict[str, Any]:
    return summarize(record, agents=agents).model_dump(mode="json")


def is_active(record: RunRecord) -> bool:
    """Active runs as the original counted them, minus dry runs (which it left ``paused``)."""
    if record.status not in ACTIVE_RUN_STATUSES:
        return False
    return not json.loads(record.spec_json or "{}").get("dry_run", False)


class ReadingCore:
    """The read side shared by the supervisor and the offline path."""

    supervisor_up = False

    def __init__(self, env: Environment) -> None:
        self.env = env

    def live(self, run_id: str) -> Mapping[tuple[str, str], LiveAgent] | None:
        return None

    @contextmanager
    def reader(self) -> Iterator[Reader]:
        """A reader for one call (the supervisor keeps one open instead)."""
        with Reader(self.env.db_path) as reader:
            yield reader

    def parsed_spec(self, record: RunRecord) -> dict[str, Any]:
        spec: dict[str, Any] = json.loads(record.spec_json or "{}")
        return spec

    def run_env(self, record: RunRecord) -> Environment:
        """The environment with the run's own policy in force: the snapshot it started with."""
        return self.env.with_policy(run_policy(record, self.env.policy))

    async def status(self, params: StatusParams) -> dict[str, Any]:
        """One run's status; with no selector, ``{"runs": [...]}``: every active run's."""
        every = not params.run_id and not params.ticket
        if not self.env.db_path.exists():
            if every:
                return {"runs": []}
            raise NotFoundError(
                f"no runs yet in {self.env.root}", hint="start one with `metawsm run --ticket ...`"
            )
        if every:
            with self.reader() as reader:
                active = [r for r in reader.list_runs() if is_active(r)]
            active.sort(key=lambda r: (r.created_at, r.run_id), reverse=True)
            return {"runs": [await self._status_of_record(r, params.diffs) for r in active]}
        with self.reader() as reader:
            record = resolve_run_id(reader, params)
        return await self._status_of_record(record, params.diffs)

    async def _status_of_record(self, record: RunRecord, with_diffs: bool) -> dict[str, Any]:
        with self.reader() as reader:
            steps = reader.list_steps(record.run_id)
            agents = reader.list_agents(record.run_id)
            docs = reader.list_doc_sync_states(record.run_id)
            guidance = reader.list_guidance(record.run_id, pending_only=True)
            agent_events = reader.list_agent_events(record.run_id, SIGNAL_EVENT_TYPES)
        spec = self.parsed_spec(record)
        env = self.run_env(record)
        diffs = None
        if with_diffs and spec.get("workspaces"):
            diffs = await collect_diffs(
                env.host_for(spec.get("host", "local")),
                await self._workspace_repos(env, spec),
                spec.get("base_branch", "main"),
                with_branch=True,
            )
        now = datetime.now(UTC)
        view = build_status(
            record,
            steps,
            agents,
            docs,
            guidance,
            spec=spec,
            live=self.live(record.run_id),
            diffs=diffs,
            now=now,
            supervisor_up=self.supervisor_up,
            stale_warning_seconds=env.policy.docs.stale_warning_seconds,
            agent_events=agent_events,
        )
        return self._with_forum(view, now).model_dump(mode="json")

    def _with_forum(self, view: RunStatusView, now: datetime) -> RunStatusView:
        """The run's threads, escalations and each question's thread id."""
        from metawsm.forum import store as forum_store

        with self.reader() as reader:
            forum = forum_store.run_forum(
                reader.conn,
                view.run_id,
                now=now,
                sla_minutes=self.env.policy.forum.sla.escalation_minutes,
            )
            links = forum_store.guidance_threads(reader.conn, [g.id for g in view.guidance])
        if forum is not None:
            forum["export_lag"] = self.forum_export_lag()
        guidance = [g.model_copy(update={"thread_id": links.get(g.id)}) for g in view.guidance]
        return view.model_copy(
            update={
                "guidance": guidance,
                "forum": None if forum is None else ForumStatusView.model_validate(forum),
            }
        )

    def forum_export_lag(self) -> int | None:
        """Events not yet exported to Redis (None: the export is off)."""
        from metawsm.forum.redis_export import export_lag

        return export_lag(self.env)

    async def _workspace_repos(
        self, env: Environment, spec: dict[str, Any]
    ) -> dict[str, dict[str, str]]:
        provider = env.workspace_provider(spec.get("host", "local"))
        found: dict[str, dict[str, str]] = {}
        for name in spec.get("workspaces", {}).values():
            workspace = await provider.info(name)
            if workspace is not None:
                found[name] = dict(workspace.repos)
        return found

    def active_doc_contexts(self) -> set[tuple[str, str]]:
        """``(ticket, doc-home repo)`` of every ticket of every active run (the original's
        ``ActiveDocContexts``): what makes a federated ticket ``active``."""
        if not self.env.db_path.exists():
            return set()
        with self.reader() as reader:
            records = reader.list_runs()
        out: set[tuple[str, str]] = set()
        for record in records:
            if is_active(record):
                spec = self.parsed_spec(record)
                repo = str(spec.get("doc_home_repo") or spec.get("doc_repo") or "")
                out.update((str(t), repo) for t in record.tickets)
        return out

    async def docs(self, params: DocsParams) -> dict[str, Any]:
        """Without a supervisor: poll the policy's endpoints once, then answer."""
        from metawsm.supervisor.docs_federation import DocsFederation

        federation = DocsFederation.from_policy(self.env.policy)
        if not federation.endpoints:
            raise UsageError(
                "no docs.api endpoints configured in policy",
                hint="add docs.api.workspace_endpoints or repo_endpoints, or start `metawsm "
                "serve`, which serves the docs of active workspaces",
            )
        async with federation.session():
            refreshed = await federation.refresh(params.endpoints) if params.refresh else None
            await federation.poll_once(all_endpoints=True)
        view = federation.view(self.active_doc_contexts(), ticket=params.ticket, refresh=refreshed)
        return {**view, "supervisor": "down"}

    async def runs(self, params: RunsParams) -> list[dict[str, Any]]:
        if not self.env.db_path.exists():
            return []  # a root where nothing has run yet has no runs, not an error
        with Reader(self.env.db_path) as reader:
            records = reader.list_runs()
            counts: dict[str, int] = {}
            for agent in reader.list_agents():
                counts[agent.run_id] = counts.get(agent.run_id, 0) + 1
        chosen = [r for r in records if params.all or is_active(r)]
        chosen.sort(key=lambda r: (r.created_at, r.run_id), reverse=True)
        return [_summary(r, counts.get(r.run_id, 0)) for r in chosen]


class LoopOps:
    """guide, merge and close: the same with or without a supervisor (``self.store`` and
    ``self.env`` come from the class that mixes this in)."""

    env: Environment

    def write_store(self) -> Any:
        raise NotImplementedError

    def _record(self, selector: Selector) -> RunRecord:
        with Reader(self.env.db_path) as reader:
            return resolve_run_id(reader, selector)

    def run_env(self, record: RunRecord) -> Environment:
        """The environment with the run's own policy in force: the snapshot it started with."""
        return self.env.with_policy(run_policy(record, self.env.policy))

    async def guide(self, params: GuideParams) -> dict[str, Any]:
        from metawsm.loop.guidance import answer_oldest

        record = self._record(params)
        env = self.run_env(record)
        async with self.write_store() as store:
            with Reader(self.env.db_path) as reader:
                return await answer_oldest(env, store, reader, record.run_id, params.answer)

    async def merge(self, params: MergeParams) -> dict[str, Any]:
        from metawsm.loop.close import merge_run

        record = self._record(params)
        async with self.write_store() as store:
            return await merge_run(
                self.run_env(record), store, record, dry_run=params.dry_run, human=params.human
            )

    async def close(self, params: CloseParams) -> dict[str, Any]:
        from metawsm.loop.close import close_run

        record = self._record(params)
        async with self.write_store() as store:

            async def stop_agents() -> dict[str, Any]:
                return await self.stop_agents_for_close(store, record.run_id)

            with Reader(self.env.db_path) as reader:
                return await close_run(
                    self.run_env(record),
                    store,
                    reader,
                    record,
                    dry_run=params.dry_run,
                    changelog_entry=params.changelog_entry,
                    stop_agents=None if params.keep_agents else stop_agents,
                )

    async def stop_agents_for_close(self, store: Any, run_id: str) -> dict[str, Any]:
        """Stop a run's agents for its close (the run's own status is left to the close:
        a completed or closing run does not become stopped)."""
        from metawsm.supervisor.offline import stop_run_offline

        return await stop_run_offline(self.env, store, run_id, reason="run closed")


async def record_new_run(
    store: StoreWrites,
    env: Environment,
    request: RunRequest,
    reader: Reader,
    brief: Brief | None = None,
) -> RunSpec:
    """Resolve a run request, write the run with its plan and agents, and move it to
    ``planning`` (a dry run ends ``planned`` there; the original left it ``paused``, listed
    among the runs waiting for an operator)."""
    taken = {r.run_id for r in reader.list_runs()}
    now = datetime.now(UTC)
    # The run names the file its policy was read from (the supervisor's, or --policy).
    request = request.model_copy(update={"policy_path": str(env.policy_path)})
    spec = resolve_run(
        request,
        env.policy,
        now=now,
        taken_run_ids=taken,
        root=env.root,
        host_load=host_load(reader),
    )
    spec = spec.model_copy(
        update={
            "policy_read_at": _utc(env.policy_read_at or now.timestamp()),
            "policy_modified_at": (
                "" if env.policy_modified_at is None else _utc(env.policy_modified_at)
            ),
        }
    )
    if not spec.dry_run:
        # Plan time, before anything is made: an agent whose program is not on its host would
        # otherwise fail only after its workspace was provisioned (a dry run reports it).
        await preflight(env.host_for(spec.host), spec.agents)
    steps = build_plan(spec)
    agents = seed_agents(spec, now)
    write = [
        *ops.create_run(
            spec.run_id,
            spec_json=spec.model_dump_json(),
            policy_json=env.policy.model_dump_json(),
            tickets=spec.tickets,
        ),
        ops.upsert_steps(steps),
        *(ops.upsert_agent(a) for a in agents),
        *ops.transition(
            EntityKind.RUN,
            spec.run_id,
            RunStatus.CREATED,
            RunStatus.PLANNING,
            "planning run",
            run_id=spec.run_id,
        ),
    ]
    from metawsm.loop.dochome import docs_repo_of_run  # lazily: the CLI starts lean

    # Where docs.root lies in a repo of the run, the ticket and the brief are written in the
    # workspace (and committed there) when it is seeded, never in the operator's checkout.
    in_repo = docs_repo_of_run(env, spec.repos, spec.host) is not None
    in_place = brief is not None and not spec.dry_run and not in_repo
    if in_place:
        assert brief is not None
        await ensure_ticket(env, brief)
    if brief is not None:
        write.append(upsert_brief_op(spec.run_id, brief))
    await store.write(*write)
    if in_place:
        assert brief is not None
        await write_brief_doc(env, spec.run_id, brief)
    if spec.dry_run:
        await store.transition(
            EntityKind.RUN,
            spec.run_id,
            RunStatus.PLANNING,
            RunStatus.PLANNED,
            "dry-run complete",
            run_id=spec.run_id,
        )
    return spec


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def ensure_ticket(env: Environment, brief: Brief) -> bool:
    """Create the bootstrap ticket in the docs provider if it is missing; True if created.

    Only for a docs root that lies in no repo of the run (see :mod:`metawsm.loop.dochome`)."""
    docs = env.docs_provider()
    if await docs.find_ticket(brief.ticket) is not None:
        return False
    await docs.create_ticket(brief.ticket, brief.title(), topics=("core", "cli"))
    return True


async def write_brief_doc(env: Environment, run_id: str, brief: Brief) -> str:
    """The brief as a reference doc of the ticket, written before the ticket is seeded into
    the workspace (the original wrote it afterwards and it never reached the agents)."""
    return await env.docs_provider().add_doc(
        brief.ticket, "reference", f"Bootstrap brief {run_id}", render_brief_doc(run_id, brief)
    )


def plan_view(spec: RunSpec, steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What ``run`` prints: the run id and its steps."""
    listed = (
        steps
        if steps is not None
        else [
            {
                "index": s.step_index,
                "name": s.name,
                "kind": s.kind,
                "status": s.status,
                "command": s.command_text,
            }
            for s in build_plan(spec)
        ]
    )
    return {"run_id": spec.run_id, "dry_run": spec.dry_run, "steps": listed}


async def dry_run_view(env: Environment, spec: RunSpec) -> dict[str, Any]:
    """What ``run --dry-run`` reports: the plan, and every agent whose program is not on its
    host (``preflight``, empty when all are there)."""
    missing = await find_missing(env.host_for(spec.host), spec.agents)
    return {**plan_view(spec), "preflight": [m.as_dict() for m in missing]}


def cleanup_plan(
    run_id: str, spec: RunSpec, *, keep: bool, prune_branches: bool = False
) -> dict[str, Any]:
    """What ``cleanup --dry-run`` reports, changing nothing."""
    actions = [f"kill tmux sessions of run {run_id}"]
    workspaces = sorted(set(spec.workspaces.values()))
    if not keep:
        actions += [f"delete workspace {ws}" for ws in workspaces]
    if prune_branches:
        actions += [
            f"delete branch {spec.branch_for(ws)} in {repo} if it is merged into {spec.base_branch}"
            for ws in workspaces
            for repo in spec.repos
        ]
    return {"run_id": run_id, "dry_run": True, "actions": actions}


CleanupOne = Callable[[RunRecord], Awaitable[dict[str, Any]]]


async def cleanup_runs(env: Environment, params: CleanupParams, one: CleanupOne) -> dict[str, Any]:
    """``cleanup``: the selected run, or with ``all`` every finished run, each by ``one``."""
    if not params.all:
        with Reader(env.db_path) as reader:
            record = resolve_run_id(reader, params)
        return await one(record)
    if params.run_id or params.ticket:
        raise UsageError(
            "--all cleans every finished run; it excludes --run-id and --ticket",
            hint="drop --all to clean one run",
        )
    records: list[RunRecord] = []
    if env.db_path.exists():
        with Reader(env.db_path) as reader:
            records = [r for r in reader.list_runs() if r.status in CLEANUP_ALL_STATUSES]
    records.sort(key=lambda r: (r.created_at, r.run_id))
    results = [await one(record) for record in records]
    actions = [
        f"{result['run_id']}: {action}"
        for result in results
        for action in result.get("actions", [])
    ]
    return {
        "all": True,
        "dry_run": params.dry_run,
        "runs": results,
        "actions": actions,
    }


async def event(store: StoreWrites, run_id: str, event_type: str, message: str) -> None:
    await store.append_event(NewEvent(run_id, "run", run_id, event_type, message=message))


Method = Callable[[dict[str, Any]], Awaitable[Any]]


def socket_methods(core: Core) -> dict[str, Method]:
    """The control-socket methods of a core: each validates its params with pydantic."""

    def bind(model: type[BaseModel], call: Callable[[Any], Awaitable[Any]]) -> Method:
        async def method(params: dict[str, Any]) -> Any:
            return await call(model.model_validate(params))

        return method

    return {
        "run.submit": bind(SubmitParams, core.submit_run),
        "status": bind(StatusParams, core.status),
        "runs": bind(RunsParams, core.runs),
        "stop": bind(StopParams, core.stop),
        "resume": bind(Selector, core.resume),
        "restart": bind(RestartParams, core.restart),
        "cleanup": bind(CleanupParams, core.cleanup),
        "guide": bind(GuideParams, core.guide),
        "iterate": bind(IterateParams, core.iterate),
        "merge": bind(MergeParams, core.merge),
        "close": bind(CloseParams, core.close),
        **{
            name: bind(model, getattr(core, attr))
            for name, (model, attr) in FORUM_METHODS.items()
            if hasattr(core, attr)
        },
        **({"hosts": bind(HostsParams, core.hosts)} if hasattr(core, "hosts") else {}),
        "docs": bind(DocsParams, core.docs),
        # Methods only the supervisor has (they need its actors).
        **(
            {
                "signal.notify": bind(SignalNotify, core.signal_notify),
                "agent.restart": bind(AgentParams, core.agent_restart),
                "agent.stop": bind(AgentParams, core.agent_stop),
            }
            if hasattr(core, "signal_notify")
            and hasattr(core, "agent_restart")
            and hasattr(core, "agent_stop")
            else {}
        ),
    }
