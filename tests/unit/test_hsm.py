"""The run, step and agent state machines: the original's tables, enforced for every kind."""

from __future__ import annotations

import pytest

from metawsm import hsm
from metawsm.errors import TransitionError
from metawsm.hsm import AgentStatus, EntityKind, RunStatus, StepStatus

# The original's run table (original-metawsm.md §4), written out independently of hsm.py.
ORIGINAL_RUN = {
    "created": {"planning"},
    "planning": {"running", "paused", "failed", "stopping"},
    "running": {"awaiting_guidance", "paused", "failed", "completed", "stopping"},
    "awaiting_guidance": {"running", "failed", "stopping"},
    "paused": {"running", "stopping"},
    "failed": {"running", "stopping"},
    "stopping": {"stopped"},
    "stopped": {"running"},
    "completed": {"closing", "running"},
    "closing": {"closed", "failed"},
    "closed": set(),
}
ORIGINAL_STEP = {
    "pending": {"running", "skipped"},
    "running": {"done", "failed"},
    "failed": {"running", "skipped"},
}
ORIGINAL_AGENT = {
    "pending": {"running", "stopped"},
    "running": {"idle", "stalled", "dead", "stopping", "failed"},
    "idle": {"running", "stalled", "dead", "stopping"},
    "stalled": {"running", "dead", "stopping"},
    "stopping": {"stopped"},
}


def _pairs(states: list[str]) -> list[tuple[str, str]]:
    return [(a, b) for a in states for b in states]


# What we add to the run table, on purpose: a dry run ends ``planned`` (the original left it
# ``paused``, among the runs waiting for an operator), and a failed close returns the run to
# ``completed`` instead of leaving it ``closing``.
OURS_RUN = {
    "planning": {"planned"},
    "planned": {"running", "stopping"},
    "closing": {"completed"},
}


@pytest.mark.parametrize(("src", "dst"), _pairs([s.value for s in RunStatus]))
def test_run_table_is_the_originals_plus_our_additions(src: str, dst: str) -> None:
    allowed = ORIGINAL_RUN.get(src, set()) | OURS_RUN.get(src, set())
    expected = src == dst or dst in allowed
    assert hsm.can_transition(EntityKind.RUN, src, dst) is expected


@pytest.mark.parametrize(("src", "dst"), _pairs([s.value for s in StepStatus]))
def test_step_table_is_exactly_the_originals(src: str, dst: str) -> None:
    expected = src == dst or dst in ORIGINAL_STEP.get(src, set())
    assert hsm.can_transition(EntityKind.STEP, src, dst) is expected


@pytest.mark.parametrize(
    ("src", "dst"),
    [(a, b) for a, targets in ORIGINAL_AGENT.items() for b in targets],
)
def test_agent_table_keeps_every_original_transition(src: str, dst: str) -> None:
    assert hsm.can_transition(EntityKind.AGENT, src, dst)


@pytest.mark.parametrize(
    ("src", "dst"),
    [("dead", "running"), ("failed", "running"), ("stopped", "running"), ("dead", "failed")],
)
def test_agent_restart_and_resume_are_explicit_transitions(src: str, dst: str) -> None:
    assert hsm.can_transition(EntityKind.AGENT, src, dst)


@pytest.mark.parametrize(
    ("src", "dst"),
    [("stopped", "dead"), ("stopping", "running"), ("failed", "idle"), ("dead", "stalled")],
)
def test_agent_table_refuses_what_no_code_path_does(src: str, dst: str) -> None:
    assert not hsm.can_transition(EntityKind.AGENT, src, dst)


def test_illegal_run_transition_uses_the_original_wording() -> None:
    with pytest.raises(TransitionError) as info:
        hsm.check(EntityKind.RUN, "run-1", "running", "closed")
    assert info.value.message.startswith("illegal run transition running -> closed")
    assert "run-1" in info.value.message
    assert info.value.hint is not None and "completed" in info.value.hint


def test_final_state_hint_says_it_is_final() -> None:
    with pytest.raises(TransitionError) as info:
        hsm.check(EntityKind.RUN, "r", "closed", "running")
    assert info.value.hint == "a run in 'closed' is final"


def test_check_returns_the_transition_to_record() -> None:
    t = hsm.check(EntityKind.AGENT, "coder@ws", AgentStatus.DEAD, AgentStatus.RUNNING, "respawn")
    assert (t.kind, t.entity_id, t.from_state, t.to_state, t.message) == (
        EntityKind.AGENT,
        "coder@ws",
        "dead",
        "running",
        "respawn",
    )


def test_unknown_states_are_refused() -> None:
    assert not hsm.can_transition(EntityKind.STEP, "bogus", "done")


def test_paused_runs_are_active_and_finished_ones_are_not() -> None:
    assert RunStatus.PAUSED in hsm.ACTIVE_RUN_STATUSES
    for status in ("completed", "closed", "stopped", "failed", "created", "planned"):
        assert status not in hsm.ACTIVE_RUN_STATUSES
