"""Agent starts run concurrently, bounded, and each is still verified: the supervisor in process
on a real private tmux, with the plan's step transitions (the store's event sequence) as the
record of what overlapped. Order, not time, is asserted."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from metawsm.core import SubmitParams
from metawsm.errors import MetawsmError
from metawsm.runs.spec import RunRequest
from metawsm.store import ops
from metawsm.store.records import EventRecord
from metawsm.supervisor import run as run_module
from metawsm.supervisor.environment import Environment
from metawsm.supervisor.serve import serve
from metawsm.supervisor.service import ServiceCore
from tests.supervisor.world import HOLD, World


def _start_steps(events: list[EventRecord]) -> list[EventRecord]:
    """Transitions of the run's steps, in the store's order (their ids)."""
    return sorted((e for e in events if e.entity_type == "step" and e.to_state), key=lambda e: e.id)


def _most_running_at_once(events: list[EventRecord], steps: set[str]) -> int:
    running: set[str] = set()
    most = 0
    for event in _start_steps(events):
        if event.entity_id not in steps:
            continue
        if event.to_state == "running":
            running.add(event.entity_id)
        else:
            running.discard(event.entity_id)
        most = max(most, len(running))
    return most


def _run(
    world: World, monkeypatch: pytest.MonkeyPatch, limit: int
) -> tuple[str, str | None, list[EventRecord]]:
    """Submit a run of every agent of ``world`` with at most ``limit`` starts at once; its id,
    the submitter's error (if the plan failed) and its events."""
    monkeypatch.setenv("TMUX_TMPDIR", str(world.tmux_tmpdir))
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.setattr(run_module, "START_CONCURRENCY", limit)
    env = Environment.load(root=world.root)
    outcome: dict[str, str | None] = {}

    async def job(core: ServiceCore) -> None:
        request = RunRequest(tickets=["T-1"], repos=["api"], run_id="run-c")
        try:
            await core.submit_run(SubmitParams(request=request))
            outcome["error"] = None
        except MetawsmError as exc:
            outcome["error"] = exc.message

    async def main() -> None:
        await serve(env, job=job)

    anyio.run(main, backend="asyncio")
    return "run-c", outcome["error"], world.events("run-c")


def _step_ids(world: World, run_id: str) -> dict[str, str]:
    """``tmux_start`` step entity ids by agent name."""
    return {
        s.agent_name: ops.step_entity_id(s.step_index)
        for s in world.steps(run_id)
        if s.kind == "tmux_start"
    }


def test_starts_overlap_within_the_bound_and_each_is_verified(
    make_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> None:
    agents = {f"a{i}": HOLD for i in range(6)}
    world = make_world(agents)
    run_id, error, events = _run(world, monkeypatch, limit=3)
    assert error is None
    steps = _step_ids(world, run_id)
    assert sorted(steps) == sorted(agents)
    ids = set(steps.values())
    assert {e.entity_id for e in events if e.entity_type == "step"} >= ids, [
        e.entity_id for e in events
    ]
    # Overlapped (one after another, at most one would be running at a time) ...
    assert _most_running_at_once(events, ids) == 3
    # ... and every start verified: each step went running -> done once, and each agent's
    # session was started once and is running.
    for step in ids:
        states = [e.to_state for e in _start_steps(events) if e.entity_id == step]
        assert states == ["running", "done"], (step, states)
    starts = [e for e in events if e.message.startswith("started in tmux")]
    assert len(starts) == len(agents)
    assert all(r.status == "running" for r in world.agent_rows(run_id))
    assert len(world.sessions()) == len(agents)


def test_a_start_that_fails_verification_fails_the_run_after_the_others_end(
    make_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a2 exits 3 at once: a `codex` that is a two-line sh script first on PATH (no interpreter
    # start-up that could outlast the verification window on a loaded machine).
    world = make_world({"a0": HOLD, "a1": HOLD, "a2": HOLD, "a3": HOLD})
    bin_dir = world.root / "bin"
    bin_dir.mkdir()
    (bin_dir / "codex").write_text("#!/bin/sh\nexit 3\n")
    (bin_dir / "codex").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")

    def a2_exits(policy: dict[str, Any]) -> None:
        for profile in policy["agent_profiles"]:
            if profile["name"] == "p-a2":
                profile.clear()
                profile.update(name="p-a2", runner="codex", base_prompt="exit at once")

    world.edit_policy(a2_exits)
    run_id, error, events = _run(world, monkeypatch, limit=4)
    steps = _step_ids(world, run_id)
    assert error is not None and "a2" in error and "exited with status 3" in error, error
    assert _most_running_at_once(events, set(steps.values())) >= 2
    finals = {
        name: [e.to_state for e in _start_steps(events) if e.entity_id == step][-1]
        for name, step in steps.items()
    }
    assert finals == {"a0": "done", "a1": "done", "a2": "failed", "a3": "done"}
    assert world.run_record(run_id).status == "failed"
    # The run fails once, for its first failed step.
    failed = [e for e in events if e.entity_type == "run" and e.to_state == "failed"]
    assert len(failed) == 1 and "a2" in failed[0].message
