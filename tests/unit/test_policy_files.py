"""The data under ``policy/`` and the key table of ``docs/policy.md`` match the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metawsm.policy import load_policy, policy_json_schema, validate_policy_data
from metawsm.policy.gen import main as generate
from metawsm.policy.gen import rendered

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "policy" / "examples").glob("*.json"))


@pytest.mark.parametrize("relative", sorted(rendered(ROOT)), ids=str)
def test_generated_file_matches_the_model(relative: Path) -> None:
    expected = rendered(ROOT)[relative]
    actual = (ROOT / relative).read_text(encoding="utf-8")
    assert actual == expected, f"{relative} is stale: run `python -m metawsm.policy.gen`"


def test_generator_check_mode_passes_on_this_checkout() -> None:
    assert generate(["--check", "--root", str(ROOT)]) == 0


def test_generator_check_mode_reports_drift_and_writing_fixes_it(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "policy.md").write_text(
        (ROOT / "docs" / "policy.md").read_text(encoding="utf-8"), encoding="utf-8"
    )
    assert generate(["--check", "--root", str(tmp_path)]) == 1
    assert generate(["--root", str(tmp_path)]) == 0
    assert generate(["--check", "--root", str(tmp_path)]) == 0


def test_schema_names_every_top_level_key_and_forbids_others() -> None:
    schema = json.loads((ROOT / "policy" / "schema.json").read_text(encoding="utf-8"))
    default = json.loads((ROOT / "policy" / "default.json").read_text(encoding="utf-8"))
    assert schema == policy_json_schema()
    assert list(schema["properties"]) == list(default)
    assert schema["additionalProperties"] is False


def test_the_examples_that_must_exist_exist() -> None:
    assert {"minimal.json", "codex.json", "scripted-demo.json"} <= {p.name for p in EXAMPLES}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_loads_without_error(example: Path) -> None:
    assert validate_policy_data(json.loads(example.read_text(encoding="utf-8"))) == []
    load_policy(example)


def test_codex_example_is_the_originals_example() -> None:
    policy = load_policy(ROOT / "policy" / "examples" / "codex.json")
    [profile] = policy.agent_profiles
    assert (profile.name, profile.runner_kind, profile.skills) == (
        "codex-default",
        "codex",
        ["docmgr", "diary"],
    )
    assert profile.runner_options.full_auto is True
    assert [e.name for e in policy.docs.api.workspace_endpoints] == ["workspace-metawsm"]
    assert [e.name for e in policy.docs.api.repo_endpoints] == ["repo-metawsm"]


def test_scripted_demo_example_uses_a_private_tmux_server_and_two_repos() -> None:
    policy = load_policy(ROOT / "policy" / "examples" / "scripted-demo.json")
    assert policy.tmux.server_args() == ["-L", "metawsm-demo"]
    assert policy.workspace.provider == "git"
    assert sorted(policy.workspace.repos) == ["api", "web"]
    assert [p.runner_kind for p in policy.agent_profiles] == ["scripted", "scripted"]
    assert [a.name for a in policy.agents] == ["coder", "reviewer"]
