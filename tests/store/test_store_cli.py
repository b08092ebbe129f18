"""``metawsm db migrate`` and ``metawsm db status``: text and JSON, and one clear line (never a
traceback) for a database that is newer, missing or not SQLite."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from metawsm.cli import main
from metawsm.store.client import DirectStore
from metawsm.store.db import connect
from metawsm.store.ops import append_event, create_run
from metawsm.store.records import NewEvent
from metawsm.store.schema import LATEST_VERSION, migrate


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert [line for line in lines if line.startswith("error: ")] == [lines[0]]
    assert len(lines) <= 2 and all(line.startswith(("error: ", "hint: ")) for line in lines)
    return lines[0]


def test_db_migrate_creates_the_database(capsys: pytest.CaptureFixture[str], db_path: Path) -> None:
    code, out, err = run_cli(capsys, "db", "migrate", "--db", str(db_path))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"Migrated {db_path} from schema version 0 to {LATEST_VERSION}.",
        f"Database {db_path} at schema version {LATEST_VERSION}.",
    ]
    code, out, _ = run_cli(capsys, "db", "migrate", "--db", str(db_path))
    assert out == f"Database {db_path} at schema version {LATEST_VERSION}.\n"


def test_db_migrate_json(capsys: pytest.CaptureFixture[str], db_path: Path) -> None:
    conn = connect(db_path)
    migrate(conn, target=1)
    conn.close()
    code, out, _ = run_cli(capsys, "db", "migrate", "--db", str(db_path), "--json")
    assert code == 0
    assert json.loads(out) == {
        "path": str(db_path),
        "schema_version": LATEST_VERSION,
        "previous_version": 1,
        "latest_version": LATEST_VERSION,
    }


def test_db_status_counts_runs_agents_and_events(
    capsys: pytest.CaptureFixture[str], db_path: Path
) -> None:
    with DirectStore(db_path) as store:
        store.write_sync(*create_run("r1", spec_json="{}", policy_json="{}"))
        for _ in range(3):
            store.write_sync(append_event(NewEvent("r1", "run", "r1", "note")))
    code, out, err = run_cli(capsys, "db", "status", "--db", str(db_path))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"Database:        {db_path}",
        f"Schema version:  {LATEST_VERSION} (latest {LATEST_VERSION}; up to date)",
        "Runs:            1",
        "Agents:          0",
        "Events:          3",
    ]
    code, out, _ = run_cli(capsys, "db", "status", "--db", str(db_path), "--json")
    assert json.loads(out) == {
        "path": str(db_path),
        "schema_version": LATEST_VERSION,
        "latest_version": LATEST_VERSION,
        "up_to_date": True,
        "counts": {"runs": 1, "agents": 0, "events": 3},
    }


def test_db_status_of_an_old_database_says_to_migrate(
    capsys: pytest.CaptureFixture[str], db_path: Path
) -> None:
    conn = connect(db_path)
    migrate(conn, target=1)
    conn.close()
    code, out, _ = run_cli(capsys, "db", "status", "--db", str(db_path))
    assert code == 0
    assert f"Schema version:  1 (latest {LATEST_VERSION}; run `metawsm db migrate`" in out


def test_db_status_writes_nothing(capsys: pytest.CaptureFixture[str], db_path: Path) -> None:
    code, _, err = run_cli(capsys, "db", "status", "--db", str(db_path))
    assert code == 1
    assert assert_one_error_line(err) == f"error: no database at {db_path}"
    assert not db_path.exists()


@pytest.mark.parametrize("command", ["migrate", "status"])
def test_a_newer_database_is_one_error_line(
    capsys: pytest.CaptureFixture[str], db_path: Path, command: str
) -> None:
    conn = connect(db_path)
    migrate(conn)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 5}")
    conn.close()
    code, out, err = run_cli(capsys, "db", command, "--db", str(db_path))
    assert code == 1
    assert out == ""
    line = assert_one_error_line(err)
    assert f"is at schema version {LATEST_VERSION + 5}, newer than this metawsm" in line
    assert "hint: upgrade metawsm" in err
    assert sqlite3.connect(db_path).execute("PRAGMA user_version").fetchone() == (
        LATEST_VERSION + 5,
    )


@pytest.mark.parametrize("command", ["migrate", "status"])
def test_a_file_that_is_not_sqlite_is_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("shopping list\n" * 100)
    code, _, err = run_cli(capsys, "db", command, "--db", str(junk))
    assert code == 1
    assert "is not a SQLite database" in assert_one_error_line(err)
    assert junk.read_text() == "shopping list\n" * 100
