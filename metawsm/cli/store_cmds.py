"""Store commands: ``metawsm db migrate`` and ``metawsm db status``.

``db migrate`` creates the database when missing and brings it to the latest schema version;
``db status`` reports the schema version and a few row counts without writing anything. Both
take ``--json`` for the same facts as one JSON object. A database from a newer metawsm, or a
file that is not SQLite, is refused with one line and a hint.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Annotated, Any

from cyclopts import App, Parameter

from metawsm.cli import app
from metawsm.errors import StoreError
from metawsm.store.db import DEFAULT_DB_PATH, connect
from metawsm.store.reader import count_rows
from metawsm.store.schema import LATEST_VERSION, check_supported, migrate
from metawsm.supervisor.rootdir import find_root

db_app = App(
    name="db",
    help="Create, migrate and inspect the SQLite store (.metawsm/metawsm.db).",
    help_epilogue="Example: metawsm db status --db .metawsm/metawsm.db",
)
app.command(db_app)

JsonFlag = Annotated[bool, Parameter(name="--json", negative="")]


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


@db_app.command(name="migrate")
def db_migrate(*, db: str = "", json_output: JsonFlag = False) -> int:
    """Create the database if missing and migrate it to the latest schema version.

    Safe to run at any time, also while a supervisor runs: each step is one transaction.

    Example: metawsm db migrate --db .metawsm/metawsm.db

    Parameters
    ----------
    db
        The SQLite database file (default: .metawsm/metawsm.db of the root found from here).
    json_output
        Print {"path", "schema_version", "previous_version", "latest_version"} instead.
    """
    path = Path(db) if db else find_root() / DEFAULT_DB_PATH
    conn = connect(path)
    try:
        report = migrate(conn)
    finally:
        conn.close()
    if json_output:
        _print_json(
            {
                "path": str(path),
                "schema_version": report.current,
                "previous_version": report.previous,
                "latest_version": LATEST_VERSION,
            }
        )
    else:
        if report.changed:
            print(f"Migrated {path} from schema version {report.previous} to {report.current}.")
        print(f"Database {path} at schema version {report.current}.")
    return 0


@db_app.command(name="status")
def db_status(*, db: str = "", json_output: JsonFlag = False) -> int:
    """Show the database's schema version and how many runs, agents and events it holds.

    Reads only; never creates or migrates the file.

    Example: metawsm db status --json

    Parameters
    ----------
    db
        The SQLite database file (default: .metawsm/metawsm.db of the root found from here).
    json_output
        Print {"path", "schema_version", "latest_version", "counts"} instead.
    """
    path = Path(db) if db else find_root() / DEFAULT_DB_PATH
    conn = connect(path, readonly=True)
    try:
        version = check_supported(conn)
        counts = count_rows(conn)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read database {path}: {exc}") from exc
    finally:
        conn.close()
    if json_output:
        _print_json(
            {
                "path": str(path),
                "schema_version": version,
                "latest_version": LATEST_VERSION,
                "up_to_date": version == LATEST_VERSION,
                "counts": counts,
            }
        )
        return 0
    note = "up to date" if version == LATEST_VERSION else "run `metawsm db migrate` to upgrade"
    print(f"Database:        {path}")
    print(f"Schema version:  {version} (latest {LATEST_VERSION}; {note})")
    for table, count in counts.items():
        print(f"{table.capitalize() + ':':<17}{count}")
    return 0
