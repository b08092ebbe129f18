"""The ticket's docs in the workspace's doc-home repo, written there and committed by metawsm.

Every file metawsm writes into a repository becomes part of the workspace branch's history
(:func:`metawsm.workspaces.commits.commit_paths`), so the operator's checkout is never touched
and the base branch receives the files through the merge:

- **Seeding** copies the ticket's folder from ``docs.root`` into the doc-home repo (when the
  seed mode says so); a bootstrap run whose ticket does not exist yet, in the layout where
  ``docs.root`` lies inside one of the run's repos, creates it *there* instead of in the
  operator's checkout; the brief of such a run is written there too. Then one metawsm commit,
  before any agent starts.
- **Iterate's feedback** doc is committed in the doc-home repo before the agents restart.
- **Close** sets the ticket's status, ``LastUpdated`` and changelog in the workspace copy and
  commits them before the merge, so the base branch gets the closed ticket from the merge.
  Only when ``docs.root`` lies in no repo of the run is the ticket (also) closed in place.

"Lies in a repo of the run" is decided by paths: ``docs.root`` is the clone of a repo of the
run (as ``workspace.repos`` names it) or a folder inside it.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from metawsm.docs.base import DocsProvider, Ticket
from metawsm.docs.docmgr_cli import DocmgrCliProvider
from metawsm.docs.native import NativeDocsProvider
from metawsm.docs.seed import locate_seeded, seed_ticket, tree_revision, workspace_docs_root
from metawsm.errors import MetawsmError
from metawsm.hosts.base import Host
from metawsm.loop.bootstrap import Brief, render_brief_doc
from metawsm.policy import resolve_under
from metawsm.runs.spec import RunSpec
from metawsm.supervisor.environment import LOCAL, Environment
from metawsm.workspaces.commits import commit_paths

__all__ = [
    "BRIEF_TOPICS",
    "SeededDocs",
    "brief_doc_title",
    "brief_from_row",
    "close_workspace_ticket",
    "docs_repo_of_run",
    "seed_workspace_docs",
]

BRIEF_TOPICS = ("core", "cli")
"""Topics of a ticket that bootstrap creates (the original's)."""


@dataclass(frozen=True, slots=True)
class SeededDocs:
    """What seeding left in the workspace: the ticket folder, its revision, metawsm's commit
    (``None`` when the worktree already held exactly these docs), and whether the ticket was
    created there."""

    ticket: str
    folder: str
    revision: str
    commit: str | None
    created: bool


def docs_repo_of_run(env: Environment, repos: Sequence[str], host: str = LOCAL) -> str | None:
    """The repo of the run whose clone holds ``docs.root``, or ``None`` when it lies in none.

    Only the ``git`` workspace provider names clones in the policy; with ``wsm`` the docs
    root is taken to lie outside the run's repos (the ticket is closed in place). ``docs.root``
    is on this machine, so the clones of a run on another host never hold it.
    """
    if env.policy.workspace.provider != "git" or host != LOCAL:
        return None
    docs_root = os.path.realpath(resolve_under(env.root, env.policy.docs.root))
    for name in repos:
        clone = env.policy.workspace.repos.get(name)
        if clone is None:
            continue
        path = os.path.realpath(resolve_under(env.root, clone))
        if docs_root == path or docs_root.startswith(path + os.sep):
            return name
    return None


def brief_doc_title(run_id: str) -> str:
    return f"Bootstrap brief {run_id}"


def brief_from_row(
    ticket: str,
    goal: str,
    scope: str,
    done_criteria: str,
    constraints: str,
    merge_intent: str,
    qa_json: str,
) -> Brief:
    """A :class:`Brief` back from its ``run_briefs`` row."""
    try:
        pairs = json.loads(qa_json) if qa_json else []
        qa = tuple((str(p["question"]), str(p["answer"])) for p in pairs)
    except (ValueError, TypeError, KeyError):
        qa = ()
    return Brief(ticket, goal, scope, done_criteria, constraints, merge_intent, qa)


def _provider_at(env: Environment, docs_root: str, host: Host | None = None) -> DocsProvider:
    """The policy's docs provider, on another docs root (a workspace's, on ``host``)."""
    on = host or env.host
    if env.policy.docs.provider == "docmgr":
        return DocmgrCliProvider(on, root=docs_root)
    return NativeDocsProvider(on, docs_root)


async def seed_workspace_docs(
    env: Environment,
    spec: RunSpec,
    ticket_id: str,
    doc_repo: str,
    brief: Brief | None,
) -> SeededDocs:
    """Put the ticket's docs (and a bootstrap run's brief) in the doc-home repo ``doc_repo``
    of a workspace and commit them there: one metawsm commit, or none if nothing changed."""
    host = env.host_for(spec.host)  # the workspace's host; the docs root is on this machine
    in_repo = docs_repo_of_run(env, spec.repos, spec.host) is not None
    source = await env.docs_provider().find_ticket(ticket_id)
    created = False
    if source is not None:
        result = await seed_ticket(host, source, doc_repo, source_host=env.host)
        folder = result.destination
    else:
        if brief is None or not in_repo:
            # Out of the run's repos, bootstrap created it in docs.root before the run started.
            await env.docs_provider().get_ticket(ticket_id)  # raises TicketNotFound, with a hint
        ws_docs = _provider_at(env, await workspace_docs_root(host, doc_repo), host)
        found = await ws_docs.find_ticket(ticket_id)
        if found is None:
            assert brief is not None
            found = await ws_docs.create_ticket(ticket_id, brief.title(), topics=BRIEF_TOPICS)
            created = True
        folder = found.path
    if brief is not None and in_repo:
        await _write_brief(env, spec.run_id, brief, doc_repo, ticket_id, host)
    rel = posixpath.relpath(folder, doc_repo)
    verb = "create" if created else "seed"
    commit = await commit_paths(
        host, doc_repo, [rel], f"metawsm: {verb} {ticket_id} docs for run {spec.run_id}"
    )
    return SeededDocs(ticket_id, folder, await tree_revision(host, folder), commit, created)


async def _write_brief(
    env: Environment, run_id: str, brief: Brief, doc_repo: str, ticket_id: str, host: Host
) -> None:
    """The brief as a reference doc of the workspace copy, unless one is there already (a
    seeding that runs again keeps the first)."""
    ws_docs = _provider_at(env, await workspace_docs_root(host, doc_repo), host)
    found = await ws_docs.get_ticket(ticket_id)
    reference = posixpath.join(found.path, "reference")
    title = brief_doc_title(run_id)
    if await _has_doc_titled(host, reference, title):
        return
    await ws_docs.add_doc(ticket_id, "reference", title, render_brief_doc(run_id, brief))


async def _has_doc_titled(host: Host, folder: str, title: str) -> bool:
    try:
        names = await host.listdir(folder)
    except FileNotFoundError:
        return False
    needle = f"Title: {title}\n".encode()
    for name in names:
        if not name.endswith(".md"):
            continue
        head = await host.read_bytes(posixpath.join(folder, name), limit=4096)
        if needle in head:
            return True
    return False


async def close_workspace_ticket(
    env: Environment,
    ticket_id: str,
    doc_repo: str,
    entry: str,
    *,
    run_id: str,
    host: Host | None = None,
) -> tuple[Ticket, str | None] | None:
    """Close the workspace copy of the ticket (status, ``LastUpdated``, changelog) and commit
    it on the workspace branch; ``None`` when the workspace holds no copy.

    A copy already ``complete`` (a close that failed later, run again) is left as it is, so
    its changelog does not get the entry twice.
    """
    on = host or env.host
    wanted = Ticket(ticket=ticket_id, title="", status="", docs_root=doc_repo, rel_path="")
    found = await locate_seeded(on, wanted, doc_repo)
    if found is None:
        return None
    if found.status.strip().lower() != "complete":
        ws_docs = _provider_at(env, found.docs_root, on)
        closed = await ws_docs.close_ticket(ticket_id, entry)
        found = closed.ticket
    rel = posixpath.relpath(found.path, doc_repo)
    try:
        commit = await commit_paths(
            on, doc_repo, [rel], f"metawsm: close {ticket_id} (run {run_id})"
        )
    except MetawsmError as exc:
        raise MetawsmError(
            f"closing ticket {ticket_id} in {doc_repo}: {exc.message}", hint=exc.hint
        ) from exc
    return found, commit


async def close_tickets_on_branches(
    env: Environment, spec: RunSpec, entry: str, *, run_id: str
) -> tuple[list[str], list[str]]:
    """Close each ticket's workspace copy on its workspace branch (before the merge); return
    the tickets closed there and those to close in place in ``docs.root`` after the merge:
    every ticket when ``docs.root`` lies in no repo of the run, else those with no copy."""
    in_repo = docs_repo_of_run(env, spec.repos, spec.host) is not None
    provider = env.workspace_provider(spec.host)
    host = env.host_for(spec.host)
    on_branch: list[str] = []
    in_place: list[str] = []
    for ticket, ws_name in sorted(spec.workspaces.items()):
        workspace = await provider.info(ws_name)
        doc_repo = workspace.repos.get(spec.doc_home_repo) if workspace is not None else None
        closed = None
        if doc_repo is not None:
            closed = await close_workspace_ticket(
                env, ticket, doc_repo, entry, run_id=run_id, host=host
            )
        if closed is not None:
            on_branch.append(ticket)
        if not in_repo or closed is None:
            in_place.append(ticket)
    return on_branch, in_place
