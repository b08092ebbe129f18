"""Agent resolution and command compilation (§2.2): argv per runner, skills, scripts."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from metawsm.errors import UsageError
from metawsm.policy import AgentEntry, AgentProfile, RunnerOptions
from metawsm.runs.profiles import SKILLS_HEADER, compile_agent, resolve_agents

ENTRY = AgentEntry(name="agent", profile="p")


def _profile(runner: str, **fields: Any) -> AgentProfile:
    options = fields.pop("runner_options", {})
    return AgentProfile(name="p", runner=runner, runner_options=RunnerOptions(**options), **fields)


def _skill(base: Path, name: str) -> Path:
    path = base / name / "SKILL.md"
    path.parent.mkdir(parents=True)
    path.write_text(f"# {name}\n")
    return path


def test_shell_runs_the_policy_command_in_a_login_bash(policy_path: str) -> None:
    profile = _profile("shell", runner_options={"command": "  make work && echo done "})
    spec = compile_agent(ENTRY, profile, policy_path=policy_path)
    assert spec.argv == ["bash", "-lc", "make work && echo done"]
    assert spec.command == "bash -lc 'make work && echo done'"
    assert (spec.name, spec.profile, spec.runner, spec.skills) == ("agent", "p", "shell", [])


@pytest.mark.parametrize(
    ("full_auto", "flags"), [(False, []), (True, ["--full-auto"])], ids=["plain", "full-auto"]
)
def test_codex_argv(policy_path: str, home: Path, full_auto: bool, flags: list[str]) -> None:
    profile = _profile(
        " Codex ", base_prompt="  Implement the ticket.\n", runner_options={"full_auto": full_auto}
    )
    spec = compile_agent(ENTRY, profile, policy_path=policy_path, home=home)
    assert spec.argv == [
        "codex",
        "exec",
        "--skip-git-repo-check",
        *flags,
        "Implement the ticket.",
    ]
    assert spec.runner == "codex"
    assert shlex.split(spec.command) == spec.argv


@pytest.mark.parametrize(
    ("full_auto", "flags"),
    [(False, ["--permission-mode", "acceptEdits"]), (True, ["--dangerously-skip-permissions"])],
    ids=["plain", "full-auto"],
)
def test_claude_argv(policy_path: str, home: Path, full_auto: bool, flags: list[str]) -> None:
    profile = _profile("claude", base_prompt="Go.", runner_options={"full_auto": full_auto})
    spec = compile_agent(ENTRY, profile, policy_path=policy_path, home=home)
    assert spec.argv == ["claude", "-p", *flags, "Go."]


def test_prompt_lists_skills_found_under_the_root_then_home(
    root: Path, policy_path: str, home: Path
) -> None:
    in_root = _skill(root / ".metawsm" / "skills", "docmgr")
    _skill(home / ".codex" / "skills", "docmgr")  # shadowed by the root's
    in_home = _skill(home / ".codex" / "skills", "diary")
    profile = _profile("codex", base_prompt=" Work. ", skills=["docmgr", " diary "])
    spec = compile_agent(ENTRY, profile, policy_path=policy_path, home=home)
    assert spec.argv[-1] == (
        "Work.\n\nRequired skills (read and apply these before implementation):\n"
        f"- docmgr: {in_root}\n- diary: {in_home}"
    )
    assert spec.skills == ["docmgr", "diary"]
    assert SKILLS_HEADER == "\n\nRequired skills (read and apply these before implementation):\n"


def test_a_missing_skill_names_every_path_checked(root: Path, policy_path: str, home: Path) -> None:
    profile = _profile("claude", base_prompt="Work.", skills=["docmgr"])
    with pytest.raises(UsageError) as info:
        compile_agent(ENTRY, profile, policy_path=policy_path, home=home)
    assert info.value.message == (
        'skill "docmgr" not found; checked: '
        f"{root}/.metawsm/skills/docmgr/SKILL.md, {home}/.codex/skills/docmgr/SKILL.md"
    )


def test_a_skill_name_that_is_a_path_is_refused(policy_path: str, home: Path) -> None:
    profile = _profile("codex", base_prompt="Work.", skills=["../../etc"])
    with pytest.raises(UsageError, match=r'^invalid skill name "../../etc"'):
        compile_agent(ENTRY, profile, policy_path=policy_path, home=home)


def test_skills_of_a_shell_profile_are_not_looked_up(policy_path: str, home: Path) -> None:
    profile = _profile("shell", skills=["missing"], runner_options={"command": "bash"})
    spec = compile_agent(ENTRY, profile, policy_path=policy_path, home=home)
    assert spec.argv == ["bash", "-lc", "bash"] and spec.skills == ["missing"]


def test_scripted_resolves_a_relative_script_against_the_metawsm_root(
    root: Path, policy_path: str, tmp_path: Path
) -> None:
    script = root / "scripts" / "happy.json"
    script.parent.mkdir()
    script.write_text("{}")
    relative = _profile("scripted", runner_options={"script": "scripts/happy.json"})
    spec = compile_agent(ENTRY, relative, policy_path=policy_path)
    assert spec.argv == [sys.executable, "-m", "metawsm.agents.scripted", str(script)]
    elsewhere = tmp_path / "abs.json"
    elsewhere.write_text("{}")
    absolute = _profile("scripted", runner_options={"script": str(elsewhere)})
    assert compile_agent(ENTRY, absolute, policy_path=policy_path).argv[-1] == str(elsewhere)


def test_a_missing_script_is_refused_naming_its_path(root: Path, policy_path: str) -> None:
    profile = _profile("scripted", runner_options={"script": "scripts/none.json"})
    with pytest.raises(UsageError) as info:
        compile_agent(ENTRY, profile, policy_path=policy_path)
    assert info.value.message == (f'agent profile "p": script {root}/scripts/none.json not found')
    assert info.value.hint is not None and str(root) in info.value.hint


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        (_profile("shell"), 'agent profile "p" requires runner_options.command for shell runner'),
        (_profile("codex"), 'agent profile "p" requires non-empty base_prompt for codex runner'),
        (
            _profile("scripted"),
            'agent profile "p" requires runner_options.script for scripted runner',
        ),
        (_profile("zsh"), 'agent profile "p" has unsupported runner "zsh"'),
    ],
    ids=["shell", "codex", "scripted", "unknown"],
)
def test_profiles_the_policy_would_refuse_are_refused(
    policy_path: str, home: Path, profile: AgentProfile, message: str
) -> None:
    with pytest.raises(UsageError) as info:
        compile_agent(ENTRY, profile, policy_path=policy_path, home=home)
    assert info.value.message == message


def test_no_request_means_every_policy_agent_in_order(make_policy: Any, policy_path: str) -> None:
    specs = resolve_agents(make_policy(), [], policy_path=policy_path)
    assert [s.name for s in specs] == ["agent", "reviewer"]


def test_requested_agents_in_requested_order(make_policy: Any, policy_path: str) -> None:
    specs = resolve_agents(make_policy(), ["reviewer, agent"], policy_path=policy_path)
    assert [s.name for s in specs] == ["reviewer", "agent"]


def test_an_unknown_requested_agent_is_refused(make_policy: Any, policy_path: str) -> None:
    with pytest.raises(UsageError) as info:
        resolve_agents(make_policy(), ["agent", "ghost"], policy_path=policy_path)
    assert info.value.message == 'requested agent "ghost" not found in policy'
    assert info.value.hint == "agents in the policy: agent, reviewer"


def test_requested_names_are_validated_before_lookup(make_policy: Any, policy_path: str) -> None:
    with pytest.raises(UsageError, match=r'^invalid agent name "-x"'):
        resolve_agents(make_policy(), ["ghost", "-x"], policy_path=policy_path)


def test_the_original_example_profile(
    make_policy: Any, root: Path, policy_path: str, home: Path
) -> None:
    docmgr = _skill(root / ".metawsm" / "skills", "docmgr")
    diary = _skill(home / ".codex" / "skills", "diary")
    policy = make_policy(
        {
            "agent_profiles": [
                {
                    "name": "codex-default",
                    "runner": "codex",
                    "base_prompt": "You are the implementation agent.",
                    "skills": ["docmgr", "diary"],
                    "runner_options": {"full_auto": True},
                }
            ],
            "agents": [{"name": "agent", "profile": "codex-default"}],
        }
    )
    (spec,) = resolve_agents(policy, [], policy_path=policy_path, home=home)
    assert spec.profile == "codex-default"
    assert spec.argv[:4] == ["codex", "exec", "--skip-git-repo-check", "--full-auto"]
    assert spec.argv[4].endswith(f"- docmgr: {docmgr}\n- diary: {diary}")
