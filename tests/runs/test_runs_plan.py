"""The plan of a run and its first agent rows (§5.2)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from runs_kit import NOW

from metawsm.runs.plan import agent_workdir, build_plan, first_pending_index, seed_agents
from metawsm.store.records import StepRecord

WS1, WS2 = "t-1-20260207-084728", "t-2-20260207-084728"


def _rows(steps: list[StepRecord]) -> list[tuple[int, str, str, str, str, str]]:
    return [(s.step_index, s.name, s.kind, s.ticket, s.workspace_name, s.agent_name) for s in steps]


def test_two_tickets_two_agents_with_seeding(resolve: Any) -> None:
    spec = resolve(tickets=["T-1", "T-2"], repos=["metawsm", "web"])
    steps = build_plan(spec)
    assert _rows(steps) == [
        (1, "verify-doc-ticket-T-1", "verify_ticket", "T-1", WS1, ""),
        (2, f"workspace-create-{WS1}", "workspace", "T-1", WS1, ""),
        (3, f"sync-ticket-context-{WS1}", "ticket_context_sync", "T-1", WS1, ""),
        (4, f"tmux-start-agent-{WS1}", "tmux_start", "T-1", WS1, "agent"),
        (5, f"tmux-start-reviewer-{WS1}", "tmux_start", "T-1", WS1, "reviewer"),
        (6, "verify-doc-ticket-T-2", "verify_ticket", "T-2", WS2, ""),
        (7, f"workspace-create-{WS2}", "workspace", "T-2", WS2, ""),
        (8, f"sync-ticket-context-{WS2}", "ticket_context_sync", "T-2", WS2, ""),
        (9, f"tmux-start-agent-{WS2}", "tmux_start", "T-2", WS2, "agent"),
        (10, f"tmux-start-reviewer-{WS2}", "tmux_start", "T-2", WS2, "reviewer"),
    ]
    assert all(s.run_id == spec.run_id for s in steps)
    assert all(s.status == "pending" and s.blocking for s in steps)
    assert all(s.error_text == s.started_at == s.finished_at == "" for s in steps)


def test_no_sync_step_when_seeding_is_off(resolve: Any, make_policy: Any) -> None:
    for spec in (
        resolve(tickets=["T-1", "T-2"], repos=["metawsm"], doc_seed_mode="none"),
        resolve(
            tickets=["T-1", "T-2"],
            repos=["metawsm"],
            policy=make_policy({"docs": {"seed_mode": "none"}}),
        ),
    ):
        kinds = [s.kind for s in build_plan(spec)]
        assert kinds == ["verify_ticket", "workspace", "tmux_start", "tmux_start"] * 2
        assert [s.step_index for s in build_plan(spec)] == list(range(1, 9))


def test_bootstrap_mode_has_the_same_plan(resolve: Any) -> None:
    run = build_plan(resolve(tickets=["T-1"], repos=["metawsm"], agents=["agent"]))
    boot = build_plan(
        resolve(tickets=["T-1"], repos=["metawsm"], agents=["agent"], mode="bootstrap")
    )
    assert [s.kind for s in boot] == [
        "verify_ticket",
        "workspace",
        "ticket_context_sync",
        "tmux_start",
    ]
    assert _rows(boot) == _rows(run)


@pytest.mark.parametrize("strategy", ["create", "fork", "reuse"])
def test_workspace_step_name_carries_the_strategy(resolve: Any, strategy: str) -> None:
    steps = build_plan(resolve(tickets=["T-1"], repos=["metawsm"], workspace_strategy=strategy))
    assert steps[1].name == f"workspace-{strategy}-{WS1}"


def test_command_texts_describe_git_provider_steps(resolve: Any) -> None:
    spec = resolve(
        tickets=["T-1"], repos=["metawsm", "web"], agents=["agent"], base_branch="origin/main"
    )
    root = spec.workspaces_root
    verify, workspace, sync, start = (s.command_text for s in build_plan(spec))
    assert verify == "verify ticket T-1 exists in the ticket docs"
    assert workspace == (
        f"git worktree add -b task/{WS1} {root}/{WS1}/metawsm origin/main; "
        f"git worktree add -b task/{WS1} {root}/{WS1}/web origin/main"
    )
    assert sync == f"copy the docs of ticket T-1 into {root}/{WS1}/metawsm"
    assert start == (
        f"start bash -lc 'make work' in tmux session agent-{WS1} (cwd {root}/{WS1}/metawsm)"
    )


def test_command_texts_of_fork_and_reuse(resolve: Any) -> None:
    fork = resolve(tickets=["T-1"], repos=["metawsm"], workspace_strategy="fork")
    assert build_plan(fork)[1].command_text == (
        f"fork workspace {WS1} at {fork.workspaces_root}/{WS1} onto new branch task/{WS1}"
    )
    reuse = resolve(tickets=["T-1"], workspace_strategy="reuse", agents=["agent"])
    steps = build_plan(reuse)
    assert steps[1].command_text == f"reuse workspace {WS1} at {reuse.workspaces_root}/{WS1}"
    # No doc home repo: the agent starts in the workspace folder itself.
    assert steps[-1].command_text.endswith(f"(cwd {reuse.workspaces_root}/{WS1})")


def test_command_texts_of_the_wsm_provider(resolve: Any, make_policy: Any) -> None:
    policy = make_policy({"workspace": {"provider": "wsm"}})
    texts = {
        strategy: build_plan(
            resolve(
                tickets=["T-1"],
                repos=["metawsm", "web"],
                workspace_strategy=strategy,
                policy=policy,
            )
        )[1].command_text
        for strategy in ("create", "fork", "reuse")
    }
    assert texts == {
        "create": f"wsm create {WS1} --repos metawsm,web --branch task/{WS1} --base-branch main",
        "fork": f"wsm fork {WS1} --branch task/{WS1}",
        "reuse": f"wsm info {WS1}",
    }


def test_tmux_sessions_follow_the_policy_pattern_in_plan_and_agent_rows(
    resolve: Any, make_policy: Any
) -> None:
    policy = make_policy({"tmux": {"session_pattern": "mw-{workspace}-{agent}"}})
    spec = resolve(tickets=["T-1", "T-2"], repos=["metawsm"], policy=policy)
    agents = seed_agents(spec, NOW)
    starts = [s for s in build_plan(spec) if s.kind == "tmux_start"]
    assert [a.session_name for a in agents] == [
        f"mw-{WS1}-agent",
        f"mw-{WS1}-reviewer",
        f"mw-{WS2}-agent",
        f"mw-{WS2}-reviewer",
    ]
    for step, agent in zip(starts, agents, strict=True):
        assert (step.agent_name, step.workspace_name) == (agent.agent_name, agent.workspace_name)
        assert f"in tmux session {agent.session_name} " in step.command_text


def test_seeded_agents(resolve: Any) -> None:
    spec = resolve(tickets=["T-1", "T-2"], repos=["metawsm"])
    agents = seed_agents(spec, NOW)
    assert [(a.agent_name, a.workspace_name) for a in agents] == [
        ("agent", WS1),
        ("reviewer", WS1),
        ("agent", WS2),
        ("reviewer", WS2),
    ]
    stamp = "2026-02-07T08:47:28.000000Z"
    for agent in agents:
        assert agent.run_id == spec.run_id
        assert (agent.status, agent.health_state, agent.generation, agent.host) == (
            "pending",
            "idle",
            1,
            "local",
        )
        assert agent.last_activity_at == agent.last_progress_at == agent.updated_at == stamp
        assert agent.last_exit_status is None and agent.restart_count == 0
    remote = spec.model_copy(update={"host": "build-box"})
    assert {a.host for a in seed_agents(remote, NOW.replace(tzinfo=None))} == {"build-box"}


def test_agent_workdir_of_an_original_spec_is_relative(resolve: Any) -> None:
    spec = resolve(tickets=["T-1"], repos=["metawsm"]).model_copy(update={"workspaces_root": ""})
    assert agent_workdir(spec, WS1) == f"{WS1}/metawsm"


def _with_statuses(steps: list[StepRecord], statuses: list[str]) -> list[StepRecord]:
    return [dataclasses.replace(s, status=st) for s, st in zip(steps, statuses, strict=True)]


def test_first_pending_index(resolve: Any) -> None:
    steps = build_plan(resolve(tickets=["T-1"], repos=["metawsm"], agents=["agent"]))
    assert first_pending_index(steps) == 1
    assert (
        first_pending_index(_with_statuses(steps, ["done", "skipped", "pending", "pending"])) == 3
    )
    assert first_pending_index(_with_statuses(steps, ["done", "done", "failed", "pending"])) == 3
    assert first_pending_index(_with_statuses(steps, ["done", "running", "done", "pending"])) == 2
    assert first_pending_index(_with_statuses(steps, ["done", "skipped", "done", "done"])) is None
    shuffled = _with_statuses(steps, ["done", "done", "pending", "pending"])[::-1]
    assert first_pending_index(shuffled) == 3
    assert first_pending_index([]) is None
