"""Rows of the store as plain frozen dataclasses: what the write builders take and the
:class:`~metawsm.store.reader.Reader` returns.

Field names are the column names, so a row maps onto a record by name. Timestamps are the
strings of :func:`~metawsm.store.db.utc_now`; ``""`` means "no time", as in the original.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A row of ``runs`` plus its tickets (``run_tickets``)."""

    run_id: str
    status: str
    created_at: str
    updated_at: str
    spec_json: str
    policy_json: str
    #: The last transition's message, not only errors (the original's meaning).
    error_text: str = ""
    tickets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StepRecord:
    """A row of ``steps``: one step of a run's plan."""

    run_id: str
    step_index: int
    name: str
    kind: str
    command_text: str
    blocking: bool
    status: str
    ticket: str = ""
    workspace_name: str = ""
    agent_name: str = ""
    error_text: str = ""
    started_at: str = ""
    finished_at: str = ""


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """A row of ``agents``: one agent in one workspace of a run."""

    run_id: str
    agent_name: str
    workspace_name: str
    session_name: str
    status: str
    health_state: str
    last_activity_at: str = ""
    last_progress_at: str = ""
    generation: int = 1
    host: str = "local"
    last_exit_status: int | None = None
    restart_count: int = 0
    updated_at: str = ""


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A row of ``events``; ``id`` is the one global, strictly increasing event sequence."""

    id: int
    run_id: str
    entity_type: str
    entity_id: str
    event_type: str
    from_state: str
    to_state: str
    message: str
    created_at: str
    generation: int = 0
    payload_json: str = ""


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append (its id and time are given by the store)."""

    run_id: str
    entity_type: str
    entity_id: str
    event_type: str
    from_state: str = ""
    to_state: str = ""
    message: str = ""
    generation: int = 0
    payload_json: str = ""


@dataclass(frozen=True, slots=True)
class GuidanceRecord:
    """A row of ``guidance_requests``: an agent's question and, once given, its answer."""

    id: int
    run_id: str
    workspace_name: str
    agent_name: str
    question: str
    context_text: str
    answer_text: str
    status: str
    created_at: str
    answered_at: str
    generation: int = 0


@dataclass(frozen=True, slots=True)
class DocSyncRecord:
    """A row of ``doc_sync_states``: the ticket docs seeded into one workspace."""

    run_id: str
    ticket: str
    workspace_name: str
    status: str
    doc_home_repo: str = ""
    doc_authority_mode: str = ""
    doc_seed_mode: str = ""
    revision: str = ""
    error_text: str = ""
    updated_at: str = ""
