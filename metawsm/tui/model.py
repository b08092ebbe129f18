"""The tui's state: what the supervisor last said and what is selected. Pure, no I/O.

:class:`State` holds the active runs (from the stream's heartbeats), each run's last status
view and forum threads, and the selection. The widgets of :mod:`metawsm.tui.app` are drawn
from it, so what they show can be checked without a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PRIORITY_ORDER = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
#: Threads in these states wait for nobody: they leave the questions table.
DONE_STATES = frozenset({"answered", "closed"})
#: Health → the colour it is drawn in.
HEALTH_STYLE = {
    "healthy": "green",
    "idle": "yellow",
    "stalled": "red",
    "dead": "bold red",
    "unknown": "dim",
    "stopped": "dim",
}
STATUS_STYLE = {
    "running": "green",
    "awaiting_guidance": "bold yellow",
    "failed": "bold red",
    "dead": "bold red",
    "stopped": "dim",
    "completed": "cyan",
}


@dataclass(frozen=True)
class Question:
    """One line of the questions table: a guidance request or a forum thread."""

    kind: str  # "guidance" | "thread"
    key: str
    who: str
    text: str
    priority: str = "normal"
    state: str = ""
    escalated: bool = False
    thread_id: str = ""


def clean(value: Any) -> str:
    """One line of text: control characters (newlines, escapes) become spaces."""
    return "".join(c if c.isprintable() else " " for c in str(value if value is not None else ""))


@dataclass
class State:
    """Everything the screen shows."""

    root: str
    supervisor: str = "connecting"
    runs: list[dict[str, Any]] = field(default_factory=list)
    """The active runs (a heartbeat's ``runs``: run_id, status, tickets, guidance, ...)."""
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    """run id → its last status view (a ``status`` result)."""
    threads: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """run id → its forum threads (``forum.list``), when the supervisor has a forum."""
    stale: dict[str, str] = field(default_factory=dict)
    """run id → why its status could not be refreshed (until it can)."""
    selected_run: str = ""
    message: str = ""

    # -- updates from the supervisor ------------------------------------------------------------

    def set_runs(self, runs: list[dict[str, Any]]) -> None:
        """Take a heartbeat's list of active runs; forget the details of runs that ended."""
        self.runs = [dict(r) for r in runs if isinstance(r, dict) and r.get("run_id")]
        ids = {str(r["run_id"]) for r in self.runs}
        self.details = {k: v for k, v in self.details.items() if k in ids}
        self.threads = {k: v for k, v in self.threads.items() if k in ids}
        self.stale = {k: v for k, v in self.stale.items() if k in ids}
        if self.selected_run not in ids:
            self.selected_run = str(self.runs[0]["run_id"]) if self.runs else ""

    def set_status(self, view: dict[str, Any]) -> None:
        """Take a run's status view; its row in the runs list follows it."""
        run_id = str(view.get("run_id", ""))
        if not run_id:
            return
        self.details[run_id] = view
        self.stale.pop(run_id, None)
        row = {
            "run_id": run_id,
            "status": view.get("status", ""),
            "tickets": view.get("tickets", []),
            "guidance": len(view.get("guidance") or []),
        }
        for existing in self.runs:
            if existing.get("run_id") == run_id:
                existing.update(row)
                break
        else:
            self.runs.append(row)
        if not self.selected_run:
            self.selected_run = run_id

    def set_threads(self, run_id: str, threads: list[dict[str, Any]]) -> None:
        self.threads[run_id] = [t for t in threads if isinstance(t, dict)]

    def select_next(self, step: int) -> str:
        """Select the next (or previous) run; return its id."""
        ids = [str(r["run_id"]) for r in self.runs]
        if ids:
            here = ids.index(self.selected_run) if self.selected_run in ids else -1
            self.selected_run = ids[(here + step) % len(ids)]
        return self.selected_run

    # -- what is selected -----------------------------------------------------------------------

    @property
    def view(self) -> dict[str, Any]:
        return self.details.get(self.selected_run, {})

    def agents(self) -> list[dict[str, Any]]:
        """The selected run's agents (empty until its status is known)."""
        return [a for a in self.view.get("agents") or [] if isinstance(a, dict)]

    def steps(self) -> list[dict[str, Any]]:
        return [s for s in self.view.get("steps") or [] if isinstance(s, dict)]

    def escalated_ids(self) -> set[str]:
        forum = self.view.get("forum")
        escalations = forum.get("escalations", []) if isinstance(forum, dict) else []
        return {str(e.get("thread_id")) for e in escalations if isinstance(e, dict)}

    def questions(self) -> list[Question]:
        """Escalated threads first, then pending guidance (oldest first), then the other open
        threads (not answered or closed), urgent first then newest."""
        escalated = self.escalated_ids()
        guidance = sorted(
            (g for g in self.view.get("guidance") or [] if isinstance(g, dict)),
            key=lambda g: int(g.get("id", 0)),
        )
        linked = {str(g.get("thread_id")) for g in guidance if g.get("thread_id")}
        asked = [
            Question(
                "guidance",
                f"g{g.get('id')}",
                f"{g.get('agent')}@{g.get('workspace')}",
                clean(g.get("question")),
                state="waiting",
                escalated=str(g.get("thread_id", "")) in escalated,
                thread_id=str(g.get("thread_id") or ""),
            )
            for g in guidance
        ]
        threads = sorted(
            (
                t
                for t in self.threads.get(self.selected_run, [])
                if t.get("state") not in DONE_STATES and str(t.get("thread_id")) not in linked
            ),
            key=lambda t: str(t.get("updated_at") or ""),
            reverse=True,
        )
        threads.sort(key=lambda t: PRIORITY_ORDER.get(str(t.get("priority")), 9))
        posted = [
            Question(
                "thread",
                f"t{t.get('thread_id')}",
                clean(t.get("agent") or t.get("assignee_name") or "-"),
                clean(t.get("title")),
                priority=str(t.get("priority") or "normal"),
                state=str(t.get("state") or ""),
                escalated=str(t.get("thread_id")) in escalated,
                thread_id=str(t.get("thread_id")),
            )
            for t in threads
        ]
        everything = asked + posted
        return [q for q in everything if q.escalated] + [q for q in everything if not q.escalated]

    def oldest_guidance(self) -> dict[str, Any] | None:
        """The selected run's oldest pending question (the one ``guide`` answers)."""
        pending = [g for g in self.view.get("guidance") or [] if isinstance(g, dict)]
        return min(pending, key=lambda g: int(g.get("id", 0))) if pending else None
