"""Small CLI contracts an operator met (issue 7 item 9): each command's own example, and the
selector flags that exclude each other."""

from __future__ import annotations

from pathlib import Path

import pytest

from metawsm.cli import main
from metawsm.core import Selector, resolve_run_id
from metawsm.errors import UsageError
from metawsm.store.reader import Reader


@pytest.mark.parametrize(
    ("command", "example"),
    [
        ("complete", 'Example: metawsm signal complete --summary "'),
        ("guidance", 'Example: metawsm signal guidance --question "'),
        ("validate", "Example: metawsm signal validate --status passed"),
    ],
)
def test_each_signal_command_shows_its_own_example(
    command: str, example: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["signal", command, "--help"])
    out = " ".join(capsys.readouterr().out.split())  # the help is wrapped to the terminal
    assert example in out
    others = {"complete", "guidance", "validate"} - {command}
    assert not any(f"metawsm signal {other}" in out for other in others)


@pytest.mark.parametrize("command", ["status", "stop", "close", "merge", "cleanup"])
def test_run_id_and_ticket_together_say_they_exclude_each_other(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    code = main([command, "--run-id", "run-20260101-120000", "--ticket", "T-1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: --run-id and --ticket exclude each other; give one\n")
    assert "hint: " in err and "Traceback" not in err
    assert not (tmp_path / ".metawsm").exists()  # refused before anything was made


def test_the_core_refuses_both_selectors_too(tmp_path: Path) -> None:
    # The socket's callers (tui, web, scripts) do not go through the CLI's check.
    from metawsm.store.db import connect
    from metawsm.store.schema import migrate

    db = tmp_path / "m.db"
    conn = connect(db)
    migrate(conn)
    conn.close()
    with Reader(db) as reader, pytest.raises(UsageError, match="exclude each other"):
        resolve_run_id(reader, Selector(run_id="r-1", ticket="T-1"))
