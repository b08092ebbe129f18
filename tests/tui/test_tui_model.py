"""The tui's state: what it shows first, and how it follows the supervisor's heartbeats."""

from __future__ import annotations

from typing import Any

from metawsm.tui.model import State, clean


def _view(**extra: Any) -> dict[str, Any]:
    return {
        "run_id": "run-1",
        "status": "awaiting_guidance",
        "tickets": ["T-1"],
        "agents": [{"name": "a", "workspace": "w1"}],
        "guidance": [
            {"id": 7, "agent": "b", "workspace": "w1", "question": "Later?\nyes"},
            {"id": 5, "agent": "a", "workspace": "w1", "question": "Which db?", "thread_id": "t5"},
        ],
        **extra,
    }


def _thread(tid: str, priority: str, updated: str, state: str = "new") -> dict[str, Any]:
    return {
        "thread_id": tid,
        "priority": priority,
        "updated_at": updated,
        "state": state,
        "title": f"thread {tid}",
    }


def test_questions_put_escalations_first_then_guidance_oldest_first_then_threads() -> None:
    state = State(root="/r")
    state.set_runs([{"run_id": "run-1"}])
    state.set_status(_view(forum={"escalations": [{"thread_id": "t9"}]}))
    state.set_threads(
        "run-1",
        [
            _thread("t1", "normal", "2026-01-05"),
            _thread("t2", "urgent", "2026-01-01"),
            _thread("t3", "normal", "2026-01-06"),
            _thread("t9", "low", "2026-01-01"),
            _thread("t4", "urgent", "2026-01-07", state="closed"),
            _thread("t6", "urgent", "2026-01-07", state="answered"),
            _thread("t5", "normal", "2026-01-08"),  # the thread of guidance #5: shown once
        ],
    )
    keys = [q.key for q in state.questions()]
    assert keys == ["tt9", "g5", "g7", "tt2", "tt3", "tt1"]
    first = state.questions()[0]
    assert first.escalated and first.thread_id == "t9"
    assert state.questions()[1].thread_id == "t5"
    assert "\n" not in state.questions()[2].text


def test_heartbeats_replace_the_runs_and_forget_what_ended() -> None:
    state = State(root="/r")
    state.set_runs([{"run_id": "run-1"}, {"run_id": "run-2"}])
    state.set_status(_view())
    state.set_threads("run-1", [_thread("t1", "normal", "x")])
    assert state.selected_run == "run-1" and state.runs[0]["guidance"] == 2
    assert state.select_next(1) == "run-2" and state.select_next(1) == "run-1"
    assert state.select_next(-1) == "run-2"
    state.set_runs([{"run_id": "run-2"}])
    assert state.details == {} and state.threads == {} and state.selected_run == "run-2"


def test_clean_makes_one_printable_line() -> None:
    assert clean("a\nb\x1b[2Jc") == "a b [2Jc" and clean(None) == ""
