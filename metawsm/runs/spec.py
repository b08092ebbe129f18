"""A run request (what the operator asked for) and the run spec resolved from it.

:class:`RunRequest` carries the parameters of ``metawsm run``/``bootstrap`` as the CLI or the
control socket received them. :func:`resolve_run` turns it, with the policy, into a
:class:`RunSpec`: every default applied, every name checked, every derived name (workspaces,
branches, tmux sessions) fixed. The spec is persisted as ``runs.spec_json`` and everything later
(plan, executor, restart, close) works from it, never from the request again.

Resolution follows the original's ``Service.Run`` (original-metawsm.md §5.1), with the same
messages in the same order, after one step the original lacked: **every name is checked first**
(tickets, repos, the doc home repo, agents, the run id), before any other rule, because names
become paths, branches and tmux targets.

1. ``at least one --ticket is required``
2. ``at least one --repos entry is required for create/fork`` -- judged on the *effective*
   strategy (flag, else ``workspace.default_strategy``); the original looked at the flag only,
   so a policy defaulting to ``reuse`` still demanded repos.
3. doc home repo: ``doc home repo "<a>" conflicts with --doc-repo value "<b>"``; default the first
   repo; ``doc home repo "<x>" must be one of --repos (<csv>)``. Compared case-insensitively, as
   the original; the spec keeps the repo's spelling from ``--repos`` (it names a folder).
4. ``doc authority mode "<x>" is invalid`` (flag, policy, ``workspace_active``), then
   ``doc seed mode "<x>" is invalid`` (flag, policy, ``copy_from_repo_on_start``).
5. strategy (flag, policy): ``workspace strategy "<x>" is invalid: must be create|fork|reuse``
   (the original silently used ``create`` for anything unknown); base branch (flag, policy,
   ``main``) with a leading ``origin/`` stripped.
6. with the ``git`` workspace provider, every repo must be in ``workspace.repos``.
7. agents (:func:`~metawsm.runs.profiles.resolve_agents`).
8. run id: the requested one (refused if taken) or ``run-YYYYMMDD-HHMMSS`` from ``now``, with
   ``-2``, ``-3``, ... while taken (the original's one-second ids collided, §12.4).
9. workspace names (``workspace_name_for``), which must be valid and distinct; tmux session names
   from ``tmux.session_pattern`` -- the one pattern, used for seeding and starting alike (the
   original seeded agents with a hard-coded pattern) -- which must be valid and distinct, since
   two agents sharing a session would fight over it.
"""

from __future__ import annotations

import re
from collections.abc import Container, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from metawsm.errors import MetawsmError, UsageError
from metawsm.naming import (
    ORIGINAL_RUN_TOKEN_KEEP,
    generate_run_id,
    normalize_tokens,
    render_session_name,
    validate_name,
    workspace_name_for,
)
from metawsm.policy import (
    Policy,
    metawsm_root_of,
    resolve_policy_path,
    resolve_under,
)
from metawsm.policy.model import quote
from metawsm.runs.profiles import AgentSpec, resolve_agents
from metawsm.store.db import format_utc

__all__ = [
    "AUTHORITY_MODES",
    "SEED_MODES",
    "STRATEGIES",
    "RunRequest",
    "RunSpec",
    "resolve_run",
]

RunMode = Literal["run", "bootstrap"]
Strategy = Literal["create", "fork", "reuse"]
AuthorityMode = Literal["workspace_active"]
SeedMode = Literal["none", "copy_from_repo_on_start"]

STRATEGIES: tuple[Strategy, ...] = ("create", "fork", "reuse")
AUTHORITY_MODES: tuple[AuthorityMode, ...] = ("workspace_active",)
SEED_MODES: tuple[SeedMode, ...] = ("none", "copy_from_repo_on_start")

_MAX_RUN_ID_ATTEMPTS = 1000

# A base branch is a git branch name: no whitespace or control characters, none of ~^:?*[\,
# no "..", "@{" or "//", not starting with "-" or "/", not ending with "/", "." or ".lock".
_BAD_BRANCH = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^[-/]|[/.]$|\.lock$")
# tmux refuses ':' and '.' in session names (they separate window and pane in a target).
_BAD_SESSION = re.compile(r"[\x00-\x20\x7f:.]|^-")


class RunRequest(BaseModel):
    """The parameters of ``metawsm run`` (or ``bootstrap``), as given.

    List values may hold comma-separated tokens (``--ticket A,B --ticket C``); empty strings mean
    "not given, use the policy". Nothing here is checked until :func:`resolve_run`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tickets: list[str] = Field(default_factory=list)
    repos: list[str] = Field(default_factory=list)
    doc_home_repo: str = ""
    doc_repo: str = ""
    """The original's deprecated alias of ``doc_home_repo``."""
    doc_authority_mode: str = ""
    doc_seed_mode: str = ""
    agents: list[str] = Field(default_factory=list)
    run_id: str = ""
    workspace_strategy: str = ""
    base_branch: str = ""
    policy_path: str = ""
    dry_run: bool = False
    mode: RunMode = "run"
    host: str = ""
    """``--host``: a host name, ``auto``, or empty for ``placement.default_host``."""


class RunSpec(BaseModel):
    """A resolved run, persisted as ``runs.spec_json``.

    The keys up to ``created_at`` are the original's ``model.RunSpec`` JSON keys, in its order,
    so a spec reads the same to anyone who knew the original. The keys after it are ours: the
    names the original re-derived on every use (workspaces, sessions) are fixed here once.
    A spec written by the original lacks them; ``workspaces`` is then derived as it did.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    run_id: str
    mode: RunMode = "run"
    tickets: list[str]
    repos: list[str] = Field(default_factory=list)
    doc_repo: str = ""
    doc_home_repo: str = ""
    doc_authority_mode: AuthorityMode = "workspace_active"
    doc_seed_mode: SeedMode = "copy_from_repo_on_start"
    doc_freshness_revision: str = ""
    base_branch: str = "main"
    workspace_strategy: Strategy = "create"
    agents: list[AgentSpec] = Field(default_factory=list)
    policy_path: str = ""
    dry_run: bool = False
    created_at: str = ""
    # ---- ours
    workspaces: dict[str, str] = Field(default_factory=dict)
    """Ticket -> workspace name, in ticket order."""
    branch_prefix: str = "task"
    session_pattern: str = "{agent}-{workspace}"
    host: str = "local"
    """Name of the host the workspaces and agents live on."""
    workspace_provider: Literal["git", "wsm"] = "git"
    workspaces_root: str = ""
    """Absolute folder holding the workspaces (``workspace.root`` of the policy)."""
    policy_read_at: str = ""
    """When the policy of the run (``policy_path``, its snapshot in ``runs.policy_json``) was
    read, UTC."""
    policy_modified_at: str = ""
    """The policy file's modification time when it was read; "" when there was no file (the
    defaults)."""

    @model_validator(mode="before")
    @classmethod
    def _derive_workspaces(cls, data: Any) -> Any:
        # A spec of the original has no workspaces: derive them as the original did each time.
        if isinstance(data, Mapping) and not data.get("workspaces"):
            tickets, run_id = data.get("tickets"), data.get("run_id")
            if isinstance(tickets, list) and isinstance(run_id, str):
                derived = {
                    t: workspace_name_for(t, run_id, keep=ORIGINAL_RUN_TOKEN_KEEP)
                    for t in tickets
                    if isinstance(t, str)
                }
                return {**data, "workspaces": derived}
        return data

    def workspace_for(self, ticket: str) -> str:
        """The workspace of ``ticket`` (``KeyError`` for a ticket not in the run)."""
        return self.workspaces[ticket]

    def branch_for(self, workspace: str) -> str:
        """The branch of ``workspace``: ``<branch_prefix>/<workspace>``.

        Slashes around the prefix are dropped; an empty prefix gives ``<workspace>`` alone
        (the original would have made the invalid ``/<workspace>``).
        """
        prefix = self.branch_prefix.strip().strip("/")
        return f"{prefix}/{workspace}" if prefix else workspace

    def session_for(self, agent: str, workspace: str) -> str:
        """The tmux session of ``agent`` in ``workspace`` (from ``session_pattern``)."""
        return render_session_name(self.session_pattern, agent, workspace)

    def agent(self, name: str) -> AgentSpec | None:
        """The agent called ``name``, or None."""
        return next((a for a in self.agents if a.name == name), None)

    def to_json(self) -> str:
        """The JSON stored in ``runs.spec_json``."""
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> RunSpec:
        """Read a ``runs.spec_json`` (ours or the original's)."""
        return cls.model_validate_json(text)


# ------------------------------------------------------------------------------- resolution


def _fold(value: str) -> str:
    return value.strip().lower()


def _check_names(request: RunRequest) -> tuple[list[str], list[str], list[str], str]:
    tickets = [validate_name("ticket", t) for t in normalize_tokens(request.tickets)]
    repos = [validate_name("repo", r) for r in normalize_tokens(request.repos)]
    for value in (request.doc_home_repo.strip(), request.doc_repo.strip()):
        if value:
            validate_name("repo", value)
    agents = [validate_name("agent", a) for a in normalize_tokens(request.agents)]
    run_id = request.run_id.strip()
    if run_id:
        validate_name("run id", run_id)
    return tickets, repos, agents, run_id


def _doc_home_repo(request: RunRequest, repos: list[str]) -> str:
    home, legacy = request.doc_home_repo.strip(), request.doc_repo.strip()
    if home and legacy and home.lower() != legacy.lower():
        raise UsageError(
            f"doc home repo {quote(home)} conflicts with --doc-repo value {quote(legacy)}",
            hint="--doc-repo is the old name of --doc-home-repo; give only one of them",
        )
    chosen = home or legacy or (repos[0] if repos else "")
    if not repos or not chosen:
        return chosen
    match = next((r for r in repos if r.lower() == chosen.lower()), None)
    if match is None:
        raise UsageError(
            f"doc home repo {quote(chosen)} must be one of --repos ({','.join(repos)})",
            hint="the agent starts in the doc home repo, so the run must check it out",
        )
    return match


def _mode(flag: str, policy_value: str, default: str, choices: tuple[str, ...], what: str) -> str:
    value = _fold(flag) or _fold(policy_value) or default
    if value not in choices:
        raise UsageError(
            f"{what} {quote(value)} is invalid", hint=f"use one of: {', '.join(choices)}"
        )
    return value


def _strategy(request: RunRequest, policy: Policy) -> str:
    return _fold(request.workspace_strategy) or policy.workspace.default_strategy


def _base_branch(request: RunRequest, policy: Policy) -> str:
    given = request.base_branch.strip() or policy.workspace.base_branch.strip() or "main"
    branch = given.removeprefix("origin/")
    if not branch or _BAD_BRANCH.search(branch):
        raise UsageError(
            f"base branch {quote(given)} is invalid",
            hint="give a branch name such as main or release/1.2 (origin/ is optional)",
        )
    return branch


def _check_repos_in_policy(
    repos: list[str], policy: Policy, policy_path: Path, host: str = "local"
) -> None:
    remote = policy.hosts.get(host) if host != "local" else None
    if remote is not None and remote.repos:
        for repo in repos:
            if repo not in remote.repos:
                listed = ", ".join(remote.repos) or "none"
                raise UsageError(
                    f"repo {quote(repo)} has no clone on host {quote(host)} "
                    f"(hosts.{host}.repos lists: {listed})",
                    hint=f'add "{repo}": "<path of its clone on {host}>" under '
                    f"hosts.{host}.repos in {policy_path}",
                )
        return
    known = policy.workspace.repos
    for repo in repos:
        if repo not in known:
            listed = ", ".join(known) or "none"
            raise UsageError(
                f"repo {quote(repo)} is not in the policy's workspace.repos (listed: {listed})",
                hint=f'add "{repo}": "<path of its clone>" under workspace.repos in '
                f"{policy_path} (relative paths are from {metawsm_root_of(policy_path)})",
            )


def _run_id(requested: str, now: datetime, taken: Container[str]) -> str:
    if requested:
        if requested in taken:
            raise UsageError(
                f"run id {quote(requested)} is already taken",
                hint="choose another --run-id, or leave it out to generate one",
            )
        return requested
    for attempt in range(1, _MAX_RUN_ID_ATTEMPTS + 1):
        run_id = generate_run_id(now, attempt=attempt)
        if run_id not in taken:
            return run_id
    raise MetawsmError(f"no free run id for {generate_run_id(now)} after many attempts")


def _workspaces(tickets: list[str], run_id: str) -> dict[str, str]:
    owners: dict[str, str] = {}
    for ticket in tickets:
        workspace = validate_name("workspace", workspace_name_for(ticket, run_id))
        if workspace in owners:
            raise UsageError(
                f"tickets {quote(owners[workspace])} and {quote(ticket)} would share "
                f"workspace {quote(workspace)}",
                hint="workspace names are lower-cased; give each ticket once",
            )
        owners[workspace] = ticket
    return {ticket: workspace for workspace, ticket in owners.items()}


def _check_sessions(pattern: str, agents: list[AgentSpec], workspaces: list[str]) -> None:
    owners: dict[str, tuple[str, str]] = {}
    for workspace in workspaces:
        for agent in agents:
            session = render_session_name(pattern, agent.name, workspace)
            if _BAD_SESSION.search(session):
                raise UsageError(
                    f"tmux session name {quote(session)} from tmux.session_pattern "
                    f"{quote(pattern)} is invalid: tmux refuses ':', '.', spaces and a leading '-'",
                    hint="use {agent}, {workspace}, letters, digits, '-' and '_' in the pattern",
                )
            if session in owners:
                other_agent, other_ws = owners[session]
                raise UsageError(
                    f"tmux session {quote(session)} would be shared by agent "
                    f"{quote(other_agent)} in workspace {quote(other_ws)} and agent "
                    f"{quote(agent.name)} in workspace {quote(workspace)}",
                    hint="make tmux.session_pattern contain both {agent} and {workspace}, "
                    "and give agents names that differ after lower-casing",
                )
            owners[session] = (agent.name, workspace)


def resolve_run(
    request: RunRequest,
    policy: Policy,
    *,
    now: datetime,
    taken_run_ids: Container[str],
    root: Path | None = None,
    home: Path | None = None,
    host_load: Mapping[str, int] | None = None,
) -> RunSpec:
    """Resolve ``request`` against ``policy`` into the :class:`RunSpec` of a new run.

    ``now`` stamps the run and generates its id (a naive datetime is taken as UTC);
    ``taken_run_ids`` holds the ids already in the store. ``root`` is the directory a relative
    ``policy_path`` is relative to (default: the current directory); ``home`` replaces the home
    directory for skill lookup (tests). ``host_load`` counts the live agents of each host, for
    ``--host auto`` and ``max_agents``. Raises :class:`~metawsm.errors.UsageError` with the
    first broken rule, in the order of the module docstring. Nothing is written anywhere.
    """
    moment = now.replace(tzinfo=UTC) if now.tzinfo is None else now
    tickets, repos, agent_names, requested_id = _check_names(request)
    if not tickets:
        raise UsageError("at least one --ticket is required")
    strategy = _strategy(request, policy)
    if not repos and strategy != "reuse":
        raise UsageError("at least one --repos entry is required for create/fork")
    doc_home_repo = _doc_home_repo(request, repos)
    authority = _mode(
        request.doc_authority_mode,
        policy.docs.authority_mode,
        "workspace_active",
        AUTHORITY_MODES,
        "doc authority mode",
    )
    seed = _mode(
        request.doc_seed_mode,
        policy.docs.seed_mode,
        "copy_from_repo_on_start",
        SEED_MODES,
        "doc seed mode",
    )
    if strategy not in STRATEGIES:
        raise UsageError(
            f"workspace strategy {quote(strategy)} is invalid: must be create|fork|reuse"
        )
    base_branch = _base_branch(request, policy)
    policy_path = resolve_policy_path(request.policy_path or None, root=root)
    agents = resolve_agents(policy, agent_names, policy_path=policy_path, home=home)
    host = place_run(request.host, policy, len(agents) * len(tickets), host_load or {})
    if policy.workspace.provider == "git":
        _check_repos_in_policy(repos, policy, policy_path, host)
    run_id = _run_id(requested_id, moment, taken_run_ids)
    workspaces = _workspaces(tickets, run_id)
    pattern = policy.tmux.session_pattern
    _check_sessions(pattern, agents, list(workspaces.values()))
    workspaces_root = resolve_under(metawsm_root_of(policy_path), policy.workspace.root)
    remote = policy.hosts.get(host) if host != "local" else None
    if remote is not None and remote.workspaces_root:
        workspaces_root = Path(remote.workspaces_root)
    return RunSpec.model_validate(
        {
            "run_id": run_id,
            "mode": request.mode,
            "tickets": tickets,
            "repos": repos,
            "doc_repo": doc_home_repo,
            "doc_home_repo": doc_home_repo,
            "doc_authority_mode": authority,
            "doc_seed_mode": seed,
            "base_branch": base_branch,
            "workspace_strategy": strategy,
            "agents": agents,
            "policy_path": str(policy_path),
            "dry_run": request.dry_run,
            "created_at": format_utc(moment),
            "workspaces": workspaces,
            "branch_prefix": policy.workspace.branch_prefix,
            "session_pattern": pattern,
            "workspace_provider": policy.workspace.provider,
            "workspaces_root": str(workspaces_root),
            "host": host,
        }
    )


_OCCUPYING = ("pending", "running", "idle", "stalled", "stopping")


def host_load(reader: Any) -> dict[str, int]:
    """Agents that hold a place on each host (not ended), from a store reader."""
    load: dict[str, int] = {}
    for agent in reader.list_agents():
        if agent.status in _OCCUPYING:
            load[agent.host] = load.get(agent.host, 0) + 1
    return load


def place_run(requested: str, policy: Policy, agents: int, load: Mapping[str, int]) -> str:
    """The host of a new run: ``requested`` (a name or ``auto``), else
    ``placement.default_host``; ``auto`` picks the host with the most free capacity (no limit
    counts as the most; ties go to the fewest agents, then local, then policy order).
    A host whose ``max_agents`` the run would exceed is refused."""
    wanted = (requested or policy.placement.default_host or "local").strip()
    names = ["local", *(n for n in policy.hosts if n != "local")]

    def limit(name: str) -> int:
        entry = policy.hosts.get(name)
        return entry.max_agents if entry is not None else 0

    def fits(name: str) -> bool:
        return limit(name) == 0 or load.get(name, 0) + agents <= limit(name)

    if wanted == "auto":
        candidates = [n for n in names if fits(n)]
        if not candidates:
            raise UsageError(
                f"no host has room for {agents} more agents (every max_agents is reached)",
                hint="stop a run, raise hosts.<name>.max_agents, or add a host",
            )

        def free(name: str) -> float:
            return float("inf") if limit(name) == 0 else limit(name) - load.get(name, 0)

        return min(candidates, key=lambda n: (-free(n), load.get(n, 0), names.index(n)))
    validate_name("host", wanted)
    if wanted not in names:
        raise UsageError(
            f"host {quote(wanted)} is not in the policy (hosts: {', '.join(names)})",
            hint=f"add hosts.{wanted} with its address to the policy, or use --host auto",
        )
    if not fits(wanted):
        raise UsageError(
            f"host {quote(wanted)} is full: {load.get(wanted, 0)} agents running, "
            f"max_agents {limit(wanted)}, this run needs {agents}",
            hint="choose another --host, --host auto, or stop a run there",
        )
    return wanted
