"""Preflight before anything is made: every agent's program must be on its host.

Real CLI processes, a real private tmux, real git repos. The missing program is a name that
no machine has; the present ones are ``sleep`` and the Python running these tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from metawsm.control.client import ControlClient
from metawsm.errors import MetawsmError
from metawsm.hosts import LocalHost
from metawsm.hosts.programs import missing_programs
from metawsm.runs import preflight
from metawsm.runs.preflight import find_missing, shell_command_word
from metawsm.runs.profiles import AgentSpec
from tests.supervisor.world import HOLD, World

MISSING = "metawsm-no-such-agent-cli"

PROFILES: dict[str, Any] = {
    "agent_profiles": [
        {"name": "absent", "runner": "codex", "base_prompt": "do the ticket"},
        {
            "name": "absent-shell",
            "runner": "shell",
            "runner_options": {"command": f"{MISSING} --serve"},
        },
        {"name": "present", "runner": "shell", "runner_options": {"command": "sleep 30"}},
    ],
    "agents": [
        {"name": "coder", "profile": "present"},
        {"name": "helper", "profile": "absent-shell"},
    ],
}


def _quiet_home(world: World) -> World:
    """A HOME without profiles for the CLI processes: the login shell that looks up a shell
    command's first word then answers at once (the machine's own profile may take a minute).
    Nothing in these tests commits, so no git identity is needed."""
    home = world.root / "home"
    home.mkdir(exist_ok=True)
    world.env["HOME"] = str(home)
    return world


def _nothing_made(world: World) -> None:
    assert world.sessions() == []
    workspaces = world.root / ".metawsm" / "workspaces"
    assert not workspaces.exists() or list(workspaces.iterdir()) == []
    assert len(world.worktrees("api")) == 1


def test_the_check_goes_through_the_host_in_one_process_per_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # a login shell without the machine's profile

    async def check() -> tuple[set[str], set[str]]:
        host = LocalHost()
        plain = await missing_programs(host, ["sh", MISSING, "/bin/sh", "/no/such/tool"])
        login = await missing_programs(host, ["cd", "for", MISSING], login_shell=True)
        return plain, login

    plain, login = anyio.run(check, backend="asyncio")
    assert plain == {MISSING, "/no/such/tool"}
    assert login == {MISSING}  # builtins and keywords are what a shell can run


def test_the_program_of_each_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))

    def spec(runner: str, argv: list[str]) -> AgentSpec:
        return AgentSpec(name="a", runner=runner, argv=argv)

    assert shell_command_word(spec("shell", ["bash", "-lc", "tool --x"])) == "tool"
    # Shell syntax, assignments and paths relative to a folder that does not exist yet are
    # left to the shell.
    for command in ("X=1 tool", "$TOOL run", "(cd a; b)", "./bin/agent", "'a b' c", ""):
        assert shell_command_word(spec("shell", ["bash", "-lc", command])) == ""
    assert shell_command_word(spec("codex", ["codex", "exec", "x"])) == ""

    agents = [
        spec("codex", [MISSING, "exec", "prompt"]).model_copy(update={"name": "one"}),
        spec("shell", ["bash", "-lc", f"{MISSING} go"]).model_copy(update={"name": "two"}),
        spec("shell", ["bash", "-lc", "sleep 1"]).model_copy(update={"name": "three"}),
    ]
    missing = anyio.run(find_missing, LocalHost(), agents, backend="asyncio")
    assert [(m.agent, m.program, m.host) for m in missing] == [
        ("one", MISSING, "local"),
        ("two", MISSING, "local"),
    ]


def test_a_login_shell_that_does_not_answer_leaves_its_words_unverified_not_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".profile").write_text("sleep 5\n")  # a profile that takes its time
    (tmp_path / ".bash_profile").write_text("sleep 5\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(preflight, "LOGIN_CHECK_TIMEOUT", 0.5)
    agents = [
        AgentSpec(name="direct", runner="codex", argv=[MISSING, "exec", "x"]),
        AgentSpec(name="shell", runner="shell", argv=["bash", "-lc", f"{MISSING} go"]),
    ]
    missing = anyio.run(find_missing, LocalHost(), agents, backend="asyncio")
    # The direct program is looked up without a login shell, so it is still found missing.
    assert [(m.agent, m.program) for m in missing] == [("direct", MISSING)]


def test_a_run_whose_agent_program_is_missing_is_refused_before_anything_is_made(
    make_world: Callable[..., World],
) -> None:
    world = _quiet_home(make_world({"unused": HOLD}, policy=PROFILES))
    # Foreground: refused before a supervisor starts.
    proc = world.cli("run", "--ticket", "T-1", "--repos", "api", check=False)
    assert proc.returncode == 2  # bad input, as an unknown repo or agent is
    first = proc.stderr.splitlines()[0]
    assert first == f'error: agent "helper": program "{MISSING}" not found on host local'
    assert "Traceback" not in proc.stderr
    assert not (world.root / ".metawsm" / "serve.lock").exists()
    _nothing_made(world)

    # Through a running supervisor (the check runs there too): refused, nothing recorded.
    world.serve()
    proc = world.cli("run", "--ticket", "T-1", "--repos", "api", "--detach", check=False)
    assert proc.returncode == 2
    assert f'program "{MISSING}" not found on host local' in proc.stderr
    # And the supervisor checks it itself when a request reaches it without that CLI check.
    request = {"request": {"tickets": ["T-1"], "repos": ["api"]}}

    async def submit() -> None:
        async with ControlClient(world.state_dir / "control.sock") as client:
            await client.call("run.submit", request, timeout=60)

    with pytest.raises(MetawsmError, match=f'agent "helper": program "{MISSING}"'):
        anyio.run(submit, backend="asyncio")
    assert world.json("runs", "--all") == []
    _nothing_made(world)


def test_a_dry_run_reports_a_missing_program_and_starts_no_supervisor(
    make_world: Callable[..., World],
) -> None:
    world = _quiet_home(make_world({"unused": HOLD}, policy=PROFILES))
    proc = world.cli("run", "--ticket", "T-1", "--repos", "api", "--dry-run", check=False)
    assert proc.returncode == 1
    assert f"Preflight: agent helper: program {MISSING} not found on host local" in proc.stdout
    assert "Run planned in dry-run mode." in proc.stdout
    data = json.loads(
        world.cli(
            "run", "--ticket", "T-1", "--repos", "api", "--dry-run", "--json", check=False
        ).stdout
    )
    assert data["preflight"] == [{"agent": "helper", "program": MISSING, "host": "local"}]
    assert not (world.root / ".metawsm" / "serve.lock").exists()
    assert not (world.root / ".metawsm" / "logs").exists()
    _nothing_made(world)


def test_policy_validate_warns_about_a_missing_program(make_world: Callable[..., World]) -> None:
    world = _quiet_home(make_world({"unused": HOLD}, policy=PROFILES))
    proc = world.cli("policy", "validate")
    assert "is valid" in proc.stdout
    assert f'warning: agent "helper": program "{MISSING}" not found on host local' in (proc.stderr)
    data = world.json("policy", "validate")
    assert data["valid"] is True
    assert data["warnings"] == [f'agent "helper": program "{MISSING}" not found on host local']

    world.edit_policy(lambda p: p["agents"].append({"name": "rev", "profile": "absent"}))
    data = world.json("policy", "validate")
    assert data["warnings"][-1] == 'agent "rev": program "codex" not found on host local'
