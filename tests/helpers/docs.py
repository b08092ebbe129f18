"""Build docs roots in docmgr's on-disk layout for tests, independently of ``metawsm.docs``.

The files are written as literal text in the shape docmgr ``v0.0.20`` writes (contract §A.2,
§A.3, §A.6, §A.7), not through metawsm's own frontmatter code, so a test that reads them with
metawsm checks metawsm against the contract rather than against itself.

::

    root = build_docs_root(tmp_path / "ttmp", TicketSpec("METAWSM-1", "First"))
    write_ticket(root, TicketSpec("METAWSM-10", "Tenth", dirname="METAWSM-10-legacy"))
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DAY = "2026/02/08"
DEFAULT_STAMP = "2026-02-08T06:28:17.900821-08:00"
TASKS_SEED = "# Tasks\n\n## TODO\n\n"
# What `docmgr ticket create` leaves in a ticket folder: 8 sub-folders and 4 files (§A.2).
TICKET_SCAFFOLD = (
    ".meta",
    "README.md",
    "archive",
    "changelog.md",
    "design",
    "index.md",
    "playbooks",
    "reference",
    "scripts",
    "sources",
    "tasks.md",
    "various",
)


def slug(title: str) -> str:
    """docmgr's slug of a title (lowercase, non-alphanumeric runs to ``-``)."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "document"


def frontmatter_text(
    *,
    title: str,
    ticket: str,
    doc_type: str = "index",
    status: str = "active",
    topics: tuple[str, ...] = ("core", "cli"),
    last_updated: str = DEFAULT_STAMP,
    summary: str = "",
) -> str:
    """A frontmatter block (with both ``---`` lines) as yaml.v3 writes it, 4-space indent."""
    topic_lines = "".join(f"    - {t}\n" for t in topics) if topics else ""
    topics_key = "Topics:\n" + topic_lines if topics else "Topics: []\n"
    quoted_title = f"'{title}'" if ": " in title else title
    summary_text = summary if summary else '""'
    return (
        "---\n"
        f"Title: {quoted_title}\n"
        f"Ticket: {ticket}\n"
        f"Status: {status}\n"
        f"{topics_key}"
        f"DocType: {doc_type}\n"
        "Intent: long-term\n"
        "Owners: []\n"
        "RelatedFiles: []\n"
        "ExternalSources: []\n"
        f"Summary: {summary_text}\n"
        f"LastUpdated: {last_updated}\n"
        'WhatFor: ""\n'
        'WhenToUse: ""\n'
        "---\n"
    )


@dataclass
class TicketSpec:
    """One ticket folder to write. ``dirname`` overrides ``<TICKET>--<slug>`` (legacy names)."""

    ticket: str
    title: str
    day: str = DEFAULT_DAY
    status: str = "active"
    topics: tuple[str, ...] = ("core", "cli")
    dirname: str | None = None
    last_updated: str = DEFAULT_STAMP
    tasks: str = TASKS_SEED
    changelog: str = "# Changelog\n\n## 2026-02-08\n\n- Initial workspace created\n\n"
    # Extra files inside the ticket folder: relative path -> content.
    files: dict[str, str] = field(default_factory=dict)

    @property
    def rel_path(self) -> str:
        """The ticket folder relative to the docs root."""
        name = self.dirname or f"{self.ticket}--{slug(self.title)}"
        return f"{self.day}/{name}" if self.day else name


def write_ticket(root: Path, spec: TicketSpec) -> Path:
    """Write one ticket folder under ``root``; returns the folder."""
    folder = root / spec.rel_path
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("design", "reference", "playbooks", "scripts", "sources", ".meta", "various"):
        (folder / sub).mkdir(exist_ok=True)
    (folder / "archive").mkdir(exist_ok=True)
    front = frontmatter_text(
        title=spec.title,
        ticket=spec.ticket,
        status=spec.status,
        topics=spec.topics,
        last_updated=spec.last_updated,
    )
    body = f"\n# {spec.title}\n\nDocument workspace for {spec.ticket}.\n"
    (folder / "index.md").write_text(front + body)
    (folder / "README.md").write_text(f"# {spec.title}\n")
    (folder / "tasks.md").write_text(spec.tasks)
    (folder / "changelog.md").write_text(spec.changelog)
    for rel, content in spec.files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    return folder


def write_doc(folder: Path, rel: str, *, ticket: str, title: str, doc_type: str) -> Path:
    """A non-index document with frontmatter inside a ticket folder."""
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        frontmatter_text(title=title, ticket=ticket, doc_type=doc_type) + f"\n# {title}\n"
    )
    return path


def build_docs_root(root: Path, *specs: TicketSpec) -> Path:
    """A docs root with ``vocabulary.yaml``, a ``_templates`` folder, and the given tickets."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "vocabulary.yaml").write_text("topics:\n    - slug: core\n      description: Core\n")
    templates = root / "_guidelines"
    templates.mkdir(exist_ok=True)
    # An index-looking doc under `_*` that docmgr never indexes: it must stay invisible.
    (templates / "index.md").write_text(
        frontmatter_text(title="Guideline", ticket="HIDDEN-1") + "\nGuideline.\n"
    )
    for spec in specs:
        write_ticket(root, spec)
    return root
