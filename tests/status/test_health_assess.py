"""The health table (metawsm.supervisor.health): one observation of a pane → status and health."""

from __future__ import annotations

import pytest

from metawsm.hosts.tmux import PaneState, Snapshot
from metawsm.hsm import AgentStatus, HealthState
from metawsm.policy.model import HealthPolicy, Policy
from metawsm.supervisor.health import Assessment, Observation, Thresholds, assess, is_unhealthy

NOW = 1_000_000.0
LIMITS = Thresholds(idle=300, activity_stalled=900, progress_stalled=1200)
A, H = AgentStatus, HealthState


def pane(
    *,
    dead: bool = False,
    status: int | None = None,
    signal: int | None = None,
    activity: float = NOW,
    session: str = "coder-ws",
) -> PaneState:
    return PaneState(
        session=session,
        pane_id="%1",
        pane_pid=4242,
        dead=dead,
        dead_status=status,
        dead_signal=signal,
        current_command="codex",
        session_activity=activity - 5,
        window_activity=activity,
        window_index=0,
        pane_index=0,
    )


def run(
    observation: Observation,
    *,
    last_activity: float | None = None,
    last_progress: float | None = NOW,
) -> Assessment:
    return assess(
        observation,
        last_activity=last_activity,
        last_progress=last_progress,
        thresholds=LIMITS,
        now=NOW,
    )


def test_unknown_is_not_a_state_and_never_dead() -> None:
    verdict = run(Observation.unreachable(), last_activity=NOW - 10)
    assert verdict.status is None
    assert verdict.health is H.UNKNOWN
    assert not verdict.known
    assert not verdict.exited
    assert verdict.activity_at == NOW - 10  # what was known is carried, not lost


def test_missing_session_is_dead_but_not_exited() -> None:
    verdict = run(Observation.missing())
    assert (verdict.status, verdict.health, verdict.exited) == (A.DEAD, H.DEAD, False)
    assert verdict.known
    assert verdict.reason == "tmux session missing"


@pytest.mark.parametrize(
    ("status", "signal", "expected", "reason"),
    [
        (0, None, (A.STOPPED, H.IDLE), "exited with status 0"),
        (3, None, (A.DEAD, H.DEAD), "exited with status 3"),
        (127, None, (A.DEAD, H.DEAD), "exited with status 127"),
        (None, 9, (A.DEAD, H.DEAD), "killed by signal 9"),
    ],
    ids=["exit-0-finished", "exit-3", "exit-127", "signal-9"],
)
def test_dead_pane_reads_its_exit_from_tmux(
    status: int | None, signal: int | None, expected: tuple[AgentStatus, HealthState], reason: str
) -> None:
    verdict = run(Observation.of(pane(dead=True, status=status, signal=signal)))
    assert (verdict.status, verdict.health) == expected
    assert verdict.exited and verdict.exit_known
    assert (verdict.exit_status, verdict.signal) == (status, signal)
    assert verdict.reason == reason


def test_dead_pane_whose_exit_is_not_reaped_yet_is_dead_with_exit_unknown() -> None:
    verdict = run(Observation.of(pane(dead=True)))
    assert (verdict.status, verdict.health) == (A.DEAD, H.DEAD)
    assert verdict.exited
    assert not verdict.exit_known
    assert verdict.exit_status is None and verdict.signal is None


@pytest.mark.parametrize(
    ("activity_age", "progress_age", "expected"),
    [
        (0, 0, (A.RUNNING, H.HEALTHY)),
        (299, 0, (A.RUNNING, H.HEALTHY)),
        (300, 0, (A.IDLE, H.IDLE)),
        (899, 0, (A.IDLE, H.IDLE)),
        (900, 0, (A.STALLED, H.STALLED)),
        (0, 1199, (A.RUNNING, H.HEALTHY)),
        (0, 1200, (A.STALLED, H.STALLED)),
        (400, 1200, (A.STALLED, H.STALLED)),  # stalled wins over idle
        (-60, 0, (A.RUNNING, H.HEALTHY)),  # activity "in the future": age 0
    ],
)
def test_alive_pane_by_activity_and_progress_age(
    activity_age: float, progress_age: float, expected: tuple[AgentStatus, HealthState]
) -> None:
    observation = Observation.of(pane(activity=NOW - activity_age))
    verdict = run(observation, last_progress=NOW - progress_age)
    assert (verdict.status, verdict.health) == expected
    assert not verdict.exited
    assert verdict.activity_at == NOW - activity_age


def test_progress_is_not_bumped_by_activity() -> None:
    # An agent that keeps printing but changes no file is stalled (the original's rule could
    # never fire because it raised progress to activity).
    verdict = run(Observation.of(pane(activity=NOW)), last_progress=NOW - 5000)
    assert verdict.health is H.STALLED
    assert verdict.reason == "no progress for 5000s"
    assert verdict.progress_at == NOW - 5000


def test_no_progress_clock_skips_the_progress_rule() -> None:
    verdict = run(Observation.of(pane(activity=NOW)), last_progress=None)
    assert (verdict.status, verdict.health) == (A.RUNNING, H.HEALTHY)
    assert verdict.progress_at is None


def test_newer_remembered_activity_beats_the_panes() -> None:
    verdict = run(Observation.of(pane(activity=NOW - 1000)), last_activity=NOW - 10)
    assert verdict.activity_at == NOW - 10
    assert verdict.health is H.HEALTHY


def test_no_activity_clock_at_all_is_running() -> None:
    verdict = run(Observation.of(pane(activity=0)), last_activity=None, last_progress=None)
    assert (verdict.status, verdict.health) == (A.RUNNING, H.HEALTHY)
    assert verdict.activity_at is None


def test_observation_from_snapshot() -> None:
    present = pane(session="a")
    snap = Snapshot({"a": present}, taken_at=NOW, unreadable=frozenset({"b"}))
    assert Observation.from_snapshot(snap, "a") == Observation.of(present)
    assert Observation.from_snapshot(snap, "b").unknown  # listed but unparsable
    assert Observation.from_snapshot(snap, "c") == Observation.missing()
    assert Observation.from_snapshot(None, "a") == Observation.unreachable()


def test_unknown_observation_cannot_carry_a_pane() -> None:
    with pytest.raises(ValueError, match="unknown observation"):
        Observation(pane=pane(), unknown=True)


def test_thresholds_from_policy() -> None:
    assert Thresholds.from_policy(Policy()) == Thresholds(300, 900, 1200)
    custom = HealthPolicy(idle_seconds=5, activity_stalled_seconds=10, progress_stalled_seconds=20)
    assert Thresholds.from_policy(custom) == Thresholds(5, 10, 20)


@pytest.mark.parametrize(
    ("status", "health", "unhealthy"),
    [
        ("running", "healthy", False),
        ("idle", "idle", False),
        ("running", "unknown", False),
        ("stopped", "idle", False),
        ("stalled", "stalled", True),
        ("dead", "dead", True),
        ("failed", "idle", True),
        ("running", "dead", True),
    ],
)
def test_is_unhealthy_matches_the_watch_rule(status: str, health: str, unhealthy: bool) -> None:
    assert is_unhealthy(status, health) is unhealthy
