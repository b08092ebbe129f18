"""Ticket documents in docmgr's layout: find, create, extend, close, and seed into workspaces.

Two providers implement :class:`DocsProvider`: :class:`NativeDocsProvider` reads and writes
the on-disk layout itself (the default; contract §A) and :class:`DocmgrCliProvider` drives the
real ``docmgr`` binary through its JSON output (§B). Either way a ticket is found by the
``Ticket:`` field of its ``index.md``, never by folder name. :func:`seed_ticket` copies a
ticket folder into a workspace's doc-home repo and returns a content revision.
All file and command access goes through a :class:`~metawsm.hosts.base.Host`.
"""

from metawsm.docs.base import CloseResult, DocsProvider, Ticket, same_ticket
from metawsm.docs.docmgr_cli import DocmgrCliProvider
from metawsm.docs.errors import (
    DocmgrError,
    DocsError,
    DuplicateTicket,
    FrontmatterError,
    SeedError,
    TicketExists,
    TicketNotFound,
    UnsafePath,
)
from metawsm.docs.frontmatter import (
    Document,
    Frontmatter,
    RelatedFile,
    parse_document,
    parse_frontmatter,
    render_document,
    render_frontmatter,
)
from metawsm.docs.native import NativeDocsProvider, ScanProblem, TicketScan
from metawsm.docs.root import DocsLocation, resolve_docs_location, resolve_docs_root
from metawsm.docs.seed import (
    SeedResult,
    locate_seeded,
    seed_ticket,
    tree_revision,
    verify_seeded,
    workspace_docs_root,
)

__all__ = [
    "CloseResult",
    "DocmgrCliProvider",
    "DocmgrError",
    "DocsError",
    "DocsLocation",
    "DocsProvider",
    "Document",
    "DuplicateTicket",
    "Frontmatter",
    "FrontmatterError",
    "NativeDocsProvider",
    "RelatedFile",
    "ScanProblem",
    "SeedError",
    "SeedResult",
    "Ticket",
    "TicketExists",
    "TicketNotFound",
    "TicketScan",
    "UnsafePath",
    "locate_seeded",
    "parse_document",
    "parse_frontmatter",
    "render_document",
    "render_frontmatter",
    "resolve_docs_location",
    "resolve_docs_root",
    "same_ticket",
    "seed_ticket",
    "tree_revision",
    "verify_seeded",
    "workspace_docs_root",
]
