"""The Textual tui driven by its own harness (``App.run_test`` and the pilot) against a real
supervisor, a real run in real tmux and git: keys, screens, live updates, reconnection."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from textual.pilot import Pilot

from metawsm.supervisor.environment import Environment
from metawsm.tui.app import Ask, Confirm, MetawsmTui, Table
from tests.supervisor.world import BRIEF, HOLD, World

pytestmark = pytest.mark.anyio

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"

ASKER = {
    "steps": [
        {"do": "say", "text": "generation starts"},
        {"do": "sleep", "seconds": 3},
        {
            "do": "guidance",
            "question": "Left or right?",
            "timeout": 90,
            "save_answer": "answer.txt",
            "when_generation": 1,
        },
        {
            "do": "forum",
            "title": "Cache size?",
            "body": "How big may the cache grow?",
            "priority": "urgent",
            "timeout": 90,
            "save_answer": "forum-answer.txt",
        },
        {"do": "say", "text": "holding now"},
        {"do": "hold"},
    ]
}


async def until(
    pilot: Pilot[Any], predicate: Callable[[], Any], what: str, timeout: float = 30
) -> Any:
    """Let the app run (bounded) until ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await pilot.pause(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _cells(app: MetawsmTui, table_id: str) -> list[list[str]]:
    table = app.query_one(f"#{table_id}", Table)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def _status(world: World, run_id: str) -> Awaitable[Any]:
    return anyio.to_thread.run_sync(lambda: world.json("status", "--run-id", run_id, "--no-diffs"))


@pytest.fixture
def asking_world(
    make_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> tuple[World, str]:
    world = make_world({"asker": ASKER, "holder": HOLD})
    # The tui reads agents' output from the world's private tmux server, as the CLI does.
    monkeypatch.setenv("TMUX_TMPDIR", str(world.tmux_tmpdir))
    world.serve()
    run_id = world.json("bootstrap", "--ticket", "T-1", "--repos", "api", *BRIEF, "--detach")[
        "run_id"
    ]
    return world, str(run_id)


async def test_the_operator_answers_an_agent_from_the_tui_and_the_agent_gets_it(
    asking_world: tuple[World, str],
) -> None:
    world, run_id = asking_world
    env = Environment.load(root=world.root)
    app = MetawsmTui(env, interval=0.5)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.state.supervisor == "up", "the stream")
        await until(pilot, lambda: len(_cells(app, "agents")) == 2, "the run's agents")
        agents = _cells(app, "agents")
        assert [row[0] for row in agents] == ["asker", "holder"]
        assert agents[0][2] == "running" and agents[0][4] == "1" and agents[0][5] == "local"
        assert any(run_id in row[0] for row in _cells(app, "runs"))
        # A live update: the question arrives while the tui is open.
        await until(
            pilot,
            lambda: any("Left or right?" in row[3] for row in _cells(app, "questions")),
            "the agent's question",
        )
        if os.environ.get("METAWSM_UPDATE_SCREENSHOTS") == "1":
            await pilot.pause(0.5)
            app.save_screenshot(filename="tui.svg", path=str(IMAGES))
        # g opens the answer screen; Esc cancels and sends nothing.
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, Ask), "the answer screen")
        await pilot.press("escape")
        await until(pilot, lambda: "answer cancelled" in app.state.message, "the cancel")
        # g again, typed, Enter: the agent receives it.
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, Ask), "the answer screen")
        await pilot.press(*"Go left", "enter")
        await until(pilot, lambda: "answer sent to asker" in app.state.message, "the answer")
        workspace = next(world.workspaces_dir.iterdir())
        saved = workspace / "api" / "answer.txt"
        await until(pilot, saved.exists, "the agent to receive the answer")
        assert saved.read_text() == "Go left"
        # The agent asks on the forum (urgent, so escalated): first in the table, answered here.
        await until(
            pilot,
            lambda: any("Cache size?" in row[3] for row in _cells(app, "questions")),
            "the agent's thread",
        )
        first = _cells(app, "questions")[0]
        assert "Cache size?" in first[3] and first[0] == "!" and first[1] == "urgent"
        # The answered guidance thread waits for nobody: it has left the table.
        assert not any("Left or right?" in row[3] for row in _cells(app, "questions"))
        app.query_one("#questions", Table).move_cursor(row=0)
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, Ask), "the answer screen")
        await pilot.press(*"1 GiB", "enter")
        await until(pilot, lambda: "answered thread" in app.state.message, "the thread answer")
        forum_saved = workspace / "api" / "forum-answer.txt"
        await until(pilot, forum_saved.exists, "the agent to receive the thread's answer")
        assert forum_saved.read_text().strip() == "1 GiB"

        # An operator's thread: a assigns it, c closes it after a y.
        await anyio.to_thread.run_sync(
            lambda: world.cli(
                "forum", "ask", "--run-id", run_id, "--title", "Rotate keys", "--body", "when?"
            )
        )
        await until(
            pilot,
            lambda: any("Rotate keys" in row[3] for row in _cells(app, "questions")),
            "the operator's thread",
        )
        table = app.query_one("#questions", Table)
        table.focus()
        rows = _cells(app, "questions")
        table.move_cursor(row=next(i for i, r in enumerate(rows) if "Rotate keys" in r[3]))
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, Ask), "the assign screen")
        await pilot.press(*"alice", "enter")
        await until(pilot, lambda: "to alice" in app.state.message, "the assignment")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, Confirm), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: "closed thread" in app.state.message, "the close")
        threads = (
            await anyio.to_thread.run_sync(lambda: world.json("forum", "list", "--run-id", run_id))
        )["threads"]
        rotate = next(t for t in threads if t["title"] == "Rotate keys")
        assert rotate["state"] == "closed" and rotate["assignee_name"] == "alice"
        await until(pilot, lambda: not _cells(app, "questions"), "the questions to go")
        app.query_one("#agents", Table).focus()
        # The selected agent's output is shown.
        await until(pilot, lambda: "holding now" in app.log_text, "the agent's log")

        # r asks first: n keeps the agent as it is, y restarts it as generation 2.
        await pilot.press("j")  # the holder
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, Confirm), "the confirmation")
        await pilot.press("n")
        await until(pilot, lambda: "restart cancelled" in app.state.message, "the refusal")
        holder = next(a for a in (await _status(world, run_id))["agents"] if a["name"] == "holder")
        assert holder["generation"] == 1
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, Confirm), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: "(generation 2)" in app.state.message, "the restart", 60)
        await until(pilot, lambda: _cells(app, "agents")[1][4] == "2", "generation 2 shown")
        # s, y: stopped.
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, Confirm), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: "stopped holder@" in app.state.message, "the stop", 60)
        await until(pilot, lambda: _cells(app, "agents")[1][2] == "stopped", "stopped shown")
        await pilot.press("q")
    assert app.return_code == 0
    await anyio.to_thread.run_sync(lambda: world.cli("stop", "--run-id", run_id))


async def test_the_tui_says_the_supervisor_is_down_and_follows_the_next_one(
    make_world: Callable[..., World],
) -> None:
    world = await anyio.to_thread.run_sync(lambda: make_world({"holder": HOLD}))
    await anyio.to_thread.run_sync(world.serve)
    run_id = (
        await anyio.to_thread.run_sync(
            lambda: world.json("run", "--ticket", "T-1", "--repos", "api", "--detach")
        )
    )["run_id"]
    app = MetawsmTui(Environment.load(root=world.root), interval=0.5)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: len(_cells(app, "agents")) == 1, "the agent")
        await pilot.press("g")
        await until(pilot, lambda: "no pending question" in app.state.message, "the refusal")
        supervisor = world.servers[0]
        supervisor.terminate()
        await anyio.to_thread.run_sync(lambda: supervisor.wait(timeout=15))
        await until(pilot, lambda: app.state.supervisor.startswith("down"), "down shown")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, Confirm), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: "restart failed" in app.state.message, "the failure")
        await anyio.to_thread.run_sync(world.serve)
        await until(pilot, lambda: app.state.supervisor == "up", "the next supervisor", 30)
        await until(pilot, lambda: run_id in str(_cells(app, "runs")), "the run again")
        await pilot.press("ctrl+c")
    assert app.return_code == 130
    await anyio.to_thread.run_sync(lambda: world.cli("stop", "--run-id", run_id))
