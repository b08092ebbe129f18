"""Answering an agent's question (``metawsm guide``) and clearing signal files (``iterate``).

Both work the same with or without a supervisor: they take a store to write through and a
reader, and reach the workspace's files through its host.
"""

from __future__ import annotations

import posixpath
from datetime import UTC, datetime
from typing import Any

from metawsm.agents.signals import (
    AGENT_SIGNAL_FILES,
    GUIDANCE_REQUEST_FILE,
    GUIDANCE_RESPONSE_FILE,
    GuidanceResponse,
    render_signal,
)
from metawsm.docs.native import NativeDocsProvider
from metawsm.docs.seed import workspace_docs_root
from metawsm.errors import MetawsmError, UsageError
from metawsm.hsm import AgentStatus, EntityKind, RunStatus
from metawsm.runs.spec import RunSpec
from metawsm.store.client import WriteHelpers
from metawsm.store.reader import Reader
from metawsm.store.records import GuidanceRecord, RunRecord
from metawsm.supervisor.environment import Environment
from metawsm.supervisor.signal_watch import agent_signal_root, signal_roots
from metawsm.workspaces.base import Workspace
from metawsm.workspaces.commits import commit_paths


async def workspace_signal_roots(
    env: Environment, spec: RunSpec, workspace_name: str, agent: str | None = None
) -> tuple[str, ...]:
    """The signal roots of one workspace of a run: the agent's own folder when ``agent`` is
    given, else every agent's of the run, then the shared two (empty if the workspace is
    gone)."""
    workspace = await env.workspace_provider(spec.host).info(workspace_name)
    if workspace is None:
        return ()
    doc_repo = _doc_repo(workspace, spec)
    if agent is not None:
        return signal_roots(workspace.root, doc_repo, agent)
    own = tuple(agent_signal_root(workspace.root, a.name) for a in spec.agents)
    return own + signal_roots(workspace.root, doc_repo)


def _doc_repo(workspace: Workspace, spec: RunSpec) -> str | None:
    return workspace.repos.get(spec.doc_home_repo)


async def answer_oldest(
    env: Environment, store: WriteHelpers, reader: Reader, run_id: str, answer: str
) -> dict[str, Any]:
    """Answer the run's oldest pending guidance request.

    Writes ``guidance-response.json`` into the root that holds the request (else the first),
    removes the request from both roots, marks the row answered, and returns the run to
    ``running`` when nothing else is pending. The original's messages for each refusal.
    """
    if not answer.strip():
        raise UsageError("guidance answer cannot be empty", hint='--answer "..."')
    record = reader.get_run(run_id)
    if record is None:
        raise MetawsmError(f"no run {run_id}")
    pending = reader.list_guidance(run_id, pending_only=True)
    if not pending:
        raise MetawsmError(
            f"run {run_id} has no pending guidance requests",
            hint=f"see `metawsm status --run-id {run_id}`",
        )
    if record.status != RunStatus.AWAITING_GUIDANCE and record.status != RunStatus.FAILED:
        raise MetawsmError(f"run {run_id} is not waiting for guidance (current: {record.status})")
    # A request of an agent that failed for good (the escalation of a spent restart budget)
    # cannot be answered: nothing would read the answer. Answer the oldest one that can be,
    # and say which command acts when none can (it used to print "answered", changing nothing).
    failed = {
        (a.agent_name, a.workspace_name)
        for a in reader.list_agents(run_id)
        if a.status == AgentStatus.FAILED
    }
    answerable = [r for r in pending if (r.agent_name, r.workspace_name) not in failed]
    if not answerable:
        stuck = pending[0]
        raise MetawsmError(
            f"agent {stuck.agent_name}@{stuck.workspace_name} of run {run_id} has failed: "
            "an answer would reach no one",
            hint=f"`metawsm resume --run-id {run_id}` restarts it with a fresh restart budget "
            f"(its pending requests are then closed); `metawsm stop --run-id {run_id}` stops "
            "the run",
        )
    return await answer_request(env, store, record, pending, answerable[0], answer)


async def answer_request(
    env: Environment,
    store: WriteHelpers,
    record: RunRecord,
    pending: list[GuidanceRecord],
    request: GuidanceRecord,
    answer: str,
    *,
    forum_actor: tuple[str, str] | None = ("operator", ""),
) -> dict[str, Any]:
    """Answer one pending request of ``record`` (``pending``: all of its pending ones): the
    response file, the request file removed, the row answered (and its forum thread, posted by
    ``forum_actor``, in the same write), the run back to ``running`` if nothing else waits."""
    run_id = record.run_id
    spec = RunSpec.model_validate_json(record.spec_json)
    roots = await workspace_signal_roots(env, spec, request.workspace_name, request.agent_name)
    response = GuidanceResponse(
        guidance_id=request.id,
        run_id=run_id,
        agent=request.agent_name,
        generation=request.generation or None,
        question=request.question,
        answer=answer.strip(),
        answered_at=datetime.now(UTC),
    )
    host = env.host_for(spec.host)
    if roots:
        target = roots[0]
        for root in roots:
            if await host.stat(posixpath.join(root, GUIDANCE_REQUEST_FILE)) is not None:
                target = root
                break
        await host.write_bytes_atomic(
            posixpath.join(target, GUIDANCE_RESPONSE_FILE), render_signal(response)
        )
        for root in roots:
            await host.remove(posixpath.join(root, GUIDANCE_REQUEST_FILE))
    await store.answer_guidance(request.id, answer.strip(), forum_actor=forum_actor)
    remaining = [p for p in pending if p.id != request.id]
    if not remaining and record.status == RunStatus.AWAITING_GUIDANCE:
        await store.transition(
            EntityKind.RUN,
            run_id,
            record.status,
            RunStatus.RUNNING,
            "guidance answered",
            run_id=run_id,
        )
    return {
        "run_id": run_id,
        "guidance_id": request.id,
        "agent": request.agent_name,
        "workspace": request.workspace_name,
        "question": request.question,
        "remaining": len(remaining),
    }


async def clear_agent_signals(env: Environment, spec: RunSpec) -> int:
    """Remove completion, validation and guidance files (and stale responses) from BOTH roots
    of every workspace of the run (the original cleared only the workspace root, so a stale
    file in the doc-home repo completed the next iteration at once). Returns files removed."""
    removed = 0
    host = env.host_for(spec.host)
    for workspace_name in sorted(set(spec.workspaces.values())):
        for root in await workspace_signal_roots(env, spec, workspace_name):
            for name in (*AGENT_SIGNAL_FILES, GUIDANCE_RESPONSE_FILE):
                if await host.remove(posixpath.join(root, name)):
                    removed += 1
    return removed


async def append_feedback(env: Environment, spec: RunSpec, feedback: str) -> list[str]:
    """Append the operator's feedback to ``.metawsm/operator-feedback.md`` of each workspace and
    to the ticket's ``reference/99-operator-feedback.md`` in the workspace's doc-home repo."""
    stamp = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    entry = f"## {stamp}\n\n{feedback.strip()}\n\n"
    written: list[str] = []
    provider = env.workspace_provider(spec.host)
    host = env.host_for(spec.host)
    for ticket, workspace_name in sorted(spec.workspaces.items()):
        workspace = await provider.info(workspace_name)
        if workspace is None:
            continue
        targets = [posixpath.join(workspace.root, ".metawsm", "operator-feedback.md")]
        doc_repo = _doc_repo(workspace, spec)
        if doc_repo is not None:
            docs_root = await workspace_docs_root(host, doc_repo)
            located = await NativeDocsProvider(host, docs_root).find_ticket(ticket)
            if located is not None:
                targets.append(posixpath.join(located.path, "reference", "99-operator-feedback.md"))
        for path in targets:
            try:
                old = (await host.read_bytes(path)).decode("utf-8")
            except FileNotFoundError:
                old = "# Operator Feedback\n\n"
            await host.write_bytes_atomic(path, (old + entry).encode("utf-8"))
            written.append(path)
        if doc_repo is not None and len(targets) > 1:
            # The ticket's copy is part of the workspace branch: committed before any restart.
            await commit_paths(
                host, doc_repo, [targets[1]], f"metawsm: operator feedback on {ticket}"
            )
    return written
