"""The tui's state, what each key does to it, and how it is drawn: pure, no terminal, no I/O.

:class:`State` holds what the supervisor last said (the active runs from the stream's
heartbeats, the selected run's status view) and what the operator is doing (selection, an
answer being typed). :func:`handle_key` applies one key and returns the :class:`Action` the app
must perform, if any; :func:`render` turns the state into the screen's lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KEYS_HELP = "j/k agent  tab/n run  g answer  r restart  s stop  o open  q quit"
PROMPT = "answer> "


@dataclass(frozen=True)
class Action:
    """Something the app must do for a key: ``kind`` is guide, restart, stop, open, refresh
    or quit; the other fields say for what."""

    kind: str
    run_id: str = ""
    agent: str = ""
    workspace: str = ""
    session: str = ""
    text: str = ""


@dataclass
class State:
    """Everything the screen shows."""

    root: str
    supervisor: str = "connecting"
    runs: list[dict[str, Any]] = field(default_factory=list)
    """The active runs (a heartbeat's ``runs``: run_id, status, tickets, guidance, ...)."""
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    """run id → its last status view (a ``status`` result)."""
    stale: dict[str, str] = field(default_factory=dict)
    """run id → why its status could not be refreshed (until it can)."""
    selected_run: str = ""
    selected_agent: int = 0
    message: str = ""
    """The result of the last action, or its error (one line)."""
    prompt: str | None = None
    """The answer being typed, or None when no answer is being typed."""
    prompt_for: str = ""
    """The run the answer being typed is for."""

    # -- updates from the supervisor ------------------------------------------------------------

    def set_runs(self, runs: list[dict[str, Any]]) -> None:
        """Take a heartbeat's list of active runs; forget the details of runs that ended."""
        self.runs = [dict(r) for r in runs if isinstance(r, dict) and r.get("run_id")]
        ids = {str(r["run_id"]) for r in self.runs}
        self.details = {k: v for k, v in self.details.items() if k in ids}
        self.stale = {k: v for k, v in self.stale.items() if k in ids}
        if self.selected_run not in ids:
            self.selected_run = str(self.runs[0]["run_id"]) if self.runs else ""
            self.selected_agent = 0

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
        self.selected_agent = max(0, min(self.selected_agent, len(self.agents()) - 1))

    # -- what is selected -----------------------------------------------------------------------

    def agents(self) -> list[dict[str, Any]]:
        """The selected run's agents (empty until its status is known)."""
        agents = self.details.get(self.selected_run, {}).get("agents") or []
        return [a for a in agents if isinstance(a, dict)]

    def agent(self) -> dict[str, Any] | None:
        """The selected agent, if any."""
        agents = self.agents()
        return agents[self.selected_agent] if 0 <= self.selected_agent < len(agents) else None

    def oldest_guidance(self) -> dict[str, Any] | None:
        """The selected run's oldest pending question (the one ``guide`` answers)."""
        pending = self.details.get(self.selected_run, {}).get("guidance") or []
        pending = [g for g in pending if isinstance(g, dict)]
        return min(pending, key=lambda g: int(g.get("id", 0))) if pending else None


def handle_key(state: State, key: str) -> Action | None:
    """Apply one key (a character, or up, down, tab, btab, enter, esc, backspace) to ``state``;
    return what the app must do for it, if anything."""
    if state.prompt is not None:
        return _prompt_key(state, key)
    if key == "q":
        return Action("quit")
    if key in ("up", "k", "down", "j"):
        step = -1 if key in ("up", "k") else 1
        count = len(state.agents())
        state.selected_agent = max(0, min(state.selected_agent + step, count - 1))
        return None
    if key in ("tab", "n", "btab", "p"):
        return _next_run(state, -1 if key in ("btab", "p") else 1)
    if key == "g":
        question = state.oldest_guidance()
        if question is None:
            state.message = f"no pending guidance for {state.selected_run or 'any run'}"
            return None
        state.prompt, state.prompt_for = "", state.selected_run
        state.message = (
            f"answer {question.get('agent')}@{question.get('workspace')}: "
            f"{question.get('question', '')}  (Enter sends, Esc cancels)"
        )
        return None
    if key in ("r", "s", "o"):
        agent = state.agent()
        if agent is None:
            state.message = "no agent selected"
            return None
        kind = {"r": "restart", "s": "stop", "o": "open"}[key]
        return Action(
            kind,
            run_id=state.selected_run,
            agent=str(agent.get("name", "")),
            workspace=str(agent.get("workspace", "")),
            session=str(agent.get("session", "")),
        )
    return None


def _prompt_key(state: State, key: str) -> Action | None:
    assert state.prompt is not None
    if key == "esc":
        state.prompt, state.message = None, "answer cancelled"
        return None
    if key == "enter":
        text = state.prompt.strip()
        if not text:
            state.message = "an empty answer is not sent (Esc cancels)"
            return None
        state.prompt = None
        return Action("guide", run_id=state.prompt_for, text=text)
    if key == "backspace":
        state.prompt = state.prompt[:-1]
    elif len(key) == 1 and key.isprintable():
        state.prompt += key
    return None


def _next_run(state: State, step: int) -> Action | None:
    ids = [str(r["run_id"]) for r in state.runs]
    if not ids:
        return None
    here = ids.index(state.selected_run) if state.selected_run in ids else -1
    state.selected_run = ids[(here + step) % len(ids)]
    state.selected_agent = 0
    return Action("refresh", run_id=state.selected_run)


# -- drawing -------------------------------------------------------------------------------------


def _clean(value: Any) -> str:
    """One line of text: control characters (newlines, escapes) become spaces."""
    return "".join(c if c.isprintable() else " " for c in str(value))


def _run_line(run: dict[str, Any], selected: bool) -> str:
    tickets = ",".join(str(t) for t in run.get("tickets") or []) or "-"
    line = (
        f"{'>' if selected else ' '} {run.get('run_id')}  {run.get('status', '?'):<18} "
        f"tickets={tickets}  guidance={run.get('guidance', 0)}"
    )
    unhealthy = run.get("unhealthy_agents")
    return line + (f"  unhealthy={unhealthy}" if unhealthy else "")


def _detail_lines(state: State) -> list[str]:
    view = state.details.get(state.selected_run)
    problem = state.stale.get(state.selected_run)
    if view is None:
        return [f"Run {state.selected_run}: {problem or 'loading...'}"]
    counts = view.get("step_counts") or {}
    steps = " ".join(
        f"{name}={counts.get(name, 0)}"
        for name in ("total", "done", "running", "pending", "failed")
    )
    lines = [f"Run {view.get('run_id')}  status={view.get('status')}", f"Steps: {steps}"]
    if problem:
        lines.append(f"  not refreshed: {problem}")
    if view.get("last_message"):
        lines.append(f"  {view['last_message']}")
    lines.append("Agents:")
    agents = state.agents()
    if not agents:
        lines.append("  (none)")
    for i, agent in enumerate(agents):
        lines.append(
            f"{'>' if i == state.selected_agent else ' '} {agent.get('name')}@"
            f"{agent.get('workspace')}  session={agent.get('session')}  "
            f"status={agent.get('status')}  health={agent.get('health')}  "
            f"generation={agent.get('generation')}"
        )
    guidance = [g for g in view.get("guidance") or [] if isinstance(g, dict)]
    lines.append(f"Guidance pending: {len(guidance)}")
    for g in sorted(guidance, key=lambda g: int(g.get("id", 0))):
        lines.append(f"  #{g.get('id')} {g.get('agent')}@{g.get('workspace')}: {g.get('question')}")
    return lines


def render(state: State, width: int, height: int, now: str) -> list[str]:
    """The screen as exactly ``height`` lines of at most ``width`` characters each: a header,
    the active runs, the selected run's agents, steps and questions, a status line and the keys
    (or the answer being typed)."""
    width, height = max(width, 1), max(height, 3)
    body = [
        f"metawsm tui  {state.root}  {now}  supervisor: {state.supervisor}",
        "",
        f"Active runs: {len(state.runs)}",
    ]
    body += [_run_line(r, r.get("run_id") == state.selected_run) for r in state.runs]
    if not state.runs:
        body.append("  (none)")
    if state.selected_run:
        body += ["", *_detail_lines(state)]
    last = KEYS_HELP
    if state.prompt is not None:
        typed = _clean(state.prompt) + "_"
        room = max(width - len(PROMPT), 1)
        last = PROMPT + (typed if len(typed) <= room else typed[-room:])
    footer = [state.message, last]
    body = body[: height - len(footer)]
    body += [""] * (height - len(footer) - len(body))
    return [_clean(line)[:width] for line in body + footer]
