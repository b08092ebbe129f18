"""The policy: defaults, merging over them, loading, saving, paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from metawsm.errors import PolicyError, PolicyValidationError
from metawsm.policy import (
    Policy,
    default_policy,
    default_policy_json,
    load_policy,
    merge_over_defaults,
    metawsm_root_of,
    policy_from_data,
    policy_json,
    resolve_policy_path,
    resolve_under,
    save_default_policy,
    validate_policy_data,
)

# ------------------------------------------------------------------------------------ defaults

ORIGINAL_DEFAULTS: list[tuple[str, Any]] = [
    ("version", 2),
    ("workspace.default_strategy", "create"),
    ("workspace.branch_prefix", "task"),
    ("workspace.base_branch", "main"),
    ("docs.authority_mode", "workspace_active"),
    ("docs.seed_mode", "copy_from_repo_on_start"),
    ("docs.stale_warning_seconds", 900),
    ("docs.api.request_timeout_seconds", 3),
    ("tmux.session_pattern", "{agent}-{workspace}"),
    ("execution.step_retries", 1),
    ("health.idle_seconds", 300),
    ("health.activity_stalled_seconds", 900),
    ("health.progress_stalled_seconds", 1200),
    ("close.require_clean_git", True),
    ("operator.unhealthy_confirmations", 2),
    ("operator.restart_budget", 3),
    ("operator.restart_cooldown_seconds", 60),
    ("operator.stale_run_age_seconds", 3600),
    ("operator.llm.mode", "assist"),
    ("operator.llm.command", "codex"),
    ("operator.llm.model", ""),
    ("operator.llm.timeout_seconds", 30),
    ("operator.llm.max_tokens", 400),
    ("forum.enabled", True),
    ("forum.topics.command_prefix", "forum.commands"),
    ("forum.topics.event_prefix", "forum.events"),
    ("forum.topics.integration_prefix", "forum.integration"),
    ("forum.redis.url", "redis://127.0.0.1:6379/0"),
    ("forum.redis.stream", "metawsm-forum"),
    ("forum.redis.group", "metawsm-forum"),
    ("forum.redis.consumer", "operator"),
    ("forum.sla.escalation_minutes", 30),
    ("forum.docs_sync.enabled", True),
    ("git_pr.mode", "assist"),
    ("git_pr.credential_mode", "local_user_auth"),
    ("git_pr.branch_template", "{ticket}/{repo}/{run}"),
    ("git_pr.require_all", True),
    ("git_pr.required_checks", ["tests", "forbidden_files", "clean_tree"]),
    ("git_pr.test_commands", []),
    (
        "git_pr.forbidden_file_patterns",
        [".env", ".env.*", "*.pem", "*.key", "*.p12", "*.pfx", "id_rsa", "id_ed25519"],
    ),
    ("git_pr.allowed_repos", []),
    ("git_pr.default_labels", []),
    ("git_pr.default_reviewers", []),
    ("git_pr.review_feedback.enabled", False),
    ("git_pr.review_feedback.mode", "assist"),
    ("git_pr.review_feedback.include_review_comments", True),
    ("git_pr.review_feedback.ignore_authors", []),
    ("git_pr.review_feedback.max_items_per_sync", 50),
    ("git_pr.review_feedback.auto_dispatch_cap_per_interval", 1),
    (
        "agent_profiles",
        [
            {
                "name": "default-shell",
                "runner": "shell",
                "base_prompt": "",
                "skills": [],
                "runner_options": {"full_auto": False, "command": "bash", "script": ""},
            }
        ],
    ),
    ("agents", [{"name": "agent", "profile": "default-shell"}]),
    # Go wrote nil slices as null; we write empty lists.
    ("docs.api.workspace_endpoints", []),
    ("docs.api.repo_endpoints", []),
]

ADDED_DEFAULTS: list[tuple[str, Any]] = [
    ("workspace.provider", "git"),
    ("workspace.root", ".metawsm/workspaces"),
    ("workspace.repos", {}),
    ("docs.provider", "native"),
    ("docs.root", "ttmp"),
    ("tmux.socket", ""),
    ("supervisor.tick_seconds", 1.0),
    ("supervisor.shutdown_seconds", 10.0),
    ("hosts", {}),
    ("placement.default_host", "local"),
]


def dotted(data: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        data = data[part]
    return data


@pytest.mark.parametrize(("key", "value"), ORIGINAL_DEFAULTS + ADDED_DEFAULTS)
def test_default_policy_has_the_originals_default(key: str, value: Any) -> None:
    assert dotted(default_policy().model_dump(mode="json"), key) == value


def test_default_policy_json_keeps_the_originals_key_order_then_the_added_keys() -> None:
    data = json.loads(default_policy_json())
    assert list(data) == [
        "version",
        "workspace",
        "docs",
        "tmux",
        "execution",
        "health",
        "close",
        "operator",
        "forum",
        "git_pr",
        "agent_profiles",
        "agents",
        "supervisor",
        "hosts",
        "placement",
    ]


def test_default_policy_json_is_two_space_indented_with_a_trailing_newline() -> None:
    text = default_policy_json()
    assert text.startswith('{\n  "version": 2,\n')
    assert text.endswith("}\n")


def test_default_policy_is_valid() -> None:
    assert validate_policy_data(default_policy().model_dump(mode="json")) == []
    assert validate_policy_data({}) == []


# ----------------------------------------------------------------------------------- merging


def test_absent_keys_keep_their_defaults_and_nested_objects_merge() -> None:
    policy = policy_from_data(
        {"health": {"idle_seconds": 120}, "operator": {"llm": {"model": "m"}}}
    )
    assert policy.health.idle_seconds == 120
    assert policy.health.activity_stalled_seconds == 900
    assert policy.operator.llm.model == "m"
    assert policy.operator.llm.command == "codex"
    assert policy.operator.restart_budget == 3


def test_present_arrays_replace_the_default_arrays_wholesale() -> None:
    policy = policy_from_data(
        {"git_pr": {"required_checks": ["tests"], "forbidden_file_patterns": ["*.secret"]}}
    )
    assert policy.git_pr.required_checks == ["tests"]
    assert policy.git_pr.forbidden_file_patterns == ["*.secret"]


def test_array_items_do_not_merge_with_default_items() -> None:
    policy = policy_from_data(
        {
            "agent_profiles": [
                {"name": "p", "runner": "shell", "runner_options": {"command": "zsh"}}
            ],
            "agents": [{"name": "a", "profile": "p"}],
        }
    )
    assert [p.name for p in policy.agent_profiles] == ["p"]
    assert policy.agent_profiles[0].runner_options.full_auto is False


def test_merge_does_not_modify_its_input() -> None:
    data = {"health": {"idle_seconds": 120}}
    merged = merge_over_defaults(data)
    merged["health"]["idle_seconds"] = 1
    assert data == {"health": {"idle_seconds": 120}}


# ----------------------------------------------------------------------------------- loading


def test_a_missing_file_means_the_defaults(tmp_path: Path) -> None:
    assert load_policy(tmp_path / "absent.json") == default_policy()


def test_no_path_means_dot_metawsm_policy_json_under_the_root(tmp_path: Path) -> None:
    (tmp_path / ".metawsm").mkdir()
    (tmp_path / ".metawsm" / "policy.json").write_text('{"execution": {"step_retries": 4}}')
    assert load_policy(None, root=tmp_path).execution.step_retries == 4
    assert resolve_policy_path(None, root=tmp_path) == tmp_path / ".metawsm" / "policy.json"
    assert resolve_policy_path("  ", root=tmp_path) == tmp_path / ".metawsm" / "policy.json"


def test_no_path_and_no_root_means_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_policy_path() == tmp_path / ".metawsm" / "policy.json"


def test_a_present_file_is_merged_over_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"version": 3, "tmux": {"socket": "t1"}}')
    policy = load_policy(path)
    assert policy.version == 3
    assert policy.tmux.socket == "t1"
    assert policy.tmux.session_pattern == "{agent}-{workspace}"


def test_bad_json_is_a_parse_error_naming_the_path_and_position(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{\n  "version": 2,\n}\n')
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert not isinstance(caught.value, PolicyValidationError)
    assert caught.value.message.startswith(f"parse policy {path}: ")
    assert "line 3 column 1" in caught.value.message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"version": NaN}', "NaN"),
        ('{"version": 2, "version": 3}', 'duplicate key "version"'),
        ("", "Expecting value"),
    ],
)
def test_what_json_does_not_allow_is_a_parse_error(
    tmp_path: Path, text: str, fragment: str
) -> None:
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(PolicyError, match=f"^parse policy {path}: .*{fragment}"):
        load_policy(path)


def test_a_file_that_is_not_utf8_is_a_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(b'{"version": "\xff"}')
    with pytest.raises(PolicyError, match=r"^parse policy "):
        load_policy(path)


def test_an_unreadable_path_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=f"^read policy {tmp_path}: "):
        load_policy(tmp_path)  # a directory


def test_rule_errors_are_a_validation_error_naming_the_absolute_path(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"version": 0}')
    with pytest.raises(PolicyValidationError) as caught:
        load_policy(path)
    assert caught.value.path == str(path)
    assert caught.value.errors == [("version", "version must be positive")]


# ------------------------------------------------------------------------------------ saving


def test_save_default_policy_writes_the_defaults_and_makes_parents(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "policy.json"
    assert save_default_policy(path) == path
    assert path.read_text() == default_policy_json()
    assert load_policy(path) == default_policy()


def test_save_default_policy_keeps_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{"version": 7}')
    with pytest.raises(PolicyError, match="already exists") as caught:
        save_default_policy(path)
    assert caught.value.hint is not None and "--force" in caught.value.hint
    assert path.read_text() == '{"version": 7}'


def test_save_default_policy_overwrites_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{"version": 7}')
    save_default_policy(path, overwrite=True)
    assert path.read_text() == default_policy_json()
    assert [p.name for p in tmp_path.iterdir()] == ["policy.json"]  # no temp file left


def test_policy_json_round_trips(tmp_path: Path) -> None:
    policy = policy_from_data({"workspace": {"repos": {"api": "repos/api"}}, "hosts": {}})
    assert policy_from_data(json.loads(policy_json(policy))) == policy
    assert Policy.model_validate_json(policy_json(policy)) == policy


# ------------------------------------------------------------------------------------- paths


def test_relative_policy_paths_resolve_against_the_metawsm_root(tmp_path: Path) -> None:
    root = metawsm_root_of(tmp_path / ".metawsm" / "policy.json")
    assert root == tmp_path
    assert resolve_under(root, ".metawsm/workspaces") == tmp_path / ".metawsm" / "workspaces"
    assert resolve_under(root, "/srv/repos/api") == Path("/srv/repos/api")
