"""Completers: values only the root knows (run ids, tickets, agent names), offered at Tab time.

Cyclopts runs them when the shell asks ``metawsm __complete ...``. They read the root's database
read-only with the standard library's sqlite3 (never through the supervisor, never writing,
nothing else imported), and a root that cannot be read completes nothing rather than printing an
error into the shell.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

#: At most this many candidates of one kind are offered.
LIMIT = 200


def _root_files(start: Path) -> tuple[Path, Path] | None:
    """The database and policy of the nearest metawsm root at or above ``start`` (the rule
    every command uses, :func:`~metawsm.supervisor.rootdir.find_root`)."""
    from metawsm.supervisor.rootdir import STATE_DIR, find_root, is_root

    root = find_root(start)
    if not is_root(root):
        return None
    state = root / STATE_DIR
    return state / "metawsm.db", state / "policy.json"


def _db_path(context: Any) -> Path | None:
    with suppress(Exception):
        given = context["--db"].value
        if given:
            return Path(str(given))
    found = _root_files(Path.cwd())
    return found[0] if found else None


def _rows(context: Any, query: str) -> list[tuple[Any, ...]]:
    path = _db_path(context)
    if path is None or not path.is_file():
        return []
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.5)) as conn:
            return list(conn.execute(query, (LIMIT,)).fetchall())
    except sqlite3.Error:
        return []


def _matching(context: Any, pairs: Iterator[tuple[str, str]]) -> dict[str, str]:
    prefix = str(getattr(context, "incomplete", "") or "")
    return {value: why for value, why in pairs if value.startswith(prefix)}


def complete_run_ids(context: Any) -> dict[str, str]:
    """Run ids, newest first, each described by its status and tickets."""
    rows = _rows(
        context,
        "SELECT r.run_id, r.status, COALESCE(GROUP_CONCAT(t.ticket, ','), '') FROM runs r"
        " LEFT JOIN run_tickets t ON t.run_id = r.run_id GROUP BY r.run_id"
        " ORDER BY r.created_at DESC LIMIT ?",
    )
    return _matching(context, ((str(r[0]), f"{r[1]} {r[2]}".strip()) for r in rows))


def complete_tickets(context: Any) -> dict[str, str]:
    """Tickets that runs were made for, newest first."""
    rows = _rows(
        context,
        "SELECT t.ticket, MAX(r.created_at) FROM run_tickets t JOIN runs r ON r.run_id = t.run_id"
        " GROUP BY t.ticket ORDER BY MAX(r.created_at) DESC LIMIT ?",
    )
    return _matching(context, ((str(r[0]), "ticket") for r in rows))


def complete_agents(context: Any) -> dict[str, str]:
    """Agent names: those of recorded runs and those the policy defines."""
    names = {
        str(r[0]): "agent" for r in _rows(context, "SELECT DISTINCT agent_name FROM agents LIMIT ?")
    }
    found = _root_files(Path.cwd())
    if found is not None:
        with suppress(OSError, ValueError, AttributeError, TypeError):
            policy = json.loads(found[1].read_text())
            for entry in policy.get("agents", []):
                names.setdefault(str(entry["name"]), "agent (policy)")
    return _matching(context, iter(sorted(names.items())))
