"""The docs provider that drives the real ``docmgr`` CLI (contract §B, docmgr ``v0.0.20``).

Every call uses docmgr's structured mode (``--with-glaze-output --output json``, §B.2–§B.5,
§B.7) and never parses its human output, whose ``Docs root:``/``Path:`` lines moved behind
``--verbose`` in v0.0.20. Further rules, each from a known failure:

- **Exact ids only.** docmgr resolves ``--ticket`` forgivingly for ``doc add`` and
  ``ticket close`` (§B.6: ``MET`` closes ``METAWSM-001``). The id is first confirmed from
  the ticket list (whole id, case-insensitive, duplicates refused) and then passed verbatim
  in its canonical spelling.
- **One docs root.** The root is resolved once with docmgr's own rules (§A.1) from ``cwd``
  and passed as an absolute ``--root`` to every call, so docmgr and metawsm cannot disagree
  about it whatever the process's working directory is.
- **stdout only, stdin closed.** JSON is read from stdout alone (old builds log a debug line;
  §B, §12.2); stdin is not connected, so nothing can wait on a prompt.
- **Non-zero exit is failure** (docmgr exits 1 on any error, with ``Error: <msg>`` on stderr).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from metawsm.docs.base import (
    CloseResult,
    Ticket,
    check_rel_path,
    check_segment,
    check_ticket_id,
    pick_ticket,
)
from metawsm.docs.errors import DocmgrError, DocsError, TicketExists, TicketNotFound
from metawsm.docs.frontmatter import split_document
from metawsm.docs.root import resolve_docs_root
from metawsm.hosts.base import Host

_GLAZE_JSON = ("--with-glaze-output", "--output", "json")


def parse_glaze_rows(stdout: str) -> list[dict[str, Any]]:
    """The rows of glazed JSON output: an array of objects (or one object).

    Text before the JSON (a stray log line) is skipped by starting at the first line that
    opens an array.
    """
    text = stdout.strip()
    try:
        value: Any = json.loads(text)
    except json.JSONDecodeError:
        value = None
        offset = 0
        for line in stdout.splitlines(keepends=True):
            if line.lstrip().startswith("["):
                try:
                    value, _ = json.JSONDecoder().raw_decode(stdout[offset:].lstrip())
                except json.JSONDecodeError:
                    value = None
                break
            offset += len(line)
        if value is None:
            raise DocmgrError(f"docmgr printed no JSON: {text[:200]!r}") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise DocmgrError(f"docmgr JSON is not a list of rows: {text[:200]!r}")
    return value


def _text(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DocmgrError(f"docmgr row field {key!r} is not a string: {value!r}")
    return value


def _count(row: dict[str, Any], key: str) -> int:
    value = row.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DocmgrError(f"docmgr row field {key!r} is not a number: {value!r}")
    return value


class DocmgrCliProvider:
    """Tickets managed by running ``docmgr`` on a host."""

    def __init__(
        self,
        host: Host,
        binary: str = "docmgr",
        root: str | None = None,
        *,
        cwd: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        if cwd is None and (root is None or not posixpath.isabs(root)):
            # Without either, the root would depend on the supervisor's own cwd (§B.7).
            raise ValueError("DocmgrCliProvider needs cwd (the doc-home repo) or an absolute root")
        if cwd is not None and not posixpath.isabs(cwd):
            raise ValueError(f"cwd must be absolute, got {cwd!r}")
        self._host = host
        self._binary = binary
        self._configured_root = root
        self._cwd = cwd
        self._timeout = timeout
        self._root: str | None = None

    async def docs_root(self) -> str:
        """The absolute docs root passed as ``--root`` (resolved once, §A.1)."""
        if self._root is None:
            if self._configured_root is not None and posixpath.isabs(self._configured_root):
                self._root = posixpath.normpath(self._configured_root)
            else:
                assert self._cwd is not None  # checked in __init__
                self._root = await resolve_docs_root(self._host, self._cwd, self._configured_root)
        return self._root

    async def _run(self, *args: str) -> list[dict[str, Any]]:
        argv = [self._binary, *args, "--root", await self.docs_root(), *_GLAZE_JSON]
        result = await self._host.run(argv, cwd=self._cwd, timeout=self._timeout)
        if result.returncode == 127:
            raise DocmgrError(
                f"{self._binary} is not installed on {self._host.name}",
                hint="install docmgr, or set docs.provider to native in the policy",
            )
        if not result.ok:
            lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
            errors = [line for line in lines if line.startswith("Error:")]
            detail = (errors or lines or [f"exit {result.returncode}"])[-1]
            raise DocmgrError(f"docmgr {' '.join(args[:2])} failed: {detail}")
        return parse_glaze_rows(result.stdout)

    def _rel_path(self, root: str, path: str) -> str:
        """A path docmgr reported, relative to the root; refused if it is outside."""
        if posixpath.isabs(path):
            clean = posixpath.normpath(path)
            if not clean.startswith(root.rstrip("/") + "/"):
                raise DocmgrError(f"docmgr reported {path}, outside the docs root {root}")
            path = clean[len(root.rstrip("/")) + 1 :]
        return check_rel_path(path)

    # -- reading -------------------------------------------------------------------------------

    async def list_tickets(self) -> list[Ticket]:
        """``docmgr list tickets``: every ticket whose index frontmatter parses (§A.3)."""
        root = await self.docs_root()
        tickets = []
        for row in await self._run("list", "tickets"):
            topics = tuple(t.strip() for t in _text(row, "topics").split(",") if t.strip())
            tickets.append(
                Ticket(
                    ticket=_text(row, "ticket").strip(),
                    title=_text(row, "title"),
                    status=_text(row, "status"),
                    docs_root=root,
                    rel_path=self._rel_path(root, _text(row, "path")),
                    topics=topics,
                )
            )
        tickets.sort(key=lambda t: (t.ticket.casefold(), t.rel_path))
        return tickets

    async def find_ticket(self, ticket: str) -> Ticket | None:
        """The ticket whose id is ``ticket`` (whole id, any case); never a forgiving match."""
        return pick_ticket(ticket, await self.list_tickets())

    async def get_ticket(self, ticket: str) -> Ticket:
        """:meth:`find_ticket`, raising :class:`TicketNotFound`."""
        found = await self.find_ticket(ticket)
        if found is None:
            raise TicketNotFound(
                ticket,
                await self.docs_root(),
                hint=(
                    "docmgr lists no index.md with this Ticket: (a ticket whose frontmatter "
                    "does not parse is hidden; `docmgr doctor` shows why)"
                ),
            )
        return found

    # -- writing -------------------------------------------------------------------------------

    async def create_ticket(self, ticket: str, title: str, *, topics: Sequence[str] = ()) -> Ticket:
        """``docmgr ticket create``, after checking that no folder claims the id yet."""
        ticket = check_ticket_id(ticket)
        if not title.strip():
            raise DocsError(f"ticket {ticket} needs a title")
        clean_topics = tuple(t.strip() for t in topics if t.strip())
        if any("," in topic for topic in clean_topics):
            # --topics is a comma list: a comma inside a topic would split it.
            raise DocsError(f"topics cannot contain commas: {list(clean_topics)}")
        existing = await self.find_ticket(ticket)
        if existing is not None:
            raise TicketExists(existing)
        args = ["ticket", "create", "--ticket", ticket, "--title", title]
        if clean_topics:
            args += ["--topics", ",".join(clean_topics)]
        rows = await self._run(*args)
        if len(rows) != 1:
            raise DocmgrError(f"docmgr ticket create printed {len(rows)} rows, expected 1")
        root = await self.docs_root()
        rel_path = self._rel_path(root, _text(rows[0], "path"))
        return Ticket(ticket, title, "active", root, rel_path, clean_topics)

    async def add_doc(self, ticket: str, doc_type: str, title: str, body: str) -> str:
        """``docmgr doc add`` with the exact id, then the body written under its frontmatter.

        docmgr writes the frontmatter (and a template body if the root has one); the body is
        replaced, the frontmatter kept as docmgr wrote it.
        """
        found = await self.get_ticket(ticket)
        check_segment(doc_type, "doc type")
        if not title.strip():
            raise DocsError("a document needs a title")
        rows = await self._run(
            "doc", "add", "--ticket", found.ticket, "--doc-type", doc_type, "--title", title
        )
        if len(rows) != 1:
            raise DocmgrError(f"docmgr doc add printed {len(rows)} rows, expected 1")
        root = await self.docs_root()
        path = posixpath.join(root, self._rel_path(root, _text(rows[0], "path")))
        if not path.startswith(found.path + "/"):
            raise DocmgrError(f"docmgr wrote {path}, outside ticket folder {found.path}")
        text = (await self._host.read_bytes(path)).decode("utf-8")
        parts = split_document(text)
        if parts is None:
            raise DocmgrError(f"docmgr wrote {path} without frontmatter")
        yaml_text = parts[0]
        new_body = "\n" + body if body else "\n"
        if body and not body.endswith("\n"):
            new_body += "\n"
        block = yaml_text if yaml_text.endswith("\n") else yaml_text + "\n"
        await self._host.write_bytes_atomic(path, f"---\n{block}---\n{new_body}".encode())
        return path

    async def close_ticket(
        self, ticket: str, changelog_entry: str, *, status: str = "complete"
    ) -> CloseResult:
        """``docmgr ticket close`` with the exact id; its row gives the task counts."""
        found = await self.get_ticket(ticket)
        args = ["ticket", "close", "--ticket", found.ticket, "--status", status]
        if changelog_entry:
            args += ["--changelog-entry", changelog_entry]
        rows = await self._run(*args)
        if len(rows) != 1:
            raise DocmgrError(f"docmgr ticket close printed {len(rows)} rows, expected 1")
        row = rows[0]
        return CloseResult(
            ticket=replace(found, status=_text(row, "status") or found.status),
            previous_status=found.status,
            open_tasks=_count(row, "open_tasks"),
            done_tasks=_count(row, "done_tasks"),
        )
