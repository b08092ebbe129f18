"""Run commands: ``serve``, ``run``, ``status``, ``runs``, ``stop``, ``resume``, ``restart``,
``cleanup``.

Each command talks to the supervisor through the control socket when one is running for the
current directory's metawsm root. Without one, reads come from SQLite (and say the supervisor
is down), ``stop`` and ``cleanup`` act directly, and ``run`` starts a supervisor in the
foreground for that run (``--detach`` only submits, and needs one running).
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import anyio
from cyclopts import Parameter

from metawsm.cli import app
from metawsm.cli.common import RemoteCore, call, print_json
from metawsm.cli.completers import complete_agents
from metawsm.cli.params import JsonFlag, Root, Target
from metawsm.core import SubmitParams
from metawsm.errors import StoreError, UsageError
from metawsm.hsm import RunStatus
from metawsm.naming import normalize_tokens, validate_name
from metawsm.runs.spec import RunRequest, host_load, resolve_run
from metawsm.status import (
    RunStatusView,
    RunSummary,
    render_runs_text,
    render_status_text,
    render_statuses_text,
)
from metawsm.store.reader import Reader
from metawsm.supervisor.environment import Environment
from metawsm.supervisor.lock import supervisor_is_running

if TYPE_CHECKING:
    from metawsm.supervisor.service import ServiceCore

Flag = Annotated[bool, Parameter(negative="")]
Multi = Annotated[tuple[str, ...], Parameter(consume_multiple=False)]
#: ``--agent``, repeatable, completed with the agents of the policy and of recorded runs.
Agents = Annotated[tuple[str, ...], Parameter(consume_multiple=False, completer=complete_agents)]

FINAL = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.STOPPED, RunStatus.CLOSED})
ROOT = Root()
TARGET = Target()


@app.command
def serve(
    *,
    verbose: Flag = False,
    web: Annotated[list[str] | None, Parameter(consume_multiple=True)] = None,
    root: Root = ROOT,
) -> int:
    """Run the supervisor for this directory's metawsm root in the foreground.

    It adopts the agents of active runs, watches them, restarts what dies within the policy's
    budget and serves the other commands over .metawsm/control.sock. Ctrl-C stops it within
    supervisor.shutdown_seconds and leaves every agent running.

    With --web it also serves a dashboard (runs, agents, questions, forum threads, logs, and
    the tui's actions) on 127.0.0.1:7780 unless an address is given; the URL it prints carries
    a token made at each start, without which nothing is served.

    Example: metawsm serve --web          (or: metawsm serve --web 127.0.0.1:0 for a free port)

    Parameters
    ----------
    verbose
        Log debug messages too.
    web
        Serve the dashboard: ``--web`` alone on 127.0.0.1:7780, or ``--web [HOST:]PORT``.
        Nothing is bound beyond loopback unless HOST says so.
    """
    from metawsm.supervisor.serve import run_serve

    address = None
    if web is not None:
        if len(web) > 1:
            raise UsageError("--web takes at most one address", hint="--web 127.0.0.1:7780")
        from metawsm.web.server import parse_address

        address = parse_address(web[0] if web else "")
    run_serve(**root.serve_args(), verbose=verbose, web=address)
    return 0


@app.command
def run(
    *,
    ticket: Multi = (),
    repos: Multi = (),
    doc_home_repo: str = "",
    doc_repo: str = "",
    doc_authority_mode: str = "",
    doc_seed_mode: str = "",
    agent: Agents = (),
    run_id: str = "",
    workspace_strategy: str = "",
    base_branch: str = "",
    host: str = "",
    dry_run: Flag = False,
    detach: Flag = False,
    json_output: JsonFlag = False,
    root: Root = ROOT,
) -> int:
    """Start a run: provision a workspace per ticket, seed its docs, start the agents.

    With a supervisor running, the run is submitted to it and this returns once its plan has
    executed (agents started). Without one, a supervisor starts in the foreground for this run
    and stays until the run ends (Ctrl-C leaves the agents running).

    Example: metawsm run --ticket T-1 --repos api,web --agent coder --host gpu1

    Parameters
    ----------
    ticket
        Ticket id(s); repeat or use commas.
    repos
        Repos for the workspace (names from workspace.repos); repeat or use commas.
    doc_home_repo
        Repo holding the ticket docs in the workspace (default: the first repo).
    doc_repo
        Deprecated alias of --doc-home-repo.
    doc_authority_mode
        Docs authority mode (default from the policy).
    doc_seed_mode
        none or copy_from_repo_on_start (default from the policy).
    agent
        Agents from the policy (default: all); repeat or use commas.
    run_id
        Run id (default: generated, run-YYYYMMDD-HHMMSS).
    workspace_strategy
        create, fork or reuse (default from the policy).
    base_branch
        Branch the workspaces start from (default from the policy, usually main).
    host
        Host of the workspaces and agents: local, a hosts key of the policy, or auto (the
        most free capacity); default placement.default_host.
    dry_run
        Write the plan and touch nothing else.
    detach
        Only submit to a running supervisor; fail when none is running.
    json_output
        Print the run id and steps as JSON.
    """
    request = RunRequest(
        tickets=normalize_tokens(ticket),
        repos=normalize_tokens(repos),
        doc_home_repo=doc_home_repo,
        doc_repo=doc_repo,
        doc_authority_mode=doc_authority_mode,
        doc_seed_mode=doc_seed_mode,
        agents=normalize_tokens(agent),
        run_id=run_id,
        workspace_strategy=workspace_strategy,
        base_branch=base_branch,
        policy_path=root.files()[0] or "",
        dry_run=dry_run,
        host=host.strip(),
    )
    return submit(request, root=root, detach=detach, json_output=json_output)


def submit(
    request: RunRequest,
    *,
    root: Root,
    detach: bool,
    json_output: bool,
    brief: dict[str, Any] | None = None,
) -> int:
    """Submit a run to the running supervisor, or supervise it in the foreground (a dry run
    is planned without starting a supervisor)."""
    env = root.env()
    if root.policy:
        # The file this command was given, as an absolute path: the supervisor reads it.
        request = request.model_copy(update={"policy_path": str(env.policy_path)})
    _check_request(env, request)
    submitted = SubmitParams(request=request, brief=brief)
    if supervisor_is_running(env):
        params = submitted.model_dump(mode="json")
        result = anyio.run(RemoteCore(env).call, "run.submit", params, backend="asyncio")
        _print_submitted(result, json_output)
        return 1 if result.get("preflight") else 0
    if request.dry_run:
        result = anyio.run(_plan_offline, env, submitted, backend="asyncio")
        _print_submitted(result, json_output)
        return 1 if result.get("preflight") else 0
    if detach:
        raise UsageError(
            f"--detach needs a running supervisor and none is running for {env.root}",
            hint="start one with `metawsm serve`, or drop --detach to supervise in the foreground",
        )
    outcome: dict[str, Any] = {}

    async def job(core: ServiceCore) -> None:
        result = await core.submit_run(submitted)
        outcome.update(result)
        _print_submitted(result, json_output)
        if result.get("dry_run"):
            return
        outcome["status"] = await _follow(core, result["run_id"], quiet=json_output)

    from metawsm.supervisor.serve import run_serve  # the actor tree: only when it runs here

    policy, db = root.files()
    run_serve(root=env.root, policy=policy, db=db, job=job)
    # The status the run ended in (not the one it had when its plan was submitted): a run
    # whose agents failed is a failed command.
    return 1 if outcome.get("status", "") == RunStatus.FAILED else 0


async def _plan_offline(env: Environment, submitted: SubmitParams) -> dict[str, Any]:
    """A dry run with no supervisor: write the plan straight to SQLite, start nothing."""
    from metawsm.core import dry_run_view, record_new_run
    from metawsm.store.client import DirectStore

    brief = None if submitted.brief is None else submitted.brief.to_brief()
    with DirectStore(env.db_path) as store, Reader(env.db_path) as reader:
        spec = await record_new_run(store, env, submitted.request, reader, brief)
    return await dry_run_view(env, spec)


def _check_request(env: Environment, request: RunRequest) -> None:
    """Refuse a bad request (invalid names, unknown repos or agents, a taken run id, ...)
    before anything runs: without this, a foreground `run` first started a supervisor (creating
    the database, the lock and the logs) and only then learned that the request was invalid.
    The supervisor resolves the request again when it records the run; this check writes
    nothing."""
    names = [
        *(("ticket", t) for t in normalize_tokens(request.tickets)),
        *(("repo", r) for r in normalize_tokens(request.repos)),
        *(("repo", r) for r in (request.doc_home_repo.strip(), request.doc_repo.strip()) if r),
        *(("agent", a) for a in normalize_tokens(request.agents)),
        *((("run id", request.run_id.strip()),) if request.run_id.strip() else ()),
    ]
    for kind, value in names:
        validate_name(kind, value)
    taken: set[str] = set()
    load: dict[str, int] = {}
    if env.db_path.exists():
        try:
            with Reader(env.db_path) as reader:
                taken = {r.run_id for r in reader.list_runs()}
                load = host_load(reader)
        except StoreError:
            pass  # an old schema: the supervisor migrates it, then checks the run id again
    spec = resolve_run(
        request,
        env.policy,
        now=datetime.now(UTC),
        taken_run_ids=taken,
        root=env.root,
        host_load=load,
    )
    if not request.dry_run and spec.host == "local":
        # A dry run reports missing programs instead; a remote host is checked by the
        # supervisor over its own connection (one connection per host, not one per command).
        from metawsm.runs.preflight import preflight

        anyio.run(preflight, env.host_for(spec.host), spec.agents, backend="asyncio")


def _print_submitted(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    lines = [f"Run ID: {result['run_id']}"]
    for step in result.get("steps", []):
        lines.append(
            f"  [{step['index']:02d}] {step['name']} ({step['kind']}) status={step['status']}"
        )
        if step.get("command"):
            lines.append(f"       {step['command']}")
        if step.get("error"):
            lines.append(f"       error: {step['error']}")
    if result.get("dry_run"):
        lines.append("Run planned in dry-run mode.")
        for missing in result.get("preflight", []):
            lines.append(
                f"Preflight: agent {missing['agent']}: program {missing['program']} "
                f"not found on host {missing['host']}"
            )
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


async def _follow(core: ServiceCore, run_id: str, *, quiet: bool) -> str:
    """Supervise in the foreground until the run ends, printing each change of its state;
    return the status it ended in."""
    seen: dict[str, str] = {}
    tick = core.env.policy.supervisor.tick_seconds
    while True:
        with Reader(core.env.db_path) as reader:
            record = reader.get_run(run_id)
            agents = reader.list_agents(run_id)
        if record is None:
            return ""
        state = {"run": record.status}
        state.update(
            {f"{a.agent_name}@{a.workspace_name}": f"{a.status} gen={a.generation}" for a in agents}
        )
        for key, value in state.items():
            if seen.get(key) != value and not quiet:
                stamp = time.strftime("%H:%M:%S")
                sys.stdout.write(f"{stamp} {key}: {value}\n")
                sys.stdout.flush()
        seen = state
        if record.status in FINAL:
            return record.status
        await anyio.sleep(tick)


@app.command
def status(*, no_diffs: Flag = False, target: Target = TARGET) -> int:
    """Show a run: status, docs, steps, agents (health, signals, generation, host, ages), and
    per workspace repo the uncommitted changes, the commits ahead of the base and a diffstat.

    Without --run-id or --ticket, every active run is shown (--json: a list).

    Example: metawsm status --ticket T-1

    Parameters
    ----------
    no_diffs
        Skip the per-repo git facts (faster).
    """
    data = target.call("status", diffs=not no_diffs)
    if not target.run_id and not target.ticket:  # every active run
        views = data.get("runs", [])
        if target.json_output:
            print_json(views)
        else:
            models = [RunStatusView.model_validate(v) for v in views]
            sys.stdout.write(render_statuses_text(models))
        return 0
    if target.json_output:
        print_json(data)
    else:
        sys.stdout.write(render_status_text(RunStatusView.model_validate(data)))
    return 0


@app.command
def runs(*, all: Flag = False, json_output: JsonFlag = False, root: Root = ROOT) -> int:
    """List active runs (--all: every run, finished ones too).

    Example: metawsm runs --all

    Parameters
    ----------
    all
        Include finished, stopped and dry runs.
    json_output
        Print the runs as a JSON list.
    """
    data = call(root.env(), "runs", {"all": all})
    if json_output:
        print_json(data)
    else:
        summaries = [RunSummary.model_validate(item) for item in data]
        sys.stdout.write(render_runs_text(summaries))
    return 0


@app.command
def stop(*, force: Flag = False, target: Target = TARGET) -> int:
    """Stop a run: kill its agents' sessions and record it stopped.

    On an SSH host that cannot be reached the stop is recorded and carried out when the host
    returns; --force records the agents stopped and leaves the host's sessions alone.

    Example: metawsm stop --ticket T-1

    Parameters
    ----------
    force
        On an unreachable host: record the stop now, leave the remote sessions.
    """
    result = target.call("stop", force=force)
    if result.get("deferred"):
        text = (
            f"Run {result['run_id']}: host {result.get('host')} is unreachable; "
            f"{len(result['deferred'])} agent(s) stop when it returns "
            "(or `metawsm stop --force` to record the stop and leave the host)."
        )
    else:
        text = f"Run {result['run_id']} stopped."
    report(result, target.json_output, text)
    return 0


@app.command
def resume(*, target: Target = TARGET) -> int:
    """Resume a run: finish its plan from the first step not done, restart stopped agents.

    Example: metawsm resume --run-id run-20260101-120000
    """
    result = target.call("resume")
    report(result, target.json_output, f"Run {result['run_id']} resumed.")
    return 0


@app.command
def restart(*, dry_run: Flag = False, target: Target = TARGET) -> int:
    """Restart every agent of a run as a new generation.

    Example: metawsm restart --ticket T-1 --dry-run

    Parameters
    ----------
    dry_run
        Print what would be restarted.
    """
    result = target.call("restart", dry_run=dry_run)
    report(
        result,
        target.json_output,
        f"Run {result['run_id']}: restarted {result.get('agents_restarted', 0)} agents.",
    )
    return 0


@app.command
def cleanup(
    *,
    keep_workspaces: Flag = False,
    dry_run: Flag = False,
    all: Flag = False,
    prune_branches: Flag = False,
    target: Target = TARGET,
) -> int:
    """Stop a run's agents and delete its workspaces (branches and commits are kept).

    --all cleans every finished run (closed, stopped or failed; a completed run waits for its
    review). --prune-branches also deletes the runs' task/* branches that are merged into the
    base branch; a branch with commits the base lacks is kept and reported.

    Example: metawsm cleanup --all --prune-branches --dry-run

    Parameters
    ----------
    keep_workspaces
        Keep the workspaces (only stop the agents).
    dry_run
        Print what would be done.
    all
        Clean every finished run instead of one (no --run-id or --ticket).
    prune_branches
        Delete the runs' workspace branches merged into their base.
    """
    result = target.call(
        "cleanup",
        keep_workspaces=keep_workspaces,
        dry_run=dry_run,
        all=all,
        prune_branches=prune_branches,
    )
    runs = result.get("runs", [result]) if result.get("all") else [result]
    lines = []
    for one in runs:
        deleted = one.get("workspaces_deleted", [])
        line = f"Run {one['run_id']} cleaned up; deleted {len(deleted)} workspace(s)"
        if "branches_deleted" in one:
            line += f", {len(one['branches_deleted'])} branch(es)"
        lines.append(line + ".")
        lines += [
            f"  kept branch {k['branch']} in {k['repo']}: {k['reason']}"
            for k in one.get("branches_kept", [])
        ]
    if result.get("all") and not runs:
        lines.append("No finished runs to clean up.")
    report(result, target.json_output, "\n".join(lines))
    return 0


def report(result: dict[str, Any], as_json: bool, sentence: str) -> None:
    """Print a command's result: JSON, the actions of a dry run, or one sentence."""
    if as_json:
        print_json(result)
        return
    if result.get("dry_run"):
        sys.stdout.write("\n".join(f"- {a}" for a in result.get("actions", [])) + "\n")
        return
    sys.stdout.write(sentence + "\n")
    if result.get("supervisor") == "down":
        sys.stdout.write(
            "(no supervisor running: applied directly; the next `metawsm serve` reconciles)\n"
        )
