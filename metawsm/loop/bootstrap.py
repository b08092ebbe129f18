"""Bootstrap intake: the run brief an operator gives before agents start.

Five fields (goal, scope, done criteria, constraints, merge intent), asked in the original's
words when standard input is a terminal, all required as flags otherwise. The brief is stored
in ``run_briefs`` and written as a reference doc of the ticket **before** the ticket is seeded
into the workspace, so the agents find it there (the original wrote it afterwards and it never
reached the workspace copy).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from metawsm.errors import UsageError
from metawsm.store.db import utc_now
from metawsm.store.ops import Op

#: (field, label, prompt) in the original's order and words.
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("goal", "Goal", "Ticket {ticket} goal: what should be built/changed?"),
    ("scope", "Scope", "Scope: which areas/files are in scope?"),
    ("done_criteria", "Done criteria", "Done criteria: which tests/checks define complete?"),
    ("constraints", "Constraints", "Constraints/non-goals/risk boundaries?"),
    ("merge_intent", "Merge intent", "Merge intent? (type 'default' for normal close flow)"),
)


@dataclass(frozen=True, slots=True)
class Brief:
    """A run brief: the intake answers and the question/answer pairs they came from."""

    ticket: str
    goal: str
    scope: str
    done_criteria: str
    constraints: str
    merge_intent: str
    qa: tuple[tuple[str, str], ...]

    def title(self) -> str:
        """A ticket title from the goal, as the original made one: no trailing dot, 72 chars."""
        text = self.goal.strip().rstrip(".")
        return text[:72] if text else "Bootstrap work"


def collect_brief(
    ticket: str,
    given: dict[str, str],
    *,
    interactive: bool,
    ask: Callable[[str], str | None] | None = None,
    say: Callable[[str], None] = print,
) -> Brief:
    """The brief from flags, asking for what is missing when ``interactive``.

    ``ask(prompt)`` returns the typed line, or ``None`` at end of input; ``say`` prints the
    re-ask line. Without a terminal, every field must be given (the original's message names
    the first missing one).
    """
    answers: dict[str, str] = {}
    qa: list[tuple[str, str]] = []
    for name, label, prompt in FIELDS:
        question = prompt.format(ticket=ticket)
        value = (given.get(name) or "").strip()
        if not value and interactive and ask is not None:
            while not value:
                typed = ask(f"{question}\n> ")
                if typed is None:
                    raise UsageError(
                        "incomplete intake", hint="answer every question, or pass them all as flags"
                    )
                value = typed.strip()
                if not value:
                    say("Please provide a non-empty answer.")
        if not value:
            raise UsageError(
                f'missing required bootstrap intake field "{label}"; provide all fields via '
                "flags in non-interactive mode",
                hint="--goal, --scope, --done-criteria, --constraints and --merge-intent",
            )
        answers[name] = value
        qa.append((question, value))
    return Brief(ticket=ticket, qa=tuple(qa), **answers)


def upsert_brief_op(run_id: str, brief: Brief, *, now: str | None = None) -> Op:
    """Store the brief in ``run_briefs`` (insert or replace, as the original)."""
    stamp = now or utc_now()
    qa_json = json.dumps([{"question": q, "answer": a} for q, a in brief.qa])
    return Op(
        "INSERT OR REPLACE INTO run_briefs (run_id, ticket, goal, scope, done_criteria,"
        " constraints_text, merge_intent, qa_json, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run_id,
            brief.ticket,
            brief.goal,
            brief.scope,
            brief.done_criteria,
            brief.constraints,
            brief.merge_intent,
            qa_json,
            stamp,
            stamp,
        ),
    )


def render_brief_doc(run_id: str, brief: Brief) -> str:
    """The body of the brief's reference doc, in the original's layout."""
    lines = [
        "# Bootstrap Brief",
        "",
        f"Run ID: `{run_id}`",
        "",
        "## Goal",
        "",
        brief.goal,
        "",
        "## Scope",
        "",
        brief.scope,
        "",
        "## Done Criteria",
        "",
        brief.done_criteria,
        "",
        "## Constraints",
        "",
        brief.constraints,
        "",
        "## Merge Intent",
        "",
        brief.merge_intent,
        "",
        "## Intake Q/A",
        "",
    ]
    for number, (question, answer) in enumerate(brief.qa, start=1):
        lines += [f"{number}. **Q:** {question}", f"   **A:** {answer}", ""]
    return "\n".join(lines)
