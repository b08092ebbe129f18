"""``metawsm agent restart|stop|logs|attach``: one agent of a run at a time.

The agent is named by the run selector (``--run-id`` or ``--ticket``) and ``--agent``, with
``--workspace`` when the run has that agent in more than one workspace. ``restart`` and
``stop`` go through the supervisor (as the tui's keys do); ``logs`` reads the output history
the supervisor keeps per generation in ``.metawsm/logs/agents/`` (it needs no supervisor, and
outlives the pane); ``attach`` opens the agent's tmux session.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from cyclopts import App, Parameter

from metawsm.cli import app
from metawsm.cli.completers import complete_agents
from metawsm.cli.params import Target
from metawsm.cli.run_cmds import TARGET, Flag, report

agent_app = App(
    name="agent",
    help="One agent of a run: restart or stop it, print its output history, attach to it.",
    help_epilogue="Example: metawsm agent logs --ticket T-1 --agent coder --follow",
)
app.command(agent_app)

AgentName = Annotated[str, Parameter(completer=complete_agents)]

#: How often ``logs --follow`` looks for new output and new generations.
FOLLOW_POLL_SECONDS = 0.2
CHUNK = 65536


@dataclass(frozen=True)
class Chosen:
    """The agent a command acts on, as the run's status shows it."""

    run_id: str
    name: str
    workspace: str
    session: str
    generation: int
    status: str


def choose(target: Target, agent: str, workspace: str) -> tuple[Any, Chosen]:
    """The environment and the one agent of the selected run named ``agent`` (in
    ``workspace`` when given); a usage error naming the choices otherwise."""
    from metawsm.cli.common import call
    from metawsm.errors import NotFoundError, UsageError
    from metawsm.naming import validate_name

    if not agent.strip():
        raise UsageError("--agent is required", hint="the agents of a run: `metawsm status`")
    validate_name("agent", agent)
    if workspace:
        validate_name("workspace", workspace)
    env = target.env()
    status = call(env, "status", target.selector(diffs=False))
    agents = status.get("agents", [])
    matches = [
        a for a in agents if a["name"] == agent and (not workspace or a["workspace"] == workspace)
    ]
    if not matches:
        known = ", ".join(sorted(f"{a['name']}@{a['workspace']}" for a in agents)) or "none"
        raise NotFoundError(
            f"run {status['run_id']} has no agent {agent}"
            + (f" in workspace {workspace}" if workspace else ""),
            hint=f"its agents: {known}",
        )
    if len(matches) > 1:
        where = ", ".join(sorted(a["workspace"] for a in matches))
        raise UsageError(
            f"agent {agent} runs in {len(matches)} workspaces of run {status['run_id']}: {where}",
            hint="name one with --workspace",
        )
    row = matches[0]
    return env, Chosen(
        run_id=str(status["run_id"]),
        name=str(row["name"]),
        workspace=str(row["workspace"]),
        session=str(row["session"]),
        generation=int(row["generation"]),
        status=str(row["status"]),
    )


def _act(action: str, target: Target, agent: str, workspace: str) -> dict[str, Any]:
    from metawsm.cli.common import call

    env, chosen = choose(target, agent, workspace)
    params = {
        "run_id": chosen.run_id,
        "ticket": "",
        "agent": chosen.name,
        "workspace": chosen.workspace,
    }
    result: dict[str, Any] = call(env, f"agent.{action}", params)
    return result


@agent_app.command(name="restart")
def agent_restart(*, agent: AgentName = "", workspace: str = "", target: Target = TARGET) -> int:
    """Restart one agent as a new generation (the run's other agents go on).

    Example: metawsm agent restart --ticket T-1 --agent coder

    Parameters
    ----------
    agent
        The agent (a name from the policy's agents).
    workspace
        The workspace, when the run has the agent in several.
    """
    result = _act("restart", target, agent, workspace)
    report(
        result,
        target.json_output,
        f"Agent {result['agent']} of run {result['run_id']} restarted "
        f"(generation {result.get('generation')}).",
    )
    return 0


@agent_app.command(name="stop")
def agent_stop(*, agent: AgentName = "", workspace: str = "", target: Target = TARGET) -> int:
    """Stop one agent: kill its session and record it stopped (the rest of the run goes on).

    Example: metawsm agent stop --ticket T-1 --agent reviewer

    Parameters
    ----------
    agent
        The agent.
    workspace
        The workspace, when the run has the agent in several.
    """
    result = _act("stop", target, agent, workspace)
    report(
        result, target.json_output, f"Agent {result['agent']} of run {result['run_id']} stopped."
    )
    return 0


@agent_app.command(name="logs")
def agent_logs(
    *,
    agent: AgentName = "",
    workspace: str = "",
    generation: int = 0,
    follow: Flag = False,
    target: Target = TARGET,
) -> int:
    """Print an agent's output history, generation by generation.

    Every generation's output is kept in .metawsm/logs/agents/ from its first byte (tmux
    pipe-pane), so it is there after the pane, the session or the supervisor is gone. Output
    is printed as the agent wrote it (terminal control sequences included). --json prints the
    log files instead: {"run_id", "agent", "workspace", "generations": [{"generation",
    "path", "bytes"}]}.

    Example: metawsm agent logs --ticket T-1 --agent coder --generation 2

    Parameters
    ----------
    agent
        The agent.
    workspace
        The workspace, when the run has the agent in several.
    generation
        Only this generation (default: all, oldest first, each under a header line).
    follow
        Keep printing what the newest generation writes, and each new generation as it
        starts, until Ctrl-C.
    """
    from metawsm.errors import NotFoundError, UsageError
    from metawsm.supervisor.agent_logs import agent_log_dir, generation_log, generations

    if generation < 0:
        raise UsageError("--generation must be 1 or more")
    env, chosen = choose(target, agent, workspace)
    log_dir = agent_log_dir(env.logs_dir, chosen.run_id, chosen.workspace, chosen.name)
    have = generations(log_dir)
    wanted = [generation] if generation else have
    if generation and generation not in have:
        known = ", ".join(str(g) for g in have) or "none yet"
        raise NotFoundError(
            f"no output of generation {generation} of {chosen.name}@{chosen.workspace}",
            hint=f"generations with output: {known}",
        )
    if target.json_output:
        from metawsm.cli.common import print_json

        print_json(
            {
                "run_id": chosen.run_id,
                "agent": chosen.name,
                "workspace": chosen.workspace,
                "generations": [
                    {
                        "generation": g,
                        "path": generation_log(log_dir, g),
                        "bytes": Path(generation_log(log_dir, g)).stat().st_size,
                    }
                    for g in wanted
                ],
            }
        )
        return 0
    if not have and not follow:
        raise NotFoundError(
            f"no output kept for {chosen.name}@{chosen.workspace} of run {chosen.run_id}",
            hint=f"logs live in {log_dir}; a run started before metawsm kept them has none",
        )
    out = sys.stdout.buffer
    last = 0
    position = 0
    for g in wanted:
        out.write(_header(g, chosen))
        position = _copy(generation_log(log_dir, g), 0, out)
        last = g
    out.flush()
    if not follow:
        return 0
    with contextlib.suppress(KeyboardInterrupt):
        _follow(log_dir, last, position, chosen, only=generation)
    return 0


def _header(generation: int, chosen: Chosen) -> bytes:
    return f"\n=== {chosen.name}@{chosen.workspace} generation {generation} ===\n".encode()


def _copy(path: str, offset: int, out: Any) -> int:
    """Write ``path`` from ``offset`` to ``out``; the offset reached."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            while chunk := handle.read(CHUNK):
                out.write(chunk)
                offset += len(chunk)
    except FileNotFoundError:
        pass
    return offset


def _follow(log_dir: str, current: int, position: int, chosen: Chosen, *, only: int) -> None:
    """Print what the newest generation appends, and each new generation, until Ctrl-C (or,
    with ``only``, until that generation has a successor)."""
    from metawsm.supervisor.agent_logs import generation_log, generations

    out = sys.stdout.buffer
    while True:
        if current:
            position = _copy(generation_log(log_dir, current), position, out)
        newer = [g for g in generations(log_dir) if g > current]
        if newer:
            if only and current == only:
                out.flush()
                return
            if current:
                # What the old generation wrote after the last read (before it was replaced).
                position = _copy(generation_log(log_dir, current), position, out)
            current, position = newer[0], 0
            out.write(_header(current, chosen))
            continue
        out.flush()
        time.sleep(FOLLOW_POLL_SECONDS)


@agent_app.command(name="attach")
def agent_attach(*, agent: AgentName = "", workspace: str = "", target: Target = TARGET) -> int:
    """Open an agent's tmux session: attach this terminal to it, or, inside tmux on the same
    server, switch this client to it (detach with prefix+d to come back).

    Example: metawsm agent attach --ticket T-1 --agent coder

    Parameters
    ----------
    agent
        The agent.
    workspace
        The workspace, when the run has the agent in several.
    """
    from metawsm.errors import MetawsmError

    env, chosen = choose(target, agent, workspace)
    socket_path = server_socket_path(env.tmux.argv, env.tmux.socket, os.environ)
    argv, child_env = attach_argv(env.tmux.argv, socket_path, chosen.session, os.environ)
    if target.json_output:
        from metawsm.cli.common import print_json

        print_json({"run_id": chosen.run_id, "session": chosen.session, "argv": argv})
        return 0
    if not sys.stdin.isatty() and "attach-session" in argv:
        raise MetawsmError(
            "attach needs a terminal (standard input is not a tty)",
            hint="run it in a terminal, or read the output with `metawsm agent logs`",
        )
    sys.stdout.flush()
    os.execvpe(argv[0], argv, child_env)
    return 0  # not reached


def tmux_socket_path(socket: str, environ: Any) -> str:
    """The socket file of a tmux server as tmux names it (``-S`` path, or ``-L`` name in
    ``$TMUX_TMPDIR/tmux-UID/``; ``default`` for the user's server)."""
    if "/" in socket:
        return os.path.abspath(socket)
    base = environ.get("TMUX_TMPDIR") or "/tmp"
    return os.path.join(base, f"tmux-{os.getuid()}", socket or "default")


def server_socket_path(tmux_argv: Any, socket: str, environ: Any) -> str:
    """The socket file of the agents' tmux server: asked of the server itself when this runs
    inside tmux (the only case it matters), else as tmux would name it."""
    import subprocess

    if environ.get("TMUX"):
        try:
            done = subprocess.run(
                tmux_argv("display-message", "-p", "#{socket_path}"),
                capture_output=True,
                text=True,
                timeout=10,
                stdin=subprocess.DEVNULL,
            )
            if done.returncode == 0 and done.stdout.strip():
                return done.stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
    return tmux_socket_path(socket, environ)


def attach_argv(
    tmux_argv: Any, socket_path: str, session: str, environ: Any
) -> tuple[list[str], dict[str, str]]:
    """How to open ``session``: ``switch-client`` from inside tmux on the same server (its
    socket file is ``socket_path``), else ``attach-session`` (from inside another tmux server,
    nested: ``TMUX`` removed)."""
    child_env = dict(environ)
    inside = environ.get("TMUX", "")
    target = f"={session}"
    if inside and os.path.realpath(inside.split(",", 1)[0]) == os.path.realpath(socket_path):
        return list(tmux_argv("switch-client", "-t", target)), child_env
    child_env.pop("TMUX", None)
    return list(tmux_argv("attach-session", "-t", target)), child_env
