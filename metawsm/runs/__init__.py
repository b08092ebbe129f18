"""Runs: from what the operator asked for to the plan that provisions it.

- :mod:`metawsm.runs.profiles`: which agents a run starts and the argv each runs;
- :mod:`metawsm.runs.spec`: :class:`RunRequest` -> :func:`resolve_run` -> :class:`RunSpec`,
  the persisted ``runs.spec_json``;
- :mod:`metawsm.runs.plan`: the steps (:func:`build_plan`) and first agent rows
  (:func:`seed_agents`) of a run.

Everything here is pure (no store, no subprocess); the only file system reads are skill and
script lookups when compiling agents.
"""

from __future__ import annotations

from metawsm.runs.plan import (
    KIND_TICKET_CONTEXT_SYNC,
    KIND_TMUX_START,
    KIND_VERIFY_TICKET,
    KIND_WORKSPACE,
    STEP_KINDS,
    agent_workdir,
    build_plan,
    first_pending_index,
    seed_agents,
)
from metawsm.runs.profiles import AgentSpec, compile_agent, resolve_agents
from metawsm.runs.spec import RunRequest, RunSpec, resolve_run

__all__ = [
    "KIND_TICKET_CONTEXT_SYNC",
    "KIND_TMUX_START",
    "KIND_VERIFY_TICKET",
    "KIND_WORKSPACE",
    "STEP_KINDS",
    "AgentSpec",
    "RunRequest",
    "RunSpec",
    "agent_workdir",
    "build_plan",
    "compile_agent",
    "first_pending_index",
    "resolve_agents",
    "resolve_run",
    "seed_agents",
]
