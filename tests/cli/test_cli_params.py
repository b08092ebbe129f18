"""The shared options (``--run-id/--ticket/--policy/--db/--json``) are one parameter group: every
command that acts on a run shows the same flags with the same help, in one panel, and passes
them to the core the same way."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from metawsm.cli import main

#: Commands acting on one run, with the arguments each needs besides the selector.
SELECTOR_COMMANDS: dict[str, tuple[str, ...]] = {
    "status": ("--no-diffs",),
    "stop": (),
    "resume": (),
    "restart": (),
    "cleanup": ("--dry-run",),
    "guide": ("--answer", "yes"),
    "iterate": ("--feedback", "more", "--dry-run"),
    "merge": ("--dry-run",),
    "close": ("--dry-run",),
}
SHARED = ("--run-id", "--ticket", "--policy", "--db", "--json")
#: Of those, the ones that need a running supervisor.
SUPERVISED = frozenset({"resume", "restart", "iterate"})


def _panels(text: str) -> dict[str, str]:
    """The help's panels by title, each as its rows joined (box characters removed)."""
    panels: dict[str, str] = {}
    title = ""
    for line in text.splitlines():
        head = re.match(r"\s*╭─ (.+?) ─", line)
        if head:
            title = head.group(1)
            panels[title] = ""
        elif title and line.lstrip().startswith("│"):
            panels[title] += line.strip().strip("│").rstrip() + "\n"
        elif line.lstrip().startswith("╰"):
            title = ""
    return panels


def _help(capsys: pytest.CaptureFixture[str], command: str) -> str:
    assert main([command, "--help"]) == 0
    return capsys.readouterr().out


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty metawsm root (a ``.metawsm`` folder with a migrated database) as the cwd."""
    (tmp_path / ".metawsm").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["db", "migrate", "--db", str(tmp_path / ".metawsm" / "metawsm.db")]) == 0
    return tmp_path


def test_every_run_command_shows_the_same_selection_panel(
    capsys: pytest.CaptureFixture[str],
) -> None:
    panels = {command: _panels(_help(capsys, command)) for command in [*SELECTOR_COMMANDS, "watch"]}
    selection = {command: p.get("Run selection", "") for command, p in panels.items()}
    first = selection["status"]
    for flag in SHARED:
        assert flag in first
    assert "The newest run of this ticket" in first
    assert all(text == first for text in selection.values()), selection
    # ...and none of them repeats a shared flag among its own parameters.
    for command, p in panels.items():
        own = {row.split()[0] for row in p.get("Parameters", "").splitlines() if row.strip()}
        assert not own & set(SHARED), (command, own)


def test_root_commands_share_the_root_panel(capsys: pytest.CaptureFixture[str]) -> None:
    texts = {c: _panels(_help(capsys, c)).get("Root", "") for c in ("serve", "run", "runs", "tui")}
    assert all("--policy" in t and "--db" in t for t in texts.values()), texts
    assert len(set(texts.values())) == 1


@pytest.mark.parametrize("command", sorted(SELECTOR_COMMANDS))
def test_the_selector_reaches_the_core(
    command: str, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code = main([command, *SELECTOR_COMMANDS[command], "--run-id", "run-x", "--json"])
    err = capsys.readouterr().err
    assert code == 1
    if command in SUPERVISED:
        assert f"`{command}` needs one" in err.splitlines()[0]
    else:
        assert err.splitlines()[0] == "error: no run run-x"
    code = main([command, *SELECTOR_COMMANDS[command], "--ticket", "bad/name"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith('error: invalid ticket name "bad/name"')


def test_db_and_json_of_the_group_are_used(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = root / "other.db"
    assert main(["db", "migrate", "--db", str(other)]) == 0
    capsys.readouterr()
    assert main(["runs", "--db", str(other), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    # --db names a file without the run; the default database is not consulted.
    assert main(["status", "--db", str(root / "missing.db"), "--run-id", "run-x"]) == 1
    assert "no run" in capsys.readouterr().err
