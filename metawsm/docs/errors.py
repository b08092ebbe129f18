"""Errors of the docs layer.

::

    DocsError (MetawsmError)
    ├── TicketNotFound      no index doc claims the ticket id (also a NotFoundError)
    ├── DuplicateTicket     two ticket folders claim the same ticket id
    ├── TicketExists        create_ticket for an id that already has a ticket folder
    ├── UnsafePath          a path that would leave its root: ``..``, absolute, an escaping link
    ├── FrontmatterError    a document's frontmatter cannot be read or lacks a required field
    ├── SeedError           copying a ticket folder into a workspace failed
    └── DocmgrError         the docmgr CLI failed, is missing, or printed output we cannot read
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from metawsm.errors import MetawsmError, NotFoundError

if TYPE_CHECKING:
    from metawsm.docs.base import Ticket


class DocsError(MetawsmError):
    """Ticket documents cannot be found, read, written or copied."""


class TicketNotFound(DocsError, NotFoundError):
    """No ticket folder claims this id in its ``index.md`` frontmatter."""

    def __init__(self, ticket: str, docs_root: str, *, hint: str | None = None) -> None:
        super().__init__(
            f"ticket {ticket} not found under {docs_root}",
            hint=hint
            or (
                "a ticket is found by the Ticket: field of its index.md, never by folder name; "
                "create it first (docmgr ticket create) or check docs.root in the policy"
            ),
        )
        self.ticket = ticket
        self.docs_root = docs_root


class DuplicateTicket(DocsError):
    """Two or more ticket folders claim the same id; resolving it would be a guess."""

    def __init__(self, ticket: str, paths: Sequence[str]) -> None:
        listed = ", ".join(paths)
        super().__init__(
            f"ticket {ticket} is claimed by {len(paths)} folders: {listed}",
            hint="keep one index.md per ticket id (merge or re-number the others)",
        )
        self.ticket = ticket
        self.paths = tuple(paths)


class TicketExists(DocsError):
    """``create_ticket`` was asked for an id that already has a ticket folder."""

    def __init__(self, existing: Ticket) -> None:
        super().__init__(
            f"ticket {existing.ticket} already exists at {existing.path}",
            hint="use the existing ticket, or pick a new id",
        )
        self.existing = existing


class UnsafePath(DocsError):
    """A path that is absolute, climbs with ``..``, or would otherwise leave its root."""

    def __init__(self, message: str, *, path: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


class FrontmatterError(DocsError):
    """A document's frontmatter is missing, malformed, or lacks a required field."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = path or "frontmatter"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
        self.reason = message


class SeedError(DocsError):
    """Seeding a ticket folder into a workspace failed part way."""


class DocmgrError(DocsError):
    """The docmgr CLI failed, is not installed, or printed output that is not its contract."""
