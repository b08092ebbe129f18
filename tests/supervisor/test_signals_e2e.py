"""Signal files end to end: a real `metawsm serve`, tmux, git and the CLI, with the test writing
files where an agent would. Stale and bad files are recorded and never acted on; a stamp-less
completion in the doc-home repo (the original's relative-path case) completes the run; iterate
clears every root, so the next generation is not completed by an old file; guidance is answered
in the folder that holds the question.

The agent holds (its pane is quiet), so its actor reads a file written now at its next recheck
(``RECHECK_SECONDS``, 5 s): every wait for a file to be read is bounded well above that.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from metawsm.agents.signals import (
    AGENT_SIGNAL_FILES,
    GUIDANCE_REQUEST_FILE,
    GUIDANCE_RESPONSE_FILE,
    IMPLEMENTATION_COMPLETE_FILE,
    SIGNAL_DIR_NAME,
    GuidanceRequest,
    ImplementationComplete,
    write_signal_atomic,
)
from metawsm.store.records import AgentRecord, EventRecord
from metawsm.supervisor.agent import RECHECK_SECONDS
from tests.supervisor.world import HOLD, World, wait_until

READ_WAIT = 3 * RECHECK_SECONDS  #: bound on "the actor has read a file written now"
AGENT = "a"
#: An agent whose pane changes every 0.2 s for a minute: its actor looks at every tick, so a file
#: is read within a tick or two (HOLD tests the quiet case, read at the recheck).
CHATTY = {
    "steps": [
        *(
            step
            for n in range(300)
            for step in ({"do": "say", "text": f"working {n}"}, {"do": "sleep", "seconds": 0.2})
        ),
        {"do": "hold"},
    ]
}
BRIEF = [
    "--goal",
    "Add a cache.",
    "--scope",
    "api",
    "--done-criteria",
    "make test passes",
    "--constraints",
    "no new deps",
    "--merge-intent",
    "default",
]


class Bootstrapped:
    """A bootstrap run of the world's agents (``a`` first), all running, in one workspace whose
    doc-home repo is ``api``; ``own``, ``root`` and ``doc`` are agent ``a``'s three roots."""

    def __init__(self, world: World) -> None:
        self.world = world
        world.serve()
        ticket = ["--ticket", world.ticket, "--repos", "api"]
        out = world.json("bootstrap", *ticket, *BRIEF, "--detach")
        self.run_id: str = out["run_id"]
        rows = wait_until(
            lambda: (
                (rows := world.agent_rows(self.run_id))
                and all(r.status == "running" for r in rows)
                and rows
            ),
            what="the agents to run",
        )
        row: AgentRecord = rows[0]
        self.entity = f"{AGENT}@{row.workspace_name}"
        self.workspace = world.workspaces_dir / row.workspace_name
        assert self.workspace.is_dir(), self.workspace
        self.own = self.workspace / SIGNAL_DIR_NAME / "agents" / AGENT
        self.root = self.workspace / SIGNAL_DIR_NAME
        self.doc = self.workspace / "api" / SIGNAL_DIR_NAME
        assert (self.workspace / "api").is_dir()

    def status(self) -> str:
        return self.world.run_record(self.run_id).status

    def events(self, event_type: str) -> list[EventRecord]:
        return [e for e in self.world.events(self.run_id) if e.event_type == event_type]

    def wait_event(self, event_type: str, *words: str) -> EventRecord:
        """The first ``event_type`` event whose message holds every one of ``words``."""
        found: EventRecord = wait_until(
            lambda: next(
                (e for e in self.events(event_type) if all(w in e.message for w in words)), None
            ),
            timeout=READ_WAIT,
            what=f"a {event_type} event with {words}",
        )
        return found

    def agent(self, name: str = AGENT) -> AgentRecord:
        return next(r for r in self.world.agent_rows(self.run_id) if r.agent_name == name)

    def folder(self, name: str) -> Path:
        """Agent ``name``'s own signal folder."""
        return self.workspace / SIGNAL_DIR_NAME / "agents" / name

    def stays(self, status: str, seconds: float) -> None:
        """The run's status is ``status`` at every look for ``seconds`` (many ticks of 0.2 s)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.status() == status, self.world.events(self.run_id)[-5:]
            time.sleep(0.1)

    def stamp(self, **fields: Any) -> dict[str, Any]:
        return {"run_id": self.run_id, "agent": AGENT, "generation": 1, **fields}

    def signal_files(self) -> list[Path]:
        """Every agent-written signal file (and response) left in any root: each agent's own
        folder, the workspace root, the doc-home repo."""
        names = (*AGENT_SIGNAL_FILES, GUIDANCE_RESPONSE_FILE)
        agents = self.root / "agents"
        own = sorted(agents.iterdir()) if agents.is_dir() else []
        roots = [*own, self.root, self.doc]
        return [root / name for root in roots for name in names if (root / name).exists()]


def write_json(folder: Path, name: str, body: dict[str, Any] | bytes) -> Path:
    """Write a signal file in place, as an agent that ignores the atomic-write advice does."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(body if isinstance(body, bytes) else json.dumps(body).encode())
    return path


def test_stale_signals_are_rejected_and_never_complete_the_run(
    make_world: Callable[..., World],
) -> None:
    run = Bootstrapped(make_world({AGENT: HOLD}))
    # An old incarnation's completion in the agent's own folder, another run's in the
    # workspace root, another agent's question in the doc-home repo.
    old = write_json(
        run.own, IMPLEMENTATION_COMPLETE_FILE, run.stamp(generation=99, summary="from the past")
    )
    other_run = write_json(
        run.root, IMPLEMENTATION_COMPLETE_FILE, run.stamp(run_id="run-elsewhere", summary="no")
    )
    other_agent = write_json(
        run.doc, GUIDANCE_REQUEST_FILE, run.stamp(agent="reviewer", question="Mine?")
    )

    stale_gen = run.wait_event("signal_rejected", str(old), "generation 99")
    run.wait_event("signal_rejected", str(other_run), "run-elsewhere")
    run.wait_event("signal_rejected", str(other_agent), "reviewer")

    assert stale_gen.entity_id == run.entity and stale_gen.generation == 1
    # Still nothing taken: a recheck or more later, the run is running, with no completion
    # and no question.
    run.stays("running", 1.0)
    assert run.events("completion") == []
    with run.world.reader() as reader:
        assert reader.list_guidance(run.run_id) == []
    # Each file version is recorded once, however many ticks passed.
    assert len(run.events("signal_rejected")) == 3
    agent = run.agent()
    assert (agent.status, agent.generation, agent.restart_count) == ("running", 1, 0)


def test_bad_json_in_the_doc_home_root_is_recorded_and_the_agent_keeps_running(
    make_world: Callable[..., World],
) -> None:
    run = Bootstrapped(make_world({AGENT: HOLD}))
    bad = write_json(run.doc, IMPLEMENTATION_COMPLETE_FILE, b'{"summary": "half')

    problem = run.wait_event("signal_problem", str(bad), "malformed")

    assert problem.entity_id == run.entity
    run.stays("running", 1.0)
    agent = run.agent()
    # Neither the agent (its generation) nor its actor (it would have re-adopted the session)
    # was restarted, and the supervisor logged no crash.
    assert (agent.status, agent.generation, agent.restart_count) == ("running", 1, 0)
    assert run.events("adopted") == []
    assert run.events("completion") == []
    assert len(run.events("signal_problem")) == 1
    log = run.world.serve_log()
    assert "Traceback" not in log and "crash" not in log.lower(), log


def test_a_stampless_completion_in_the_doc_home_root_completes_and_iterate_clears_it(
    make_world: Callable[..., World],
) -> None:
    run = Bootstrapped(make_world({AGENT: CHATTY}))
    # An agent written for the original: no stamps, a relative `.metawsm/` from its working
    # directory, the doc-home repo. The original never read that folder.
    done = write_json(run.doc, IMPLEMENTATION_COMPLETE_FILE, {"summary": "done the old way"})

    wait_until(lambda: run.status() == "completed", timeout=READ_WAIT, what="completion")
    completion = run.wait_event("completion", "done the old way")
    assert completion.generation == 1

    result = run.world.json("iterate", "--run-id", run.run_id, "--feedback", "add tests")

    assert result["signals_cleared"] >= 1 and result["agents_restarted"] == 1
    assert not done.exists()
    assert run.signal_files() == []
    assert run.status() == "running"
    agent = run.agent()
    assert (agent.generation, agent.status) == (2, "running")
    # Generation 2 is not completed by generation 1's completion event, over many ticks.
    run.stays("running", 2.0)

    # A late write of the previous generation (stamped 1) is rejected, not taken.
    late = write_json(
        run.own, IMPLEMENTATION_COMPLETE_FILE, run.stamp(generation=1, summary="late")
    )
    rejected = run.wait_event("signal_rejected", str(late), "generation 1")
    assert rejected.generation == 2
    run.stays("running", 1.0)
    assert [e.generation for e in run.events("completion")] == [1]

    # Generation 2's own completion does complete it.
    write_signal_atomic(run.own, ImplementationComplete(**run.stamp(generation=2, summary="v2")))
    wait_until(lambda: run.status() == "completed", timeout=READ_WAIT, what="completion of gen 2")
    assert [e.generation for e in run.events("completion")] == [1, 2]


def test_guidance_from_the_agents_own_folder_is_answered_there(
    make_world: Callable[..., World],
) -> None:
    run = Bootstrapped(make_world({AGENT: HOLD}))
    question = "Which database should the cache use?"
    request = write_signal_atomic(
        run.own, GuidanceRequest(**run.stamp(question=question, context={"options": ["a", "b"]}))
    )
    # The same question left in the doc-home repo too (an agent that wrote it twice).
    leftover = write_json(run.doc, GUIDANCE_REQUEST_FILE, {"question": question})

    wait_until(lambda: run.status() == "awaiting_guidance", timeout=READ_WAIT, what="the question")
    with run.world.reader() as reader:
        pending = reader.list_guidance(run.run_id, pending_only=True)
    assert [(g.question, g.agent_name, g.generation) for g in pending] == [(question, AGENT, 1)]
    assert pending[0].context_text == '{"options":["a","b"]}'

    answered = run.world.json("guide", "--run-id", run.run_id, "--answer", "SQLite")

    assert answered["agent"] == AGENT and answered["remaining"] == 0
    response = json.loads((run.own / GUIDANCE_RESPONSE_FILE).read_text())
    assert response["guidance_id"] == pending[0].id
    assert {k: response[k] for k in ("run_id", "agent", "generation", "question", "answer")} == {
        "run_id": run.run_id,
        "agent": AGENT,
        "generation": 1,
        "question": question,
        "answer": "SQLite",
    }
    # The request is gone from every root; the response is only in the agent's folder.
    assert not request.exists() and not leftover.exists()
    assert run.signal_files() == [run.own / GUIDANCE_RESPONSE_FILE]
    assert run.status() == "running"
    with run.world.reader() as reader:
        assert reader.list_guidance(run.run_id, pending_only=True) == []


def test_after_iterate_every_agents_current_generation_must_complete_again(
    make_world: Callable[..., World],
) -> None:
    run = Bootstrapped(make_world({"a": CHATTY, "b": CHATTY}))
    for name in ("a", "b"):
        write_signal_atomic(
            run.folder(name), ImplementationComplete(**run.stamp(agent=name, summary="v1"))
        )
    wait_until(lambda: run.status() == "completed", timeout=READ_WAIT, what="completion")

    run.world.json("iterate", "--run-id", run.run_id, "--feedback", "again")
    assert {(r.agent_name, r.generation) for r in run.world.agent_rows(run.run_id)} == {
        ("a", 2),
        ("b", 2),
    }
    assert run.signal_files() == []

    # b completes generation 2; a's completion of generation 1 does not count for a now.
    write_signal_atomic(
        run.folder("b"), ImplementationComplete(**run.stamp(agent="b", generation=2))
    )
    wait_until(
        lambda: (
            [(e.entity_id, e.generation) for e in run.events("completion")][-1:]
            == [(f"b@{run.agent('b').workspace_name}", 2)]
        ),
        timeout=READ_WAIT,
        what="b's completion of generation 2",
    )
    run.stays("running", 1.5)

    write_signal_atomic(
        run.folder("a"), ImplementationComplete(**run.stamp(agent="a", generation=2))
    )
    wait_until(lambda: run.status() == "completed", timeout=READ_WAIT, what="completion of both")


def test_a_restart_never_takes_the_previous_generations_stampless_completion(
    make_world: Callable[..., World],
) -> None:
    world = make_world({AGENT: HOLD})
    run = Bootstrapped(world)
    write_json(run.own, IMPLEMENTATION_COMPLETE_FILE, {"summary": "generation 1 is done"})
    wait_until(lambda: run.status() == "completed", timeout=READ_WAIT, what="completion")
    world.cli("restart", "--run-id", run.run_id)
    assert run.agent().generation == 2
    # The restart cleared the old file before the new generation started: it cannot
    # complete generation 2, which has signalled nothing.
    assert not (run.own / IMPLEMENTATION_COMPLETE_FILE).exists()
    run.stays("running", 2.0)


def test_the_same_question_asked_again_after_its_answer_is_a_new_request(
    make_world: Callable[..., World],
) -> None:
    world = make_world({AGENT: HOLD})
    run = Bootstrapped(world)
    question = run.stamp(question="Left or right?")
    write_json(run.own, GUIDANCE_REQUEST_FILE, question)
    wait_until(
        lambda: run.status() == "awaiting_guidance", timeout=READ_WAIT, what="the first request"
    )
    world.cli("guide", "--run-id", run.run_id, "--answer", "left")
    assert run.status() == "running"
    write_json(run.own, GUIDANCE_REQUEST_FILE, question)  # asked again, after the answer
    wait_until(
        lambda: run.status() == "awaiting_guidance", timeout=READ_WAIT, what="the second request"
    )
    with world.reader() as reader:
        asked = [g for g in reader.list_guidance(run.run_id) if g.question == "Left or right?"]
    assert [g.status for g in asked] == ["answered", "pending"]
