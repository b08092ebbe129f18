"""The operator's loop: ``bootstrap``, ``guide``, ``iterate``, ``merge``, ``close``, and the
agent-side ``signal`` helper."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import anyio
from cyclopts import App, Parameter

from metawsm.agents.signals import (
    GuidanceRequest,
    ImplementationComplete,
    SignalModel,
    ValidationCheck,
    ValidationResult,
    signal_env_from_environ,
    write_signal_atomic,
)
from metawsm.cli import app
from metawsm.cli.common import print_json
from metawsm.cli.params import JsonFlag, Root, Target
from metawsm.cli.run_cmds import ROOT, TARGET, Agents, Flag, Multi, report, submit
from metawsm.control.client import ControlClient, SupervisorUnreachable
from metawsm.errors import UsageError
from metawsm.loop.bootstrap import collect_brief
from metawsm.naming import normalize_tokens
from metawsm.runs.spec import RunRequest


def _ask(prompt: str) -> str | None:
    sys.stdout.write(prompt)
    sys.stdout.flush()
    line = sys.stdin.readline()
    return None if line == "" else line.rstrip("\n")


@app.command
def bootstrap(
    *,
    ticket: str = "",
    repos: Multi = (),
    goal: str = "",
    scope: str = "",
    done_criteria: str = "",
    constraints: str = "",
    merge_intent: str = "",
    doc_home_repo: str = "",
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
    """Take a ticket from intake to running agents: brief, ticket, workspace, docs, agents.

    Asks for goal, scope, done criteria, constraints and merge intent when standard input is a
    terminal; otherwise all five are required as flags. A missing ticket is created; the brief
    is stored and written as a reference doc of the ticket before the docs are seeded, so the
    agents find it in their workspace. The run completes when every agent signals completion.

    Example: metawsm bootstrap --ticket T-2 --repos api --goal "Add a cache" --scope api/
    --done-criteria "make test passes" --constraints "no new deps" --merge-intent default

    Parameters
    ----------
    ticket
        The ticket (one).
    repos
        Repos for the workspace; repeat or use commas.
    goal
        What should be built or changed.
    scope
        Which areas or files are in scope.
    done_criteria
        Which tests or checks define complete (validation must match it to close).
    constraints
        Constraints, non-goals, risk boundaries.
    merge_intent
        Merge intent ("default" for the normal close flow).
    doc_home_repo
        Repo holding the ticket docs in the workspace (default: the first repo).
    agent
        Agents from the policy (default: all).
    run_id
        Run id (default: generated).
    workspace_strategy
        create, fork or reuse (default from the policy).
    base_branch
        Branch the workspace starts from (default from the policy).
    host
        Host of the workspace and agents: local, a hosts key, or auto (default
        placement.default_host).
    dry_run
        Plan only: no ticket, no brief doc, no workspace, no agent.
    detach
        Only submit to a running supervisor.
    json_output
        Print the run id and steps as JSON.
    """
    if not ticket.strip():
        raise UsageError("--ticket is required")
    repo_list = normalize_tokens(repos)
    if not repo_list:
        raise UsageError("--repos is required for bootstrap")
    given = {
        "goal": goal,
        "scope": scope,
        "done_criteria": done_criteria,
        "constraints": constraints,
        "merge_intent": merge_intent,
    }
    brief = collect_brief(ticket.strip(), given, interactive=sys.stdin.isatty(), ask=_ask)
    request = RunRequest(
        tickets=[ticket.strip()],
        repos=repo_list,
        doc_home_repo=doc_home_repo,
        agents=normalize_tokens(agent),
        run_id=run_id,
        workspace_strategy=workspace_strategy,
        base_branch=base_branch,
        policy_path=root.files()[0] or "",
        dry_run=dry_run,
        mode="bootstrap",
        host=host.strip(),
    )
    return submit(
        request,
        root=root,
        detach=detach,
        json_output=json_output,
        brief=dataclasses.asdict(brief),
    )


@app.command
def guide(*, answer: str = "", target: Target = TARGET) -> int:
    """Answer the oldest pending guidance request of a run.

    Writes guidance-response.json next to the agent's request, removes the request, and
    returns the run to running when nothing else is pending.

    Example: metawsm guide --ticket T-1 --answer "Use SQLite."

    Parameters
    ----------
    answer
        The answer for the agent.
    """
    if not answer.strip():
        raise UsageError("--answer is required")
    result = target.call("guide", answer=answer)
    if target.json_output:
        print_json(result)
    else:
        sys.stdout.write(
            f"Guidance answered for run {result['run_id']} "
            f"(id={result['guidance_id']} {result['agent']}@"
            f"{result['workspace']}).\n"
        )
    return 0


@app.command
def iterate(*, feedback: str = "", dry_run: Flag = False, target: Target = TARGET) -> int:
    """Send the agents back to work with feedback, as a new generation.

    Clears completion, validation and guidance files in both signal roots, appends the
    feedback to .metawsm/operator-feedback.md and to the ticket's
    reference/99-operator-feedback.md in the workspace, and restarts every agent.

    Example: metawsm iterate --ticket T-1 --feedback "Add a test for the empty cache."

    Parameters
    ----------
    feedback
        What the agents should change.
    dry_run
        Print what would be done.
    """
    if not feedback.strip():
        raise UsageError("--feedback is required")
    result = target.call("iterate", feedback=feedback, dry_run=dry_run)
    report(
        result,
        target.json_output,
        f"Run {result['run_id']}: feedback recorded, "
        f"{result.get('agents_restarted', 0)} agent(s) restarted.",
    )
    return 0


@app.command
def merge(*, human: Flag = False, dry_run: Flag = False, target: Target = TARGET) -> int:
    """Merge each workspace branch into the base branch of each repo's clone.

    All or nothing per workspace: a conflict in any repo merges nothing and names the files.
    Requires --human (automated merge is disabled) unless --dry-run, which lists the commits
    each repo would receive and the conflicts git merge-tree predicts, changes nothing, and
    exits 1 when a conflict is predicted.

    Example: metawsm merge --ticket T-1 --human

    Parameters
    ----------
    human
        Acknowledge that a human reviewed the diffs.
    dry_run
        Print what would be merged.
    """
    result = target.call("merge", human=human, dry_run=dry_run)
    if target.json_output:
        print_json(result)
    elif result.get("dry_run"):
        for action in result.get("actions", []):
            sys.stdout.write(("  " if action.startswith(" ") else "- ") + action.strip() + "\n")
    if result.get("dry_run"):
        return 1 if result.get("conflicts") else 0
    if target.json_output:
        return 0
    for workspace, repos in result["workspaces"].items():
        for repo in repos:
            sys.stdout.write(
                f"- {workspace} {repo['repo']}: {repo['status']}"
                f"{' ' + repo['commit'][:12] if repo.get('commit') else ''}\n"
            )
    return 0


@app.command
def close(
    *,
    dry_run: Flag = False,
    changelog_entry: str = "",
    keep_agents: Flag = False,
    target: Target = TARGET,
) -> int:
    """Close a completed run: check every gate, stop its agents, merge, and close the tickets.

    Gates, in order: doc sync state and revision, ticket docs present in the workspace,
    doc-home repo clean, every repo clean, (bootstrap) brief and validation matching its done
    criteria, no pending guidance. --dry-run reports every gate, changes nothing, and exits 1
    when a gate fails. A close that fails after the gates (a merge conflict) leaves the run
    completed, to be closed again once the cause is fixed.

    Example: metawsm close --ticket T-1 --dry-run

    Parameters
    ----------
    dry_run
        Report the gates and what would happen; change nothing.
    changelog_entry
        Changelog entry for the ticket (default: "Closed by metawsm run <id>").
    keep_agents
        Leave the run's agents running (by default close stops them).
    """
    result = target.call(
        "close", dry_run=dry_run, changelog_entry=changelog_entry, keep_agents=keep_agents
    )
    if target.json_output:
        print_json(result)
    elif result.get("dry_run"):
        for gate in result["gates"]:
            mark = "ok  " if gate["passed"] else "FAIL"
            sys.stdout.write(f"{mark} {gate['gate']}: {gate['message']}\n")
        for action in result["actions"]:
            sys.stdout.write(f"- would {action}\n")
    else:
        stopped = result.get("agents_stopped", 0)
        sys.stdout.write(
            f"Run {result['run_id']} closed"
            + (f"; {stopped} agent(s) stopped" if stopped else "")
            + ".\n"
        )
    if not target.json_output:
        for warning in result.get("docs_warnings", ()):
            sys.stderr.write(f"warning: {warning} (warning-only)\n")
    # A dry run whose gates fail is a failed check: scripts and CI read the exit status.
    return 1 if result.get("dry_run") and not result.get("passed", True) else 0


signal_app = App(
    name="signal",
    help="For agents: write a signal file atomically (run, agent and generation come from the "
    "environment metawsm gave the agent).",
    help_epilogue='Example: metawsm signal guidance --question "Which database?" (each command '
    "shows its own example with --help)",
)
app.command(signal_app)


def _write(model: SignalModel) -> int:
    ctx = signal_env_from_environ(os.environ)
    path = write_signal_atomic(Path(ctx.signal_dir), model)
    if ctx.socket is not None:
        # Tell the supervisor now rather than at the agent actor's next recheck; the file is
        # the record, so a supervisor that is down loses nothing.
        params = {"run_id": ctx.run_id, "agent": ctx.agent, "workspace": ctx.workspace or ""}
        with contextlib.suppress(SupervisorUnreachable, TimeoutError, OSError):
            anyio.run(_notify, ctx.socket, params, backend="asyncio")
    sys.stdout.write(f"wrote {path}\n")
    return 0


async def _notify(socket: Path, params: dict[str, Any]) -> None:
    async with ControlClient(socket, timeout=2.0) as client:
        await client.call("signal.notify", params, timeout=2.0)


def _stamp() -> dict[str, Any]:
    ctx = signal_env_from_environ(os.environ)
    return {"run_id": ctx.run_id, "agent": ctx.agent, "generation": ctx.generation}


@signal_app.command(
    name="guidance",
    help_epilogue='Example: metawsm signal guidance --question "Which database?" '
    '--context "sqlite or postgres"',
)
def signal_guidance(*, question: str, context: str = "") -> int:
    """Ask the operator a question (guidance-request.json); wait for guidance-response.json.

    Parameters
    ----------
    question
        The question.
    context
        What the operator needs to know to answer.
    """
    return _write(GuidanceRequest(question=question, context=context, **_stamp()))


@signal_app.command(
    name="complete",
    help_epilogue='Example: metawsm signal complete --summary "Cache added, tests pass"',
)
def signal_complete(*, summary: str = "") -> int:
    """Say the implementation is complete (implementation-complete.json).

    Parameters
    ----------
    summary
        What was done.
    """
    return _write(ImplementationComplete(summary=summary, **_stamp()))


@signal_app.command(
    name="validate",
    help_epilogue="Example: metawsm signal validate --status passed --done-criteria "
    '"make test passes" --check tests=passed',
)
def signal_validate(
    *,
    status: str,
    done_criteria: str,
    check: Annotated[tuple[str, ...], Parameter(consume_multiple=False)] = (),
) -> int:
    """Report validation (validation-result.json); close requires status passed and the
    brief's done criteria.

    Parameters
    ----------
    status
        passed or failed.
    done_criteria
        The done criteria validated (must match the brief's to close).
    check
        A check as name=status; repeat.
    """
    checks = [ValidationCheck(name=c.split("=", 1)[0], status=c.split("=", 1)[-1]) for c in check]
    return _write(
        ValidationResult(status=status, done_criteria=done_criteria, checks=checks, **_stamp())
    )
