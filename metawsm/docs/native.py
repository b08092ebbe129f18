"""The built-in docs provider: docmgr's on-disk layout, read and written directly.

Everything goes through a :class:`~metawsm.hosts.base.Host`, so a docs root on an SSH host
is handled like a local one. What is written is what docmgr ``v0.0.20`` writes (contract
§A.2–§A.7, §E.6): the same folder names, frontmatter keys and order, scaffold files,
changelog and close formats. Two deliberate differences, both safer:

- ``create_ticket`` refuses an id that already has a folder (docmgr would create a second
  one on another day, after which the id is ambiguous);
- rewriting a document keeps its body byte for byte and keeps frontmatter keys docmgr does
  not know.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import anyio

from metawsm.docs import control
from metawsm.docs._hostfs import TreeEntry, walk_tree
from metawsm.docs.base import (
    CloseResult,
    Ticket,
    check_segment,
    check_ticket_id,
    pick_ticket,
)
from metawsm.docs.errors import DocsError, FrontmatterError, TicketExists, TicketNotFound
from metawsm.docs.frontmatter import (
    Document,
    Frontmatter,
    parse_document,
    render_document,
    split_document,
    update_document,
)
from metawsm.docs.root import resolve_docs_location
from metawsm.hosts.base import Host

# Folders docmgr never indexes (skip_policy.go and its built-in ignores).
_SKIPPED_DIRS = frozenset({".meta", ".git", "node_modules", ".pnpm", "dist", "build", "coverage"})
# Frontmatter sits at the top: read this much first, the whole file only if it is longer.
_HEAD_BYTES = 64 * 1024
_READ_CONCURRENCY = 16


def _local_now() -> datetime:
    return datetime.now().astimezone()


@dataclass(frozen=True, slots=True)
class ScanProblem:
    """A document that might be a ticket index but could not be read."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class TicketScan:
    """Everything a walk of the docs root found."""

    tickets: tuple[Ticket, ...]
    problems: tuple[ScanProblem, ...]


def _pruned(rel: str) -> bool:
    name = posixpath.basename(rel)
    return name.startswith("_") or name in _SKIPPED_DIRS


class NativeDocsProvider:
    """Tickets under one docs root, read and written in docmgr's layout."""

    def __init__(
        self,
        host: Host,
        docs_root: str,
        *,
        default_intent: str = control.DEFAULT_INTENT,
        default_owners: Sequence[str] = (),
        clock: Callable[[], datetime] = _local_now,
    ) -> None:
        if not posixpath.isabs(docs_root):
            raise ValueError(f"docs_root must be absolute, got {docs_root!r}")
        self._host = host
        self._root = posixpath.normpath(docs_root)
        self._default_intent = default_intent or control.DEFAULT_INTENT
        self._default_owners = tuple(default_owners)
        # Local time with its offset, as docmgr's time.Now(): the folder date is a local date.
        self._clock = clock

    @classmethod
    async def for_repository(
        cls,
        host: Host,
        start_dir: str,
        configured: str | None = None,
        *,
        clock: Callable[[], datetime] = _local_now,
    ) -> NativeDocsProvider:
        """A provider for the docs root docmgr would use in ``start_dir`` (and its defaults)."""
        location = await resolve_docs_location(host, start_dir, configured)
        return cls(
            host,
            location.root,
            default_intent=location.default_intent,
            default_owners=location.default_owners,
            clock=clock,
        )

    @property
    def docs_root(self) -> str:
        """The absolute docs root."""
        return self._root

    def _now(self) -> datetime:
        now = self._clock()
        if now.utcoffset() is None:
            raise ValueError("the docs clock must return timezone-aware datetimes")
        return now

    # -- reading -------------------------------------------------------------------------------

    async def read_document(self, path: str) -> Document:
        """Read and parse one document; :class:`FrontmatterError` names the file."""
        return parse_document(await self._read_text(path), path=path)

    async def _read_text(self, path: str, *, missing: str | None = None) -> str:
        """A UTF-8 file's text; ``missing`` (if given) when it does not exist."""
        try:
            data = await self._host.read_bytes(path)
        except FileNotFoundError:
            if missing is None:
                raise
            return missing
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise DocsError(f"{path} is not UTF-8 text; refusing to rewrite it") from None

    async def _read_head(self, path: str) -> str | None:
        """The file's text up to and including its frontmatter; None if it has none."""
        data = await self._host.read_bytes(path, limit=_HEAD_BYTES)
        text = data.decode("utf-8", "replace")
        if split_document(text) is None and len(data) >= _HEAD_BYTES:
            text = (await self._host.read_bytes(path)).decode("utf-8", "replace")
        return text if split_document(text) is not None else None

    async def scan(self) -> TicketScan:
        """Walk the docs root and find every ticket index (any ``*.md`` with DocType index).

        Folders docmgr skips (``.meta``, ``_*``, ``.git``, …) are skipped; links are not
        followed. Documents whose frontmatter cannot be read are reported, not fatal.
        """
        found = await self._host.stat(self._root)
        if found is None or not found.is_dir:
            return TicketScan((), (ScanProblem(self._root, "docs root does not exist"),))
        try:
            entries = await walk_tree(self._host, self._root, prune=_pruned)
        except OSError as exc:
            raise DocsError(f"cannot read docs root {self._root}: {exc}") from exc
        candidates = [e for e in entries if e.kind == "file" and e.rel.endswith(".md")]
        tickets: list[Ticket] = []
        problems: list[ScanProblem] = []
        limiter = anyio.CapacityLimiter(_READ_CONCURRENCY)

        async def inspect(entry: TreeEntry) -> None:
            async with limiter:
                outcome = await self._inspect(entry)
            if isinstance(outcome, Ticket):
                tickets.append(outcome)
            elif outcome is not None:
                problems.append(outcome)

        async with anyio.create_task_group() as group:
            for entry in candidates:
                group.start_soon(inspect, entry)
        tickets.sort(key=lambda t: (t.ticket.casefold(), t.rel_path))
        problems.sort(key=lambda p: p.path)
        return TicketScan(tuple(tickets), tuple(problems))

    async def _inspect(self, entry: TreeEntry) -> Ticket | ScanProblem | None:
        path = posixpath.join(self._root, entry.rel)
        is_index_name = posixpath.basename(entry.rel) == "index.md"
        try:
            text = await self._read_head(path)
        except OSError as exc:
            return ScanProblem(path, f"cannot read: {exc.strerror or exc}")
        if text is None:
            # Control docs and plain notes have no frontmatter; only index.md must.
            return ScanProblem(path, "index.md has no frontmatter") if is_index_name else None
        try:
            fm = parse_document(text, path=path).frontmatter
        except FrontmatterError as exc:
            return ScanProblem(path, exc.reason)
        if fm.doc_type.strip() != "index" or not fm.ticket.strip():
            if is_index_name and fm.doc_type.strip() == "index":
                return ScanProblem(path, "index.md has no Ticket: field")
            return None
        folder = posixpath.dirname(entry.rel)
        if not folder:
            return ScanProblem(path, "an index doc at the docs root is not a ticket folder")
        return Ticket(
            ticket=fm.ticket.strip(),
            title=fm.title,
            status=fm.status,
            docs_root=self._root,
            rel_path=folder,
            topics=fm.topics,
        )

    async def list_tickets(self) -> list[Ticket]:
        """Every ticket under the docs root, sorted by id then path (duplicates included)."""
        return list((await self.scan()).tickets)

    async def find_ticket(self, ticket: str) -> Ticket | None:
        """The ticket whose index says ``Ticket: <ticket>`` (whole id, any case), or None."""
        scan = await self.scan()
        return pick_ticket(ticket, scan.tickets)

    async def get_ticket(self, ticket: str) -> Ticket:
        """:meth:`find_ticket`, raising :class:`TicketNotFound` with what the scan saw."""
        scan = await self.scan()
        found = pick_ticket(ticket, scan.tickets)
        if found is not None:
            return found
        hint = None
        if scan.problems:
            shown = "; ".join(f"{p.path}: {p.reason}" for p in scan.problems[:3])
            more = f" (and {len(scan.problems) - 3} more)" if len(scan.problems) > 3 else ""
            hint = f"unreadable documents that may be its index: {shown}{more}"
        raise TicketNotFound(ticket, self._root, hint=hint)

    # -- writing -------------------------------------------------------------------------------

    async def _write_if_missing(self, path: str, text: str) -> None:
        if await self._host.stat(path) is None:
            await self._host.write_bytes_atomic(path, text.encode("utf-8"))

    async def _mode_of(self, path: str) -> int:
        found = await self._host.stat(path)
        return found.mode & 0o777 if found is not None else 0o644

    async def create_ticket(self, ticket: str, title: str, *, topics: Sequence[str] = ()) -> Ticket:
        """Create the ticket folder exactly as ``docmgr ticket create`` lays it out."""
        ticket = check_ticket_id(ticket)
        if not title.strip():
            raise DocsError(f"ticket {ticket} needs a title")
        existing = await self.find_ticket(ticket)
        if existing is not None:
            raise TicketExists(existing)
        now = self._now()
        rel_path = control.ticket_dir_name(ticket, title, now.date())
        folder = posixpath.join(self._root, rel_path)
        index_path = posixpath.join(folder, "index.md")
        if await self._host.stat(index_path) is not None:
            # Not ours (the scan would have found it): never overwrite another index.
            raise DocsError(
                f"{index_path} exists but does not claim {ticket}",
                hint="move or fix that folder's index.md before creating the ticket",
            )
        for sub in ("", *control.TICKET_SUBDIRS):
            await self._host.makedirs(posixpath.join(folder, sub) if sub else folder)
        clean_topics = tuple(t.strip() for t in topics if t.strip())
        index = Frontmatter(
            title=title,
            ticket=ticket,
            status="active",
            topics=clean_topics,
            doc_type="index",
            intent=self._default_intent,
            owners=self._default_owners,
            last_updated=now,
        )
        document = Document(index, control.index_body(ticket, title))
        await self._host.write_bytes_atomic(index_path, render_document(document).encode())
        await self._write_if_missing(
            posixpath.join(folder, "README.md"), control.readme(ticket, title)
        )
        await self._write_if_missing(posixpath.join(folder, "tasks.md"), control.TASKS_SEED)
        await self._write_if_missing(
            posixpath.join(folder, "changelog.md"), control.changelog_seed(now.date())
        )
        return Ticket(ticket, title, "active", self._root, rel_path, clean_topics)

    async def add_doc(self, ticket: str, doc_type: str, title: str, body: str) -> str:
        """Write ``<ticket>/<doc_type>/NN-<slug>.md`` as ``docmgr doc add`` would, plus body.

        Status, Topics, Owners and Intent come from the ticket's index; ``Ticket:`` is the
        canonical id. Returns the absolute path.
        """
        found = await self.get_ticket(ticket)
        check_segment(doc_type, "doc type")
        if not title.strip():
            raise DocsError("a document needs a title")
        index = (await self.read_document(found.index_path)).frontmatter
        folder = posixpath.join(found.path, doc_type)
        await self._host.makedirs(folder)
        name = control.next_doc_filename(await self._host.listdir(folder), title)
        path = posixpath.join(folder, name)
        if await self._host.stat(path) is not None:
            raise DocsError(f"document already exists: {path}")
        fm = Frontmatter(
            title=title,
            ticket=index.ticket.strip(),
            status=index.status,
            topics=index.topics,
            doc_type=doc_type,
            intent=index.intent or control.DEFAULT_INTENT,
            owners=index.owners,
            last_updated=self._now(),
        )
        # docmgr writes a blank line after the closing `---`; the body follows it.
        text = "\n" + body if body else "\n"
        if body and not body.endswith("\n"):
            text += "\n"
        await self._host.write_bytes_atomic(path, render_document(Document(fm, text)).encode())
        return path

    async def close_ticket(
        self, ticket: str, changelog_entry: str, *, status: str = "complete"
    ) -> CloseResult:
        """``docmgr ticket close``: Status and LastUpdated rewritten, a changelog entry added.

        An empty ``changelog_entry`` becomes ``Ticket closed`` and an empty ``status`` keeps
        the current one, as in docmgr. Open tasks do not block (docmgr only warns).
        """
        found = await self.get_ticket(ticket)
        tasks_path = posixpath.join(found.path, "tasks.md")
        tasks = control.count_tasks(await self._read_text(tasks_path, missing=""))
        text = await self._read_text(found.index_path)
        document = parse_document(text, path=found.index_path)
        previous = document.frontmatter.status
        now = self._now()
        updated = replace(
            document.frontmatter,
            status=status or previous,
            last_updated=now,
        )
        await self._host.write_bytes_atomic(
            found.index_path,
            update_document(text, updated, path=found.index_path).encode(),
            mode=await self._mode_of(found.index_path),
        )
        changelog_path = posixpath.join(found.path, "changelog.md")
        changelog = await self._read_text(changelog_path, missing=control.CHANGELOG_HEADER)
        changelog += control.changelog_entry(now.date(), changelog_entry or "Ticket closed")
        await self._host.write_bytes_atomic(
            changelog_path, changelog.encode(), mode=await self._mode_of(changelog_path)
        )
        return CloseResult(
            ticket=replace(found, status=updated.status),
            previous_status=previous,
            open_tasks=tasks.open,
            done_tasks=tasks.done,
        )
