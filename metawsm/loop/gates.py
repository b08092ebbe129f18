"""Close gates: what must hold before a run may be closed, checked in the original's order.

:func:`check_close_gates` raises a :class:`GateError` for the first gate that fails, with the
original's message (original-metawsm.md §8); :func:`gate_report` evaluates every gate and
returns each result, for ``close --dry-run`` and ``--json``. Both read only: nothing is
written, no run changes state. The order:

1. ``run_status``: the run is ``completed`` or ``closed``. A ``closed`` run passes and no other
   gate is looked at (the original returned at once; its workspaces may be gone).
2. Only when ``doc_seed_mode`` is ``copy_from_repo_on_start``, per workspace (sorted by name):
   per ticket of that workspace, ``doc_sync_state`` (a row exists), ``doc_sync_status``
   (``synced``), ``doc_sync_revision`` (not empty), ``ticket_docs`` (the ticket's folder is in
   the workspace's docs root); then ``doc_home_clean`` for that workspace. So a workspace's
   sync-state errors win over its doc home repo's dirtiness (the original's deliberate order).
3. ``repo_clean``: every repo of every workspace has no uncommitted or untracked file.
   Ignored files do not count; the workspace providers add ``.metawsm/`` to each clone's
   ``info/exclude``, so signal files an agent writes in a repo never block a close.
4. Bootstrap runs: ``run_brief``, ``done_criteria`` (not empty), ``pending_guidance``, then per
   workspace (sorted) ``validation_result`` (found), ``validation_run_id``,
   ``validation_status`` (``passed``, trimmed, any case) and ``validation_done_criteria``
   (trimmed, exactly the brief's). Standard runs: ``pending_guidance`` alone, with the
   message ``run <id> has <n> pending guidance request(s); close blocked``; the original had
   no such gate for them, but a question nobody answered is unfinished work in any mode.

Where this differs from the original, on purpose:

- A workspace is checked for *its own* tickets (``spec.workspaces``). The original checked
  every ticket of the run in every workspace, so a run of two tickets could never close
  (each workspace lacks the other ticket's sync state).
- ``ticket_docs`` finds the ticket by its ``index.md`` frontmatter under the workspace's docs
  root (:func:`metawsm.docs.seed.locate_seeded`), honouring the repo's ``.ttmp.yaml``; the
  original matched any folder named ``<ticket>--*`` under a hard-coded ``ttmp``, so
  ``METAWSM-1`` was "found" by a ``METAWSM-10--x`` folder.
- ``validation-result.json`` is read from both signal folders, the workspace root's and the
  doc home repo's (:func:`metawsm.agents.signals.signal_dirs`); the first that parses wins, as
  in the original. An unusable file (half-written, not JSON) counts as missing; the hint says why.
- A workspace that cannot be found fails gate ``workspace`` instead of aborting with a lookup
  error, so a report still lists everything else.

In a report, a gate that depends on one that failed is left out (no ``doc_sync_status``
without a sync state, no ``validation_status`` without a validation file): the report lists
every independent fact once. The three doc sync checks form one chain whose passing result
is reported as gate ``doc_sync``; each failure keeps its own id.
"""

from __future__ import annotations

import json
import posixpath
import sqlite3
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path

import anyio

from metawsm.agents.signals import (
    MAX_SIGNAL_BYTES,
    VALIDATION_RESULT_FILE,
    ParsedSignal,
    SignalProblem,
    ValidationResult,
    agent_signal_dir,
    parse_signal,
    read_signal,
    signal_dirs,
)
from metawsm.docs.base import Ticket
from metawsm.docs.errors import DocsError
from metawsm.docs.root import DEFAULT_ROOT
from metawsm.docs.seed import locate_seeded, workspace_docs_root
from metawsm.errors import MetawsmError, NotFoundError
from metawsm.hosts import git as gitops
from metawsm.hosts.base import Host
from metawsm.hosts.errors import HostError
from metawsm.hosts.local import LocalHost
from metawsm.runs.spec import RunSpec
from metawsm.store.reader import Reader
from metawsm.store.records import DocSyncRecord, RunRecord
from metawsm.workspaces.base import Workspace, WorkspaceProvider

__all__ = [
    "CLOSABLE_STATUSES",
    "CloseContext",
    "GateError",
    "GateResult",
    "RunBrief",
    "check_close_gates",
    "gate_report",
    "load_close_context",
    "read_run_brief",
]

CLOSABLE_STATUSES = ("completed", "closed")
"""Run statuses the ``run_status`` gate lets through."""

_SYNCED = "synced"
_COPY_SEED_MODE = "copy_from_repo_on_start"


class GateError(MetawsmError):
    """A close gate failed. ``gate`` is its short id (``repo_clean``, ``validation_status``...);
    the message is the original's for that gate."""

    def __init__(self, gate: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.gate = gate


@dataclass(frozen=True, slots=True)
class GateResult:
    """One evaluated gate: its id, whether it passed, and what it found.

    A failing result's ``message`` is exactly the error :func:`check_close_gates` raises.
    ``workspace`` and ``ticket`` name what the gate looked at, when it is about one.
    """

    gate: str
    passed: bool
    message: str
    workspace: str | None = None
    ticket: str | None = None
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class RunBrief:
    """A row of ``run_briefs``: the bootstrap intake of a run."""

    run_id: str
    ticket: str
    goal: str
    scope: str
    done_criteria: str
    constraints_text: str
    merge_intent: str
    qa_json: str
    created_at: str
    updated_at: str


_BRIEF_COLUMNS = (
    "run_id, ticket, goal, scope, done_criteria, constraints_text, merge_intent, qa_json,"
    " created_at, updated_at"
)


def read_run_brief(conn: sqlite3.Connection, run_id: str) -> RunBrief | None:
    """The brief of ``run_id``, or ``None``; ``conn`` as :func:`metawsm.store.db.connect`
    opens it (read-only is enough), with or without a row factory."""
    row = conn.execute(
        f"SELECT {_BRIEF_COLUMNS} FROM run_briefs WHERE run_id = ?", (run_id,)
    ).fetchone()
    if row is None:
        return None
    return RunBrief(*(str(value) for value in tuple(row)))


@dataclass(frozen=True, slots=True)
class CloseContext:
    """Everything the gates look at, gathered once (see :func:`load_close_context`).

    ``workspaces`` holds the run's workspaces that could be found, by name; a name of
    ``spec.workspaces`` missing here fails gate ``workspace``. ``doc_sync`` is the run's
    ``doc_sync_states`` rows and ``pending_guidance`` the number of its pending requests.
    """

    run: RunRecord
    spec: RunSpec
    host: Host
    workspaces: Mapping[str, Workspace]
    doc_sync: Sequence[DocSyncRecord] = ()
    brief: RunBrief | None = None
    pending_guidance: int = 0


async def load_close_context(
    reader: Reader, run_id: str, provider: WorkspaceProvider
) -> CloseContext:
    """Read a run's close facts from the store and find its workspaces with ``provider``.

    Raises :class:`~metawsm.errors.NotFoundError` for an unknown run.
    """
    record = await reader.run(reader.get_run, run_id)
    if record is None:
        raise NotFoundError(f"no run {run_id}", hint="list runs with `metawsm runs --all`")
    spec = RunSpec.from_json(record.spec_json)
    doc_sync = await reader.run(reader.list_doc_sync_states, run_id)
    brief = await reader.run(read_run_brief, reader.conn, run_id)
    pending = await reader.run(reader.list_guidance, run_id, pending_only=True)
    workspaces: dict[str, Workspace] = {}
    for name in sorted(set(spec.workspaces.values())):
        found = await provider.info(name)
        if found is not None:
            workspaces[name] = found
    return CloseContext(
        run=record,
        spec=spec,
        host=provider.host,
        workspaces=workspaces,
        doc_sync=tuple(doc_sync),
        brief=brief,
        pending_guidance=len(pending),
    )


async def check_close_gates(ctx: CloseContext) -> None:
    """Raise :class:`GateError` for the first failing gate, in the original's order."""
    async with aclosing(_evaluate(ctx)) as results:
        async for result in results:
            if not result.passed:
                raise GateError(result.gate, result.message, hint=result.hint)


async def gate_report(ctx: CloseContext) -> list[GateResult]:
    """Every gate, passed or failed, in order (see the module doc for what is left out)."""
    async with aclosing(_evaluate(ctx)) as results:
        return [result async for result in results]


# -- evaluation ----------------------------------------------------------------------------------


def _pass(gate: str, message: str, ws: str | None = None, ticket: str | None = None) -> GateResult:
    return GateResult(gate, True, message, ws, ticket)


def _fail(
    gate: str,
    message: str,
    ws: str | None = None,
    ticket: str | None = None,
    *,
    hint: str | None = None,
) -> GateResult:
    return GateResult(gate, False, message, ws, ticket, hint)


def _tickets_by_workspace(spec: RunSpec) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for ticket, ws in spec.workspaces.items():
        grouped.setdefault(ws, []).append(ticket)
    return {ws: grouped[ws] for ws in sorted(grouped)}


def _doc_repo(spec: RunSpec, workspace: Workspace) -> tuple[str | None, str]:
    """The doc home repo's path in ``workspace`` (or ``None``) and the path that was expected."""
    name = spec.doc_home_repo or spec.doc_repo
    if name in workspace.repos:
        return workspace.repos[name], workspace.repos[name]
    if not name and len(workspace.repos) == 1:
        only = next(iter(workspace.repos.values()))
        return only, only
    return None, posixpath.join(workspace.root, name)


async def _evaluate(ctx: CloseContext) -> AsyncGenerator[GateResult, None]:
    run_id, status = ctx.run.run_id, ctx.run.status
    if status not in CLOSABLE_STATUSES:
        yield _fail(
            "run_status",
            f"run {run_id} must be in completed state before close (current: {status})",
            hint="wait for the run to complete (metawsm status), or resume it",
        )
    else:
        yield _pass("run_status", f"run {run_id} is {status}")
        if status == "closed":
            return

    tickets_of = _tickets_by_workspace(ctx.spec)
    reported_missing: set[str] = set()

    def lookup(ws: str) -> tuple[Workspace | None, GateResult | None]:
        found = ctx.workspaces.get(ws)
        if found is not None or ws in reported_missing:
            return found, None
        reported_missing.add(ws)
        problem = _fail(
            "workspace",
            f"workspace {ws} of run {run_id} not found; close blocked",
            ws,
            hint="the workspace was deleted or never made; `metawsm resume` provisions it",
        )
        return None, problem

    if ctx.spec.doc_seed_mode == _COPY_SEED_MODE:
        for ws, tickets in tickets_of.items():
            workspace, problem = lookup(ws)
            if problem is not None:
                yield problem
            if workspace is None:
                continue
            async for result in _doc_gates(ctx, workspace, tickets):
                yield result

    for ws in tickets_of:
        workspace, problem = lookup(ws)
        if problem is not None:
            yield problem
        if workspace is None:
            continue
        for path in workspace.repos.values():
            subject = f"workspace {ws} repo {path}"
            yield await _clean_gate(ctx.host, "repo_clean", ws, path, subject)

    bootstrap = ctx.spec.mode == "bootstrap"
    criteria: str | None = None
    if bootstrap:
        if ctx.brief is None:
            yield _fail(
                "run_brief",
                f"bootstrap run {run_id} is missing run brief; close blocked",
                hint="a bootstrap run records its intake brief when it starts; start a new run",
            )
        else:
            yield _pass("run_brief", f"bootstrap run {run_id} has a run brief")
            if not ctx.brief.done_criteria.strip():
                yield _fail(
                    "done_criteria",
                    f"bootstrap run {run_id} has empty done criteria; close blocked",
                )
            else:
                criteria = ctx.brief.done_criteria.strip()
                yield _pass("done_criteria", f"bootstrap run {run_id} has done criteria")
    prefix = "bootstrap run" if bootstrap else "run"
    if ctx.pending_guidance > 0:
        yield _fail(
            "pending_guidance",
            f"{prefix} {run_id} has {ctx.pending_guidance} pending guidance request(s); "
            "close blocked",
            hint="answer the agents' questions first (`metawsm status` lists them)",
        )
    else:
        yield _pass("pending_guidance", f"{prefix} {run_id} has no pending guidance request")
    if bootstrap:
        for ws in tickets_of:
            workspace, problem = lookup(ws)
            if problem is not None:
                yield problem
            if workspace is None:
                continue
            async for result in _validation_gates(ctx, workspace, criteria):
                yield result


async def _doc_gates(
    ctx: CloseContext, workspace: Workspace, tickets: Sequence[str]
) -> AsyncGenerator[GateResult, None]:
    ws = workspace.name
    doc_repo, expected = _doc_repo(ctx.spec, workspace)
    if doc_repo is None:
        yield _fail(
            "doc_home_repo",
            f"doc repo path not found in workspace: {expected}",
            ws,
            hint=f"the workspace has no repo {ctx.spec.doc_home_repo or ctx.spec.doc_repo!r}",
        )
    states = {(s.ticket, s.workspace_name): s for s in ctx.doc_sync}
    for ticket in tickets:
        state = states.get((ticket, ws))
        where = f"workspace {ws} ticket {ticket}"
        if state is None:
            yield _fail(
                "doc_sync_state",
                f"{where} missing doc sync state; close blocked",
                ws,
                ticket,
                hint="the ticket docs were never seeded into the workspace; resume the run",
            )
        elif state.status != _SYNCED:
            yield _fail(
                "doc_sync_status",
                f"{where} doc sync status={state.status}; close blocked",
                ws,
                ticket,
                hint=state.error_text or "resume the run to seed the ticket docs again",
            )
        elif not state.revision.strip():
            yield _fail(
                "doc_sync_revision",
                f"{where} missing doc sync revision; close blocked",
                ws,
                ticket,
                hint="resume the run to seed the ticket docs again",
            )
        else:
            yield _pass("doc_sync", f"{where} docs synced at revision {state.revision}", ws, ticket)
        if doc_repo is not None:
            yield await _ticket_docs_gate(ctx.host, ws, ticket, doc_repo)
    if doc_repo is not None:
        subject = f"workspace {ws} doc home repo {doc_repo}"
        yield await _clean_gate(ctx.host, "doc_home_clean", ws, doc_repo, subject)


async def _ticket_docs_gate(host: Host, ws: str, ticket: str, doc_repo: str) -> GateResult:
    found: Ticket | None = None
    why: str | None = None
    try:
        docs_root = await workspace_docs_root(host, doc_repo)
    except DocsError as exc:
        docs_root, why = posixpath.join(doc_repo, DEFAULT_ROOT), exc.message
    else:
        # Only the id is used to find it: by the frontmatter of its index, wherever it sits.
        wanted = Ticket(ticket=ticket, title="", status="", docs_root=docs_root, rel_path="")
        try:
            found = await locate_seeded(host, wanted, doc_repo)
        except (DocsError, HostError) as exc:
            why = exc.message
    where = f"workspace {ws} ticket {ticket}"
    if found is None:
        return _fail(
            "ticket_docs",
            f"{where} docs missing under {docs_root}; close blocked",
            ws,
            ticket,
            hint=why or "no index.md there says `Ticket: " + ticket + "`; resume the run to seed",
        )
    return _pass("ticket_docs", f"{where} docs present at {found.path}", ws, ticket)


async def _clean_gate(host: Host, gate: str, ws: str, path: str, subject: str) -> GateResult:
    """``<subject> has uncommitted changes; close blocked`` unless ``path`` is clean."""
    try:
        is_dirty = await gitops.is_dirty(host, path)
    except HostError as exc:
        return _fail(gate, f"{subject} cannot be checked; close blocked", ws, hint=exc.message)
    if is_dirty:
        return _fail(
            gate,
            f"{subject} has uncommitted changes; close blocked",
            ws,
            hint=f"commit or discard them (`git -C {path} status`); .metawsm/ files do not count",
        )
    return _pass(gate, f"{subject} is clean", ws)


async def _validation_gates(
    ctx: CloseContext, workspace: Workspace, criteria: str | None
) -> AsyncGenerator[GateResult, None]:
    ws, run_id = workspace.name, ctx.run.run_id
    doc_repo, _ = _doc_repo(ctx.spec, workspace)
    shared = signal_dirs(Path(workspace.root), Path(doc_repo) if doc_repo is not None else None)
    # Each agent's own folder first (METAWSM_SIGNAL_DIR: agents sharing a workspace would
    # overwrite each other's files in a shared one), then the shared roots. Every validation
    # found must pass; at least one must exist.
    agents = sorted({a.name for a in ctx.spec.agents})
    dirs = [agent_signal_dir(Path(workspace.root), name) for name in agents] + shared
    problems: list[str] = []
    results: list[ValidationResult] = []
    for folder in dirs:
        found = await _read_validation(ctx.host, folder / VALIDATION_RESULT_FILE)
        if isinstance(found, ParsedSignal):
            results.append(found.signal)
        if isinstance(found, SignalProblem):
            problems.append(f"{found.path}: {found.kind}: {found.detail}")
    result = next(
        (r for r in results if not _validation_ok(r, run_id, criteria)),
        results[0] if results else None,
    )
    if result is None:
        looked = " and ".join(str(d) for d in dirs)
        yield _fail(
            "validation_result",
            f"workspace {ws} is missing .metawsm/validation-result.json; close blocked",
            ws,
            hint="; ".join(problems) if problems else f"the agent writes it under {looked}",
        )
        return
    yield _pass("validation_result", f"workspace {ws} has a validation result", ws)
    if result.run_id is not None and result.run_id != run_id:
        yield _fail(
            "validation_run_id",
            f"workspace {ws} validation result run_id mismatch ({result.run_id})",
            ws,
            hint=f"the file was written for another run; it must say run {run_id}",
        )
        return
    yield _pass("validation_run_id", f"workspace {ws} validation result is for run {run_id}", ws)
    if not result.passed:
        yield _fail(
            "validation_status",
            f"workspace {ws} validation status={json.dumps(result.status)}; close blocked",
            ws,
        )
        return
    yield _pass("validation_status", f"workspace {ws} validation passed", ws)
    if criteria is None:
        return
    if result.done_criteria.strip() != criteria:
        yield _fail(
            "validation_done_criteria",
            f"workspace {ws} validation done_criteria mismatch; close blocked",
            ws,
            hint="done_criteria must repeat the brief's done criteria exactly (trimmed)",
        )
    else:
        yield _pass("validation_done_criteria", f"workspace {ws} done criteria match", ws)


def _validation_ok(result: ValidationResult, run_id: str, criteria: str | None) -> bool:
    return (
        (result.run_id is None or result.run_id == run_id)
        and result.passed
        and (criteria is None or result.done_criteria.strip() == criteria)
    )


async def _read_validation(
    host: Host, path: Path
) -> ParsedSignal[ValidationResult] | SignalProblem | None:
    if isinstance(host, LocalHost):
        # Local files get read_signal's guards: no symlinks, regular files only, bounded.
        return await anyio.to_thread.run_sync(read_signal, path, ValidationResult)
    try:
        data = await host.read_bytes(str(path), limit=MAX_SIGNAL_BYTES + 1)
    except FileNotFoundError:
        return None
    except (HostError, OSError) as exc:
        return SignalProblem(path, "unreadable", str(exc))
    return parse_signal(data, ValidationResult, path)
