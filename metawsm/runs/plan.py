"""The plan of a run: the ordered steps that provision it, and the agent rows it starts with.

The plan is the original's ``buildPlan`` (original-metawsm.md §5.2): per ticket, in ticket order,

1. ``verify-doc-ticket-<ticket>`` (kind ``verify_ticket``);
2. ``workspace-<strategy>-<ws>`` (kind ``workspace``);
3. ``sync-ticket-context-<ws>`` (kind ``ticket_context_sync``), only when the seed mode is
   ``copy_from_repo_on_start``;
4. ``tmux-start-<agent>-<ws>`` (kind ``tmux_start``), one per agent, in agent order.

Indexes start at 1 and every step is blocking. Where the original's kinds were ``shell`` with a
command line to run, the kinds here say what the step does and the executor does it through the
workspace, docs and tmux layers: ``command_text`` is only a human-readable description of it
(``git worktree add ...``, ``start ... in tmux session ...``) for ``metawsm run`` and ``status``
output. Nothing ever runs it.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Iterable
from datetime import UTC, datetime

from metawsm.hsm import AgentStatus, HealthState, StepStatus
from metawsm.runs.spec import RunSpec
from metawsm.store.db import format_utc
from metawsm.store.records import AgentRecord, StepRecord

__all__ = [
    "KIND_TICKET_CONTEXT_SYNC",
    "KIND_TMUX_START",
    "KIND_VERIFY_TICKET",
    "KIND_WORKSPACE",
    "STEP_KINDS",
    "agent_workdir",
    "build_plan",
    "first_pending_index",
    "seed_agents",
]

KIND_VERIFY_TICKET = "verify_ticket"
KIND_WORKSPACE = "workspace"
KIND_TICKET_CONTEXT_SYNC = "ticket_context_sync"
KIND_TMUX_START = "tmux_start"
STEP_KINDS = (KIND_VERIFY_TICKET, KIND_WORKSPACE, KIND_TICKET_CONTEXT_SYNC, KIND_TMUX_START)

_FINISHED = frozenset({StepStatus.DONE, StepStatus.SKIPPED})


def agent_workdir(spec: RunSpec, workspace: str) -> str:
    """Where agents of ``workspace`` start: ``<root>/<ws>/<doc_home_repo>`` (or ``<root>/<ws>``).

    With no workspaces root in the spec (a spec of the original), the path is relative:
    ``<ws>/<doc_home_repo>``.
    """
    parts = [p for p in (spec.workspaces_root, workspace, spec.doc_home_repo) if p]
    return posixpath.join(*parts)


def _workspace_text(spec: RunSpec, workspace: str) -> str:
    branch = spec.branch_for(workspace)
    root = posixpath.join(spec.workspaces_root, workspace) if spec.workspaces_root else workspace
    strategy, base = spec.workspace_strategy, spec.base_branch
    if spec.workspace_provider == "wsm":
        if strategy == "create":
            argv = ["wsm", "create", workspace, "--repos", ",".join(spec.repos)]
            argv += ["--branch", branch, "--base-branch", base]
            return shlex.join(argv)
        if strategy == "fork":
            return shlex.join(["wsm", "fork", workspace, "--branch", branch])
        return shlex.join(["wsm", "info", workspace])
    if strategy == "create":
        add = ["git", "worktree", "add", "-b", branch]
        paths = [posixpath.join(root, repo) for repo in spec.repos]
        return "; ".join(shlex.join([*add, path, f"origin/{base}"]) for path in paths)
    if strategy == "fork":
        return f"fork workspace {workspace} at {root} onto new branch {branch}"
    return f"reuse workspace {workspace} at {root}"


def _step(
    spec: RunSpec, index: int, name: str, kind: str, text: str, ticket: str, ws: str, agent: str
) -> StepRecord:
    return StepRecord(
        run_id=spec.run_id,
        step_index=index,
        name=name,
        kind=kind,
        command_text=text,
        blocking=True,
        status=StepStatus.PENDING.value,
        ticket=ticket,
        workspace_name=ws,
        agent_name=agent,
    )


def build_plan(spec: RunSpec) -> list[StepRecord]:
    """Every step of ``spec``'s run, ``pending``, in execution order (see the module table)."""
    steps: list[StepRecord] = []

    def add(name: str, kind: str, text: str, ticket: str, ws: str, agent: str = "") -> None:
        steps.append(_step(spec, len(steps) + 1, name, kind, text, ticket, ws, agent))

    for ticket in spec.tickets:
        ws = spec.workspace_for(ticket)
        add(
            f"verify-doc-ticket-{ticket}",
            KIND_VERIFY_TICKET,
            f"verify ticket {ticket} exists in the ticket docs",
            ticket,
            ws,
        )
        add(
            f"workspace-{spec.workspace_strategy}-{ws}",
            KIND_WORKSPACE,
            _workspace_text(spec, ws),
            ticket,
            ws,
        )
        workdir = agent_workdir(spec, ws)
        if spec.doc_seed_mode == "copy_from_repo_on_start":
            add(
                f"sync-ticket-context-{ws}",
                KIND_TICKET_CONTEXT_SYNC,
                f"copy the docs of ticket {ticket} into {workdir}",
                ticket,
                ws,
            )
        for agent in spec.agents:
            session = spec.session_for(agent.name, ws)
            add(
                f"tmux-start-{agent.name}-{ws}",
                KIND_TMUX_START,
                f"start {agent.command} in tmux session {session} (cwd {workdir})",
                ticket,
                ws,
                agent.name,
            )
    return steps


def seed_agents(spec: RunSpec, now: datetime) -> list[AgentRecord]:
    """The ``agents`` rows of a new run: one per distinct (agent, workspace), in plan order.

    Each is ``pending``/``idle``, generation 1, on ``spec.host``, with its session name rendered
    from the spec's ``session_pattern`` (the same name the tmux start uses) and activity and
    progress stamped ``now`` (as the original; naive means UTC).
    """
    stamp = format_utc(now.replace(tzinfo=UTC) if now.tzinfo is None else now)
    records: dict[tuple[str, str], AgentRecord] = {}
    for ticket in spec.tickets:
        ws = spec.workspace_for(ticket)
        for agent in spec.agents:
            records.setdefault(
                (agent.name, ws),
                AgentRecord(
                    run_id=spec.run_id,
                    agent_name=agent.name,
                    workspace_name=ws,
                    session_name=spec.session_for(agent.name, ws),
                    status=AgentStatus.PENDING.value,
                    health_state=HealthState.IDLE.value,
                    last_activity_at=stamp,
                    last_progress_at=stamp,
                    generation=1,
                    host=spec.host,
                    updated_at=stamp,
                ),
            )
    return list(records.values())


def first_pending_index(steps: Iterable[StepRecord]) -> int | None:
    """The index of the first step (by ``step_index``) neither ``done`` nor ``skipped``.

    That is where executing or resuming a run starts; ``None`` when every step is finished.
    """
    for step in sorted(steps, key=lambda s: s.step_index):
        if step.status not in _FINISHED:
            return step.step_index
    return None
