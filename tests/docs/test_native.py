"""The native docs provider: tickets found by frontmatter, written as docmgr writes them."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import anyio
import pytest

from metawsm.docs import (
    DuplicateTicket,
    NativeDocsProvider,
    TicketExists,
    TicketNotFound,
    UnsafePath,
    parse_document,
)
from metawsm.docs.frontmatter import format_timestamp
from metawsm.hosts import LocalHost
from tests.helpers.docs import (
    TICKET_SCAFFOLD,
    TicketSpec,
    build_docs_root,
    write_doc,
    write_ticket,
)

pytestmark = pytest.mark.anyio

PST = timezone(timedelta(hours=-8))
NOW = datetime(2026, 2, 9, 10, 30, 15, 123456, tzinfo=PST)


def provider(host: LocalHost, root: Path) -> NativeDocsProvider:
    return NativeDocsProvider(host, str(root), clock=lambda: NOW)


# -- finding ---------------------------------------------------------------------------------


async def test_a_ticket_id_never_matches_a_longer_id_with_the_same_prefix(
    host: LocalHost, tmp_path: Path
) -> None:
    root = build_docs_root(tmp_path / "ttmp", TicketSpec("METAWSM-10", "Tenth"))
    docs = provider(host, root)
    assert await docs.find_ticket("METAWSM-1") is None
    found = await docs.find_ticket("METAWSM-10")
    assert found is not None
    assert found.rel_path == "2026/02/08/METAWSM-10--tenth"


async def test_the_index_frontmatter_decides_not_the_folder_name(
    host: LocalHost, tmp_path: Path
) -> None:
    root = build_docs_root(
        tmp_path / "ttmp",
        TicketSpec("METAWSM-7", "Real seven", dirname="METAWSM-1--looks-like-one"),
        TicketSpec("LEGACY-3", "Undated legacy", day="", dirname="LEGACY-3-single-dash"),
    )
    docs = provider(host, root)
    assert await docs.find_ticket("METAWSM-1") is None
    seven = await docs.find_ticket("METAWSM-7")
    assert seven is not None
    assert seven.rel_path.endswith("METAWSM-1--looks-like-one")
    legacy = await docs.find_ticket("LEGACY-3")
    assert legacy is not None
    assert legacy.rel_path == "LEGACY-3-single-dash"


async def test_ids_compare_case_insensitively_and_keep_their_canonical_spelling(
    host: LocalHost, tmp_path: Path
) -> None:
    root = build_docs_root(tmp_path / "ttmp", TicketSpec("METAWSM-002", "First bootstrap flow"))
    found = await provider(host, root).find_ticket("metawsm-002")
    assert found is not None
    assert found.ticket == "METAWSM-002"
    assert found.title == "First bootstrap flow"
    assert found.status == "active"
    assert found.topics == ("core", "cli")
    assert found.path == f"{root}/2026/02/08/METAWSM-002--first-bootstrap-flow"


async def test_two_folders_claiming_one_id_are_a_duplicate_not_a_guess(
    host: LocalHost, tmp_path: Path
) -> None:
    root = build_docs_root(
        tmp_path / "ttmp",
        TicketSpec("T-1", "First day"),
        TicketSpec("t-1", "Second day", day="2026/02/09"),
    )
    with pytest.raises(DuplicateTicket) as caught:
        await provider(host, root).find_ticket("T-1")
    assert len(caught.value.paths) == 2
    assert "2026/02/09/t-1--second-day" in str(caught.value)


async def test_documents_that_are_not_indexes_do_not_make_tickets(
    host: LocalHost, tmp_path: Path
) -> None:
    root = build_docs_root(tmp_path / "ttmp", TicketSpec("T-1", "One"))
    write_doc(root / "loose", "design-doc/01-x.md", ticket="T-2", title="X", doc_type="design")
    docs = provider(host, root)
    assert [t.ticket for t in await docs.list_tickets()] == ["T-1"]
    # `_guidelines/index.md` claims HIDDEN-1 but `_*` folders are never indexed.
    assert await docs.find_ticket("HIDDEN-1") is None


async def test_an_unreadable_index_is_named_in_the_not_found_hint(
    host: LocalHost, tmp_path: Path
) -> None:
    root = build_docs_root(tmp_path / "ttmp", TicketSpec("T-1", "One"))
    broken = root / "2026" / "02" / "08" / "T-2--two"
    broken.mkdir(parents=True)
    (broken / "index.md").write_text("---\nTitle: 'unterminated\nTicket: T-2\n---\n")
    docs = provider(host, root)
    scan = await docs.scan()
    assert [t.ticket for t in scan.tickets] == ["T-1"]
    assert [Path(p.path).parent.name for p in scan.problems] == ["T-2--two"]
    with pytest.raises(TicketNotFound) as caught:
        await docs.get_ticket("T-2")
    assert caught.value.hint is not None
    assert "T-2--two/index.md" in caught.value.hint
    assert "while scanning a quoted scalar" in caught.value.hint


async def test_a_missing_docs_root_finds_nothing_and_says_so(
    host: LocalHost, tmp_path: Path
) -> None:
    docs = provider(host, tmp_path / "absent")
    assert await docs.list_tickets() == []
    with pytest.raises(TicketNotFound, match="not found") as caught:
        await docs.get_ticket("T-1")
    assert "docs root does not exist" in (caught.value.hint or "")


# -- creating --------------------------------------------------------------------------------


async def test_create_ticket_lays_out_the_folder_as_docmgr_does(
    host: LocalHost, tmp_path: Path
) -> None:
    root = build_docs_root(tmp_path / "ttmp")
    docs = provider(host, root)
    ticket = await docs.create_ticket(
        "METAWSM-002", "METAWSM-002: First bootstrap flow", topics=["core", "cli"]
    )
    assert ticket.rel_path == "2026/02/09/METAWSM-002--first-bootstrap-flow"
    folder = Path(ticket.path)
    assert tuple(sorted(os.listdir(folder))) == TICKET_SCAFFOLD
    assert (folder / "index.md").read_text() == (
        "---\n"
        "Title: 'METAWSM-002: First bootstrap flow'\n"
        "Ticket: METAWSM-002\n"
        "Status: active\n"
        "Topics:\n"
        "    - core\n"
        "    - cli\n"
        "DocType: index\n"
        "Intent: long-term\n"
        "Owners: []\n"
        "RelatedFiles: []\n"
        "ExternalSources: []\n"
        'Summary: ""\n'
        "LastUpdated: 2026-02-09T10:30:15.123456-08:00\n"
        'WhatFor: ""\n'
        'WhenToUse: ""\n'
        "---\n"
        "\n"
        "# METAWSM-002: First bootstrap flow\n"
        "\n"
        "Document workspace for METAWSM-002.\n"
    )
    assert (folder / "tasks.md").read_text() == "# Tasks\n\n## TODO\n\n"
    assert (folder / "changelog.md").read_text() == (
        "# Changelog\n\n## 2026-02-09\n\n- Initial workspace created\n\n"
    )
    assert (
        (folder / "README.md")
        .read_text()
        .startswith(
            "# METAWSM-002: First bootstrap flow\n\nThis is the document workspace for ticket"
        )
    )
    assert await docs.find_ticket("METAWSM-002") == ticket


async def test_create_ticket_uses_the_repositorys_ttmp_yaml_defaults(
    host: LocalHost, tmp_path: Path
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".ttmp.yaml").write_text(
        "root: ttmp\ndefaults:\n    owners: [alice]\n    intent: short-term\n"
    )
    docs = await NativeDocsProvider.for_repository(host, str(tmp_path), clock=lambda: NOW)
    assert docs.docs_root == f"{tmp_path}/ttmp"
    ticket = await docs.create_ticket("T-9", "Defaults")
    fm = parse_document(await anyio.Path(ticket.index_path).read_text()).frontmatter
    assert (fm.owners, fm.intent, fm.topics) == (("alice",), "short-term", ())


async def test_create_ticket_refuses_an_id_that_already_has_a_folder(
    host: LocalHost, tmp_path: Path
) -> None:
    root = build_docs_root(tmp_path / "ttmp", TicketSpec("T-1", "Old", day="2026/01/01"))
    with pytest.raises(TicketExists) as caught:
        await provider(host, root).create_ticket("t-1", "New attempt")
    assert caught.value.existing.rel_path == "2026/01/01/T-1--old"
    assert not (root / "2026" / "02" / "09").exists()


@pytest.mark.parametrize("bad", ["", "../escape", "a/b", ".hidden", "-flag", "two\nlines"])
async def test_create_ticket_refuses_ids_that_are_not_folder_names(
    host: LocalHost, tmp_path: Path, bad: str
) -> None:
    with pytest.raises(UnsafePath):
        await provider(host, tmp_path / "ttmp").create_ticket(bad, "Title")


# -- documents -------------------------------------------------------------------------------


async def test_add_doc_numbers_documents_and_inherits_the_ticket_metadata(
    host: LocalHost, tmp_path: Path
) -> None:
    root = build_docs_root(
        tmp_path / "ttmp",
        TicketSpec(
            "METAWSM-002",
            "First bootstrap flow",
            topics=("core",),
            files={"reference/01-diary.md": "# Diary\n"},
        ),
    )
    docs = provider(host, root)
    path = await docs.add_doc(
        "metawsm-002", "reference", "Bootstrap brief run-1", "# Brief\n\nGoal: ship it"
    )
    assert path.endswith("/METAWSM-002--first-bootstrap-flow/reference/02-bootstrap-brief-run-1.md")
    document = parse_document(await anyio.Path(path).read_text())
    fm = document.frontmatter
    assert (fm.title, fm.ticket, fm.doc_type) == (
        "Bootstrap brief run-1",
        "METAWSM-002",
        "reference",
    )
    assert (fm.status, fm.topics, fm.intent) == ("active", ("core",), "long-term")
    assert format_timestamp(fm.last_updated) == "2026-02-09T10:30:15.123456-08:00"
    assert document.body == "\n# Brief\n\nGoal: ship it\n"
    second = await docs.add_doc("METAWSM-002", "reference", "Another", "")
    assert second.endswith("/reference/03-another.md")
    assert (await anyio.Path(second).read_text()).endswith('WhenToUse: ""\n---\n\n')


async def test_add_doc_creates_the_doc_type_folder_and_refuses_unsafe_types(
    host: LocalHost, tmp_path: Path
) -> None:
    root = build_docs_root(tmp_path / "ttmp", TicketSpec("T-1", "One"))
    docs = provider(host, root)
    path = await docs.add_doc("T-1", "design-doc", "Plan", "text")
    assert path.endswith("/T-1--one/design-doc/01-plan.md")
    for bad in ("../x", "a/b", ".meta", "_templates", ""):
        with pytest.raises(UnsafePath):
            await docs.add_doc("T-1", bad, "Plan", "text")


async def test_add_doc_for_an_unknown_ticket_is_not_found(host: LocalHost, tmp_path: Path) -> None:
    root = build_docs_root(tmp_path / "ttmp", TicketSpec("METAWSM-10", "Tenth"))
    with pytest.raises(TicketNotFound):
        await provider(host, root).add_doc("METAWSM-1", "reference", "Brief", "x")


# -- closing ---------------------------------------------------------------------------------


async def test_close_ticket_rewrites_status_and_last_updated_and_appends_the_changelog(
    host: LocalHost, tmp_path: Path
) -> None:
    spec = TicketSpec("T-1", "One", tasks="# Tasks\n\n## TODO\n\n- [x] a\n- [ ] b\n")
    root = build_docs_root(tmp_path / "ttmp", spec)
    folder = root / spec.rel_path
    before = (folder / "index.md").read_text()
    result = await provider(host, root).close_ticket("T-1", "Closed by metawsm run run-1")
    assert (result.previous_status, result.ticket.status) == ("active", "complete")
    assert (result.open_tasks, result.done_tasks, result.all_tasks_done) == (1, 1, False)
    after = (folder / "index.md").read_text()
    assert after == before.replace("Status: active", "Status: complete").replace(
        "LastUpdated: 2026-02-08T06:28:17.900821-08:00",
        "LastUpdated: 2026-02-09T10:30:15.123456-08:00",
    )
    assert (folder / "changelog.md").read_text() == (
        "# Changelog\n\n## 2026-02-08\n\n- Initial workspace created\n\n"
        "\n## 2026-02-09\n\nClosed by metawsm run run-1\n\n"
    )


async def test_close_ticket_creates_a_missing_changelog_and_defaults_the_entry(
    host: LocalHost, tmp_path: Path
) -> None:
    spec = TicketSpec("T-1", "One")
    root = build_docs_root(tmp_path / "ttmp", spec)
    (root / spec.rel_path / "changelog.md").unlink()
    (root / spec.rel_path / "tasks.md").unlink()
    result = await provider(host, root).close_ticket("T-1", "", status="review")
    assert result.ticket.status == "review"
    assert (result.open_tasks, result.done_tasks) == (0, 0)
    assert (root / spec.rel_path / "changelog.md").read_text() == (
        "# Changelog\n\n\n## 2026-02-09\n\nTicket closed\n\n"
    )


async def test_close_ticket_never_closes_a_prefix_match(host: LocalHost, tmp_path: Path) -> None:
    root = tmp_path / "ttmp"
    write_ticket(root, TicketSpec("METAWSM-10", "Tenth"))
    with pytest.raises(TicketNotFound):
        await provider(host, root).close_ticket("METAWSM-1", "closing")
    found = await provider(host, root).find_ticket("METAWSM-10")
    assert found is not None
    assert found.status == "active"
