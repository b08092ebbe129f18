"""``metawsm forum`` through the real CLI: offline on SQLite and through a running supervisor,
with the ``--json`` shapes, the original's text lines and messages, waiting, following and
the agent's own environment."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from metawsm.cli import main
from tests.supervisor.world import HOLD, World, wait_until


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


class Cli:
    """The real CLI (``metawsm.cli.main``) run in this process with the root as working
    directory: the same code path as the console script, without an interpreter start per
    call (the supervisor, when a test starts one, is a real process)."""

    def __init__(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        self.world = world
        monkeypatch.chdir(world.root)
        for name, value in world.env.items():
            if name.startswith("TMUX"):
                monkeypatch.setenv(name, value)
        monkeypatch.delenv("TMUX", raising=False)

    def cli(self, *args: str, check: bool = True) -> Result:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
        result = Result(code, out.getvalue(), err.getvalue())
        if check and code != 0:
            raise AssertionError(f"metawsm {' '.join(args)} exited {code}: {result.stderr}")
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def cli_background(self, *args: str) -> subprocess.Popen[str]:
        return self.world.cli_background(*args)


class Lines:
    """Collects a background process's stdout lines in a thread (bounded by the process)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stdout is not None
        stream = proc.stdout
        self._thread = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self._thread.start()


THREAD_KEYS = {
    "thread_id",
    "ticket",
    "run_id",
    "agent",
    "state",
    "priority",
    "assignee_type",
    "assignee_name",
    "posts_count",
    "title",
    "updated_at",
}


def _ask(world: Cli, *extra: str, title: str = "Which DB?") -> dict[str, Any]:
    out: dict[str, Any] = world.json(
        "forum", "ask", "--ticket", "T-1", "--title", title, "--body", "SQLite?", *extra
    )
    return out


def _lifecycle(world: Cli) -> None:
    """Every command once, with its shapes and lines."""
    opened = _ask(world, "--priority", "high", "--actor-name", "coder")
    assert set(opened) == THREAD_KEYS
    assert (opened["state"], opened["priority"], opened["posts_count"]) == ("new", "high", 1)
    tid = opened["thread_id"]
    low = _ask(world, "--priority", "low", title="later")
    listed = world.json("forum", "list")
    assert [t["thread_id"] for t in listed["threads"]] == [tid, low["thread_id"]]
    assert all(set(t) == THREAD_KEYS for t in listed["threads"])
    text = world.cli("forum", "list", "--priority", "high").stdout
    assert text == (
        f"thread={tid} ticket=T-1 run_id=- state=new priority=high assignee=-/- posts=1 "
        f"updated_at={opened['updated_at']} title=Which DB?\n"
    )
    assert world.cli("forum", "list", "--state", "closed").stdout == "No forum threads found.\n"
    assigned = world.json(
        "forum", "assign", "--thread-id", tid, "--assignee", "alice", "--assignee-type", "human"
    )
    assert (assigned["assignee_type"], assigned["assignee_name"]) == ("human", "alice")
    assert world.json("forum", "priority", "--thread-id", tid, "--priority", "urgent")[
        "priority"
    ] == ("urgent")
    assert world.json("forum", "state", "--thread-id", tid, "--state", "waiting_human")[
        "state"
    ] == ("waiting_human")
    answered = world.json(
        "forum", "answer", "--thread-id", tid, "--body", "Use SQLite.", "--actor-name", "alice"
    )
    assert (answered["state"], answered["posts_count"]) == ("answered", 2)
    assert world.json("forum", "wait", "--thread-id", tid, "--timeout", "5") == {
        "thread_id": tid,
        "state": "answered",
        "answer": "Use SQLite.",
    }
    assert world.cli("forum", "wait", "--thread-id", tid).stdout == "Use SQLite.\n"
    shown = world.json("forum", "thread", "--thread-id", tid)
    assert set(shown["thread"]) == THREAD_KEYS
    assert [(p["author_type"], p["author_name"], p["body"]) for p in shown["posts"]] == [
        ("agent", "coder", "SQLite?"),
        ("operator", "alice", "Use SQLite."),
    ]
    assert all(
        set(p) == {"author_type", "author_name", "body", "created_at"} for p in shown["posts"]
    )
    lines = world.cli("forum", "thread", "--thread-id", tid).stdout.splitlines()
    assert lines[0].startswith(f"thread={tid} ") and lines[1] == "Posts:"
    assert lines[3].endswith(" operator alice: Use SQLite.")
    assert world.json("forum", "close", "--thread-id", tid)["state"] == "closed"
    watched = world.cli("forum", "watch", "--json").stdout.splitlines()
    events = [json.loads(line) for line in watched]
    assert [e["type"] for e in events] == [
        "forum.thread.opened",
        "forum.thread.opened",
        "forum.assigned",
        "forum.priority.changed",
        "forum.state.changed",
        "forum.post.added",
        "forum.state.changed",
        "forum.thread.closed",
    ]
    assert [e["sequence"] for e in events] == list(range(1, 9))
    for event in events:
        assert {"sequence", "type", "thread_id", "ticket", "run_id", "actor", "occurred_at"} <= set(
            event
        )
    page = world.cli("forum", "watch", "--cursor", "6", "--limit", "1").stdout
    assert page.startswith("sequence=7 event_id=") and "type=forum.state.changed" in page
    assert world.cli("forum", "watch", "--cursor", "8").stdout == "No forum events found.\n"


def _refusals(world: Cli) -> None:
    """Bad input: one line, a non-zero exit, nothing stored."""
    before = world.cli("forum", "watch", "--json").stdout
    tid = json.loads(before.splitlines()[0])["thread_id"] if before else "fthr-x"
    cases = [
        (("forum", "thread", "--thread-id", "fthr-missing"), 1,
         "Forum thread fthr-missing not found."),
        (("forum", "answer", "--thread-id", "fthr-missing", "--body", "x"), 1,
         "forum thread fthr-missing not found"),
        (("forum", "answer", "--thread-id", tid, "--body", "x"), 1,
         f"forum thread {tid} is closed"),
        (("forum", "state", "--thread-id", tid, "--state", "new"), 1,
         "forum state transition closed -> new is not allowed"),
        (("forum", "state", "--thread-id", tid, "--state", "done"), 2,
         "forum state must be one of new|triaged|waiting_operator|waiting_human|answered|closed"),
        (("forum", "ask", "--ticket", "T-1", "--title", "t", "--body", "b", "--priority", "soon"),
         2, "forum priority must be one of low|normal|high|urgent"),
        (("forum", "ask", "--ticket", "T-1", "--title", "t", "--body", "b", "--actor-type", "bot"),
         2, "forum actor_type must be one of agent|operator|human|system"),
        (("forum", "ask", "--title", "t", "--body", "b"), 1, "forum ticket is required"),
        (("forum", "ask", "--ticket", "T-1", "--body", "b"), 1, "forum title is required"),
        (("forum", "ask", "--ticket", "T-1", "--title", "t"), 2, "forum body is required"),
        (("forum", "ask", "--ticket", "T-1", "--title", "t", "--body", "x" * 40000), 2,
         "forum body is 40000 bytes, over the limit of 32768"),
        (("forum", "assign", "--thread-id", tid), 1, "forum assignee name is required"),
        (("forum", "answer", "--body", "x"), 2, "forum thread id is required"),
    ]  # fmt: skip
    for args, code, message in cases:
        proc = world.cli(*args, check=False)
        assert proc.returncode == code, (args, proc.stderr)
        first = proc.stderr.splitlines()[0]
        assert first == f"error: {message}", (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert world.cli("forum", "watch", "--json").stdout == before


def test_forum_commands_offline_on_sqlite(
    make_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = Cli(make_world({"a": HOLD}), monkeypatch)
    _lifecycle(world)
    _refusals(world)
    timed_out = world.cli("forum", "wait", "--thread-id", _ask(world)["thread_id"], "--timeout",
                          "0.5", check=False)  # fmt: skip
    assert timed_out.returncode == 3
    assert timed_out.stderr.startswith("error: no answer on forum thread ")
    follow = world.cli("forum", "watch", "--follow", check=False)
    assert follow.returncode == 1 and "needs" not in follow.stderr
    assert "--follow streams its events" in follow.stderr


def test_forum_commands_through_the_supervisor(
    make_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = make_world({"a": HOLD})
    made.serve()
    world = Cli(made, monkeypatch)
    follower = Lines(world.cli_background("forum", "watch", "--follow", "--json"))
    _lifecycle(world)
    _refusals(world)
    # --follow streamed every event as it committed, in order.
    seen = wait_until(lambda: len(follower.lines) >= 8 and follower.lines, what="the events")
    assert [json.loads(line)["sequence"] for line in seen] == list(range(1, 9))
    # wait blocks until another client answers; the answer comes back.
    tid = _ask(world, title="blocking")["thread_id"]
    waiter = world.cli_background("forum", "wait", "--thread-id", tid, "--json")
    time.sleep(1.0)
    assert waiter.poll() is None
    world.cli("forum", "answer", "--thread-id", tid, "--body", "go ahead")
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0, err
    assert json.loads(out) == {"thread_id": tid, "state": "answered", "answer": "go ahead"}
    # A timeout through the socket: exit 3, one line.
    other = _ask(world, title="unanswered")["thread_id"]
    late = world.cli("forum", "wait", "--thread-id", other, "--timeout", "0.5", check=False)
    assert late.returncode == 3 and late.stderr.startswith("error: no answer on forum thread ")
    # Two clients answering at once: both posts recorded, in one order.
    both = [
        world.cli_background("forum", "answer", "--thread-id", other, "--body", f"answer {n}")
        for n in (1, 2)
    ]
    for proc in both:
        proc.communicate(timeout=60)
        assert proc.returncode == 0
    posts = world.json("forum", "thread", "--thread-id", other)["posts"]
    assert sorted(p["body"] for p in posts[1:]) == ["answer 1", "answer 2"]
    stamps = [p["created_at"] for p in posts]
    assert stamps == sorted(stamps)


def test_from_inside_an_agent_ask_fills_run_ticket_and_agent(
    make_world: Callable[..., World], tmp_path: Path
) -> None:
    world = make_world({"a": HOLD})
    world.serve()
    run_id = world.json("run", "--ticket", "T-1", "--repos", "api", "--detach")["run_id"]
    wait_until(lambda: world.status()["status"] == "running", what="the run")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        **world.env,
        "METAWSM_RUN_ID": run_id,
        "METAWSM_AGENT": "a",
        "METAWSM_WORKSPACE": world.status()["agents"][0]["workspace"],
        "METAWSM_GENERATION": "1",
        "METAWSM_SIGNAL_DIR": str(elsewhere / "sig"),
        "METAWSM_SOCKET": str(world.state_dir / "control.sock"),
    }

    def agent_cli(*args: str) -> Any:
        proc = subprocess.run(
            [sys.executable, "-m", "metawsm", *args, "--json"],
            cwd=elsewhere,
            env=env,
            text=True,
            capture_output=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    opened = agent_cli("forum", "ask", "--title", "Cache size?", "--body", "How big?")
    assert (opened["ticket"], opened["run_id"], opened["agent"]) == ("T-1", run_id, "a")
    events = world.json("forum", "list", "--run-id", run_id)["threads"]
    assert [t["thread_id"] for t in events] == [opened["thread_id"]]
    watched = [json.loads(x) for x in world.cli("forum", "watch", "--json").stdout.splitlines()]
    assert watched[-1]["actor"] == "agent/a"
    world.cli("forum", "answer", "--thread-id", opened["thread_id"], "--body", "1 GiB")
    assert agent_cli("forum", "wait", "--thread-id", opened["thread_id"])["answer"] == "1 GiB"
    assert (
        agent_cli("forum", "thread", "--thread-id", opened["thread_id"])["thread"]["posts_count"]
        == 2
    )
    world.cli("stop", "--run-id", run_id)


def test_a_kill_9_between_commands_loses_nothing_and_a_retry_applies_once(
    make_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = make_world({"a": HOLD})
    server = made.serve()
    world = Cli(made, monkeypatch)
    first = _ask(world, "--event-id", "e-kill-1")
    world.cli("forum", "answer", "--thread-id", first["thread_id"], "--body", "x",
              "--event-id", "e-kill-2")  # fmt: skip
    server.kill()  # SIGKILL: no shutdown at all
    server.wait(timeout=10)
    made.serve()
    # The client did not see its replies (say): it retries both with the same ids.
    again = _ask(world, "--event-id", "e-kill-1")
    assert again["thread_id"] == first["thread_id"]
    world.cli("forum", "answer", "--thread-id", first["thread_id"], "--body", "x",
              "--event-id", "e-kill-2")  # fmt: skip
    events = [json.loads(x) for x in world.cli("forum", "watch", "--json").stdout.splitlines()]
    assert [e["type"] for e in events] == [
        "forum.thread.opened",
        "forum.post.added",
        "forum.state.changed",
    ]
    assert (
        world.json("forum", "thread", "--thread-id", first["thread_id"])["thread"]["posts_count"]
        == 2
    )
