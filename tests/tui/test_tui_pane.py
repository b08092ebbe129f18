"""metawsm tui in a real terminal: a smoke test in a real tmux pane against a real supervisor.

The tui runs in a session of a tmux server of the test's own (not the agents' server), so that
``o`` attaches to the agents' server from inside it, as an operator's terminal would. The
behaviour is specified in ``test_tui_app.py`` with Textual's own harness; this checks the real
terminal: drawing, keys, handing the terminal to tmux and taking it back, exit codes.
"""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from metawsm.tui.app import same_tmux_server, tmux_socket_path
from tests.supervisor.world import BRIEF, HOLD, World, wait_until

ASKER = {
    "steps": [
        {"do": "say", "text": "generation starts"},
        {
            "do": "guidance",
            "question": "Left or right?",
            "timeout": 60,
            "save_answer": "answer.txt",
            "when_generation": 1,
        },
        {"do": "say", "text": "holding now"},
        {"do": "hold"},
    ]
}


class Pane:
    """A tmux server of the test's own with one pane running a command in the world's root."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.socket = f"mwui-{secrets.token_hex(4)}"
        self.env = {**world.env, "TERM": "xterm-256color"}

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            env=self.env,
            text=True,
            capture_output=True,
            timeout=10,
        )

    def start(self, command: str) -> None:
        root = str(self.world.root)
        out = self.tmux(
            "new-session", "-d", "-s", "ui", "-x", "160", "-y", "40", "-c", root, command
        )
        assert out.returncode == 0, out.stderr

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "=ui:").stdout

    def wait_for(self, *texts: str, timeout: float = 20.0) -> str:
        """Poll the screen (bounded) until it shows every one of ``texts``; return it."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(text in screen for text in texts):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {texts} on the tui's screen:\n{screen}")

    def keys(self, *keys: str, literal: bool = False) -> None:
        out = self.tmux("send-keys", "-t", "=ui:", *(["-l"] if literal else []), *keys)
        assert out.returncode == 0, out.stderr

    def close(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def pane(make_world: Callable[..., World]) -> Iterator[Callable[[World], Pane]]:
    made: list[Pane] = []

    def make(world: World) -> Pane:
        p = Pane(world)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def _tui_command() -> str:
    tui = shlex.join([sys.executable, "-m", "metawsm", "tui", "--interval", "0.5"])
    return f"{tui}; echo TUI-EXIT:$?; sleep 60"


def _status(world: World, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = world.json("status", "--run-id", run_id, "--no-diffs")
    return data


def test_tui_in_a_real_terminal_opens_an_agent_and_comes_back(
    make_world: Callable[..., World], pane: Callable[[World], Pane]
) -> None:
    world = make_world({"asker": ASKER})
    world.serve()
    run_id = world.json("bootstrap", "--ticket", "T-1", "--repos", "api", *BRIEF, "--detach")[
        "run_id"
    ]
    ui = pane(world)
    ui.start(_tui_command())
    # Drawn: the run, the agent, the question, the footer's keys.
    ui.wait_for(run_id, "asker", "Left or right?", "supervisor: up", "Answer", "Restart")

    # o: the agent's session, in this pane, until the operator detaches; then the tui again.
    session = _status(world, run_id)["agents"][0]["session"]
    ui.keys("o")
    ui.wait_for(f"[{session[:9]}")  # tmux's status line names the session (shortened)
    ui.keys("C-b", "d")
    ui.wait_for(f"back from {session}", "Answer")

    # g, typed, Enter: the answer goes to the agent.
    ui.keys("g")
    ui.wait_for("Enter sends")
    ui.keys("Go left", literal=True)
    ui.keys("Enter")
    ui.wait_for("answer sent to asker")
    workspace = next((world.root / ".metawsm" / "workspaces").iterdir())
    saved = workspace / "api" / "answer.txt"
    wait_until(saved.exists, what="the agent to receive the answer")
    assert saved.read_text() == "Go left"

    # q: quit, the terminal given back.
    ui.keys("q")
    screen = ui.wait_for("TUI-EXIT:0")
    assert "Traceback" not in screen
    world.cli("stop", "--run-id", run_id)


def test_tui_needs_a_running_supervisor(make_world: Callable[..., World]) -> None:
    world = make_world({"a": HOLD})
    down = world.cli("tui", check=False)
    assert down.returncode == 1
    errors = [line for line in down.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no supervisor is running" in errors[0]
    assert "Traceback" not in down.stderr
    world.serve()
    no_tty = world.cli("tui", check=False)
    assert no_tty.returncode == 1 and "needs a terminal" in no_tty.stderr


# -- the pure parts ------------------------------------------------------------------------------


def test_the_agents_tmux_server_is_recognised_from_tmux() -> None:
    uid = os.getuid()
    environ = {"TMUX_TMPDIR": "/tmp", "TMUX": f"/tmp/tmux-{uid}/agents,123,0"}
    assert tmux_socket_path("agents", environ) == os.path.realpath(f"/tmp/tmux-{uid}/agents")
    assert same_tmux_server("agents", environ)
    assert not same_tmux_server("other", environ)
    assert not same_tmux_server("agents", {"TMUX_TMPDIR": "/tmp"})
    assert same_tmux_server("/tmp/x.sock", {"TMUX": "/tmp/x.sock,1,0"})
