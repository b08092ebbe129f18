"""Building a :class:`RunStatusView` from store rows and, when a supervisor runs, its memory.

Nothing here does I/O: the caller reads the rows (and collects diffs, if it wants them) and
passes them in, so the same function serves the supervisor's control socket and a CLI reading
SQLite with no supervisor up.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from metawsm.hsm import AgentStatus, HealthState, RunStatus, StepStatus
from metawsm.status.times import age_seconds, parse_stamp, rfc3339, stamp_of_epoch
from metawsm.status.views import (
    AgentSignalsView,
    AgentView,
    DocsView,
    DocSyncView,
    GuidanceView,
    PolicyView,
    RunStatusView,
    RunSummary,
    StepCounts,
    StepView,
    WorkspaceDiffView,
)
from metawsm.store.db import format_utc
from metawsm.store.records import (
    AgentRecord,
    DocSyncRecord,
    EventRecord,
    GuidanceRecord,
    RunRecord,
    StepRecord,
)

__all__ = [
    "DEFAULT_STALE_WARNING_SECONDS",
    "SIGNAL_EVENT_TYPES",
    "AgentKey",
    "LiveAgent",
    "build_status",
    "doc_warnings",
    "next_commands",
    "parse_spec",
    "summarize",
]

#: The original's fallback when ``docs.stale_warning_seconds`` is not positive.
DEFAULT_STALE_WARNING_SECONDS = 900
SEED_MODE_COPY = "copy_from_repo_on_start"
GUIDANCE_PENDING = "pending"
DOC_SYNCED = "synced"
DOC_FAILED = "failed"


@dataclass(frozen=True, slots=True)
class LiveAgent:
    """What a running supervisor knows of an agent right now (newer than its stored row).

    Times are epoch seconds; ``None`` means "not observed yet" and leaves the stored value.
    """

    status: str
    health: str
    generation: int
    restarts: int = 0
    exit_status: int | None = None
    alive: bool | None = None
    activity_at: float | None = None
    progress_at: float | None = None


#: Agents are keyed by ``(agent name, workspace name)``.
AgentKey = tuple[str, str]


def parse_spec(spec_json: str) -> dict[str, Any]:
    """A run's stored spec as a dict; ``{}`` when it is empty or not a JSON object."""
    try:
        spec = json.loads(spec_json) if spec_json else {}
    except ValueError:
        return {}
    return spec if isinstance(spec, dict) else {}


def _text(spec: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = spec.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _tickets(run: RunRecord, spec: Mapping[str, Any]) -> list[str]:
    if run.tickets:
        return list(run.tickets)
    value = spec.get("tickets")
    return [str(t) for t in value] if isinstance(value, list) else []


def _or_none(text: str) -> str | None:
    return text or None


def _first(values: Iterable[str]) -> str | None:
    return next((value for value in values if value), None)


def build_status(
    run: RunRecord,
    steps: Sequence[StepRecord],
    agents: Sequence[AgentRecord],
    doc_states: Sequence[DocSyncRecord],
    guidance: Sequence[GuidanceRecord],
    *,
    now: datetime,
    supervisor_up: bool,
    spec: Mapping[str, Any] | None = None,
    live: Mapping[AgentKey, LiveAgent] | None = None,
    diffs: Sequence[WorkspaceDiffView] | None = None,
    stale_warning_seconds: int = DEFAULT_STALE_WARNING_SECONDS,
    agent_events: Sequence[EventRecord] = (),
) -> RunStatusView:
    """The status of ``run``.

    ``spec`` is the parsed ``spec_json`` (parsed here when omitted). ``live`` overrides the
    stored agent rows with the supervisor's memory; without it the rows are shown as stored.
    ``diffs=None`` means diffs were not collected (the view's ``diffs`` is then ``None``).
    Only pending guidance is listed. ``agent_events`` are the run's ``completion`` and
    ``validation`` events (:data:`SIGNAL_EVENT_TYPES`), from which each agent's signals are
    told. ``now`` must be an aware datetime.
    """
    spec = parse_spec(run.spec_json) if spec is None else spec
    tickets = _tickets(run, spec)
    live = live or {}
    pending = [g for g in guidance if g.status == GUIDANCE_PENDING]
    return RunStatusView(
        run_id=run.run_id,
        status=run.status,
        mode=_text(spec, "mode"),
        tickets=tickets,
        supervisor="up" if supervisor_up else "down",
        created_at=_or_none(run.created_at),
        updated_at=_or_none(run.updated_at),
        generated_at=format_utc(now),
        docs=_docs(spec, doc_states, now, stale_warning_seconds),
        policy=PolicyView(
            path=_text(spec, "policy_path"),
            read_at=_text(spec, "policy_read_at"),
            modified_at=_text(spec, "policy_modified_at"),
        ),
        steps=[_step(step) for step in sorted(steps, key=lambda s: s.step_index)],
        step_counts=_count_steps(steps),
        agents=[
            _agent(row, live.get((row.agent_name, row.workspace_name)), now, agent_events, pending)
            for row in agents
        ],
        diffs=None if diffs is None else list(diffs),
        guidance=[
            _guidance(g)
            for g in sorted(guidance, key=lambda g: g.id)
            if g.status == GUIDANCE_PENDING
        ],
        next=next_commands(run.run_id, run.status, tickets),
        last_message=_or_none(run.error_text),
    )


def summarize(run: RunRecord, *, agents: int, spec: Mapping[str, Any] | None = None) -> RunSummary:
    """The one-line summary of ``run`` for ``metawsm runs``."""
    spec = parse_spec(run.spec_json) if spec is None else spec
    return RunSummary(
        run_id=run.run_id,
        status=run.status,
        mode=_text(spec, "mode"),
        tickets=_tickets(run, spec),
        created_at=_or_none(run.created_at),
        updated_at=_or_none(run.updated_at),
        agents=agents,
        last_message=_or_none(run.error_text),
    )


# -- parts -----------------------------------------------------------------------------------


def _step(step: StepRecord) -> StepView:
    return StepView(
        index=step.step_index,
        name=step.name,
        kind=step.kind,
        status=step.status,
        ticket=_or_none(step.ticket),
        workspace=_or_none(step.workspace_name),
        agent=_or_none(step.agent_name),
        error=_or_none(step.error_text),
        started_at=_or_none(step.started_at),
        finished_at=_or_none(step.finished_at),
    )


def _count_steps(steps: Sequence[StepRecord]) -> StepCounts:
    def count(*states: str) -> int:
        return sum(1 for step in steps if step.status in states)

    return StepCounts(
        total=len(steps),
        done=count(StepStatus.DONE),
        running=count(StepStatus.RUNNING),
        pending=count(StepStatus.PENDING, StepStatus.SKIPPED),
        failed=count(StepStatus.FAILED),
    )


#: What "healthy" means for an agent that is not running: a health written before it stopped
#: (or by an older metawsm) must not say an agent nobody runs is well.
_HEALTH_WHEN_NOT_RUNNING = {
    AgentStatus.PENDING: HealthState.UNKNOWN,
    AgentStatus.STOPPING: HealthState.IDLE,
    AgentStatus.STOPPED: HealthState.IDLE,
    AgentStatus.DEAD: HealthState.DEAD,
    AgentStatus.FAILED: HealthState.DEAD,
}


def agent_health(status: str, health: str) -> str:
    """``health``, except that an agent that is not running is never ``healthy``."""
    if health == HealthState.HEALTHY and status in _HEALTH_WHEN_NOT_RUNNING:
        return _HEALTH_WHEN_NOT_RUNNING[AgentStatus(status)].value
    return health


#: The events an agent's signals are recorded as (by the agent actor, when it takes a file).
SIGNAL_EVENT_TYPES = ("completion", "validation")


def _signals(
    row: AgentRecord,
    generation: int,
    events: Sequence[EventRecord],
    pending: Sequence[GuidanceRecord],
) -> AgentSignalsView:
    entity = f"{row.agent_name}@{row.workspace_name}"  # store.ops.agent_entity_id
    complete = False
    validation: str | None = None
    for event in events:  # in sequence order: the last validation wins
        if event.entity_id != entity or event.generation != generation:
            continue
        if event.event_type == "completion":
            complete = True
        elif event.event_type == "validation":
            first = event.message.split(" ", 1)[0]
            validation = first.removeprefix("status=") if first.startswith("status=") else "?"
    questions = sum(
        1
        for g in pending
        if (g.agent_name, g.workspace_name) == (row.agent_name, row.workspace_name)
    )
    return AgentSignalsView(guidance_pending=questions, complete=complete, validation=validation)


def _agent(
    row: AgentRecord,
    live: LiveAgent | None,
    now: datetime,
    events: Sequence[EventRecord] = (),
    pending: Sequence[GuidanceRecord] = (),
) -> AgentView:
    last_activity = _or_none(row.last_activity_at)
    last_progress = _or_none(row.last_progress_at)
    status, health = row.status, row.health_state
    generation, restarts, exit_status = row.generation, row.restart_count, row.last_exit_status
    alive: bool | None = None
    if live is not None:
        status, health, alive = live.status, live.health, live.alive
        generation, restarts, exit_status = live.generation, live.restarts, live.exit_status
        last_activity = stamp_of_epoch(live.activity_at) or last_activity
        last_progress = stamp_of_epoch(live.progress_at) or last_progress
    return AgentView(
        name=row.agent_name,
        workspace=row.workspace_name,
        session=row.session_name,
        status=status,
        health=agent_health(status, health),
        generation=generation,
        host=row.host,
        restarts=restarts,
        exit_status=exit_status,
        last_activity=last_activity,
        activity_age_seconds=age_seconds(now, last_activity),
        last_progress=last_progress,
        progress_age_seconds=age_seconds(now, last_progress),
        alive=alive,
        signals=_signals(row, generation, events, pending),
    )


def _guidance(row: GuidanceRecord) -> GuidanceView:
    return GuidanceView(
        id=row.id,
        agent=row.agent_name,
        workspace=row.workspace_name,
        question=row.question,
        status=row.status,
        created_at=_or_none(row.created_at),
        generation=row.generation,
    )


def _docs(
    spec: Mapping[str, Any],
    states: Sequence[DocSyncRecord],
    now: datetime,
    stale_warning_seconds: int,
) -> DocsView:
    seed_mode = _text(spec, "doc_seed_mode") or _first(s.doc_seed_mode for s in states)
    newest_revision = next(
        (
            s.revision
            for s in sorted(states, key=lambda s: s.updated_at, reverse=True)
            if s.revision
        ),
        None,
    )
    return DocsView(
        home_repo=_text(spec, "doc_home_repo", "doc_repo")
        or _first(s.doc_home_repo for s in states),
        authority=_text(spec, "doc_authority_mode") or _first(s.doc_authority_mode for s in states),
        seed_mode=seed_mode,
        freshness_revision=_text(spec, "doc_freshness_revision") or newest_revision,
        sync=[
            DocSyncView(
                ticket=s.ticket,
                workspace=s.workspace_name,
                status=s.status,
                revision=_or_none(s.revision),
                updated_at=_or_none(s.updated_at),
                error=_or_none(s.error_text),
            )
            for s in states
        ],
        warnings=doc_warnings(seed_mode, states, now, stale_warning_seconds),
    )


def doc_warnings(
    seed_mode: str | None,
    states: Sequence[DocSyncRecord],
    now: datetime,
    stale_warning_seconds: int,
) -> list[str]:
    """The original's ``docFreshnessWarnings``: only for seed mode ``copy_from_repo_on_start``.

    A failed seed per workspace; no synced seed at all; or a newest seed older than the
    threshold (``stale_warning_seconds``, 900 when not positive). "Freshness" is seed age.
    """
    if seed_mode != SEED_MODE_COPY:
        return []
    threshold = (
        stale_warning_seconds if stale_warning_seconds > 0 else DEFAULT_STALE_WARNING_SECONDS
    )
    warnings = [
        f"doc seed failed for {s.ticket}/{s.workspace_name}"
        for s in states
        if s.status == DOC_FAILED
    ]
    seeded = [m for s in states if s.status == DOC_SYNCED if (m := parse_stamp(s.updated_at))]
    if not seeded:
        warnings.append(f"docmgr index freshness unavailable for {SEED_MODE_COPY}")
    else:
        newest = max(seeded)
        if (now - newest).total_seconds() > threshold:
            warnings.append(f"docmgr index freshness stale (last seed {rfc3339(newest)})")
    return warnings


def next_commands(run_id: str, status: str, tickets: Sequence[str]) -> list[str]:
    """What an operator does with a completed run (empty for any other status).

    Commands name the ticket when the run has exactly one, else the run id.
    """
    if status != RunStatus.COMPLETED:
        return []
    selector = f"--ticket {tickets[0]}" if len(tickets) == 1 else f"--run-id {run_id}"
    return [
        f'metawsm iterate {selector} --feedback "<feedback from diff review>"',
        f"metawsm merge {selector} --dry-run",
        f"metawsm merge {selector} --human",
        f"metawsm close {selector}",
    ]
