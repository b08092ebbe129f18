"""The docmgr CLI provider, run against the real ``docmgr`` v0.0.20 (``make tools``).

Calls go through a recording shim that logs the argv and execs the real binary. The fake
(``tests/helpers/fake_docmgr.py``) is used only for what the real v0.0.20 cannot be made to
show: the zerolog debug line that older builds print before their JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from metawsm.docs import (
    DocmgrCliProvider,
    DocmgrError,
    DocsError,
    DuplicateTicket,
    NativeDocsProvider,
    TicketExists,
    TicketNotFound,
    parse_document,
)
from metawsm.docs.docmgr_cli import parse_glaze_rows
from metawsm.hosts import LocalHost
from tests.helpers.docs import TICKET_SCAFFOLD, TicketSpec, build_docs_root

pytestmark = pytest.mark.anyio


def calls(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A doc-home repository with a ``.ttmp.yaml`` and two tickets sharing a prefix."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".ttmp.yaml").write_text("root: ttmp\n")
    build_docs_root(
        repo / "ttmp",
        TicketSpec("METAWSM-10", "Tenth", tasks="# Tasks\n\n- [x] a\n- [ ] b\n- [x] c\n"),
        TicketSpec("METAWSM-2", "Second"),
    )
    return repo


@pytest.fixture
def docs(host: LocalHost, repo: Path, docmgr_log: Path) -> DocmgrCliProvider:
    return DocmgrCliProvider(host, cwd=str(repo))


async def test_every_call_uses_glaze_json_an_absolute_root_the_repo_cwd_and_no_stdin(
    docs: DocmgrCliProvider, repo: Path, docmgr_log: Path
) -> None:
    await docs.list_tickets()
    [call] = calls(docmgr_log)
    assert call["argv"] == [
        "list",
        "tickets",
        "--root",
        f"{repo}/ttmp",
        "--with-glaze-output",
        "--output",
        "json",
    ]
    assert call["cwd"] == str(repo)
    assert call["stdin_devnull"] is True


async def test_list_and_find_read_the_structured_rows(docs: DocmgrCliProvider, repo: Path) -> None:
    tickets = await docs.list_tickets()
    # docmgr's listing sorts the topics (the files say `core, cli`).
    assert [(t.ticket, t.rel_path, t.topics) for t in tickets] == [
        ("METAWSM-10", "2026/02/08/METAWSM-10--tenth", ("cli", "core")),
        ("METAWSM-2", "2026/02/08/METAWSM-2--second", ("cli", "core")),
    ]
    found = await docs.find_ticket("metawsm-2")
    assert found is not None
    assert found.path == f"{repo}/ttmp/2026/02/08/METAWSM-2--second"


async def test_a_prefix_never_reaches_docmgrs_forgiving_resolution(
    docs: DocmgrCliProvider, docmgr_log: Path
) -> None:
    assert await docs.find_ticket("METAWSM-1") is None
    with pytest.raises(TicketNotFound):
        await docs.close_ticket("METAWSM-1", "closing")
    with pytest.raises(TicketNotFound):
        await docs.add_doc("METAWSM-1", "reference", "Brief", "x")
    # Only listings ran: docmgr itself would have closed METAWSM-10 for "METAWSM-1" (§B.6).
    assert {tuple(c["argv"][:2]) for c in calls(docmgr_log)} == {("list", "tickets")}


async def test_close_passes_the_canonical_id_and_reads_the_task_counts(
    docs: DocmgrCliProvider, repo: Path, docmgr_log: Path
) -> None:
    result = await docs.close_ticket("metawsm-10", "Closed by metawsm run run-7")
    assert calls(docmgr_log)[-1]["argv"] == [
        "ticket",
        "close",
        "--ticket",
        "METAWSM-10",
        "--status",
        "complete",
        "--changelog-entry",
        "Closed by metawsm run run-7",
        "--root",
        f"{repo}/ttmp",
        "--with-glaze-output",
        "--output",
        "json",
    ]
    assert (result.previous_status, result.ticket.status) == ("active", "complete")
    assert (result.open_tasks, result.done_tasks, result.all_tasks_done) == (1, 2, False)
    folder = repo / "ttmp" / "2026" / "02" / "08" / "METAWSM-10--tenth"
    assert (folder / "changelog.md").read_text().endswith("\n\nClosed by metawsm run run-7\n\n")
    native = NativeDocsProvider(LocalHost(), str(repo / "ttmp"))
    closed = await native.find_ticket("METAWSM-10")
    assert closed is not None
    assert closed.status == "complete"


async def test_create_returns_the_ticket_docmgr_made_and_the_native_reader_agrees(
    docs: DocmgrCliProvider, repo: Path, docmgr_log: Path
) -> None:
    ticket = await docs.create_ticket("METAWSM-003", "Third thing", topics=["core", "docs"])
    assert calls(docmgr_log)[-1]["argv"][:8] == [
        "ticket",
        "create",
        "--ticket",
        "METAWSM-003",
        "--title",
        "Third thing",
        "--topics",
        "core,docs",
    ]
    assert ticket.rel_path.endswith("/METAWSM-003--third-thing")
    assert tuple(sorted(os.listdir(ticket.path))) == TICKET_SCAFFOLD
    native = NativeDocsProvider(LocalHost(), str(repo / "ttmp"))
    assert await native.find_ticket("METAWSM-003") == ticket


async def test_create_refuses_an_existing_id_before_docmgr_makes_a_second_folder(
    docs: DocmgrCliProvider, docmgr_log: Path
) -> None:
    with pytest.raises(TicketExists):
        await docs.create_ticket("metawsm-2", "Again")
    with pytest.raises(DocsError, match="commas"):
        await docs.create_ticket("METAWSM-4", "Topics", topics=["a,b"])
    assert all(c["argv"][:2] == ["list", "tickets"] for c in calls(docmgr_log))


async def test_add_doc_keeps_docmgrs_frontmatter_and_writes_the_body(
    docs: DocmgrCliProvider, repo: Path
) -> None:
    path = await docs.add_doc("METAWSM-2", "reference", "Bootstrap brief run-1", "# Brief\nGo.")
    assert path == (
        f"{repo}/ttmp/2026/02/08/METAWSM-2--second/reference/01-bootstrap-brief-run-1.md"
    )
    document = parse_document(await anyio.Path(path).read_text())
    assert document.frontmatter.ticket == "METAWSM-2"
    assert document.frontmatter.doc_type == "reference"
    assert document.body == "\n# Brief\nGo.\n"


async def test_tickets_written_natively_are_read_and_closed_by_docmgr(
    docs: DocmgrCliProvider, host: LocalHost, repo: Path
) -> None:
    native = NativeDocsProvider(host, str(repo / "ttmp"))
    made = await native.create_ticket("NATIVE-1", "Made: natively", topics=["core"])
    seen = await docs.find_ticket("NATIVE-1")
    assert seen == made
    await docs.close_ticket("NATIVE-1", "Closed through docmgr")
    closed = await native.get_ticket("NATIVE-1")
    assert closed.status == "complete"
    assert closed.title == "Made: natively"


async def test_a_failing_docmgr_is_a_docmgr_error_with_its_message(
    docs: DocmgrCliProvider, repo: Path
) -> None:
    # A changelog that is a folder: the real docmgr cannot append the close entry, exit 1.
    changelog = repo / "ttmp" / "2026" / "02" / "08" / "METAWSM-2--second" / "changelog.md"
    changelog.unlink()
    changelog.mkdir()
    with pytest.raises(DocmgrError) as caught:
        await docs.close_ticket("METAWSM-2", "x")
    assert caught.value.message.startswith(
        "docmgr ticket close failed: Error: failed to open changelog:"
    )
    assert caught.value.message.endswith("is a directory")


async def test_a_missing_binary_says_how_to_proceed(host: LocalHost, repo: Path) -> None:
    docs = DocmgrCliProvider(host, binary="docmgr-not-installed", cwd=str(repo))
    with pytest.raises(DocmgrError, match="not installed") as caught:
        await docs.list_tickets()
    assert "docs.provider" in (caught.value.hint or "")


async def test_log_noise_before_the_json_is_skipped(
    host: LocalHost, repo: Path, fake_docmgr_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fake only: docmgr v0.0.20 prints no log line on stdout; older builds did (§12.2).
    monkeypatch.setenv("FAKE_DOCMGR_NOISE", "1")
    assert len(await DocmgrCliProvider(host, cwd=str(repo)).list_tickets()) == 2


async def test_duplicate_ids_in_docmgrs_listing_are_refused(
    docs: DocmgrCliProvider, repo: Path
) -> None:
    build_docs_root(repo / "ttmp", TicketSpec("METAWSM-2", "Second again", day="2026/02/09"))
    with pytest.raises(DuplicateTicket):
        await docs.find_ticket("METAWSM-2")


def test_the_provider_needs_a_cwd_or_an_absolute_root(host: LocalHost) -> None:
    with pytest.raises(ValueError, match="cwd"):
        DocmgrCliProvider(host)
    with pytest.raises(ValueError, match="cwd"):
        DocmgrCliProvider(host, root="ttmp")
    DocmgrCliProvider(host, root="/abs/ttmp")


@pytest.mark.parametrize(
    ("stdout", "rows"),
    [
        ("[\n]\n", []),
        ('[\n{\n  "ticket": "T-1"\n}\n]\n', [{"ticket": "T-1"}]),
        ('{"ticket": "T-1"}', [{"ticket": "T-1"}]),
        ('{"level":"debug"}\n[\n{"ticket": "T-1"}\n]\n', [{"ticket": "T-1"}]),
    ],
)
def test_glaze_rows_are_parsed_from_stdout(stdout: str, rows: list[dict[str, Any]]) -> None:
    assert parse_glaze_rows(stdout) == rows


@pytest.mark.parametrize("stdout", ["No tickets found.\n", "[1, 2]", ""])
def test_output_that_is_not_glaze_rows_is_refused(stdout: str) -> None:
    with pytest.raises(DocmgrError):
        parse_glaze_rows(stdout)
