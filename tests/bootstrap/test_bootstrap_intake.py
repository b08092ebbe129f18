"""Bootstrap intake: flags, prompts in the original's words, and the brief doc."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from metawsm.errors import UsageError
from metawsm.loop.bootstrap import FIELDS, collect_brief, render_brief_doc, upsert_brief_op
from metawsm.store.db import connect
from metawsm.store.ops import execute_ops
from metawsm.store.schema import migrate

ALL = {
    "goal": "Add a cache.",
    "scope": "api/",
    "done_criteria": "make test passes",
    "constraints": "no new deps",
    "merge_intent": "default",
}


def test_all_fields_as_flags_need_no_terminal() -> None:
    brief = collect_brief("T-1", ALL, interactive=False)
    assert (brief.goal, brief.done_criteria) == ("Add a cache.", "make test passes")
    assert brief.qa[0][0] == "Ticket T-1 goal: what should be built/changed?"


@pytest.mark.parametrize(("missing", "label"), [(f, label) for f, label, _ in FIELDS])
def test_without_a_terminal_every_field_is_required(missing: str, label: str) -> None:
    given = {k: v for k, v in ALL.items() if k != missing}
    with pytest.raises(UsageError) as info:
        collect_brief("T-1", given, interactive=False)
    assert info.value.message == (
        f'missing required bootstrap intake field "{label}"; provide all fields via flags '
        "in non-interactive mode"
    )


def test_prompts_ask_in_order_and_reask_on_empty() -> None:
    answers = iter(["", "Build it", "everything", "tests", "none", "default"])
    asked: list[str] = []
    said: list[str] = []

    def ask(prompt: str) -> str | None:
        asked.append(prompt)
        return next(answers)

    brief = collect_brief("T-9", {}, interactive=True, ask=ask, say=said.append)
    assert asked[0] == asked[1] == "Ticket T-9 goal: what should be built/changed?\n> "
    assert said == ["Please provide a non-empty answer."]
    assert brief.goal == "Build it" and brief.merge_intent == "default"


def test_end_of_input_is_an_incomplete_intake() -> None:
    with pytest.raises(UsageError, match="incomplete intake"):
        collect_brief("T-1", {}, interactive=True, ask=lambda _prompt: None, say=print)


def test_flags_given_are_not_asked_again() -> None:
    asked: list[str] = []

    def ask(prompt: str) -> str | None:
        asked.append(prompt)
        return "typed"

    collect_brief("T-1", {**ALL, "scope": ""}, interactive=True, ask=ask, say=print)
    assert asked == ["Scope: which areas/files are in scope?\n> "]


def test_the_brief_is_stored_with_its_questions_and_answers(tmp_path: Path) -> None:
    conn = connect(tmp_path / "m.db")
    migrate(conn)
    brief = collect_brief("T-1", ALL, interactive=False)
    conn.execute("BEGIN IMMEDIATE")
    execute_ops(conn, [upsert_brief_op("run-1", brief)])
    conn.execute("COMMIT")
    conn.row_factory = sqlite3.Row
    row = conn.execute("SELECT * FROM run_briefs WHERE run_id = 'run-1'").fetchone()
    assert row["done_criteria"] == "make test passes"
    assert json.loads(row["qa_json"])[4] == {
        "question": "Merge intent? (type 'default' for normal close flow)",
        "answer": "default",
    }
    conn.close()


def test_the_brief_doc_has_the_originals_sections() -> None:
    body = render_brief_doc("run-1", collect_brief("T-1", ALL, interactive=False))
    for heading in (
        "# Bootstrap Brief",
        "Run ID: `run-1`",
        "## Goal",
        "## Scope",
        "## Done Criteria",
        "## Constraints",
        "## Merge Intent",
        "## Intake Q/A",
    ):
        assert heading in body
    assert "1. **Q:** Ticket T-1 goal: what should be built/changed?" in body


def test_title_comes_from_the_goal() -> None:
    assert collect_brief("T", ALL, interactive=False).title() == "Add a cache"
