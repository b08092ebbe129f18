"""Files the real ``docmgr`` writes, read by metawsm; files metawsm writes, read by docmgr.

Both directions run against docmgr v0.0.20 (``make tools``): ``ticket create``, ``doc add``,
``task add``/``task check`` and ``ticket close`` write the files metawsm's frontmatter reader
(ruamel.yaml underneath) must read; metawsm's native provider creates a ticket, adds a brief
and closes it, and docmgr's own JSON listings must show what was written.
"""

# Tests check the local disk directly; blocking there is intended.
# ruff: noqa: ASYNC240

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from metawsm.docs import NativeDocsProvider, parse_document
from metawsm.docs.control import count_tasks
from metawsm.hosts import LocalHost

pytestmark = pytest.mark.anyio


class Docmgr:
    """The real docmgr on one docs root, through its structured (JSON) output."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, *args: str) -> list[dict[str, Any]]:
        done = subprocess.run(
            ["docmgr", *args, "--root", str(self.root), "--with-glaze-output", "--output", "json"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        rows = json.loads(done.stdout)
        return rows if isinstance(rows, list) else [rows]


@pytest.fixture
def repo(tmp_path: Path, docmgr_log: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    return repo


@pytest.fixture
def docmgr(repo: Path) -> Docmgr:
    return Docmgr(repo / "ttmp")


def _folder(docmgr: Docmgr, ticket: str) -> Path:
    [row] = [r for r in docmgr("list", "tickets") if r["ticket"] == ticket]
    return docmgr.root / row["path"]


async def test_metawsm_reads_every_file_docmgr_writes(
    host: LocalHost, docmgr: Docmgr, repo: Path
) -> None:
    docmgr("ticket", "create", "--ticket", "DM-1", "--title", "Fix #12: the parser",
           "--topics", "core,cli")  # fmt: skip
    [added] = docmgr("doc", "add", "--ticket", "DM-1", "--doc-type", "reference",
                     "--title", "Brief: run-1")  # fmt: skip
    docmgr("task", "add", "--ticket", "DM-1", "--text", "first: do it")
    docmgr("task", "add", "--ticket", "DM-1", "--text", "second")
    docmgr("task", "check", "--ticket", "DM-1", "--id", "1")
    folder = _folder(docmgr, "DM-1")

    index = parse_document((folder / "index.md").read_text()).frontmatter
    assert (index.title, index.ticket, index.status, index.doc_type) == (
        "Fix #12: the parser", "DM-1", "active", "index",
    )  # fmt: skip
    assert index.topics == ("core", "cli")
    assert index.last_updated is not None
    assert abs((index.last_updated - datetime.now(UTC)).total_seconds()) < 600
    doc = parse_document(Path(added["path"]).read_text())
    assert (doc.frontmatter.title, doc.frontmatter.doc_type) == ("Brief: run-1", "reference")
    tasks = count_tasks((folder / "tasks.md").read_text())
    assert (tasks.open, tasks.done) == (1, 1)

    docmgr("ticket", "close", "--ticket", "DM-1", "--changelog-entry", "Done: all of it")
    native = NativeDocsProvider(host, str(docmgr.root))
    closed = await native.get_ticket("DM-1")
    assert (closed.status, closed.title, closed.path) == (
        "complete", "Fix #12: the parser", str(folder),
    )  # fmt: skip
    assert "\n\nDone: all of it\n" in (folder / "changelog.md").read_text()


async def test_docmgr_reads_what_metawsm_writes(
    host: LocalHost, docmgr: Docmgr, repo: Path
) -> None:
    native = NativeDocsProvider(host, str(docmgr.root))
    made = await native.create_ticket("MW-1", "Made: natively, #1", topics=["core", "docs"])
    brief = await native.add_doc("MW-1", "reference", "Bootstrap brief run-1", "# Brief\nGo.\n")

    [listed] = docmgr("list", "tickets")
    assert (listed["ticket"], listed["title"], listed["status"]) == (
        "MW-1", "Made: natively, #1", "active",
    )  # fmt: skip
    assert docmgr.root / listed["path"] == Path(made.path)
    assert listed["topics"] == "core, docs"
    docs = docmgr("list", "docs", "--ticket", "MW-1")
    by_title = {row["title"]: row for row in docs}
    assert by_title["Bootstrap brief run-1"]["doc_type"] == "reference"
    assert docmgr.root / by_title["Bootstrap brief run-1"]["path"] == Path(brief)

    await native.close_ticket("MW-1", "Closed by metawsm run run-1")
    [closed] = docmgr("list", "tickets")
    assert (closed["ticket"], closed["status"]) == ("MW-1", "complete")
    # docmgr's own close reads our closed index and our changelog without complaint.
    [again] = docmgr("ticket", "close", "--ticket", "MW-1", "--status", "archived")
    assert again["ticket"] == "MW-1"
    assert (await native.get_ticket("MW-1")).status == "archived"


async def test_closing_a_docmgr_ticket_rewrites_only_status_and_last_updated(
    host: LocalHost, docmgr: Docmgr
) -> None:
    docmgr("ticket", "create", "--ticket", "DM-2", "--title", "Keep: me as I am",
           "--topics", "core")  # fmt: skip
    index = _folder(docmgr, "DM-2") / "index.md"
    # A comment and a key docmgr does not know: docmgr's own rewrite would drop both.
    index.write_text(
        index.read_text().replace("Owners:", "# kept by metawsm\nReviewers: [ann]\nOwners:")
    )
    before = index.read_text().splitlines()

    await NativeDocsProvider(host, str(docmgr.root)).close_ticket("DM-2", "")
    after = index.read_text().splitlines()
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert [old.split(":")[0] for old, _ in changed] == ["Status", "LastUpdated"]
    assert changed[0][1] == "Status: complete"
    [row] = docmgr("list", "tickets")
    assert row["status"] == "complete"
