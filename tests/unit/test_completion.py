"""Shell completion, in the real shells that are installed: commands, flags, and run ids,
tickets and agent names from a real store.

bash is driven through its completion function (``COMP_WORDS``/``COMPREPLY``), fish through
``complete -C``, zsh by typing Tab in a real zsh in a private tmux server (its completion system
needs a terminal).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from metawsm.store.db import connect
from metawsm.store.schema import migrate

BIN = str(Path(sys.executable).parent)


def _shell(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (make test installs it)")
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A metawsm root with two runs, their tickets and agents, and a policy with agents."""
    state = tmp_path / ".metawsm"
    state.mkdir()
    (state / "policy.json").write_text(
        json.dumps({"agents": [{"name": "coder", "profile": "p"}, {"name": "critic"}]})
    )
    conn = connect(state / "metawsm.db")
    try:
        migrate(conn)
        for run_id, status, created, tickets in (
            ("run-20261201-100000", "completed", "2026-12-01T10:00:00Z", ["T-1"]),
            ("run-20261202-110000", "running", "2026-12-02T11:00:00Z", ["T-2", "OPS-7"]),
        ):
            conn.execute(
                "INSERT INTO runs (run_id, status, created_at, updated_at, spec_json,"
                " policy_json) VALUES (?, ?, ?, ?, '{}', '{}')",
                (run_id, status, created, created),
            )
            for ticket in tickets:
                conn.execute("INSERT INTO run_tickets VALUES (?, ?)", (run_id, ticket))
        conn.execute(
            "INSERT INTO agents (run_id, agent_name, workspace_name, session_name, status,"
            " health_state) VALUES ('run-20261202-110000', 'reviewer', 'w', 's', 'running',"
            " 'healthy')"
        )
        conn.commit()
    finally:
        conn.close()
    return tmp_path


def _env() -> dict[str, str]:
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
    env.pop("TMUX", None)
    return env


def _script(root: Path, shell: str) -> Path:
    out = subprocess.run(
        [sys.executable, "-m", "metawsm", "completion", "show", shell],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    path = root / f"metawsm.{shell}"
    path.write_text(out.stdout)
    return path


def _bash(root: Path, script: Path, *words: str) -> list[str]:
    """COMPREPLY for the command line ``metawsm WORDS`` with the cursor in the last word."""
    line = " ".join(shlex.quote(w) for w in ("metawsm", *words))
    program = (
        f'source "{script}"; COMP_WORDS=({line}); COMP_CWORD={len(words)}; '
        '_metawsm; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    out = subprocess.run(
        [_shell("bash"), "--norc", "-c", program],
        cwd=root,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return [line for line in out.stdout.splitlines() if line]


def test_bash_completes_commands_flags_and_values_from_the_store(root: Path) -> None:
    script = _script(root, "bash")
    assert "status" in _bash(root, script, "sta")
    assert set(_bash(root, script, "comp")) == {"completion"}
    assert "--ticket" in _bash(root, script, "status", "--ti")
    assert _bash(root, script, "status", "--run-id", "run-2026120") == [
        "run-20261202-110000",
        "run-20261201-100000",
    ]
    assert set(_bash(root, script, "stop", "--ticket", "")) == {"T-1", "T-2", "OPS-7"}
    assert set(_bash(root, script, "run", "--agent", "c")) == {"coder", "critic"}
    assert set(_bash(root, script, "run", "--agent", "")) == {"coder", "critic", "reviewer"}


def test_completion_outside_a_root_offers_no_values_and_no_error(tmp_path: Path) -> None:
    script = _script(tmp_path, "bash")
    assert _bash(tmp_path, script, "status", "--run-id", "") == []


def test_fish_completes_commands_and_run_ids(root: Path) -> None:
    fish = _shell("fish")
    script = _script(root, "fish")

    def complete(line: str) -> list[str]:
        out = subprocess.run(
            [fish, "--no-config", "-c", f"source {script}; complete -C '{line}'"],
            cwd=root,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return [line.split("\t")[0] for line in out.stdout.splitlines() if line]

    assert "status" in complete("metawsm sta")
    assert "--ticket" in complete("metawsm status --ti")
    assert set(complete("metawsm status --run-id run-")) == {
        "run-20261201-100000",
        "run-20261202-110000",
    }
    assert "OPS-7" in complete("metawsm close --ticket O")


@pytest.fixture
def zsh_pane(root: Path) -> Iterator[tuple[str, Path]]:
    zsh = _shell("zsh")
    _shell("tmux")
    fpath = root / "zfunc"
    fpath.mkdir()
    # zsh autoloads a completion function from the file of its name: _cyclopts_metawsm.
    (fpath / "_cyclopts_metawsm").write_text(_script(root, "zsh").read_text())
    (root / ".zshrc").write_text(
        f"fpath=({fpath} $fpath)\nautoload -U compinit && compinit -u -D\nPS1='READY> '\n"
    )
    socket = f"mwzsh-{secrets.token_hex(4)}"
    tmpdir = root / "tmux"
    tmpdir.mkdir(mode=0o700)
    env = {**_env(), "ZDOTDIR": str(root), "TMUX_TMPDIR": str(tmpdir), "TERM": "xterm"}
    subprocess.run(
        [
            "tmux",
            "-L",
            socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "200",
            "-y",
            "30",
            "-c",
            str(root),
            zsh,
        ],
        env=env,
        check=True,
        timeout=10,
    )
    try:
        yield socket, tmpdir
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], env=env, timeout=10)


def test_zsh_completes_run_ids_and_tickets_on_tab(zsh_pane: tuple[str, Path]) -> None:
    socket, tmpdir = zsh_pane
    env = {**os.environ, "TMUX_TMPDIR": str(tmpdir)}

    def tmux(*args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", socket, *args], env=env, capture_output=True, text=True, timeout=10
        ).stdout

    def screen_shows(text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = tmux("capture-pane", "-p")
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"zsh never showed {text!r}:\n{screen}")

    screen_shows("READY>")
    tmux("send-keys", "-l", "metawsm status --run-id run-20261202")
    tmux("send-keys", "Tab")
    screen_shows("metawsm status --run-id run-20261202-110000")
    tmux("send-keys", "C-u")
    tmux("send-keys", "-l", "metawsm stop --ticket OP")
    tmux("send-keys", "Tab")
    screen_shows("metawsm stop --ticket OPS-7")
    tmux("send-keys", "C-u")
    tmux("send-keys", "-l", "metawsm completi")
    tmux("send-keys", "Tab")
    screen_shows("metawsm completion")


def test_show_refuses_an_unknown_shell_in_one_line(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "metawsm", "completion", "show", "tcsh"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith("error:") and "tcsh" in out.stderr


def test_install_writes_the_script_where_asked(root: Path) -> None:
    target = root / "out" / "metawsm.bash"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "metawsm",
            "completion",
            "install",
            "--shell",
            "bash",
            "--output",
            str(target),
            "--no-startup",
        ],
        cwd=root,
        env={**_env(), "HOME": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "_metawsm()" in target.read_text() and str(target) in out.stdout
    assert not (root / ".bashrc").exists()


def test_the_store_is_only_read(root: Path) -> None:
    db = root / ".metawsm" / "metawsm.db"
    before = db.stat().st_mtime_ns
    script = _script(root, "bash")
    _bash(root, script, "status", "--run-id", "")
    assert db.stat().st_mtime_ns == before
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone() == (2,)
