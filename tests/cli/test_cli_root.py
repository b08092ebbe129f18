"""Commands find their root by walking up from the current directory (as git does), say which
root they use, and ``--ticket`` picks the newest active run before finished ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metawsm.cli import main
from metawsm.hsm import RunStatus
from metawsm.store.client import DirectStore
from metawsm.store.ops import create_run
from metawsm.supervisor.rootdir import find_root


def _run(db: Path, run_id: str, status: str, stamp: str, *, dry_run: bool = False) -> None:
    spec = json.dumps({"dry_run": dry_run})
    with DirectStore(db) as store:
        store.write_sync(
            *create_run(
                run_id, spec_json=spec, policy_json="{}", tickets=["T-1"], status=status, now=stamp
            )
        )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A metawsm root with a database holding one run, ``run-a``."""
    top = tmp_path / "root"
    (top / ".metawsm").mkdir(parents=True)
    _run(top / ".metawsm" / "metawsm.db", "run-a", RunStatus.RUNNING, "2026-01-01T00:00:00Z")
    return top


def test_find_root_walks_up_past_signal_folders(root: Path) -> None:
    deep = root / "workspaces" / "ws-1" / "api" / "src"
    deep.mkdir(parents=True)
    # Signal folders of a workspace and of its doc-home repo are not roots.
    (root / "workspaces" / "ws-1" / ".metawsm").mkdir()
    (root / "workspaces" / "ws-1" / ".metawsm" / "implementation-complete.json").write_text("{}")
    (root / "workspaces" / "ws-1" / "api" / ".metawsm").mkdir()
    assert find_root(deep) == root
    assert find_root(root) == root
    # Nothing above: the directory itself.
    lone = root.parent / "elsewhere"
    lone.mkdir()
    assert find_root(lone) == lone


def test_a_command_in_a_subdirectory_uses_the_root_and_says_so(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sub = root / "repos" / "api"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    assert main(["runs", "--all", "--json"]) == 0
    captured = capsys.readouterr()
    assert [r["run_id"] for r in json.loads(captured.out)] == ["run-a"]
    assert captured.err == f"metawsm: using the root {root}\n"
    assert not (sub / ".metawsm").exists()
    # db status finds the same database.
    assert main(["db", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["path"] == str(root / ".metawsm" / "metawsm.db")
    # From the root itself nothing is said.
    monkeypatch.chdir(root)
    assert main(["runs", "--all", "--json"]) == 0
    assert capsys.readouterr().err == ""


def test_relative_db_is_relative_to_where_it_is_typed(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sub = root / "sub"
    sub.mkdir()
    _run(sub / "mine.db", "run-mine", RunStatus.RUNNING, "2026-01-01T00:00:00Z")
    monkeypatch.chdir(sub)
    assert main(["runs", "--all", "--json", "--db", "mine.db"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == ["run-mine"]


def test_ticket_picks_the_newest_active_run_before_finished_ones(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = root / ".metawsm" / "metawsm.db"
    # run-a (running, oldest); newer finished runs and a newest dry run of the same ticket.
    _run(db, "run-b", RunStatus.COMPLETED, "2026-01-02T00:00:00Z")
    _run(db, "run-c", RunStatus.STOPPED, "2026-01-03T00:00:00Z")
    _run(db, "run-d", RunStatus.PAUSED, "2026-01-04T00:00:00Z", dry_run=True)
    monkeypatch.chdir(root)

    def chosen() -> str:
        assert main(["status", "--ticket", "T-1", "--no-diffs", "--json"]) == 0
        return str(json.loads(capsys.readouterr().out)["run_id"])

    assert chosen() == "run-a"
    _run(db, "run-e", RunStatus.AWAITING_GUIDANCE, "2026-01-05T00:00:00Z")
    assert chosen() == "run-e"
    with DirectStore(db) as store:
        store.write_sync(*create_run("x", spec_json="{}", policy_json="{}"))  # another ticket
    assert chosen() == "run-e"


def test_ticket_falls_back_to_the_newest_finished_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".metawsm").mkdir()
    db = tmp_path / ".metawsm" / "metawsm.db"
    _run(db, "run-old", RunStatus.FAILED, "2026-01-01T00:00:00Z")
    _run(db, "run-new", RunStatus.COMPLETED, "2026-01-02T00:00:00Z")
    _run(db, "run-dry", RunStatus.PAUSED, "2026-01-03T00:00:00Z", dry_run=True)
    monkeypatch.chdir(tmp_path)
    assert main(["status", "--ticket", "T-1", "--no-diffs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == "run-new"
