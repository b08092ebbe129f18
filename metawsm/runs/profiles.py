"""Agents of a run: which policy agents a run starts, and the exact argv each one runs.

The original (``internal/policy`` ``ResolveAgents``/``compileProfileCommand``, original-metawsm.md
§2.2) compiled every profile into one shell line that ``zsh -lc`` ran inside tmux. Here a profile
compiles into an **argv** that the tmux layer starts without any shell parsing; ``command`` is
only ``shlex.join(argv)`` for display and for the persisted spec. Per runner:

``shell``
    ``["bash", "-lc", runner_options.command]``. The command is the operator's own shell text
    from the policy, so it is run by a shell. A *login* shell, as the original's ``zsh -lc``, so
    the operator's profile (``PATH``, version managers) applies; bash because it is everywhere and
    the rest of metawsm (the tmux wrapper) already relies on it. A policy that needs zsh can say
    ``"command": "zsh -lc '...'"``.
``codex``
    ``["codex", "exec", "--skip-git-repo-check", ["--full-auto"], prompt]``. The original only
    inserted ``--skip-git-repo-check`` when starting (codex refuses to run outside a trusted git
    directory, §12.7); it is always passed here, so the persisted command is what runs.
``claude``
    ``["claude", "-p", "--permission-mode", "acceptEdits", prompt]``, or with
    ``--dangerously-skip-permissions`` instead of the permission mode when ``full_auto``.
    ``-p`` is the non-interactive (print) mode. Nobody can answer a permission prompt there, so
    without a mode every edit would be refused: ``acceptEdits`` lets the agent edit files, which
    is its job, while other tools stay under the operator's claude settings; ``full_auto``
    (the same switch as codex's ``--full-auto``) lifts every check, for sandboxed hosts.
``scripted``
    ``[sys.executable, "-m", "metawsm.agents.scripted", <absolute script>]``: the deterministic
    agent of :mod:`metawsm.agents.scripted`, run by the Python running metawsm. A relative
    ``runner_options.script`` is relative to the metawsm root (the parent of ``.metawsm/``).

The prompt of ``codex`` and ``claude`` is the original's: the trimmed ``base_prompt``, then, when
the profile names skills, ``\\n\\nRequired skills (read and apply these before
implementation):\\n- <skill>: <path>`` per skill. A skill is looked up as
``<root>/.metawsm/skills/<skill>/SKILL.md``, then ``~/.codex/skills/<skill>/SKILL.md``.

Every problem is a :class:`~metawsm.errors.UsageError` with the original's message where it had
one (``requested agent "x" not found in policy``, ``skill "s" not found; checked: ...``).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from metawsm.errors import UsageError
from metawsm.naming import normalize_tokens, validate_name
from metawsm.policy import AgentEntry, AgentProfile, Policy, metawsm_root_of, resolve_under
from metawsm.policy.model import quote

__all__ = [
    "SCRIPTED_MODULE",
    "SKILLS_HEADER",
    "AgentSpec",
    "build_prompt",
    "compile_agent",
    "resolve_agents",
    "resolve_skill",
    "skill_roots",
]

SKILLS_HEADER = "\n\nRequired skills (read and apply these before implementation):\n"
"""What separates the base prompt from the skill lines (the original's exact text)."""

SCRIPTED_MODULE = "metawsm.agents.scripted"
"""The module the ``scripted`` runner starts with ``python -m``."""


class AgentSpec(BaseModel):
    """One agent of a run, compiled: what it is called and exactly what it runs.

    Persisted in ``runs.spec_json`` under ``agents``. The keys ``name``, ``profile``, ``runner``,
    ``skills`` and ``command`` are the original's; ``argv`` is ours and is what is executed
    (``command`` is its display form). A spec written by the original has no ``argv``.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    profile: str = ""
    runner: str = ""
    """The runner, trimmed and lower-cased: ``shell``, ``codex``, ``claude`` or ``scripted``."""
    skills: list[str] = Field(default_factory=list)
    argv: list[str] = Field(default_factory=list)
    command: str = ""
    """``shlex.join(argv)``: for people, never parsed again."""


# ------------------------------------------------------------------------------------ skills


def skill_roots(policy_path: str | Path, *, home: Path | None = None) -> list[Path]:
    """Where skills are looked up, in order: ``<root>/.metawsm/skills``, ``<home>/.codex/skills``.

    ``home`` defaults to the user's home directory; when there is none, only the first root is
    searched (as the original did when ``os.UserHomeDir`` failed). Duplicates are dropped.
    """
    roots = [metawsm_root_of(policy_path) / ".metawsm" / "skills"]
    if home is None:
        try:
            home = Path.home()
        except RuntimeError:  # no HOME and no passwd entry
            home = None
    if home is not None:
        candidate = home / ".codex" / "skills"
        if candidate not in roots:
            roots.append(candidate)
    return roots


def resolve_skill(skill: str, roots: Sequence[Path]) -> Path:
    """The ``SKILL.md`` of ``skill`` under the first root that has it.

    Raises :class:`UsageError` ``skill "<s>" not found; checked: <p1>, <p2>`` when none does, and
    for a skill name that is not a plain name (it becomes a path component).
    """
    validate_name("skill", skill)
    checked: list[Path] = []
    for root in roots:
        candidate = root / skill / "SKILL.md"
        checked.append(candidate)
        if candidate.is_file():
            return candidate
    raise UsageError(
        f"skill {quote(skill)} not found; checked: {', '.join(str(p) for p in checked)}",
        hint=f"create {checked[0]}, or remove the skill from the agent profile",
    )


def build_prompt(profile: AgentProfile, roots: Sequence[Path]) -> str:
    """The prompt of a ``codex`` or ``claude`` profile: base prompt plus the skills block."""
    prompt = profile.base_prompt.strip()
    skills = [s.strip() for s in profile.skills]
    if not skills:
        return prompt
    lines = [f"- {skill}: {resolve_skill(skill, roots)}" for skill in skills]
    return prompt + SKILLS_HEADER + "\n".join(lines)


# --------------------------------------------------------------------------------- compiling


def _profile_error(profile: AgentProfile, problem: str) -> UsageError:
    return UsageError(
        f"agent profile {quote(profile.name)} {problem}",
        hint="fix the profile under agent_profiles in the policy",
    )


def _required_prompt(profile: AgentProfile, roots: Sequence[Path]) -> str:
    prompt = build_prompt(profile, roots)
    if not prompt:
        raise _profile_error(
            profile, f"requires non-empty base_prompt for {profile.runner_kind} runner"
        )
    return prompt


def _scripted_argv(profile: AgentProfile, policy_path: str | Path) -> list[str]:
    script = profile.runner_options.script.strip()
    if not script:
        raise _profile_error(profile, "requires runner_options.script for scripted runner")
    root = metawsm_root_of(policy_path)
    path = resolve_under(root, script)
    if not path.is_file():
        raise UsageError(
            f"agent profile {quote(profile.name)}: script {path} not found",
            hint=f"runner_options.script is relative to the metawsm root {root}",
        )
    return [sys.executable, "-m", SCRIPTED_MODULE, str(path)]


def _argv(profile: AgentProfile, policy_path: str | Path, home: Path | None) -> list[str]:
    runner = profile.runner_kind
    options = profile.runner_options
    if runner == "shell":
        command = options.command.strip()
        if not command:
            raise _profile_error(profile, "requires runner_options.command for shell runner")
        return ["bash", "-lc", command]
    if runner == "codex":
        prompt = _required_prompt(profile, skill_roots(policy_path, home=home))
        auto = ["--full-auto"] if options.full_auto else []
        return ["codex", "exec", "--skip-git-repo-check", *auto, prompt]
    if runner == "claude":
        prompt = _required_prompt(profile, skill_roots(policy_path, home=home))
        if options.full_auto:
            return ["claude", "-p", "--dangerously-skip-permissions", prompt]
        return ["claude", "-p", "--permission-mode", "acceptEdits", prompt]
    if runner == "scripted":
        return _scripted_argv(profile, policy_path)
    raise _profile_error(profile, f"has unsupported runner {quote(profile.runner)}")


def compile_agent(
    entry: AgentEntry,
    profile: AgentProfile,
    *,
    policy_path: str | Path,
    home: Path | None = None,
) -> AgentSpec:
    """Compile the policy agent ``entry`` with its ``profile`` into an :class:`AgentSpec`.

    ``policy_path`` locates the metawsm root (skills, relative scripts); ``home`` replaces the
    user's home directory when looking up ``~/.codex/skills`` (tests). Skills are resolved only
    for the runners that have a prompt (``codex``, ``claude``), as the original did.
    """
    name = validate_name("agent", entry.name.strip())
    argv = _argv(profile, policy_path, home)
    return AgentSpec(
        name=name,
        profile=profile.name.strip(),
        runner=profile.runner_kind,
        skills=[s.strip() for s in profile.skills],
        argv=argv,
        command=shlex.join(argv),
    )


def resolve_agents(
    policy: Policy,
    requested: Sequence[str],
    *,
    policy_path: str | Path,
    home: Path | None = None,
) -> list[AgentSpec]:
    """The agents a run starts, compiled.

    ``requested`` (repeatable, comma-separated values) empty: every agent of the policy, in the
    policy's order. Otherwise the requested agents in the requested order; every name is checked
    with :func:`~metawsm.naming.validate_name` before any is looked up, and a name the policy does
    not have is ``requested agent "<n>" not found in policy``.
    """
    names = [validate_name("agent", name) for name in normalize_tokens(requested)]
    if names:
        by_name = {entry.name.strip(): entry for entry in policy.agents}
        entries: list[AgentEntry] = []
        for name in names:
            entry = by_name.get(name)
            if entry is None:
                known = ", ".join(by_name) or "none"
                raise UsageError(
                    f"requested agent {quote(name)} not found in policy",
                    hint=f"agents in the policy: {known}",
                )
            entries.append(entry)
    else:
        entries = list(policy.agents)
    specs: list[AgentSpec] = []
    for entry in entries:
        profile = policy.profile(entry.profile.strip())
        if profile is None:
            raise UsageError(
                f"agent {quote(entry.name)} references unknown profile {quote(entry.profile)}",
                hint="add the profile under agent_profiles in the policy",
            )
        specs.append(compile_agent(entry, profile, policy_path=policy_path, home=home))
    return specs
