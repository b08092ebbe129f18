"""Merge and close a run: the gates, then the merges, then the ticket.

Each operation takes the environment, a store to write through and a reader, so the supervisor
and the offline CLI run the same code; the supervisor adds only what needs its actors (restarting
agents for ``iterate``, telling an agent to look at its signal files).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from metawsm.errors import MetawsmError, UsageError
from metawsm.hsm import EntityKind, RunStatus
from metawsm.loop.dochome import close_tickets_on_branches, docs_repo_of_run
from metawsm.loop.gates import GateError, check_close_gates, gate_report, load_close_context
from metawsm.runs.spec import RunSpec
from metawsm.store.client import WriteHelpers
from metawsm.store.reader import Reader
from metawsm.store.records import NewEvent, RunRecord
from metawsm.supervisor.environment import Environment


async def record_event(store: WriteHelpers, run_id: str, event_type: str, message: str) -> None:
    await store.append_event(NewEvent(run_id, "run", run_id, event_type, message=message))


def run_spec(record: RunRecord) -> RunSpec:
    return RunSpec.model_validate_json(record.spec_json)


async def merge_run(
    env: Environment, store: WriteHelpers, record: RunRecord, *, dry_run: bool, human: bool
) -> dict[str, Any]:
    """Merge every workspace branch into its base in each repo's clone (all or nothing per
    workspace); workspaces with nothing to merge are reported, not skipped silently."""
    if not dry_run and not human:
        raise UsageError(
            "merge requires --human acknowledgement; automated merge is disabled",
            hint="review the diffs, then run `metawsm merge ... --human`",
        )
    if record.status not in (RunStatus.COMPLETED, RunStatus.CLOSING, RunStatus.CLOSED):
        raise MetawsmError(
            f"run {record.run_id} must be completed before merge (current: {record.status})"
        )
    spec = run_spec(record)
    names = sorted(set(spec.workspaces.values()))
    if not names:
        raise MetawsmError(f"run {record.run_id} has no workspaces to merge")
    if dry_run:
        return await preview_merge(env, record.run_id, names, spec.base_branch, host=spec.host)
    provider = env.workspace_provider(spec.host)
    results: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        merged = await provider.merge(name)
        results[name] = [dataclasses.asdict(m) for m in merged]
    count = sum(1 for repos in results.values() for m in repos if m["status"] == "merged")
    await record_event(
        store, record.run_id, "merge", f"merged {count} repo(s) in {len(names)} workspace(s)"
    )
    return {"run_id": record.run_id, "workspaces": results}


StopAgents = Callable[[], Awaitable[dict[str, Any]]]
"""Stops a run's agents (through their actors when a supervisor drives them); its result
carries ``agents_stopped``."""


async def preview_merge(
    env: Environment, run_id: str, names: list[str], base_branch: str, *, host: str = "local"
) -> dict[str, Any]:
    """What ``merge`` would do, changing nothing: per workspace and repo the commits the base
    would receive and the conflicts ``git merge-tree`` predicts (a conflict in any repo of a
    workspace means nothing of that workspace would merge)."""
    from metawsm.status.review import preview_repo

    provider = env.workspace_provider(host)
    workspaces: dict[str, list[dict[str, Any]]] = {}
    actions: list[str] = []
    for name in names:
        workspace = await provider.info(name)
        if workspace is None:
            workspaces[name] = []
            actions.append(f"workspace {name}: not found; nothing to merge")
            continue
        base = workspace.base_branch or base_branch
        previews = [
            await preview_repo(provider.host, repo, path, base)
            for repo, path in workspace.repos.items()
        ]
        workspaces[name] = [dataclasses.asdict(p) for p in previews]
        blocked = any(p.status in ("conflict", "error") for p in previews)
        for p in previews:
            if p.status == "would_merge":
                what = f"{p.ahead} commit(s) into {p.base}"
                if blocked:
                    what += " (held back: another repo of the workspace cannot merge)"
                actions.append(f"workspace {name} repo {p.repo}: merge {what}")
                actions += [f"    {line}" for line in p.commits]
                if p.ahead > len(p.commits):
                    actions.append(f"    ... ({p.ahead - len(p.commits)} more)")
            elif p.status == "up_to_date":
                actions.append(f"workspace {name} repo {p.repo}: up to date with {p.base}")
            elif p.status == "conflict":
                actions.append(
                    f"workspace {name} repo {p.repo}: CONFLICT with {p.base} in "
                    f"{', '.join(p.conflicts)}; nothing of {name} would merge"
                )
            else:
                actions.append(f"workspace {name} repo {p.repo}: cannot tell: {p.error}")
    conflicts = any(p["status"] == "conflict" for repos in workspaces.values() for p in repos)
    return {
        "run_id": run_id,
        "dry_run": True,
        "workspaces": workspaces,
        "conflicts": conflicts,
        "actions": actions,
    }


async def close_run(
    env: Environment,
    store: WriteHelpers,
    reader: Reader,
    record: RunRecord,
    *,
    dry_run: bool,
    changelog_entry: str = "",
    stop_agents: StopAgents | None = None,
) -> dict[str, Any]:
    """The close gates in the original's order, then the agents stopped, merge and ticket close.

    ``--dry-run`` reports every gate and what would happen, and changes no state (the original
    moved the run to closed). Once the gates pass, ``stop_agents`` (when given; ``None`` keeps
    them, ``--keep-agents``) stops the run's agents, so nothing writes into a workspace while it
    is merged. A failed merge or ticket close puts the run back to ``completed``, as it was
    before the close, and raises; ``close`` then runs again once the cause is fixed. (A run
    left ``closing`` by a supervisor that died mid-close runs again from the merge.)
    """
    if record.status == RunStatus.CLOSED:
        return {"run_id": record.run_id, "status": "closed", "already_closed": True}
    ctx = await load_close_context(
        reader, record.run_id, env.workspace_provider(run_spec(record).host)
    )
    if record.status == RunStatus.CLOSING:
        # A close that failed half-way: the gates were met then; run again from merge.
        ctx = dataclasses.replace(ctx, run=dataclasses.replace(ctx.run, status=RunStatus.COMPLETED))
    spec = run_spec(record)
    entry = changelog_entry.strip() or f"Closed by metawsm run {record.run_id}"
    if dry_run:
        report = await gate_report(ctx)
        where = "on its workspace branch"
        if docs_repo_of_run(env, spec.repos, spec.host) is None:
            where += " and in place in docs.root"
        workspaces = sorted(set(spec.workspaces.values()))
        return {
            "run_id": record.run_id,
            "dry_run": True,
            "gates": [dataclasses.asdict(g) for g in report],
            "passed": all(g.passed for g in report),
            "actions": [
                *(["stop the run's agents"] if stop_agents is not None else []),
                *(f"merge workspace {w}" for w in workspaces),
                *(f"close ticket {t} {where}: {entry}" for t in spec.tickets),
            ],
        }
    await check_close_gates(ctx)
    stopped = await stop_agents() if stop_agents is not None else {}
    if record.status != RunStatus.CLOSING:
        await store.transition(
            EntityKind.RUN,
            record.run_id,
            record.status,
            RunStatus.CLOSING,
            "close started",
            run_id=record.run_id,
        )
    try:
        # The ticket is closed on the workspace branch (a metawsm commit), so main gets it from
        # the merge; in place only where docs.root lies in no repo of the run (loop.dochome).
        on_branch, in_place = await close_tickets_on_branches(
            env, spec, entry, run_id=record.run_id
        )
        merged = await merge_run(
            env,
            store,
            dataclasses.replace(record, status=RunStatus.CLOSING),
            dry_run=False,
            human=True,
        )
        docs = env.docs_provider()
        for ticket in in_place:
            await docs.close_ticket(ticket, entry)
    except (MetawsmError, OSError) as exc:
        reason = exc.message if isinstance(exc, MetawsmError) else str(exc)
        with anyio.CancelScope(shield=True):
            await store.transition(
                EntityKind.RUN,
                record.run_id,
                RunStatus.CLOSING,
                RunStatus.COMPLETED,
                f"close failed: {reason}",
                run_id=record.run_id,
            )
        raise
    await store.transition(
        EntityKind.RUN,
        record.run_id,
        RunStatus.CLOSING,
        RunStatus.CLOSED,
        "close completed",
        run_id=record.run_id,
    )
    return {
        "run_id": record.run_id,
        "status": "closed",
        "merge": merged["workspaces"],
        "tickets_closed": list(spec.tickets),
        "tickets_closed_on_branch": on_branch,
        "tickets_closed_in_place": in_place,
        "agents_stopped": stopped.get("agents_stopped", 0),
    }


__all__ = ["GateError", "close_run", "merge_run", "preview_merge"]
