"""Resolving a run request into a run spec: the original's rules, messages and names (§5.1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from runs_kit import NOW, RUN_ID

from metawsm.errors import UsageError
from metawsm.runs.spec import RunRequest, RunSpec

# Every §5.1 refusal, in the order the rules apply. Each case breaks its own rule and every
# later one, so the expected message also proves the earlier rules were checked first.
ORDERED_REFUSALS: list[tuple[str, dict[str, Any], str]] = [
    (
        "no ticket",
        {"tickets": [], "repos": [], "doc_seed_mode": "bogus", "workspace_strategy": "bogus"},
        "at least one --ticket is required",
    ),
    (
        "blank tickets only",
        {"tickets": [" ", ","], "repos": []},
        "at least one --ticket is required",
    ),
    (
        "no repos for create",
        {"tickets": ["T-1"], "repos": [], "doc_authority_mode": "bogus"},
        "at least one --repos entry is required for create/fork",
    ),
    (
        "no repos for fork",
        {"tickets": ["T-1"], "workspace_strategy": "fork"},
        "at least one --repos entry is required for create/fork",
    ),
    (
        "doc home conflicts with --doc-repo",
        {
            "tickets": ["T-1"],
            "repos": ["metawsm", "workspace-manager"],
            "doc_home_repo": "metawsm",
            "doc_repo": "workspace-manager",
            "doc_authority_mode": "bogus",
        },
        'doc home repo "metawsm" conflicts with --doc-repo value "workspace-manager"',
    ),
    (
        "legacy doc repo outside repos",
        {"tickets": ["T-1"], "repos": ["metawsm"], "doc_repo": "workspace-manager"},
        'doc home repo "workspace-manager" must be one of --repos (metawsm)',
    ),
    (
        "doc home repo outside repos",
        {
            "tickets": ["T-1"],
            "repos": ["metawsm", "web"],
            "doc_home_repo": "workspace-manager",
            "doc_authority_mode": "bogus",
        },
        'doc home repo "workspace-manager" must be one of --repos (metawsm,web)',
    ),
    (
        "authority mode",
        {
            "tickets": ["T-1"],
            "repos": ["metawsm"],
            "doc_authority_mode": "Bogus",
            "doc_seed_mode": "bogus",
        },
        'doc authority mode "bogus" is invalid',
    ),
    (
        "seed mode",
        {
            "tickets": ["T-1"],
            "repos": ["metawsm"],
            "doc_seed_mode": "bogus",
            "workspace_strategy": "bogus",
        },
        'doc seed mode "bogus" is invalid',
    ),
    (
        "strategy",
        {"tickets": ["T-1"], "repos": ["metawsm"], "workspace_strategy": "clone"},
        'workspace strategy "clone" is invalid: must be create|fork|reuse',
    ),
]


@pytest.mark.parametrize(
    ("fields", "message"),
    [(fields, message) for _, fields, message in ORDERED_REFUSALS],
    ids=[case for case, _, _ in ORDERED_REFUSALS],
)
def test_run_rules_refuse_in_the_original_order_with_its_messages(
    resolve: Any, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError) as info:
        resolve(**fields)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tickets": ["../x"], "repos": []}, 'invalid ticket name "../x"'),
        ({"tickets": ["T-1"], "repos": ["a b"]}, 'invalid repo name "a b"'),
        ({"tickets": ["T-1"], "repos": ["metawsm"], "agents": ["-x"]}, 'invalid agent name "-x"'),
        ({"tickets": ["T-1"], "repos": [], "run_id": "run/1"}, 'invalid run id name "run/1"'),
        (
            {"tickets": ["T-1"], "repos": ["metawsm"], "doc_home_repo": "../etc"},
            'invalid repo name "../etc"',
        ),
        ({"tickets": [], "repos": ["ok", "x/y"]}, 'invalid repo name "x/y"'),
    ],
    ids=["ticket", "repo", "agent", "run-id", "doc-home-repo", "before-missing-ticket"],
)
def test_names_are_refused_before_any_other_rule(
    resolve: Any, fields: dict[str, Any], message: str
) -> None:
    # Every case also breaks a later rule (no repos, bad seed mode) that must not be reported.
    with pytest.raises(UsageError) as info:
        resolve(doc_seed_mode="bogus", **fields)
    assert info.value.message.startswith(message)


def test_tickets_repos_and_agents_accept_csv_and_repeats(resolve: Any) -> None:
    spec = resolve(
        tickets=["T-1,T-2", " T-2 ", "", "T-3"],
        repos=["metawsm, web", "metawsm"],
        agents=["reviewer,agent", "reviewer"],
    )
    assert spec.tickets == ["T-1", "T-2", "T-3"]
    assert spec.repos == ["metawsm", "web"]
    assert [a.name for a in spec.agents] == ["reviewer", "agent"]


def test_defaults_come_from_the_policy(resolve: Any, make_policy: Any) -> None:
    policy = make_policy(
        {
            "workspace": {"default_strategy": "fork", "base_branch": "develop"},
            "docs": {"seed_mode": "none"},
        }
    )
    spec = resolve(tickets=["T-1"], repos=["web", "metawsm"], policy=policy)
    assert spec.doc_home_repo == spec.doc_repo == "web"  # the first repo
    assert spec.doc_authority_mode == "workspace_active"
    assert spec.doc_seed_mode == "none"
    assert spec.workspace_strategy == "fork"
    assert spec.base_branch == "develop"
    assert [a.name for a in spec.agents] == ["agent", "reviewer"]  # all, in policy order
    assert spec.mode == "run" and spec.dry_run is False


def test_flags_override_the_policy(resolve: Any) -> None:
    spec = resolve(
        tickets=["T-1"],
        repos=["metawsm", "web"],
        doc_home_repo="web",
        doc_seed_mode=" None ",
        doc_authority_mode="WORKSPACE_ACTIVE",
        workspace_strategy="Reuse",
        base_branch="release/1.2",
        mode="bootstrap",
        dry_run=True,
    )
    assert (spec.doc_home_repo, spec.doc_seed_mode, spec.doc_authority_mode) == (
        "web",
        "none",
        "workspace_active",
    )
    assert (spec.workspace_strategy, spec.base_branch) == ("reuse", "release/1.2")
    assert spec.mode == "bootstrap" and spec.dry_run is True


def test_legacy_doc_repo_sets_both_doc_fields(resolve: Any) -> None:
    spec = resolve(
        tickets=["T-1"], repos=["metawsm", "workspace-manager"], doc_repo="workspace-manager"
    )
    assert spec.doc_repo == spec.doc_home_repo == "workspace-manager"


def test_doc_home_repo_is_matched_case_insensitively_and_keeps_the_repos_spelling(
    resolve: Any,
) -> None:
    spec = resolve(tickets=["T-1"], repos=["metawsm", "web"], doc_home_repo="WEB", doc_repo="Web")
    assert spec.doc_home_repo == "web"


@pytest.mark.parametrize(
    ("flag", "policy_value", "expected"),
    [
        ("origin/main", "main", "main"),
        ("", "origin/develop", "develop"),
        (" origin/release/1.2 ", "main", "release/1.2"),
        ("", "main", "main"),
    ],
)
def test_base_branch_strips_a_leading_origin(
    resolve: Any, make_policy: Any, flag: str, policy_value: str, expected: str
) -> None:
    policy = make_policy({"workspace": {"base_branch": policy_value}})
    spec = resolve(tickets=["T-1"], repos=["metawsm"], base_branch=flag, policy=policy)
    assert spec.base_branch == expected


@pytest.mark.parametrize("bad", ["origin/", "-main", "a..b", "a b", "main.lock", "x:y"])
def test_a_bad_base_branch_is_refused(resolve: Any, bad: str) -> None:
    with pytest.raises(UsageError, match=r"^base branch .* is invalid$"):
        resolve(tickets=["T-1"], repos=["metawsm"], base_branch=bad)


def test_names_match_the_original_example(resolve: Any) -> None:
    spec = resolve(tickets=["METAWSM-003"], repos=["metawsm"], agents=["agent"])
    assert spec.run_id == RUN_ID
    workspace = spec.workspace_for("METAWSM-003")
    assert workspace == "metawsm-003-20260207-084728"
    assert spec.session_for("agent", workspace) == "agent-metawsm-003-20260207-084728"
    assert spec.branch_for(workspace) == "task/metawsm-003-20260207-084728"


def test_generated_run_id_retries_while_taken(resolve: Any) -> None:
    first = resolve(tickets=["T-1"], repos=["metawsm"], taken={RUN_ID})
    assert first.run_id == f"{RUN_ID}-2"
    second = resolve(tickets=["T-1"], repos=["metawsm"], taken={RUN_ID, f"{RUN_ID}-2"})
    assert second.run_id == f"{RUN_ID}-3"
    plain = resolve(tickets=["T-1"], repos=["metawsm"])
    names = {plain.workspaces["T-1"], first.workspaces["T-1"], second.workspaces["T-1"]}
    assert len(names) == 3  # the suffix survives the 14-character cut


def test_requested_run_id_is_used_and_refused_when_taken(resolve: Any) -> None:
    assert resolve(tickets=["T-1"], repos=["metawsm"], run_id=" my-run ").run_id == "my-run"
    with pytest.raises(UsageError, match=r'^run id "my-run" is already taken$'):
        resolve(tickets=["T-1"], repos=["metawsm"], run_id="my-run", taken={"my-run"})


def test_reuse_needs_no_repos_even_when_it_is_the_policy_default(
    resolve: Any, make_policy: Any
) -> None:
    assert resolve(tickets=["T-1"], workspace_strategy="reuse").doc_home_repo == ""
    policy = make_policy({"workspace": {"default_strategy": "reuse"}})
    assert resolve(tickets=["T-1"], policy=policy).workspace_strategy == "reuse"


def test_git_provider_requires_repos_listed_in_the_policy(
    resolve: Any, make_policy: Any, policy_path: str
) -> None:
    with pytest.raises(UsageError) as info:
        resolve(tickets=["T-1"], repos=["metawsm", "api"])
    assert info.value.message == (
        'repo "api" is not in the policy\'s workspace.repos '
        "(listed: metawsm, workspace-manager, web)"
    )
    assert info.value.hint is not None
    assert '"api": "<path of its clone>"' in info.value.hint and policy_path in info.value.hint
    wsm = make_policy({"workspace": {"provider": "wsm"}})
    assert resolve(tickets=["T-1"], repos=["api"], policy=wsm).repos == ["api"]


def test_tickets_that_collide_on_a_workspace_are_refused(resolve: Any) -> None:
    with pytest.raises(UsageError, match=r'^tickets "abc" and "ABC" would share workspace'):
        resolve(tickets=["abc", "ABC"], repos=["metawsm"])


def test_a_ticket_too_long_for_a_workspace_name_is_refused_as_a_ticket(resolve: Any) -> None:
    # The ticket check itself refuses it (one length rule), not the workspace name later.
    with pytest.raises(UsageError, match=r"^invalid ticket name .*at most 45 characters"):
        resolve(tickets=["T" * 60], repos=["metawsm"])
    spec = resolve(tickets=["T" * 45], repos=["metawsm"])
    assert len(spec.workspaces["T" * 45]) <= 64


def test_agents_sharing_a_session_are_refused(resolve: Any, make_policy: Any) -> None:
    policy = make_policy({"tmux": {"session_pattern": "ws-{workspace}"}})
    with pytest.raises(UsageError) as info:
        resolve(tickets=["T-1"], repos=["metawsm"], policy=policy)
    ws = "t-1-20260207-084728"
    assert info.value.message == (
        f'tmux session "ws-{ws}" would be shared by agent "agent" in workspace "{ws}" '
        f'and agent "reviewer" in workspace "{ws}"'
    )
    # Names that differ only by case render the same session too.
    cased = make_policy(
        {"agents": [{"name": "Coder", "profile": "sh"}, {"name": "coder", "profile": "sh"}]}
    )
    with pytest.raises(UsageError, match="would be shared"):
        resolve(tickets=["T-1"], repos=["metawsm"], policy=cased)
    # One agent over two workspaces with a pattern lacking {workspace}.
    agent_only = make_policy({"tmux": {"session_pattern": "{agent}"}})
    with pytest.raises(UsageError, match="would be shared"):
        resolve(tickets=["T-1", "T-2"], repos=["metawsm"], agents=["agent"], policy=agent_only)


def test_a_session_pattern_tmux_cannot_use_is_refused(resolve: Any, make_policy: Any) -> None:
    policy = make_policy({"tmux": {"session_pattern": "mw:{agent}-{workspace}"}})
    with pytest.raises(UsageError, match=r"^tmux session name .* is invalid"):
        resolve(tickets=["T-1"], repos=["metawsm"], policy=policy)


def test_spec_records_every_resolved_value(resolve: Any, root: Path, policy_path: str) -> None:
    spec = resolve(tickets=["T-1", "T-2"], repos=["metawsm"])
    assert spec.policy_path == policy_path
    assert spec.workspaces_root == str(root / ".metawsm" / "workspaces")
    assert spec.workspace_provider == "git"
    assert spec.created_at == "2026-02-07T08:47:28.000000Z"
    assert spec.workspaces == {
        "T-1": "t-1-20260207-084728",
        "T-2": "t-2-20260207-084728",
    }
    assert (spec.branch_prefix, spec.session_pattern, spec.host) == (
        "task",
        "{agent}-{workspace}",
        "local",
    )
    assert spec.doc_freshness_revision == ""


def test_a_naive_now_is_taken_as_utc(make_policy: Any, policy_path: str, home: Path) -> None:
    from metawsm.runs.spec import resolve_run

    request = RunRequest(tickets=["T-1"], repos=["metawsm"], policy_path=policy_path)
    spec = resolve_run(
        request, make_policy(), now=NOW.replace(tzinfo=None), taken_run_ids=(), home=home
    )
    assert spec.run_id == RUN_ID and spec.created_at.endswith("Z")


def test_request_refuses_unknown_fields() -> None:
    with pytest.raises(ValueError, match="extra"):
        RunRequest.model_validate({"tickets": ["T-1"], "ticket": "T-1"})


ORIGINAL_KEYS = [
    "run_id",
    "mode",
    "tickets",
    "repos",
    "doc_repo",
    "doc_home_repo",
    "doc_authority_mode",
    "doc_seed_mode",
    "doc_freshness_revision",
    "base_branch",
    "workspace_strategy",
    "agents",
    "policy_path",
    "dry_run",
    "created_at",
]


def test_spec_json_round_trips_and_keeps_the_original_keys(resolve: Any) -> None:
    spec = resolve(tickets=["T-1", "T-2"], repos=["metawsm", "web"])
    text = spec.to_json()
    data = json.loads(text)
    assert list(data)[: len(ORIGINAL_KEYS)] == ORIGINAL_KEYS
    assert list(data)[len(ORIGINAL_KEYS) :] == [
        "workspaces",
        "branch_prefix",
        "session_pattern",
        "host",
        "workspace_provider",
        "workspaces_root",
        "policy_read_at",
        "policy_modified_at",
    ]
    assert list(data["agents"][0]) == ["name", "profile", "runner", "skills", "argv", "command"]
    assert RunSpec.from_json(text) == spec
    updated = spec.model_copy(update={"doc_freshness_revision": "1770454048000000000"})
    assert RunSpec.from_json(updated.to_json()).doc_freshness_revision == "1770454048000000000"


def test_a_spec_written_by_the_original_is_read(resolve: Any) -> None:
    original = {
        "run_id": RUN_ID,
        "mode": "bootstrap",
        "tickets": ["METAWSM-003"],
        "repos": ["metawsm"],
        "doc_repo": "metawsm",
        "doc_home_repo": "metawsm",
        "doc_authority_mode": "workspace_active",
        "doc_seed_mode": "copy_from_repo_on_start",
        "base_branch": "main",
        "workspace_strategy": "create",
        "agents": [{"name": "agent", "profile": "codex-default", "runner": "codex",
                    "skills": ["docmgr"], "command": "codex exec --full-auto 'go'"}],
        "policy_path": "/repo/.metawsm/policy.json",
        "dry_run": False,
        "created_at": "2026-02-07T08:47:28.123456789-08:00",
    }  # fmt: skip
    spec = RunSpec.from_json(json.dumps(original))
    assert spec.workspaces == {"METAWSM-003": "metawsm-003-0260207-084728"}
    assert spec.agents[0].command == "codex exec --full-auto 'go'" and spec.agents[0].argv == []
    assert spec.session_for("agent", spec.workspaces["METAWSM-003"]) == (
        "agent-metawsm-003-0260207-084728"
    )


def test_branch_prefix_slashes_and_empty_prefix(resolve: Any, make_policy: Any) -> None:
    spec = resolve(tickets=["T-1"], repos=["metawsm"])
    assert spec.model_copy(update={"branch_prefix": "/feat/"}).branch_for("w") == "feat/w"
    assert spec.model_copy(update={"branch_prefix": ""}).branch_for("w") == "w"
