"""The text of ``metawsm status`` and ``metawsm runs``.

The status layout is the original's (original-metawsm.md §7), section by section and in its
order, for the parts metawsm has: Run, Status, Mode, Tickets, Docs, Guidance, Diffs, Next,
Steps, Agents. What is new goes where the original's ``watch`` parser does not look, so a
script written against the original still reads our text:

* ``Supervisor: up|down`` (and ``Message: <last transition message>``) follow the header, as
  non-indented lines with prefixes the parser ignores;
* each agent line ends with ``generation=``, ``host=``, ``restarts=`` and ``exit=``, more
  ``key=value`` fields after the original ones;
* running and failed steps are listed, indented, under the ``Steps:`` count line;
* a repo diff line may end with ``insertions=`` and ``deletions=`` (after ``files=``);
* under a repo's ``git status`` lines, the review material of its branch (indented further):
  ``ahead of <base>: <n> commit(s)`` with one line per commit, then
  ``diffstat <base>...HEAD: <n> file(s), +<added> -<removed>`` with one line per file;
* each agent line ends with ``signals=`` (``guidance:<n>``, ``complete``,
  ``validation:<status>``, comma-separated, or ``-``).

With no selector, ``status`` prints every active run's text, one after the other.

Free text (questions, errors) is folded onto one line so it cannot end a section early.
"""

from __future__ import annotations

from collections.abc import Sequence

from metawsm.hsm import StepStatus
from metawsm.status.times import format_duration, short_stamp
from metawsm.status.views import (
    AgentView,
    BranchView,
    DocsView,
    ForumStatusView,
    RunStatusView,
    RunSummary,
    StepView,
    WorkspaceDiffView,
)

__all__ = ["one_line", "render_runs_text", "render_status_text", "render_statuses_text"]

_UNKNOWN = "unknown"


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) made one space."""
    return " ".join(text.split())


def render_status_text(view: RunStatusView) -> str:
    """The human status of one run, ending with a newline."""
    lines = [f"Run: {view.run_id}", f"Status: {view.status}"]
    if view.mode:
        lines.append(f"Mode: {view.mode}")
    lines.append(f"Tickets: {', '.join(view.tickets)}".rstrip())
    lines.append(f"Supervisor: {view.supervisor}")
    if view.last_message:
        lines.append(f"Message: {one_line(view.last_message)}")
    lines += _docs(view.docs)
    if view.policy.path:
        lines.append(f"Policy: {_policy(view)}")
    escalations = view.forum.escalations if view.forum is not None else []
    if view.guidance or escalations:
        lines.append("Guidance:")
        lines += [
            f"  - id={g.id} {g.agent}@{g.workspace} question={one_line(g.question)}"
            + (f" thread={g.thread_id}" if g.thread_id else "")
            for g in view.guidance
        ]
        lines += [
            f"  - forum thread={e.thread_id} state={e.state} priority={e.priority}"
            f" title={one_line(e.title)}"
            for e in escalations
        ]
    if view.forum is not None:
        lines += _forum(view.forum)
    if view.diffs:
        lines.append("Diffs:")
        for workspace in view.diffs:
            lines += _workspace_diff(workspace)
    if view.next:
        lines.append("Next:")
        lines += [f"  - {command}" for command in view.next]
    counts = view.step_counts
    lines.append(
        f"Steps: total={counts.total} done={counts.done} running={counts.running}"
        f" pending={counts.pending} failed={counts.failed}"
    )
    lines += _notable_steps(view.steps)
    lines.append("Agents:")
    lines += [_agent(agent) for agent in view.agents] or ["  - none"]
    return "\n".join(lines) + "\n"


def _forum(forum: ForumStatusView) -> list[str]:
    counts = " ".join(
        f"{state}={forum.counts.get(state, 0)}"
        for state in ("new", "waiting_operator", "waiting_human", "answered", "closed")
    )
    line = f"  - total={forum.total} {counts} escalations={len(forum.escalations)}"
    if forum.export_lag is not None:
        line += f" export_lag={forum.export_lag}"
    lines = ["Forum:", line]
    for t in forum.threads:
        lines.append(
            f"  - thread={t.thread_id} state={t.state} priority={t.priority}"
            f" assignee={t.assignee_type or '-'}/{t.assignee_name or '-'} posts={t.posts_count}"
            f" updated_at={short_stamp(t.updated_at)} title={one_line(t.title)}"
        )
    return lines


def _policy(view: RunStatusView) -> str:
    policy = view.policy
    read = f"read {policy.read_at}" if policy.read_at else "read when the run started"
    if policy.read_at and not policy.modified_at:
        return f"{policy.path} (no file: the defaults; {read})"
    modified = f"modified {policy.modified_at}, " if policy.modified_at else ""
    return f"{policy.path} ({modified}{read})"


def _docs(docs: DocsView) -> list[str]:
    lines = [
        "Docs:",
        f"  home_repo={docs.home_repo or _UNKNOWN}",
        f"  authority={docs.authority or _UNKNOWN}",
        f"  seed_mode={docs.seed_mode or _UNKNOWN}",
        f"  freshness_revision={docs.freshness_revision or _UNKNOWN}",
    ]
    if not docs.sync:
        lines.append("  sync=none")
    for state in docs.sync:
        line = (
            f"  sync ticket={state.ticket} workspace={state.workspace} status={state.status}"
            f" revision={state.revision or _UNKNOWN} updated_at={short_stamp(state.updated_at)}"
        )
        if state.error:
            line += f" error={one_line(state.error)}"
        lines.append(line)
    for ep in docs.endpoints:
        line = f"  endpoint name={ep.name} kind={ep.kind} workspace={ep.workspace or '-'}"
        if ep.reachable:
            line += f" indexed_at={ep.indexed_at or _UNKNOWN}" + (" stale" if ep.stale else "")
        else:
            line += f" unreachable error={one_line(ep.error)}"
        lines.append(line)
    lines += [f"  warning={one_line(w)} (warning-only)" for w in docs.warnings]
    return lines


def _workspace_diff(workspace: WorkspaceDiffView) -> list[str]:
    if workspace.error:
        return [f"  - {workspace.workspace} error={one_line(workspace.error)}"]
    lines = [f"  - {workspace.workspace} path={workspace.path or '-'}"]
    for repo in workspace.repos:
        if repo.error:
            lines.append(f"    * {repo.repo} error={one_line(repo.error)}")
            continue
        line = f"    * {repo.repo} " + ("clean" if repo.clean else f"dirty files={repo.files}")
        if repo.insertions is not None:
            line += f" insertions={repo.insertions}"
        if repo.deletions is not None:
            line += f" deletions={repo.deletions}"
        if repo.stat_error:
            line += f" stat_error={one_line(repo.stat_error)}"
        lines.append(line)
        lines += [f"      {entry}" for entry in repo.lines]
        if repo.files > len(repo.lines):
            lines.append(f"      ... ({repo.files - len(repo.lines)} more)")
        if repo.branch is not None:
            lines += _branch(repo.branch)
    return lines


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _branch(branch: BranchView) -> list[str]:
    if branch.error:
        return [f"      branch error={one_line(branch.error)}"]
    lines = [f"      ahead of {branch.base}: {_plural(branch.ahead, 'commit')}"]
    lines += [f"        {c.sha} {one_line(c.subject)}" for c in branch.commits]
    if branch.ahead > len(branch.commits):
        lines.append(f"        ... ({branch.ahead - len(branch.commits)} more)")
    lines.append(
        f"      diffstat {branch.base}...HEAD: {_plural(branch.files, 'file')},"
        f" +{branch.insertions} -{branch.deletions}"
    )
    for change in branch.stat:
        counts = (
            "binary"
            if change.insertions is None or change.deletions is None
            else f"+{change.insertions} -{change.deletions}"
        )
        lines.append(f"        {change.path} | {counts}")
    if branch.files > len(branch.stat):
        lines.append(f"        ... ({branch.files - len(branch.stat)} more)")
    return lines


def _signals(agent: AgentView) -> str:
    signals = agent.signals
    marks = []
    if signals.guidance_pending:
        marks.append(f"guidance:{signals.guidance_pending}")
    if signals.complete:
        marks.append("complete")
    if signals.validation is not None:
        marks.append(f"validation:{one_line(signals.validation) or '?'}")
    return ",".join(marks) or "-"


def _notable_steps(steps: Sequence[StepView]) -> list[str]:
    lines = []
    for step in steps:
        if step.status not in (StepStatus.RUNNING, StepStatus.FAILED):
            continue
        line = f"  - #{step.index} {step.name} status={step.status}"
        if step.error:
            line += f" error={one_line(step.error)}"
        lines.append(line)
    return lines


def _age(seconds: int | None) -> str:
    return "-" if seconds is None else format_duration(seconds)


def _agent(agent: AgentView) -> str:
    exit_text = "-" if agent.exit_status is None else str(agent.exit_status)
    return (
        f"  - {agent.name}@{agent.workspace} session={agent.session} status={agent.status}"
        f" health={agent.health} last_activity={short_stamp(agent.last_activity)}"
        f" activity_age={_age(agent.activity_age_seconds)}"
        f" last_progress={short_stamp(agent.last_progress)}"
        f" progress_age={_age(agent.progress_age_seconds)}"
        f" generation={agent.generation} host={agent.host} restarts={agent.restarts}"
        f" exit={exit_text} signals={_signals(agent)}"
    )


def render_statuses_text(views: Sequence[RunStatusView]) -> str:
    """Every active run's status (``status`` with no selector), a blank line between runs."""
    if not views:
        return "No active runs.\nSee finished ones with: metawsm runs --all\n"
    return "\n".join(render_status_text(view) for view in views)


def render_runs_text(runs: Sequence[RunSummary]) -> str:
    """One line per run, or ``No runs.`` with a hint; ends with a newline."""
    if not runs:
        return "No runs.\nStart one with: metawsm run --ticket <TICKET>\n"
    lines = [
        f"{run.run_id}  {run.status}  {','.join(run.tickets) or '-'}"
        f"  agents={run.agents}  updated={short_stamp(run.updated_at)}"
        for run in runs
    ]
    return "\n".join(lines) + "\n"
