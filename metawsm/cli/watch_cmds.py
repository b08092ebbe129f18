"""``metawsm watch``: follow the supervisor's event stream and alert the operator.

The supervisor pushes every committed event (no polling of the database); this command turns
them into the original's alerts: ``guidance_needed``, ``agent_unhealthy``, ``run_failed``,
``run_stopped``, ``run_done``, ``forum_escalation`` (one per escalated thread), each with
hints, a bell, and ``--notify-cmd`` run with
``METAWSM_EVENT``, ``METAWSM_MESSAGE``, ``METAWSM_RUN_ID``, ``METAWSM_RUN_STATUS`` and
``METAWSM_TICKETS`` in its environment. Quiet periods print heartbeats.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio

from metawsm.cli import app
from metawsm.cli.params import Target
from metawsm.cli.run_cmds import TARGET, Flag
from metawsm.control.client import ControlClient, SupervisorUnreachable
from metawsm.control.protocol import Notification
from metawsm.errors import MetawsmError, UsageError
from metawsm.naming import validate_name
from metawsm.supervisor.lock import supervisor_is_running

TERMINAL = frozenset({"guidance_needed", "run_failed", "run_stopped", "run_done"})


@dataclass(frozen=True)
class Alert:
    event: str
    run_id: str
    message: str
    hints: tuple[str, ...]
    run_status: str
    tickets: tuple[str, ...]
    #: Told apart from the run's other alerts of the same event (a forum thread's id).
    key: str = ""

    @property
    def terminal(self) -> bool:
        return self.event in TERMINAL

    @property
    def ident(self) -> str:
        return f"{self.event}:{self.key}" if self.key else self.event


def forum_alerts(run: dict[str, Any]) -> list[Alert]:
    """A ``forum_escalation`` per escalated thread of a heartbeat's run, with the original's
    hints."""
    run_id, status = str(run["run_id"]), str(run["status"])
    tickets = tuple(str(t) for t in run.get("tickets", ()))
    return [
        Alert(
            "forum_escalation",
            run_id,
            f"forum thread={e['thread_id']} state={e['state']} priority={e['priority']} "
            f"age={e['age_seconds']}s title={' '.join(str(e['title']).split())}",
            (
                "Forum escalation detected. Answer with: metawsm forum answer --thread-id "
                f'{e["thread_id"]} --body "<decision>"',
                f"Or inspect thread first: metawsm forum thread --thread-id {e['thread_id']}",
            ),
            status,
            tickets,
            key=str(e["thread_id"]),
        )
        for e in run.get("forum_escalations", ())
    ]


def classify(event: dict[str, Any]) -> Alert | None:
    """The alert an event raises, if any (the original's watch events)."""
    if event.get("event_type") != "transition":
        return None
    run_id = str(event.get("run_id", ""))
    to_state = str(event.get("to_state", ""))
    message = str(event.get("message", ""))
    status = str(event.get("run_status", ""))
    tickets = tuple(str(t) for t in event.get("tickets", ()))
    status_hint = f"metawsm status --run-id {run_id}"
    if event.get("entity_type") == "agent":
        if to_state in ("dead", "stalled", "failed"):
            return Alert(
                "agent_unhealthy",
                run_id,
                f"agent {event.get('entity_id')} is {to_state}: {message}",
                (status_hint, f"metawsm restart --run-id {run_id}"),
                status,
                tickets,
            )
        return None
    if event.get("entity_type") != "run":
        return None
    if to_state == "awaiting_guidance":
        asked = _asked(event.get("questions"))
        return Alert(
            "guidance_needed",
            run_id,
            asked or message or "an agent asked for guidance",
            (
                f"Direction needed for run {run_id}.",
                status_hint,
                f'metawsm guide --run-id {run_id} --answer "..."',
            ),
            status,
            tickets,
        )
    if to_state == "failed":
        return Alert(
            "run_failed",
            run_id,
            message,
            (status_hint, f"metawsm resume --run-id {run_id}"),
            status,
            tickets,
        )
    if to_state == "stopped":
        return Alert(
            "run_stopped",
            run_id,
            message,
            (f"metawsm resume --run-id {run_id}", f"metawsm cleanup --run-id {run_id}"),
            status,
            tickets,
        )
    if to_state in ("completed", "closed"):
        return Alert(
            "run_done",
            run_id,
            message or to_state,
            (f"metawsm close --run-id {run_id} --dry-run",),
            status,
            tickets,
        )
    return None


def _asked(questions: Any) -> str:
    """The pending questions as one line: ``coder@ws asks: Which database?`` (each of them)."""
    if not isinstance(questions, list):
        return ""
    return "; ".join(
        f"{q.get('agent', '?')}@{q.get('workspace', '?')} asks: {q.get('question', '')}"
        for q in questions
        if isinstance(q, dict)
    )


def classify_run(run: dict[str, Any]) -> Alert | None:
    """The alert a heartbeat's run state raises (a run that ended before the watch began,
    or between events), in the original's precedence."""
    run_id, status = str(run["run_id"]), str(run["status"])
    tickets = tuple(str(t) for t in run.get("tickets", ()))
    event = {
        "event_type": "transition",
        "entity_type": "run",
        "run_id": run_id,
        "run_status": status,
        "tickets": list(tickets),
        "message": f"run is {status}",
    }
    if status in ("failed", "stopped", "completed", "closed"):
        return classify({**event, "to_state": status})
    if status == "awaiting_guidance" or run.get("guidance"):
        return classify(
            {
                **event,
                "to_state": "awaiting_guidance",
                "message": "guidance pending",
                "questions": run.get("questions"),
            }
        )
    if run.get("unhealthy_agents") and status == "running":
        return Alert(
            "agent_unhealthy",
            run_id,
            "an agent is unhealthy",
            (f"metawsm status --run-id {run_id}",),
            status,
            tickets,
        )
    return None


def _stamp() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _heartbeat_lines(params: dict[str, Any]) -> list[str]:
    runs = params.get("runs", [])
    if not runs:
        return [f"[{_stamp()}] heartbeat active_runs=0"]
    return [
        f"[{_stamp()}] heartbeat run={r['run_id']} status={r['status']} "
        f"guidance={str(bool(r['guidance'])).lower()} "
        f"unhealthy_agents={str(bool(r['unhealthy_agents'])).lower()}"
        for r in runs
    ]


def _notify(command: str, alert: Alert) -> None:
    """Run the operator's notify command (argv split like a shell would, but no shell)."""
    env = {
        **os.environ,
        "METAWSM_EVENT": alert.event,
        "METAWSM_MESSAGE": alert.message,
        "METAWSM_RUN_ID": alert.run_id,
        "METAWSM_RUN_STATUS": alert.run_status,
        "METAWSM_TICKETS": ",".join(alert.tickets),
    }
    try:
        subprocess.run(
            shlex.split(command), env=env, timeout=30, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        print(f"  notify command failed: {exc}", file=sys.stderr)


@app.command
def watch(
    *,
    all: Flag = False,
    interval: float = 15.0,
    notify_cmd: str = "",
    bell: bool = True,
    target: Target = TARGET,
) -> int:
    """Follow runs and alert on guidance needed, unhealthy agents, failed, stopped and done.

    Follows the supervisor's event stream (needs a running supervisor). With one run, stops
    after a terminal alert (failed, stopped, done); without a selector or with --all, follows
    every run until Ctrl-C. When the supervisor goes away (a restart), it reconnects with
    backoff and resumes after the last event it saw: no alert is lost or repeated. A
    guidance alert carries the pending questions.

    Example: metawsm watch --ticket T-1 --notify-cmd "notify-send metawsm"

    With --json, prints one JSON object per event, heartbeat and alert.

    Parameters
    ----------
    all
        Watch every run (cannot be combined with --run-id or --ticket).
    interval
        Seconds of quiet between heartbeat lines.
    notify_cmd
        A command to run on each alert, with METAWSM_EVENT, METAWSM_MESSAGE, METAWSM_RUN_ID,
        METAWSM_RUN_STATUS and METAWSM_TICKETS set.
    bell
        Ring the terminal bell on alerts (--no-bell to stay quiet).
    """
    run_id, ticket, json_output = target.run_id, target.ticket, target.json_output
    if all and (run_id or ticket):
        raise UsageError("--all cannot be combined with --run-id or --ticket")
    if interval <= 0:
        raise UsageError("--interval must be > 0")
    for kind, value in (("run id", run_id), ("ticket", ticket)):
        if value:
            validate_name(kind, value)
    env = target.env()
    if not supervisor_is_running(env):
        raise MetawsmError(
            f"no supervisor is running for {env.root}; watch follows its events",
            hint="start it with `metawsm serve`",
        )
    single = bool(run_id or ticket)
    params = {"run_id": run_id, "ticket": ticket, "heartbeat_seconds": interval}

    alerted: dict[str, set[str]] = {}
    position = {"after_id": 0}

    async def follow_once() -> bool:
        """One connection: True when the watch is over (a terminal alert of its one run)."""
        async with ControlClient(env.socket_path) as client:
            async for note in client.stream("watch", {**params, **position}):
                if note.method == "event" and isinstance(note.params.get("id"), int):
                    position["after_id"] = max(position["after_id"], note.params["id"])
                if single and note.method == "heartbeat" and note.params.get("runs"):
                    # Pin the run: after a reconnect --ticket must name the same one.
                    params.update(run_id=note.params["runs"][0]["run_id"], ticket="")
                terminal = _show(
                    note, alerted, json_output=json_output, notify_cmd=notify_cmd, bell=bell
                )
                if terminal and single:
                    return True
        return False

    async def follow() -> None:
        delay = RECONNECT_FIRST_SECONDS
        while True:
            try:
                if await follow_once():
                    return
                reason = "the stream ended"
            except SupervisorUnreachable as exc:
                reason = exc.message
            _print_reconnect(reason, delay, json_output)
            await anyio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    anyio.run(follow, backend="asyncio")
    return 0


#: Backoff between reconnection attempts of ``watch`` (doubling up to the maximum).
RECONNECT_FIRST_SECONDS = 0.25
RECONNECT_MAX_SECONDS = 5.0


def _print_reconnect(reason: str, delay: float, json_output: bool) -> None:
    if json_output:
        line = {"type": "reconnecting", "reason": reason, "delay_seconds": delay}
        sys.stdout.write(json.dumps(line) + "\n")
    else:
        sys.stdout.write(f"[{_stamp()}] {reason}; reconnecting in {delay:g}s\n")
    sys.stdout.flush()


def _show(
    note: Notification,
    alerted: dict[str, set[str]],
    *,
    json_output: bool,
    notify_cmd: str,
    bell: bool,
) -> bool:
    """Print one notification; True when it raised a terminal alert. An alert already raised
    for a run is not raised again (``alerted``), unless the run changed state since."""
    alerts: list[Alert] = []
    if note.method == "event":
        found = classify(note.params)
        alerts = [found] if found is not None else []
    elif note.method == "heartbeat":
        runs = note.params.get("runs", [])
        alerts = [a for a in map(classify_run, runs) if a is not None]
        alerts += [a for run in runs for a in forum_alerts(run)]
    if note.method == "event" and note.params.get("entity_type") == "run":
        alerted.pop(str(note.params.get("run_id")), None)  # a new state: alert afresh
    fresh = [a for a in alerts if a.ident not in alerted.setdefault(a.run_id, set())]
    for a in fresh:
        alerted[a.run_id].add(a.ident)
    terminal = False
    if note.method != "event" or not fresh:
        _print_plain(note, json_output)
    for alert in fresh:
        _print_alert(note, alert, json_output=json_output, bell=bell)
        if notify_cmd:
            _notify(notify_cmd, alert)
        terminal = terminal or alert.terminal
    return terminal


def _print_plain(note: Notification, json_output: bool) -> None:
    if json_output:
        sys.stdout.write(json.dumps({"type": note.method, **note.params}) + "\n")
    elif note.method == "heartbeat":
        sys.stdout.write("\n".join(_heartbeat_lines(note.params)) + "\n")
    elif note.method == "dropped":
        sys.stdout.write(f"[{_stamp()}] stream ended: {note.params.get('reason', '')}\n")
    sys.stdout.flush()


def _print_alert(note: Notification, alert: Alert, *, json_output: bool, bell: bool) -> None:
    if json_output:
        line: dict[str, Any] = {
            "type": note.method,
            **note.params,
            "alert": {
                "event": alert.event,
                "run_id": alert.run_id,
                "message": alert.message,
                "hints": list(alert.hints),
            },
        }
        sys.stdout.write(json.dumps(line) + "\n")
    else:
        lines = [f"[{_stamp()}] ALERT {alert.event}: run={alert.run_id} {alert.message}"]
        lines += [f"  {hint}" for hint in alert.hints]
        sys.stdout.write("\n".join(lines) + "\n" + ("\a" if bell else ""))
    sys.stdout.flush()
