"""``metawsm agent restart|stop|logs|attach``: one agent at a time, with real tmux, a real
supervisor and the real CLI. The output history of each generation is kept by tmux
``pipe-pane`` in ``.metawsm/logs/agents/`` and outlives the pane."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from metawsm.cli.agent_cmds import attach_argv, tmux_socket_path
from tests.supervisor.world import HOLD, World, wait_until

TALK = {
    "steps": [
        {"do": "say", "text": "first words"},
        {"do": "say", "text": "second words"},
        {"do": "hold"},
    ]
}


def _agent(world: World, name: str) -> dict[str, object]:
    agents = world.status()["agents"]
    return next(a for a in agents if a["name"] == name)


def _logs_dir(world: World, run_id: str, agent: str) -> Path:
    workspace = str(_agent(world, agent)["workspace"])
    return world.state_dir / "logs" / "agents" / run_id / workspace / agent


def _started(world: World) -> str:
    world.serve()
    run_id: str = world.json("run", "--ticket", "T-1", "--repos", "api", "--detach")["run_id"]
    wait_until(
        lambda: all(a["status"] == "running" for a in world.status()["agents"]),
        what="agents running",
    )
    return run_id


def test_logs_keep_every_generation_and_outlive_the_session(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"talk": TALK, "hold": HOLD})
    run_id = _started(world)
    select = ("--ticket", "T-1", "--agent", "talk")
    logs = _logs_dir(world, run_id, "talk")
    wait_until(
        lambda: (
            (logs / "gen-1.log").exists() and b"second words" in (logs / "gen-1.log").read_bytes()
        ),
        what="gen 1 output",
    )
    out = world.cli("agent", "logs", *select).stdout
    assert "generation 1 ===" in out
    assert out.index("first words") < out.index("second words")

    restarted = world.json("agent", "restart", *select)
    assert restarted["generation"] == 2
    assert _agent(world, "hold")["generation"] == 1  # only that agent
    wait_until(lambda: b"second words" in (logs / "gen-2.log").read_bytes(), what="gen 2 output")
    # Generation 1 kept only what generation 1 printed.
    assert (logs / "gen-1.log").read_bytes().count(b"first words") == 1

    stopped = world.json("agent", "stop", *select)
    assert stopped["action"] == "stopped"
    wait_until(lambda: _agent(world, "talk")["status"] == "stopped", what="talk stopped")
    session = str(_agent(world, "talk")["session"])
    assert session not in world.sessions()
    assert _agent(world, "hold")["status"] == "running"
    # The pane is gone; its history is not.
    out = world.cli("agent", "logs", *select).stdout
    assert out.index("generation 1 ===") < out.index("generation 2 ===")
    assert out.count("first words") == 2
    only = world.cli("agent", "logs", *select, "--generation", "2").stdout
    assert "generation 1" not in only and "generation 2 ===" in only and "first words" in only
    listed = world.json("agent", "logs", *select)
    assert [g["generation"] for g in listed["generations"]] == [1, 2]
    assert all(g["bytes"] > 0 for g in listed["generations"])


def test_follow_prints_new_output_and_each_new_generation(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"talk": TALK})
    run_id = _started(world)
    logs = _logs_dir(world, run_id, "talk")
    wait_until(lambda: (logs / "gen-1.log").exists(), what="gen 1 log")
    follower = world.cli_background(
        "agent", "logs", "--ticket", "T-1", "--agent", "talk", "--follow"
    )
    try:
        time.sleep(1.0)
        world.json("agent", "restart", "--ticket", "T-1", "--agent", "talk")
        wait_until(lambda: b"second words" in (logs / "gen-2.log").read_bytes(), what="gen 2")
        time.sleep(1.0)
    finally:
        follower.send_signal(signal.SIGINT)
        out, err = follower.communicate(timeout=20)
    assert follower.returncode == 0, err
    assert out.index("generation 1 ===") < out.index("generation 2 ===")
    assert out.count("second words") == 2


def test_an_unknown_agent_names_the_ones_there(make_world: Callable[..., World]) -> None:
    world = make_world({"hold": HOLD})
    _started(world)
    done = world.cli("agent", "restart", "--ticket", "T-1", "--agent", "nobody", check=False)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error: run run-") and lines[0].endswith("has no agent nobody")
    assert lines[1].startswith("hint: its agents: hold@")
    assert "Traceback" not in done.stderr
    done = world.cli("agent", "logs", "--ticket", "T-1", check=False)
    assert (done.returncode, done.stderr.splitlines()[0]) == (2, "error: --agent is required")


def test_attach_chooses_switch_client_only_inside_the_same_server(tmp_path: Path) -> None:
    def tmux_argv(*args: str) -> list[str]:
        return ["tmux", "-L", "mine", *args]

    environ = {"TMUX_TMPDIR": str(tmp_path), "TMUX": "", "PATH": os.environ["PATH"]}
    mine = tmux_socket_path("mine", environ)
    assert mine == str(tmp_path / f"tmux-{os.getuid()}" / "mine")
    argv, env = attach_argv(tmux_argv, mine, "s-1", {**environ, "TMUX": f"{mine},123,0"})
    assert argv[-3:] == ["switch-client", "-t", "=s-1"] and "TMUX" in env
    argv, env = attach_argv(tmux_argv, mine, "s-1", {**environ, "TMUX": "/tmp/other,1,0"})
    assert argv[-3:] == ["attach-session", "-t", "=s-1"] and "TMUX" not in env
    argv, env = attach_argv(tmux_argv, mine, "s-1", environ)
    assert argv[-3:] == ["attach-session", "-t", "=s-1"]


def test_attach_opens_the_agents_session_in_a_real_terminal(
    make_world: Callable[..., World],
) -> None:
    """The terminal is a pane of a second private tmux server (outer): `agent attach` run
    there attaches a real client to the agent's session on the world's server; run from a
    client of the world's own server, it switches that client."""
    world = make_world({"hold": HOLD})
    _started(world)
    session = str(_agent(world, "hold")["session"])
    outer = f"mwo-{secrets.token_hex(3)}"
    command = [
        sys.executable,
        "-m",
        "metawsm",
        "agent",
        "attach",
        "--ticket",
        "T-1",
        "--agent",
        "hold",
    ]

    def outer_tmux(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", outer, "-f", "/dev/null", *args],
            env=world.env,
            text=True,
            capture_output=True,
            cwd=world.root,
        )

    def clients() -> list[str]:
        out = world.tmux("list-clients", "-F", "#{client_session}")
        return out.stdout.split() if out.returncode == 0 else []

    try:
        started = outer_tmux(
            "new-session", "-d", "-s", "term", "-x", "120", "-y", "40", "-c", str(world.root),
            "--", *command,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        wait_until(lambda: clients() == [session], what="a client on the agent's session")
        # From inside the world's server: a client on another session is switched over.
        world.tmux("new-session", "-d", "-s", "op", "-c", str(world.root), "--", "sh")
        outer_tmux(
            "new-window", "-t", "term", "--", "tmux", "-L", world.socket, "attach", "-t", "=op"
        )
        wait_until(lambda: sorted(clients()) == sorted([session, "op"]), what="a client on op")
        line = " ".join(json.dumps(a) for a in command)
        world.tmux(
            "send-keys", "-t", "=op:", f"cd {json.dumps(str(world.root))} && {line}", "Enter"
        )
        wait_until(lambda: clients() == [session, session], what="the op client switched")
    finally:
        outer_tmux("kill-server")
        world.tmux("kill-session", "-t", "=op")
