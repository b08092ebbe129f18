"""Agent health: what one observation of an agent's tmux pane says about the agent.

Pure functions, no I/O. The host actor takes one tmux snapshot per tick; each agent actor turns
its session's entry into an :class:`Observation` and calls :func:`assess` with what it remembers
(last activity, last progress). The rules are the original's ``evaluateHealth``
(original-metawsm.md §4.1) with its mechanism replaced (ARCHITECTURE.md §4):

========================================  ===============  =========  ==========================
observation                               status           health     notes
========================================  ===============  =========  ==========================
tmux could not be asked                   ``None``         unknown    keep the previous state
session missing from a readable snapshot  dead             dead       ``exited`` is False
pane dead, exit status 0                  stopped          idle       the agent finished
pane dead, exit status != 0               dead             dead       ``exit_status`` set
pane dead, killed by a signal             dead             dead       ``signal`` set
pane dead, exit not reaped yet            dead             dead       ``exit_known`` is False
alive, activity age >= activity_stalled   stalled          stalled
alive, progress age >= progress_stalled   stalled          stalled
alive, activity age >= idle               idle             idle
alive otherwise                           running          healthy
========================================  ===============  =========  ==========================

Decisions, and why:

* **Unknown is not a state change.** When tmux cannot be reached (permission, connection,
  timeout: :class:`~metawsm.hosts.tmux.TmuxUnavailable`) the assessment has ``status=None`` and
  ``health=UNKNOWN``: there is no :class:`AgentStatus` to write, so a caller cannot record
  "dead" by mistake (the original misread socket permission errors as dead sessions, §12.12).
  The original also turned a stored dead/failed/stopped agent into idle on unknown; we keep the
  stored status as it is.
* **Exit status comes from tmux** (``pane_dead_status``), not from a marker on the screen.
  Exit 0 means the agent finished its work: ``stopped``/``idle``, like the original's
  ``idle``/``idle`` but terminal. Any other ending is ``dead``/``dead``; whether that becomes a
  restart or ``failed`` is the agent actor's decision (restart budget), not this module's.
* **A dead pane whose exit tmux has not reaped yet** (neither status nor signal, see
  :attr:`~metawsm.hosts.tmux.PaneState.exit_known`) reads ``dead`` with ``exit_known=False``; a
  caller that wants to tell "finished" from "crashed" looks again next tick before acting.
* **Progress is not bumped to activity.** The original set ``last_progress = max(last_progress,
  last_activity)``, which made the progress rule unreachable. Here progress is the newest of the
  previous progress and the newest git change in the workspace (the caller passes that as
  ``last_progress``), so an agent that keeps printing but changes no file for
  ``progress_stalled`` seconds is stalled. ``last_progress=None`` means "no progress clock yet"
  and skips the rule; callers seed it with the time the agent's generation started.
* Thresholds compare with ``>=`` (an age equal to a threshold crosses it); negative ages (a
  clock ahead of ours) count as 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from metawsm.hosts.tmux import PaneState, Snapshot
from metawsm.hsm import AgentStatus, HealthState
from metawsm.policy.model import HealthPolicy, Policy

__all__ = [
    "Assessment",
    "Observation",
    "Thresholds",
    "assess",
    "is_unhealthy",
]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Seconds after which an alive agent counts as idle or stalled (policy ``health.*``)."""

    idle: float = 300.0
    activity_stalled: float = 900.0
    progress_stalled: float = 1200.0

    @classmethod
    def from_policy(cls, policy: Policy | HealthPolicy) -> Thresholds:
        """The thresholds of a policy (or of its ``health`` section)."""
        health = policy.health if isinstance(policy, Policy) else policy
        return cls(
            idle=float(health.idle_seconds),
            activity_stalled=float(health.activity_stalled_seconds),
            progress_stalled=float(health.progress_stalled_seconds),
        )


@dataclass(frozen=True, slots=True)
class Observation:
    """What one tick saw of one agent's session.

    Build it with :meth:`of`, :meth:`missing`, :meth:`unreachable` or :meth:`from_snapshot`
    rather than by hand: ``unknown=True`` with a pane is contradictory and rejected.
    """

    pane: PaneState | None = None
    """The agent pane, or ``None`` when a readable snapshot had no such session."""
    unknown: bool = False
    """The snapshot could not be taken (or this session's row could not be read)."""

    def __post_init__(self) -> None:
        if self.unknown and self.pane is not None:
            raise ValueError("an unknown observation cannot carry a pane")

    @classmethod
    def of(cls, pane: PaneState) -> Observation:
        """The session was there; this is its agent pane."""
        return cls(pane=pane)

    @classmethod
    def missing(cls) -> Observation:
        """tmux answered, and the session was not among its sessions."""
        return cls()

    @classmethod
    def unreachable(cls) -> Observation:
        """tmux could not be asked: nothing is known about the session."""
        return cls(unknown=True)

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot | None, session: str) -> Observation:
        """The observation of ``session`` in ``snapshot``; ``None`` = the snapshot failed.

        A session tmux listed but whose row could not be parsed is unknown, not missing.
        """
        if snapshot is None or session in snapshot.unreadable:
            return cls.unreachable()
        pane = snapshot.get(session)
        return cls.missing() if pane is None else cls.of(pane)


@dataclass(frozen=True, slots=True)
class Assessment:
    """The verdict on one observation.

    ``status`` is ``None`` exactly when ``health`` is :attr:`HealthState.UNKNOWN`: nothing was
    learned, so there is nothing to record (check :attr:`known` first).
    """

    status: AgentStatus | None
    health: HealthState
    exited: bool
    """tmux shows the agent's process ended (a dead pane). A missing session is not "exited"."""
    exit_status: int | None
    signal: int | None
    activity_at: float | None
    """Newest activity known (epoch seconds): the pane's, or the previous one if newer."""
    progress_at: float | None
    """Newest progress known (epoch seconds): the ``last_progress`` the caller passed."""
    reason: str
    """One line for events and logs, e.g. ``exited with status 3``."""
    exit_known: bool = True
    """False only for a dead pane whose exit tmux has not reaped yet."""

    @property
    def known(self) -> bool:
        """Whether this assessment says anything (tmux could be asked)."""
        return self.health is not HealthState.UNKNOWN


def _newest(*moments: float | None) -> float | None:
    known = [m for m in moments if m is not None and m > 0]
    return max(known) if known else None


def _age(now: float, moment: float | None) -> float | None:
    return None if moment is None else max(0.0, now - moment)


def assess(
    observation: Observation,
    *,
    last_activity: float | None,
    last_progress: float | None,
    thresholds: Thresholds,
    now: float,
) -> Assessment:
    """Assess one observation (see the module docstring for the table).

    ``last_activity`` and ``last_progress`` are epoch seconds (``None``: never seen);
    ``last_progress`` already includes the newest git change of the workspace.
    """
    progress_at = _newest(last_progress)
    if observation.unknown:
        return Assessment(
            status=None,
            health=HealthState.UNKNOWN,
            exited=False,
            exit_status=None,
            signal=None,
            activity_at=_newest(last_activity),
            progress_at=progress_at,
            reason="tmux unavailable; agent state unknown",
        )
    pane = observation.pane
    if pane is None:
        return Assessment(
            status=AgentStatus.DEAD,
            health=HealthState.DEAD,
            exited=False,
            exit_status=None,
            signal=None,
            activity_at=_newest(last_activity),
            progress_at=progress_at,
            reason="tmux session missing",
        )
    activity_at = _newest(last_activity, pane.activity)
    if pane.dead:
        return _assess_dead(pane, activity_at, progress_at)
    return _assess_alive(activity_at, progress_at, thresholds, now)


def _assess_dead(
    pane: PaneState, activity_at: float | None, progress_at: float | None
) -> Assessment:
    if pane.dead_status == 0:
        status, health, reason = AgentStatus.STOPPED, HealthState.IDLE, "exited with status 0"
    else:
        status, health = AgentStatus.DEAD, HealthState.DEAD
        if pane.dead_status is not None:
            reason = f"exited with status {pane.dead_status}"
        elif pane.dead_signal is not None:
            reason = f"killed by signal {pane.dead_signal}"
        else:
            reason = "exited; exit status not known yet"
    return Assessment(
        status=status,
        health=health,
        exited=True,
        exit_status=pane.dead_status,
        signal=pane.dead_signal,
        activity_at=activity_at,
        progress_at=progress_at,
        reason=reason,
        exit_known=pane.exit_known,
    )


def _assess_alive(
    activity_at: float | None, progress_at: float | None, thresholds: Thresholds, now: float
) -> Assessment:
    activity_age = _age(now, activity_at)
    progress_age = _age(now, progress_at)
    if activity_age is not None and activity_age >= thresholds.activity_stalled:
        status, health = AgentStatus.STALLED, HealthState.STALLED
        reason = f"no activity for {int(activity_age)}s"
    elif progress_age is not None and progress_age >= thresholds.progress_stalled:
        status, health = AgentStatus.STALLED, HealthState.STALLED
        reason = f"no progress for {int(progress_age)}s"
    elif activity_age is not None and activity_age >= thresholds.idle:
        status, health = AgentStatus.IDLE, HealthState.IDLE
        reason = f"idle for {int(activity_age)}s"
    else:
        status, health, reason = AgentStatus.RUNNING, HealthState.HEALTHY, "running"
    return Assessment(
        status=status,
        health=health,
        exited=False,
        exit_status=None,
        signal=None,
        activity_at=activity_at,
        progress_at=progress_at,
        reason=reason,
    )


def is_unhealthy(status: str, health: str) -> bool:
    """The watch/operator rule: dead or stalled health, or a failed or dead agent.

    Idle is healthy, and so is unknown (nothing says the agent is in trouble).
    """
    return health in (HealthState.DEAD, HealthState.STALLED) or status in (
        AgentStatus.FAILED,
        AgentStatus.DEAD,
    )
