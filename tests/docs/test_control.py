"""docmgr's naming, numbering, tasks and changelog formats (contract §A.2, §A.4, §A.6, §A.7)."""

from __future__ import annotations

from datetime import date

import pytest

from metawsm.docs import control


@pytest.mark.parametrize(
    ("ticket", "title", "slug"),
    [
        ("METAWSM-002", "First bootstrap flow", "first-bootstrap-flow"),
        ("METAWSM-002", "METAWSM-002: First bootstrap flow", "first-bootstrap-flow"),
        ("MEN-1", "men-1 — Chat API cleanup!", "chat-api-cleanup"),
        ("X-1", "X-1", "x-1"),
        ("X-1", "   ", "x-1"),
        ("X-1", "Ünïcode only", "n-code-only"),
        ("X-1", "!!!", "document"),
    ],
)
def test_ticket_slugs_follow_slugify_title_for_ticket(ticket: str, title: str, slug: str) -> None:
    assert control.slugify_title_for_ticket(ticket, title) == slug


def test_ticket_folders_are_dated_and_named_ticket_double_dash_slug() -> None:
    name = control.ticket_dir_name("METAWSM-002", "First bootstrap flow", date(2026, 2, 7))
    assert name == "2026/02/07/METAWSM-002--first-bootstrap-flow"


@pytest.mark.parametrize(
    ("existing", "title", "name"),
    [
        ([], "Bootstrap brief run-1", "01-bootstrap-brief-run-1.md"),
        (["01-diary.md", "02-notes.md"], "Brief", "03-brief.md"),
        (["07-x.md", "notes.txt", "09-dir"], "Brief", "08-brief.md"),
        (["099-last.md"], "Brief", "100-brief.md"),
        (["01-a.md"], "02 Already numbered", "02-already-numbered.md"),
    ],
)
def test_doc_names_take_the_next_number(existing: list[str], title: str, name: str) -> None:
    assert control.next_doc_filename(existing, title) == name


def test_tasks_are_counted_as_docmgr_counts_them() -> None:
    text = (
        "# Tasks\n\n## TODO\n\n"
        "- [ ] open one\n"
        "- [x] done one <!-- t:a3f2 -->\n"
        "  * [X] done nested\n"
        "- [-] odd marker counts as open\n"
        "- not a task\n"
    )
    counts = control.count_tasks(text)
    assert (counts.open, counts.done) == (2, 2)
    assert not counts.all_done
    assert not control.count_tasks(control.TASKS_SEED).all_done
    assert control.count_tasks("- [x] a\n").all_done


def test_changelog_texts_match_docmgr() -> None:
    assert control.changelog_seed(date(2026, 2, 7)) == (
        "# Changelog\n\n## 2026-02-07\n\n- Initial workspace created\n\n"
    )
    assert control.changelog_entry(date(2026, 2, 8), "Closed by metawsm run r1") == (
        "\n## 2026-02-08\n\nClosed by metawsm run r1\n\n"
    )
