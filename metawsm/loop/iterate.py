"""Iterate a run: check the request, clear the agents' signal files and record the feedback.

The restart that follows is the caller's: with a supervisor, through its run controller.
"""

from __future__ import annotations

from typing import Any

from metawsm.errors import MetawsmError, UsageError
from metawsm.hsm import RunStatus
from metawsm.loop.close import record_event, run_spec
from metawsm.loop.guidance import append_feedback, clear_agent_signals
from metawsm.store.client import WriteHelpers
from metawsm.store.records import RunRecord
from metawsm.supervisor.environment import Environment


async def prepare_iteration(
    env: Environment, store: WriteHelpers, record: RunRecord, feedback: str, *, dry_run: bool
) -> dict[str, Any]:
    """Check an iterate request, then clear signal files and record the feedback (the restart
    that follows is the caller's: with a supervisor, through its run controller)."""
    if not feedback.strip():
        raise UsageError("feedback cannot be empty", hint='--feedback "what to change"')
    if record.status == RunStatus.CLOSED:
        raise MetawsmError(f"run {record.run_id} is closed and cannot iterate")
    spec = run_spec(record)
    if not spec.workspaces:
        raise MetawsmError(f"run {record.run_id} has no workspaces for iteration")
    if dry_run:
        return {
            "run_id": record.run_id,
            "dry_run": True,
            "actions": [
                "clear completion, validation and guidance files in both signal roots",
                "append the feedback to .metawsm/operator-feedback.md and the ticket's "
                "reference/99-operator-feedback.md (committed on the workspace branch)",
                "restart every agent as a new generation",
            ],
        }
    cleared = await clear_agent_signals(env, spec)
    written = await append_feedback(env, spec, feedback)
    await record_event(
        store, record.run_id, "iterate", f"feedback recorded; {cleared} signal file(s) cleared"
    )
    return {"run_id": record.run_id, "signals_cleared": cleared, "feedback_files": written}
