"""The forum end to end with real agents in tmux: an agent asks from its session and waits
while the operator answers from the CLI; file guidance is a thread and both answer paths
reach the agent; escalations in status and watch; a spent restart budget opens an urgent
system thread."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.supervisor.world import World, wait_until

ASKER = {
    "steps": [
        {
            "do": "forum",
            "title": "Cache size?",
            "body": "How big may the cache grow?",
            "timeout": 300,
            "save_answer": "forum-answer.txt",
        },
        {"do": "guidance", "question": "Which database?", "timeout": 300, "save_answer": "g1.txt"},
        {"do": "guidance", "question": "Which port?", "timeout": 300, "save_answer": "g2.txt"},
        {"do": "say", "text": "all answered"},
        {"do": "hold"},
    ]
}


def _doc_repo(world: World) -> Path:
    (workspace,) = [p for p in world.workspaces_dir.iterdir() if p.is_dir()]
    return workspace / "api"


def _threads(world: World, run_id: str) -> list[dict[str, Any]]:
    threads: list[dict[str, Any]] = world.json("forum", "list", "--run-id", run_id)["threads"]
    return threads


def _status(world: World, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = world.json("status", "--run-id", run_id, "--no-diffs")
    return data


def test_an_agent_asks_and_waits_and_both_guidance_paths_reach_it(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"asker": ASKER})
    world.serve()
    run_id = world.json("run", "--ticket", "T-1", "--repos", "api", "--detach")["run_id"]
    # 1. The agent asked from its tmux session (forum ask) and blocks in forum wait.
    (asked,) = wait_until(lambda: _threads(world, run_id), what="the agent's question")
    assert (asked["title"], asked["ticket"], asked["agent"]) == ("Cache size?", "T-1", "asker")
    assert asked["state"] == "new"
    world.cli("forum", "answer", "--thread-id", asked["thread_id"], "--body", "1 GiB at most")
    answer_file = _doc_repo(world) / "forum-answer.txt"
    wait_until(answer_file.exists, what="the agent to act on the answer")
    assert answer_file.read_text() == "1 GiB at most\n"

    # 2. A guidance file is a thread linked to its request; forum answer answers the agent.
    status = wait_until(
        lambda: (s := _status(world, run_id))["status"] == "awaiting_guidance" and s,
        what="the first guidance request",
    )
    (question,) = status["guidance"]
    assert question["question"] == "Which database?"
    thread_id = question["thread_id"]
    assert thread_id
    text = world.cli("status", "--run-id", run_id, "--no-diffs").stdout
    assert f"question=Which database? thread={thread_id}" in text
    linked = world.json("forum", "thread", "--thread-id", thread_id)
    assert linked["thread"]["agent"] == "asker" and linked["thread"]["run_id"] == run_id
    assert linked["posts"][0]["body"] == "Which database?"
    world.cli("forum", "answer", "--thread-id", thread_id, "--body", "SQLite")
    g1 = _doc_repo(world) / "g1.txt"
    wait_until(g1.exists, what="the agent to get the forum answer")
    assert g1.read_text().strip() == "SQLite"

    # 3. The next one answered with guide: its thread is answered too.
    status = wait_until(
        lambda: (
            (s := _status(world, run_id))["status"] == "awaiting_guidance"
            and s["guidance"]
            and s["guidance"][0]["question"] == "Which port?"
            and s
        ),
        what="the second guidance request",
    )
    second = status["guidance"][0]["thread_id"]
    world.cli("guide", "--run-id", run_id, "--answer", "8080")
    g2 = _doc_repo(world) / "g2.txt"
    wait_until(g2.exists, what="the agent to get the guide answer")
    assert g2.read_text().strip() == "8080"
    shown = world.json("forum", "thread", "--thread-id", second)
    assert shown["thread"]["state"] == "answered"
    assert [p["body"] for p in shown["posts"]] == ["Which port?", "8080"]
    wait_until(lambda: _status(world, run_id)["status"] == "running", what="the run to resume")
    assert {t["state"] for t in _threads(world, run_id)} == {"answered"}
    world.cli("stop", "--run-id", run_id)


def test_escalations_show_in_status_and_watch(make_world: Callable[..., World]) -> None:
    world = make_world({"holder": {"steps": [{"do": "hold"}]}})
    world.serve()
    run_id = world.json("run", "--ticket", "T-1", "--repos", "api", "--detach")["run_id"]
    wait_until(lambda: _status(world, run_id)["status"] == "running", what="the run")
    watcher = world.cli_background("watch", "--run-id", run_id, "--json", "--no-bell")
    world.json("forum", "ask", "--run-id", run_id, "--title", "calm", "--body", "no rush")
    urgent = world.json(
        "forum", "ask", "--run-id", run_id, "--title", "Prod is down", "--body", "help",
        "--priority", "urgent", "--actor-type", "human", "--actor-name", "pat",
    )  # fmt: skip
    status = _status(world, run_id)
    (escalation,) = status["forum"]["escalations"]
    assert set(escalation) == {"thread_id", "title", "priority", "state", "age_seconds"}
    assert (escalation["thread_id"], escalation["priority"]) == (urgent["thread_id"], "urgent")
    assert status["forum"]["total"] == 2
    text = world.cli("status", "--run-id", run_id, "--no-diffs").stdout
    assert (
        f"  - forum thread={urgent['thread_id']} state=new priority=urgent title=Prod is down"
        in text
    )
    assert "Forum:\n  - total=2 new=2 waiting_operator=0" in text

    def alert() -> dict[str, Any] | None:
        assert watcher.stdout is not None
        line = watcher.stdout.readline()
        data = json.loads(line) if line else {}
        found = data.get("alert", {})
        return found if found.get("event") == "forum_escalation" else None

    found = wait_until(alert, timeout=60, what="the forum_escalation alert")
    assert urgent["thread_id"] in found["message"]
    assert found["hints"] == [
        "Forum escalation detected. Answer with: metawsm forum answer --thread-id "
        f'{urgent["thread_id"]} --body "<decision>"',
        f"Or inspect thread first: metawsm forum thread --thread-id {urgent['thread_id']}",
    ]
    world.cli("forum", "answer", "--thread-id", urgent["thread_id"], "--body", "on it")
    assert _status(world, run_id)["forum"]["escalations"] == []
    world.cli("stop", "--run-id", run_id)


def test_an_agent_past_its_restart_budget_opens_an_urgent_system_thread(
    make_world: Callable[..., World],
) -> None:
    crasher = {"steps": [{"do": "sleep", "seconds": 1.5}, {"do": "exit", "code": 3}]}
    world = make_world(
        {"crasher": crasher}, operator={"restart_budget": 1, "restart_cooldown_seconds": 1}
    )
    world.serve()
    run_id = world.json("run", "--ticket", "T-1", "--repos", "api", "--detach")["run_id"]
    (thread,) = wait_until(lambda: _threads(world, run_id), timeout=90, what="the escalation")
    assert thread["priority"] == "urgent"
    assert f"metawsm restart --run-id {run_id}" in thread["title"]
    posts = world.json("forum", "thread", "--thread-id", thread["thread_id"])["posts"]
    assert (posts[0]["author_type"], posts[0]["author_name"]) == ("system", "metawsm")
    status = _status(world, run_id)
    assert status["guidance"][0]["thread_id"] == thread["thread_id"]
    assert [e["thread_id"] for e in status["forum"]["escalations"]] == [thread["thread_id"]]
