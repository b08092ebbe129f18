"""metawsm tui: driven in a real tmux pane against a real supervisor; and its pure parts.

The tui runs in a session of a tmux server of the test's own (not the agents' server), so that
``o`` attaches to the agents' server from inside it, as an operator's terminal would.
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
from metawsm.tui.model import KEYS_HELP, Action, State, handle_key, render
from metawsm.tui.terminal import decode_keys
from tests.supervisor.world import HOLD, World, wait_until

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
BRIEF = [
    "--goal",
    "g",
    "--scope",
    "s",
    "--done-criteria",
    "d",
    "--constraints",
    "c",
    "--merge-intent",
    "default",
]


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


def test_tui_answers_guidance_restarts_stops_and_opens_an_agent(
    make_world: Callable[..., World], pane: Callable[[World], Pane]
) -> None:
    world = make_world({"asker": ASKER})
    world.serve()
    run_id = world.json("bootstrap", "--ticket", "T-1", "--repos", "api", *BRIEF, "--detach")[
        "run_id"
    ]
    ui = pane(world)
    ui.start(_tui_command())
    screen = ui.wait_for(run_id, "asker@", "Left or right?", "supervisor: up")
    assert "awaiting_guidance" in screen and "generation=1" in screen

    # g: answer the oldest question.
    ui.keys("g")
    ui.wait_for("answer> _", "Enter sends")
    ui.keys("Go left", literal=True)
    ui.wait_for("answer> Go left_")
    ui.keys("Enter")
    ui.wait_for("answer sent to asker")
    wait_until(
        lambda: _status(world, run_id)["status"] == "running", what="the run to leave guidance"
    )
    workspace = next((world.root / ".metawsm" / "workspaces").iterdir())
    saved = workspace / "api" / "answer.txt"
    wait_until(saved.exists, what="the agent to receive the answer")
    assert saved.read_text() == "Go left"
    ui.wait_for("Guidance pending: 0")

    # o: the agent's session, in this pane, until the operator detaches.
    session = _status(world, run_id)["agents"][0]["session"]
    ui.keys("o")
    ui.wait_for("holding now", f"[{session[:9]}")  # tmux shortens the name
    ui.keys("C-b", "d")
    ui.wait_for(f"back from {session}", KEYS_HELP)

    # r: restart the selected agent as generation 2.
    ui.keys("j", "k", "r")
    ui.wait_for("(generation 2)")
    assert _status(world, run_id)["agents"][0]["generation"] == 2
    ui.wait_for("generation=2")

    # s: stop it.
    ui.keys("s")
    ui.wait_for("stopped asker@")
    wait_until(
        lambda: _status(world, run_id)["agents"][0]["status"] == "stopped",
        what="the agent to be stopped",
    )

    # q: quit, the terminal given back.
    ui.keys("q")
    screen = ui.wait_for("TUI-EXIT:0")
    assert "Traceback" not in screen
    world.cli("stop", "--run-id", run_id)


def test_tui_reports_errors_on_the_status_line_and_exits_on_ctrl_c(
    make_world: Callable[..., World], pane: Callable[[World], Pane]
) -> None:
    world = make_world({"holder": HOLD})
    world.serve()
    run_id = world.json("run", "--ticket", "T-1", "--repos", "api", "--detach")["run_id"]
    ui = pane(world)
    ui.start(_tui_command())
    ui.wait_for(run_id, "holder@", "status=running")
    ui.keys("g")
    ui.wait_for(f"no pending guidance for {run_id}")
    # The supervisor goes away: the tui says so, an action fails on the status line, and the
    # tui follows the next supervisor when it comes.
    supervisor = world.servers[0]
    supervisor.terminate()
    supervisor.wait(timeout=15)
    ui.wait_for("supervisor: down")
    ui.keys("r")
    ui.wait_for("restart failed: no supervisor answers on")
    world.serve()
    ui.wait_for("supervisor: up", run_id, "holder@")
    ui.keys("C-c")
    screen = ui.wait_for("TUI-EXIT:130")
    assert "Traceback" not in screen and "metawsm tui" not in screen  # the screen given back


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


def _state() -> State:
    state = State(root="/r", supervisor="up")
    state.set_runs(
        [
            {"run_id": "run-1", "status": "awaiting_guidance", "tickets": ["T-1"], "guidance": 1},
            {"run_id": "run-2", "status": "running", "tickets": ["T-2"], "guidance": 0},
        ]
    )
    state.set_status(
        {
            "run_id": "run-1",
            "status": "awaiting_guidance",
            "tickets": ["T-1"],
            "step_counts": {"total": 4, "done": 3, "running": 1, "pending": 0, "failed": 0},
            "agents": [
                {
                    "name": "a",
                    "workspace": "w1",
                    "session": "a-w1",
                    "status": "running",
                    "health": "healthy",
                    "generation": 1,
                },
                {
                    "name": "b",
                    "workspace": "w1",
                    "session": "b-w1",
                    "status": "running",
                    "health": "idle",
                    "generation": 3,
                },
            ],
            "guidance": [
                {"id": 7, "agent": "b", "workspace": "w1", "question": "Later?\nyes"},
                {"id": 5, "agent": "a", "workspace": "w1", "question": "Which db?"},
            ],
        }
    )
    return state


def test_render_shows_runs_agents_steps_and_questions_in_exactly_the_screen() -> None:
    lines = render(_state(), 90, 24, "2026-11-21 15:00:00")
    assert len(lines) == 24 and all(len(line) <= 90 for line in lines)
    text = "\n".join(lines)
    assert lines[0].startswith("metawsm tui  /r  2026-11-21 15:00:00  supervisor: up")
    assert "> run-1  awaiting_guidance" in text and "  run-2  running" in text
    assert "Steps: total=4 done=3 running=1 pending=0 failed=0" in text
    assert "> a@w1  session=a-w1  status=running  health=healthy  generation=1" in text
    assert "  b@w1  session=b-w1" in text
    assert text.index("#5 a@w1: Which db?") < text.index("#7 b@w1: Later? yes")
    assert lines[-1] == KEYS_HELP


def test_render_keeps_the_footer_on_a_small_screen() -> None:
    state = _state()
    state.message = "x" * 50
    lines = render(state, 20, 5, "now")
    assert len(lines) == 5 and lines[-2] == "x" * 20 and lines[-1] == KEYS_HELP[:20]
    assert render(State(root="/r"), 80, 6, "now")[3] == "  (none)"


def test_keys_select_answer_and_act_on_the_selected_agent() -> None:
    state = _state()
    assert handle_key(state, "j") is None and state.agent() == _state().agents()[1]
    handle_key(state, "down")  # stays on the last agent
    assert state.selected_agent == 1
    assert handle_key(state, "r") == Action(
        "restart", run_id="run-1", agent="b", workspace="w1", session="b-w1"
    )
    handle_key(state, "k")
    assert handle_key(state, "s") == Action(
        "stop", run_id="run-1", agent="a", workspace="w1", session="a-w1"
    )
    assert handle_key(state, "o") == Action(
        "open", run_id="run-1", agent="a", workspace="w1", session="a-w1"
    )
    handle_key(state, "g")
    assert state.prompt == "" and "a@w1: Which db?" in state.message
    for key in [*"Postgres", "backspace", "s"]:
        assert handle_key(state, key) is None
    assert render(state, 80, 24, "now")[-1] == "answer> Postgres_"
    assert handle_key(state, "q") is None  # typed, not quit
    assert handle_key(state, "enter") == Action("guide", run_id="run-1", text="Postgresq")
    assert state.prompt is None
    handle_key(state, "g")
    handle_key(state, "esc")
    assert state.prompt is None and state.message == "answer cancelled"
    assert handle_key(state, "tab") == Action("refresh", run_id="run-2")
    assert state.agent() is None and handle_key(state, "r") is None
    assert state.message == "no agent selected"
    handle_key(state, "g")
    assert state.prompt is None and state.message == "no pending guidance for run-2"
    assert handle_key(state, "btab") == Action("refresh", run_id="run-1")
    assert handle_key(state, "q") == Action("quit")


def test_a_status_that_could_not_be_refreshed_is_shown_with_its_run() -> None:
    state = _state()
    state.stale["run-1"] = "no supervisor answers"
    assert "  not refreshed: no supervisor answers" in render(state, 80, 24, "now")
    state.set_status({**state.details["run-1"]})
    assert state.stale == {}
    state.stale["run-2"] = "timed out"
    handle_key(state, "tab")
    assert "Run run-2: timed out" in render(state, 80, 24, "now")


def test_a_heartbeat_without_the_selected_run_selects_another() -> None:
    state = _state()
    state.set_runs([{"run_id": "run-2", "status": "running"}])
    assert state.selected_run == "run-2" and list(state.details) == []
    state.set_runs([])
    assert state.selected_run == "" and render(state, 40, 8, "now")[3] == "  (none)"


def test_keys_are_decoded_from_the_terminals_bytes() -> None:
    assert decode_keys("j\x1b[A\x1bOB\t\x1b[Z\r\n\x7fé\x1b") == [
        "j",
        "up",
        "down",
        "tab",
        "btab",
        "enter",
        "enter",
        "backspace",
        "é",
        "esc",
    ]
    assert decode_keys("\x1b[1;5C\x1b[") == []


def test_the_agents_tmux_server_is_recognised_from_tmux() -> None:
    uid = os.getuid()
    environ = {"TMUX_TMPDIR": "/tmp", "TMUX": f"/tmp/tmux-{uid}/agents,123,0"}
    assert tmux_socket_path("agents", environ) == os.path.realpath(f"/tmp/tmux-{uid}/agents")
    assert same_tmux_server("agents", environ)
    assert not same_tmux_server("other", environ)
    assert not same_tmux_server("agents", {"TMUX_TMPDIR": "/tmp"})
    assert same_tmux_server("/tmp/x.sock", {"TMUX": "/tmp/x.sock,1,0"})
