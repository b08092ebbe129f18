"""The policy's rules: the original's messages, every error at once, the added keys, names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from metawsm.errors import PolicyValidationError, UsageError
from metawsm.policy import (
    NAME_PATTERN,
    default_policy,
    policy_from_data,
    validate_name,
    validate_policy_data,
)

# ------------------------------------------------------------------- the original's messages

CODEX = {"name": "c", "runner": "codex", "base_prompt": "work"}

RULES: list[tuple[str, dict[str, Any], str, str]] = [
    ("version", {"version": 0}, "version", "version must be positive"),
    (
        "strategy",
        {"workspace": {"default_strategy": "clone"}},
        "workspace.default_strategy",
        "workspace.default_strategy must be create|fork|reuse",
    ),
    (
        "session pattern",
        {"tmux": {"session_pattern": "  "}},
        "tmux.session_pattern",
        "tmux.session_pattern cannot be empty",
    ),
    (
        "authority empty",
        {"docs": {"authority_mode": " "}},
        "docs.authority_mode",
        "docs.authority_mode cannot be empty",
    ),
    (
        "authority value",
        {"docs": {"authority_mode": "repo"}},
        "docs.authority_mode",
        'docs.authority_mode must be "workspace_active"',
    ),
    ("seed empty", {"docs": {"seed_mode": ""}}, "docs.seed_mode", "docs.seed_mode cannot be empty"),
    (
        "seed value",
        {"docs": {"seed_mode": "copy"}},
        "docs.seed_mode",
        "docs.seed_mode must be none|copy_from_repo_on_start",
    ),
    (
        "stale",
        {"docs": {"stale_warning_seconds": 0}},
        "docs.stale_warning_seconds",
        "docs.stale_warning_seconds must be > 0",
    ),
    (
        "api timeout",
        {"docs": {"api": {"request_timeout_seconds": -1}}},
        "docs.api.request_timeout_seconds",
        "docs.api.request_timeout_seconds must be > 0",
    ),
    (
        "base branch",
        {"workspace": {"base_branch": ""}},
        "workspace.base_branch",
        "workspace.base_branch cannot be empty",
    ),
    (
        "idle",
        {"health": {"idle_seconds": 0}},
        "health.idle_seconds",
        "health thresholds must be > 0",
    ),
    (
        "progress",
        {"health": {"progress_stalled_seconds": -5}},
        "health.progress_stalled_seconds",
        "health thresholds must be > 0",
    ),
    (
        "activity below idle",
        {"health": {"idle_seconds": 600, "activity_stalled_seconds": 599}},
        "health.activity_stalled_seconds",
        "activity_stalled_seconds must be >= idle_seconds",
    ),
    (
        "confirmations",
        {"operator": {"unhealthy_confirmations": 0}},
        "operator.unhealthy_confirmations",
        "operator.unhealthy_confirmations must be > 0",
    ),
    (
        "budget",
        {"operator": {"restart_budget": 0}},
        "operator.restart_budget",
        "operator.restart_budget must be > 0",
    ),
    (
        "cooldown",
        {"operator": {"restart_cooldown_seconds": 0}},
        "operator.restart_cooldown_seconds",
        "operator.restart_cooldown_seconds must be > 0",
    ),
    (
        "stale run",
        {"operator": {"stale_run_age_seconds": 0}},
        "operator.stale_run_age_seconds",
        "operator.stale_run_age_seconds must be > 0",
    ),
    (
        "llm mode",
        {"operator": {"llm": {"mode": "manual"}}},
        "operator.llm.mode",
        "operator.llm.mode must be off|assist|auto",
    ),
    (
        "llm command",
        {"operator": {"llm": {"command": ""}}},
        "operator.llm.command",
        "operator.llm.command cannot be empty",
    ),
    (
        "llm timeout",
        {"operator": {"llm": {"timeout_seconds": 0}}},
        "operator.llm.timeout_seconds",
        "operator.llm.timeout_seconds must be > 0",
    ),
    (
        "llm tokens",
        {"operator": {"llm": {"max_tokens": 0}}},
        "operator.llm.max_tokens",
        "operator.llm.max_tokens must be > 0",
    ),
    *[
        (
            f"forum {section}.{key}",
            {"forum": {section: {key: " "}}},
            f"forum.{section}.{key}",
            f"forum.{section}.{key} cannot be empty",
        )
        for section, key in [
            ("topics", "command_prefix"),
            ("topics", "event_prefix"),
            ("topics", "integration_prefix"),
            ("redis", "url"),
            ("redis", "stream"),
            ("redis", "group"),
            ("redis", "consumer"),
        ]
    ],
    (
        "forum sla",
        {"forum": {"sla": {"escalation_minutes": 0}}},
        "forum.sla.escalation_minutes",
        "forum.sla.escalation_minutes must be > 0",
    ),
    (
        "git_pr mode",
        {"git_pr": {"mode": "x"}},
        "git_pr.mode",
        "git_pr.mode must be off|assist|auto",
    ),
    (
        "credential mode",
        {"git_pr": {"credential_mode": "token"}},
        "git_pr.credential_mode",
        "git_pr.credential_mode must be local_user_auth",
    ),
    (
        "branch template",
        {"git_pr": {"branch_template": ""}},
        "git_pr.branch_template",
        "git_pr.branch_template cannot be empty",
    ),
    (
        "empty check",
        {"git_pr": {"required_checks": ["tests", " "]}},
        "git_pr.required_checks[1]",
        "git_pr.required_checks cannot contain empty values",
    ),
    (
        "unsupported check",
        {"git_pr": {"required_checks": ["Lint"]}},
        "git_pr.required_checks[0]",
        'git_pr.required_checks contains unsupported check "lint"',
    ),
    *[
        (
            f"empty {key}",
            {"git_pr": {key: ["x", ""]}},
            f"git_pr.{key}[1]",
            f"git_pr.{key} cannot contain empty values",
        )
        for key in [
            "test_commands",
            "forbidden_file_patterns",
            "allowed_repos",
            "default_labels",
            "default_reviewers",
        ]
    ],
    (
        "review mode",
        {"git_pr": {"review_feedback": {"mode": "off"}}},
        "git_pr.review_feedback.mode",
        "git_pr.review_feedback.mode must be assist|auto",
    ),
    (
        "review comments",
        {"git_pr": {"review_feedback": {"include_review_comments": False}}},
        "git_pr.review_feedback.include_review_comments",
        "git_pr.review_feedback.include_review_comments must be true for V1",
    ),
    (
        "ignore authors",
        {"git_pr": {"review_feedback": {"ignore_authors": [""]}}},
        "git_pr.review_feedback.ignore_authors[0]",
        "git_pr.review_feedback.ignore_authors cannot contain empty values",
    ),
    (
        "max items",
        {"git_pr": {"review_feedback": {"max_items_per_sync": 0}}},
        "git_pr.review_feedback.max_items_per_sync",
        "git_pr.review_feedback.max_items_per_sync must be > 0",
    ),
    (
        "dispatch cap",
        {"git_pr": {"review_feedback": {"auto_dispatch_cap_per_interval": 0}}},
        "git_pr.review_feedback.auto_dispatch_cap_per_interval",
        "git_pr.review_feedback.auto_dispatch_cap_per_interval must be > 0",
    ),
    (
        "step retries",
        {"execution": {"step_retries": -1}},
        "execution.step_retries",
        "execution.step_retries must be >= 0",
    ),
    (
        "no profiles",
        {"agent_profiles": [], "agents": []},
        "agent_profiles",
        "agent_profiles must contain at least one entry",
    ),
    (
        "profile name",
        {
            "agent_profiles": [{"name": " ", "runner": "shell"}, CODEX],
            "agents": [{"name": "a", "profile": "c"}],
        },
        "agent_profiles[0].name",
        "agent_profiles.name cannot be empty",
    ),
    (
        "duplicate profile",
        {"agent_profiles": [CODEX, CODEX], "agents": [{"name": "a", "profile": "c"}]},
        "agent_profiles[1].name",
        'duplicate agent profile "c"',
    ),
    (
        "codex prompt",
        {
            "agent_profiles": [{"name": "c", "runner": "Codex", "base_prompt": " "}],
            "agents": [{"name": "a", "profile": "c"}],
        },
        "agent_profiles[0].base_prompt",
        'agent profile "c" requires non-empty base_prompt for codex runner',
    ),
    (
        "shell command",
        {"agent_profiles": [{"name": "default-shell", "runner": "shell"}]},
        "agent_profiles[0].runner_options.command",
        'agent profile "default-shell" requires runner_options.command for shell runner',
    ),
    (
        "unsupported runner",
        {"agent_profiles": [{"name": "default-shell", "runner": "Aider"}]},
        "agent_profiles[0].runner",
        'agent profile "default-shell" has unsupported runner "Aider"',
    ),
    (
        "empty skill",
        {"agent_profiles": [{**CODEX, "skills": ["docmgr", " "]}], "agents": []},
        "agent_profiles[0].skills[1]",
        'agent profile "c" has empty skill name',
    ),
    ("no agents", {"agents": []}, "agents", "agents must contain at least one entry"),
    (
        "agent name",
        {"agents": [{"name": "", "profile": "default-shell"}]},
        "agents[0].name",
        "agent.name cannot be empty",
    ),
    (
        "agent profile",
        {"agents": [{"name": "a", "profile": " "}]},
        "agents[0].profile",
        "agent.profile cannot be empty",
    ),
    (
        "unknown profile",
        {"agents": [{"name": "a", "profile": "codex-default"}]},
        "agents[0].profile",
        'agent "a" references unknown profile "codex-default"',
    ),
]


@pytest.mark.parametrize(
    ("data", "key", "message"), [r[1:] for r in RULES], ids=[r[0] for r in RULES]
)
def test_each_rule_of_the_original_reports_its_message(
    data: dict[str, Any], key: str, message: str
) -> None:
    errors = validate_policy_data(data)
    if data.get("agents") == [] and "agents" not in key:
        errors = [e for e in errors if e[0] != "agents"]  # emptied only to isolate the rule
    assert errors == [(key, message)]


ENDPOINT = {"name": "ws", "base_url": "http://127.0.0.1:8787", "repo": "r", "workspace": "w"}

ENDPOINT_RULES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "name",
        {**ENDPOINT, "name": " "},
        "docs.api.workspace_endpoints[0].name",
        "docs.api.workspace_endpoints.name cannot be empty",
    ),
    (
        "base_url empty",
        {**ENDPOINT, "base_url": ""},
        "docs.api.workspace_endpoints[0].base_url",
        'docs.api endpoint "ws" base_url cannot be empty',
    ),
    (
        "base_url scheme",
        {**ENDPOINT, "base_url": "ftp://host"},
        "docs.api.workspace_endpoints[0].base_url",
        'docs.api endpoint "ws" has invalid base_url "ftp://host"',
    ),
    (
        "base_url host",
        {**ENDPOINT, "base_url": "http://"},
        "docs.api.workspace_endpoints[0].base_url",
        'docs.api endpoint "ws" has invalid base_url "http://"',
    ),
    (
        "web_url",
        {**ENDPOINT, "web_url": "localhost:8787"},
        "docs.api.workspace_endpoints[0].web_url",
        'docs.api endpoint "ws" has invalid web_url "localhost:8787"',
    ),
    (
        "repo",
        {**ENDPOINT, "repo": ""},
        "docs.api.workspace_endpoints[0].repo",
        'docs.api endpoint "ws" repo cannot be empty',
    ),
    (
        "workspace",
        {**ENDPOINT, "workspace": ""},
        "docs.api.workspace_endpoints[0].workspace",
        'docs.api workspace endpoint "ws" requires workspace',
    ),
]


@pytest.mark.parametrize(
    ("endpoint", "key", "message"),
    [r[1:] for r in ENDPOINT_RULES],
    ids=[r[0] for r in ENDPOINT_RULES],
)
def test_each_endpoint_rule_reports_its_message(
    endpoint: dict[str, Any], key: str, message: str
) -> None:
    data = {"docs": {"api": {"workspace_endpoints": [endpoint]}}}
    assert validate_policy_data(data) == [(key, message)]


def test_endpoint_names_are_unique_across_both_lists_and_repo_endpoints_need_no_workspace() -> None:
    data = {
        "docs": {
            "api": {
                "workspace_endpoints": [ENDPOINT],
                "repo_endpoints": [
                    {"name": "ws", "base_url": "https://docs.example", "repo": "r"},
                    {"name": "repo", "base_url": "https://docs.example", "repo": "r"},
                ],
            }
        }
    }
    assert validate_policy_data(data) == [
        ("docs.api.repo_endpoints[0].name", 'duplicate docs API endpoint name "ws"')
    ]


# ----------------------------------------------------------------------- collecting every error


def test_every_error_is_reported_at_once_in_the_originals_order() -> None:
    data = {
        "agents": [{"name": "a", "profile": "missing"}],
        "execution": {"step_retries": -1},
        "git_pr": {"mode": "x"},
        "health": {"idle_seconds": 0},
        "workspace": {"base_branch": "", "default_strategy": "x"},
        "docs": {"stale_warning_seconds": 0},
        "tmux": {"session_pattern": ""},
        "version": 0,
    }
    assert [key for key, _ in validate_policy_data(data)] == [
        "version",
        "workspace.default_strategy",
        "tmux.session_pattern",
        "docs.stale_warning_seconds",
        "workspace.base_branch",
        "health.idle_seconds",
        "git_pr.mode",
        "execution.step_retries",
        "agents[0].profile",
    ]


def test_unknown_keys_are_reported_with_their_path() -> None:
    data = {
        "versoin": 2,
        "health": {"idle": 5},
        "agents": [{"name": "a", "profile": "default-shell", "x": 1}],
    }
    assert validate_policy_data(data) == [
        ("health.idle", "unknown key"),
        ("agents[0].x", "unknown key"),
        ("versoin", "unknown key"),
    ]


@pytest.mark.parametrize(
    ("data", "key", "message"),
    [
        ({"version": "2"}, "version", "must be an integer"),
        ({"version": 2.5}, "version", "must be an integer"),
        ({"version": True}, "version", "must be an integer"),
        (
            {"close": {"require_clean_git": "yes"}},
            "close.require_clean_git",
            "must be true or false",
        ),
        ({"tmux": {"session_pattern": 5}}, "tmux.session_pattern", "must be a string"),
        ({"git_pr": {"test_commands": "make test"}}, "git_pr.test_commands", "must be a list"),
        ({"health": []}, "health", "must be an object"),
        ({"agents": [5]}, "agents[0]", "must be an object"),
        ({"operator": {"llm": {"mode": 1}}}, "operator.llm.mode", "must be a string"),
        ({"supervisor": {"tick_seconds": "1"}}, "supervisor.tick_seconds", "must be a number"),
    ],
)
def test_a_value_of_the_wrong_type_is_an_error_with_its_key(
    data: dict[str, Any], key: str, message: str
) -> None:
    assert validate_policy_data(data) == [(key, message)]


def test_a_type_error_does_not_hide_the_other_rules() -> None:
    data = {"version": "two", "operator": {"restart_budget": 0}, "agents": []}
    assert validate_policy_data(data) == [
        ("version", "must be an integer"),
        ("operator.restart_budget", "operator.restart_budget must be > 0"),
        ("agents", "agents must contain at least one entry"),
    ]


def test_a_broken_value_does_not_cause_follow_up_errors() -> None:
    # idle_seconds cannot be read: comparing activity against its default would be noise.
    assert validate_policy_data(
        {"health": {"idle_seconds": "x", "activity_stalled_seconds": 100}}
    ) == [("health.idle_seconds", "must be an integer")]
    # A profile list that cannot be read: agents naming its profiles are not reported.
    assert validate_policy_data(
        {"agent_profiles": {"name": "c"}, "agents": [{"name": "a", "profile": "c"}]}
    ) == [("agent_profiles", "must be a list")]


def test_a_policy_that_is_not_an_object_is_one_error() -> None:
    assert validate_policy_data([1, 2]) == [("", "the policy must be a JSON object")]


def test_policy_validation_error_carries_every_error() -> None:
    with pytest.raises(PolicyValidationError) as caught:
        policy_from_data({"version": 0, "agents": []}, source="p.json")
    assert caught.value.path == "p.json"
    assert caught.value.errors == [
        ("version", "version must be positive"),
        ("agents", "agents must contain at least one entry"),
    ]
    assert caught.value.message.startswith("validate policy p.json: version: version must be")


# ------------------------------------------------------------------------ values and leniency


def test_case_insensitive_choices_are_accepted_and_stored_lower_case() -> None:
    policy = policy_from_data(
        {
            "operator": {"llm": {"mode": " AUTO "}},
            "git_pr": {
                "mode": "Off",
                "credential_mode": "LOCAL_USER_AUTH",
                "required_checks": ["Tests", "CLEAN_TREE"],
                "review_feedback": {"mode": "Auto"},
            },
        }
    )
    assert policy.operator.llm.mode == "auto"
    assert policy.git_pr.mode == "off"
    assert policy.git_pr.credential_mode == "local_user_auth"
    assert policy.git_pr.review_feedback.mode == "auto"
    assert policy.git_pr.required_checks == ["tests", "clean_tree"]


def test_the_strategy_is_compared_exactly_as_the_original_did() -> None:
    assert validate_policy_data({"workspace": {"default_strategy": "Create"}}) == [
        ("workspace.default_strategy", "workspace.default_strategy must be create|fork|reuse")
    ]


def test_null_arrays_read_as_empty_as_the_original_wrote_them() -> None:
    policy = policy_from_data(
        {
            "docs": {"api": {"workspace_endpoints": None, "repo_endpoints": None}},
            "agent_profiles": [
                {
                    "name": "p",
                    "runner": "shell",
                    "skills": None,
                    "runner_options": {"command": "bash"},
                }
            ],
            "agents": [{"name": "a", "profile": "p"}],
        }
    )
    assert policy.docs.api.workspace_endpoints == []
    assert policy.agent_profiles[0].skills == []


def test_null_for_an_object_keeps_its_defaults() -> None:
    assert policy_from_data({"health": None}).health == default_policy().health


def test_the_original_runners_and_the_added_ones_are_accepted() -> None:
    profiles: list[dict[str, Any]] = [
        {"name": "sh", "runner": "shell", "runner_options": {"command": "bash"}},
        {
            "name": "cx",
            "runner": "codex",
            "base_prompt": "p",
            "runner_options": {"full_auto": True},
        },
        {"name": "cl", "runner": "claude", "base_prompt": "p"},
        {"name": "sc", "runner": "scripted", "runner_options": {"script": "s.json"}},
    ]
    agents = [{"name": f"agent-{p['name']}", "profile": p["name"]} for p in profiles]
    policy = policy_from_data({"agent_profiles": profiles, "agents": agents})
    assert [p.runner_kind for p in policy.agent_profiles] == [
        "shell",
        "codex",
        "claude",
        "scripted",
    ]


@pytest.mark.parametrize(
    ("profile", "key", "message"),
    [
        (
            {"name": "cl", "runner": "claude"},
            "agent_profiles[0].base_prompt",
            'agent profile "cl" requires non-empty base_prompt for claude runner',
        ),
        (
            {"name": "sc", "runner": "scripted"},
            "agent_profiles[0].runner_options.script",
            'agent profile "sc" requires runner_options.script for scripted runner',
        ),
    ],
)
def test_added_runners_require_their_options(
    profile: dict[str, Any], key: str, message: str
) -> None:
    data = {"agent_profiles": [profile], "agents": [{"name": "a", "profile": profile["name"]}]}
    assert validate_policy_data(data) == [(key, message)]


@pytest.mark.parametrize(
    ("data", "key", "message"),
    [
        (
            {"workspace": {"provider": "svn"}},
            "workspace.provider",
            "workspace.provider must be git|wsm",
        ),
        ({"workspace": {"root": ""}}, "workspace.root", "workspace.root cannot be empty"),
        (
            {"workspace": {"repos": {"api": " "}}},
            "workspace.repos.api",
            'workspace.repos "api" path cannot be empty',
        ),
        ({"docs": {"provider": "x"}}, "docs.provider", "docs.provider must be native|docmgr"),
        ({"docs": {"root": " "}}, "docs.root", "docs.root cannot be empty"),
        (
            {"supervisor": {"tick_seconds": 0}},
            "supervisor.tick_seconds",
            "supervisor.tick_seconds must be > 0",
        ),
        (
            {"supervisor": {"shutdown_seconds": -1.5}},
            "supervisor.shutdown_seconds",
            "supervisor.shutdown_seconds must be > 0",
        ),
        ({"hosts": {"gpu1": {}}}, "hosts.gpu1.address", 'host "gpu1" requires address'),
        (
            {"hosts": {"gpu1": {"address": "10.0.0.5", "port": 70000}}},
            "hosts.gpu1.port",
            'host "gpu1" port must be between 1 and 65535',
        ),
        (
            {"agents": [{"name": "a", "profile": "default-shell"}] * 2},
            "agents[1].name",
            'duplicate agent "a"',
        ),
        (
            {"hosts": {"local": {"address": "10.0.0.5"}}},
            "hosts.local.address",
            'host "local" is this machine: it takes no address',
        ),
        (
            {"hosts": {"auto": {"address": "10.0.0.5"}}},
            "hosts.auto",
            'host name "auto" is reserved (--host auto places a run)',
        ),
        (
            {"hosts": {"gpu1": {"address": "h", "repos": {"api": "src/api"}}}},
            "hosts.gpu1.repos.api",
            'host "gpu1" repos "api" must be an absolute path on that host',
        ),
        (
            {"hosts": {"gpu1": {"address": "h", "workspaces_root": "ws"}}},
            "hosts.gpu1.workspaces_root",
            'host "gpu1" workspaces_root must be an absolute path',
        ),
        (
            {"hosts": {"gpu1": {"address": "h", "tmux_socket": "a b"}}},
            "hosts.gpu1.tmux_socket",
            "invalid tmux socket name \"a b\": use letters, digits, '.', '_' or '-' "
            "(at most 64 characters, not starting with '.' or '-')",
        ),
        (
            {"hosts": {"gpu1": {"address": "h", "max_agents": -1}}},
            "hosts.gpu1.max_agents",
            "hosts max_agents must be >= 0",
        ),
        (
            {"placement": {"default_host": "gpu9"}},
            "placement.default_host",
            'placement.default_host "gpu9" is not local, auto or a hosts key',
        ),
    ],
)
def test_rules_of_the_added_keys(data: dict[str, Any], key: str, message: str) -> None:
    assert validate_policy_data(data) == [(key, message)]


def test_hosts_keys_and_placement_accept_good_values() -> None:
    policy = policy_from_data(
        {
            "hosts": {
                "local": {"max_agents": 4},
                "gpu1": {
                    "address": "10.0.0.5",
                    "repos": {"api": "/srv/api"},
                    "tmux_socket": "/run/mw.sock",
                    "max_agents": 50,
                    "workspaces_root": "/srv/ws",
                },
            },
            "placement": {"default_host": "gpu1"},
        }
    )
    assert policy.hosts["gpu1"].repos == {"api": "/srv/api"}
    assert policy.hosts["local"].max_agents == 4
    assert policy.placement.default_host == "gpu1"
    assert policy_from_data({}).placement.default_host == "local"


def test_tmux_socket_selects_the_server() -> None:
    assert policy_from_data({}).tmux.server_args() == []
    assert policy_from_data({"tmux": {"socket": "demo"}}).tmux.server_args() == ["-L", "demo"]
    assert policy_from_data({"tmux": {"socket": "/run/t.sock"}}).tmux.server_args() == [
        "-S",
        "/run/t.sock",
    ]


# ------------------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["a", "agent-1", "Repo_2.x", "9", "x" * 64])
def test_valid_names(name: str) -> None:
    assert validate_name("agent", name) == name


@pytest.mark.parametrize("name", ["", ".hidden", "-flag", "_x", "a b", "a/b", "x" * 65, "a\n", "é"])
def test_invalid_names_raise_a_usage_error_naming_the_kind(name: str) -> None:
    with pytest.raises(UsageError) as caught:
        validate_name("agent", name)
    assert caught.value.message.startswith(
        f"invalid agent name {json.dumps(name, ensure_ascii=False)}: use letters"
    )
    assert NAME_PATTERN.fullmatch(name) is None


@pytest.mark.parametrize(
    ("data", "key", "kind"),
    [
        ({"agents": [{"name": "my agent", "profile": "default-shell"}]}, "agents[0].name", "agent"),
        (
            {
                "agent_profiles": [
                    {"name": "p/1", "runner": "shell", "runner_options": {"command": "x"}}
                ],
                "agents": [{"name": "a", "profile": "p/1"}],
            },
            "agent_profiles[0].name",
            "agent profile",
        ),
        ({"workspace": {"repos": {"../api": "api"}}}, 'workspace.repos["../api"]', "repo"),
        ({"hosts": {"-h": {"address": "h"}}}, 'hosts["-h"]', "host"),
        ({"tmux": {"socket": "a b"}}, "tmux.socket", "tmux socket"),
    ],
)
def test_policy_names_follow_the_name_rule(data: dict[str, Any], key: str, kind: str) -> None:
    [(error_key, message)] = validate_policy_data(data)
    assert error_key == key
    assert message.startswith(f"invalid {kind} name ")
