"""The docs provider interface: find, create, extend and close tickets in docmgr's layout.

A *ticket* is a folder under a docs root whose ``index.md`` frontmatter says
``DocType: index`` and ``Ticket: <id>`` (contract §A.2, §E.2). The id in the frontmatter is
the only identity: folder names are never matched, not even as a prefix, because
``METAWSM-1`` must not find ``METAWSM-10`` (the forgiving-reference hazard of §B.6).

Ids compare case-insensitively, as metawsm's docs federation merges them (``UPPER(ticket)``);
two folders whose ids differ only in case are therefore a :class:`DuplicateTicket`, never a
silent pick. The spelling in the frontmatter is canonical and is what is passed on.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from metawsm.docs.errors import DuplicateTicket, UnsafePath

# Characters that cannot appear in a ticket id: it becomes a folder name and an argv value.
_FORBIDDEN_ID_CHARS = frozenset("/\\\0\n\r\t")


@dataclass(frozen=True, slots=True)
class Ticket:
    """One ticket folder, as found through its ``index.md``."""

    ticket: str  # canonical id, as written in the frontmatter
    title: str
    status: str
    docs_root: str  # absolute
    rel_path: str  # relative to docs_root, "/"-separated, e.g. 2026/02/08/T-1--slug
    topics: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        """The ticket folder's absolute path."""
        return posixpath.join(self.docs_root, self.rel_path)

    @property
    def index_path(self) -> str:
        """The ticket's ``index.md``."""
        return posixpath.join(self.path, "index.md")


@dataclass(frozen=True, slots=True)
class CloseResult:
    """What closing a ticket did, mirroring ``docmgr ticket close``'s structured row."""

    ticket: Ticket  # as it is after the close
    previous_status: str | None  # None when unknown
    open_tasks: int
    done_tasks: int

    @property
    def all_tasks_done(self) -> bool:
        """No open task and at least one task at all (docmgr's ``all_tasks_done``)."""
        return self.open_tasks == 0 and self.done_tasks > 0


class DocsProvider(Protocol):
    """Ticket documents in docmgr's layout, by the built-in code or by the docmgr CLI."""

    async def find_ticket(self, ticket: str) -> Ticket | None:
        """The ticket whose ``index.md`` says ``Ticket: <ticket>`` (case-insensitive).

        ``None`` when no folder claims it; :class:`DuplicateTicket` when several do.
        """
        ...

    async def get_ticket(self, ticket: str) -> Ticket:
        """Like :meth:`find_ticket`, but raises :class:`TicketNotFound` (with a hint)."""
        ...

    async def list_tickets(self) -> list[Ticket]:
        """Every ticket under the docs root, sorted by id then path."""
        ...

    async def create_ticket(self, ticket: str, title: str, *, topics: Sequence[str] = ()) -> Ticket:
        """Create ``YYYY/MM/DD/<ticket>--<slug>/`` with index, README, tasks and changelog.

        Raises :class:`TicketExists` if a folder already claims the id: docmgr would make a
        second folder, after which the id resolves to nothing (§A.2).
        """
        ...

    async def add_doc(self, ticket: str, doc_type: str, title: str, body: str) -> str:
        """Write ``<ticket>/<doc_type>/NN-<slug>.md`` with frontmatter and ``body``.

        Returns the new document's absolute path.
        """
        ...

    async def close_ticket(
        self, ticket: str, changelog_entry: str, *, status: str = "complete"
    ) -> CloseResult:
        """Set ``Status`` and ``LastUpdated`` in ``index.md`` and append a changelog entry.

        The folder is not moved, archived or otherwise changed (§A.5).
        """
        ...


def same_ticket(a: str, b: str) -> bool:
    """Whether two ticket ids name the same ticket: whole-id, case-insensitive equality."""
    return a.strip().casefold() == b.strip().casefold()


def pick_ticket(ticket: str, candidates: Iterable[Ticket]) -> Ticket | None:
    """The one candidate whose id is ``ticket``; :class:`DuplicateTicket` if several are."""
    matches = [found for found in candidates if same_ticket(found.ticket, ticket)]
    if len(matches) > 1:
        raise DuplicateTicket(ticket, sorted(found.path for found in matches))
    return matches[0] if matches else None


def check_ticket_id(ticket: str) -> str:
    """A ticket id that is safe as a folder name and an argv value, stripped; else raise."""
    clean = ticket.strip()
    if not clean:
        raise UnsafePath("ticket id cannot be empty", path=ticket)
    if clean.startswith((".", "-")) or any(char in _FORBIDDEN_ID_CHARS for char in clean):
        raise UnsafePath(
            f"ticket id {clean!r} cannot be used as a folder name",
            path=ticket,
            hint="use letters, digits and dashes, e.g. METAWSM-012",
        )
    return clean


def check_segment(value: str, what: str) -> str:
    """One path segment (a doc type, a folder name): no separators, not ``.``/``..``."""
    if not value or value in (".", "..") or "/" in value or "\\" in value or "\0" in value:
        raise UnsafePath(f"{what} {value!r} must be a single folder name", path=value)
    if value.startswith((".", "_")):
        # docmgr never indexes `.meta/` or `_*/` folders: a doc written there would vanish.
        raise UnsafePath(f"{what} {value!r} would be hidden from docmgr's index", path=value)
    return value


def check_rel_path(rel_path: str) -> str:
    """A relative ``/``-path that stays under its root: no ``..``, not absolute, not empty."""
    if not rel_path or rel_path.startswith("/") or "\\" in rel_path or "\0" in rel_path:
        raise UnsafePath(
            f"unsafe ticket path {rel_path!r}: must be relative to the docs root",
            path=rel_path,
        )
    parts = rel_path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafePath(
            f"unsafe ticket path {rel_path!r}: no '..', '.' or empty segments allowed",
            path=rel_path,
        )
    return rel_path
