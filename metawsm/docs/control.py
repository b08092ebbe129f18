"""The text formats docmgr writes besides frontmatter: names, tasks, changelog, scaffolding.

Each function reproduces one docmgr behaviour (contract §A.2, §A.4, §A.6, §A.7; docmgr
``v0.0.20`` sources named in each docstring) so that files written by metawsm's native
provider and by docmgr are indistinguishable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

# The scaffold `docmgr ticket create` makes inside a ticket folder (create_ticket.go).
TICKET_SUBDIRS = (
    "design",
    "reference",
    "playbooks",
    "scripts",
    "sources",
    ".meta",
    "various",
    "archive",
)
TASKS_SEED = "# Tasks\n\n## TODO\n\n"
CHANGELOG_HEADER = "# Changelog\n\n"
DEFAULT_INTENT = "long-term"
_TICKET_SEPARATORS = " \t-–—:_"
_NUMERIC_PREFIX_RE = re.compile(r"^(\d{2,3})-")


def slugify(text: str) -> str:
    """docmgr's ``utils.Slugify``: lowercase, runs of non-``[a-z0-9]`` to ``-``, trimmed."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "document"


def slugify_title_for_ticket(ticket: str, title: str) -> str:
    """docmgr's ``SlugifyTitleForTicket``: drop a leading ``<TICKET>`` and separators first."""
    clean_ticket = ticket.strip()
    clean_title = title.strip()
    if not clean_title:
        return slugify(clean_ticket)
    stripped = clean_title
    if clean_ticket and clean_title[: len(clean_ticket)].casefold() == clean_ticket.casefold():
        stripped = clean_title[len(clean_ticket) :].lstrip(_TICKET_SEPARATORS).strip()
    if not stripped:
        return slugify(clean_ticket or clean_title)
    return slugify(stripped)


def ticket_dir_name(ticket: str, title: str, day: date) -> str:
    """``YYYY/MM/DD/<TICKET>--<slug>``, the default ``--path-template`` (contract §A.2)."""
    return f"{day:%Y/%m/%d}/{ticket}--{slugify_title_for_ticket(ticket, title)}"


def next_doc_filename(existing: list[str], title: str) -> str:
    """``NN-<slug>.md`` after the highest ``NN-``/``NNN-`` prefix among ``.md`` names.

    Two digits, three from 100 on; a slug that already starts with a number loses it, and a
    name that is taken moves on to the next number (docmgr's ``buildPrefixedDocPath``).
    """
    slug = slugify(title)
    prefixed = _NUMERIC_PREFIX_RE.match(slug)
    if prefixed:
        slug = slug[prefixed.end() :]
    highest = 0
    for name in existing:
        match = _NUMERIC_PREFIX_RE.match(name)
        if name.endswith(".md") and match:
            highest = max(highest, int(match.group(1)))
    taken = set(existing)
    number = highest + 1
    while True:
        width = 3 if number >= 100 else 2
        name = f"{number:0{width}d}-{slug}.md"
        if name not in taken:
            return name
        number += 1


def index_body(ticket: str, title: str) -> str:
    """The body ``ticket create`` writes under the frontmatter when the root has no template.

    docmgr writes ``---`` and a blank line before it; that blank line is part of our body.
    """
    return f"\n# {title}\n\nDocument workspace for {ticket}.\n"


def readme(ticket: str, title: str) -> str:
    """The ``README.md`` ``ticket create`` writes."""
    return (
        f"# {title}\n"
        "\n"
        f"This is the document workspace for ticket {ticket}.\n"
        "\n"
        "## Structure\n"
        "\n"
        "- **design/**: Design documents and architecture notes\n"
        "- **reference/**: Reference documentation and API contracts\n"
        "- **playbooks/**: Operational playbooks and procedures\n"
        "- **scripts/**: Utility scripts and automation\n"
        "- **sources/**: External sources and imported documents\n"
        "- **various/**: Scratch or meeting notes, working notes\n"
        "- **archive/**: Optional space for deprecated or reference-only artifacts\n"
        "\n"
        "## Getting Started\n"
        "\n"
        "Use docmgr commands to manage this workspace:\n"
        "\n"
        f"- Add documents: `docmgr doc add --ticket {ticket} --doc-type design-doc"
        ' --title "My Design"`\n'
        f"- Import sources: `docmgr import file --ticket {ticket} --file /path/to/doc.md`\n"
        f"- Update metadata: `docmgr meta update --ticket {ticket} --field Status --value review`\n"
    )


def changelog_seed(day: date) -> str:
    """The ``changelog.md`` ``ticket create`` writes."""
    return f"{CHANGELOG_HEADER}## {day:%Y-%m-%d}\n\n- Initial workspace created\n\n"


def changelog_entry(day: date, entry: str) -> str:
    """What ``ticket close`` appends: ``\\n## YYYY-MM-DD\\n\\n<entry>\\n\\n`` (not a bullet)."""
    return f"\n## {day:%Y-%m-%d}\n\n{entry}\n\n"


@dataclass(frozen=True, slots=True)
class TaskCounts:
    """Open and done tasks of a ``tasks.md``."""

    open: int
    done: int

    @property
    def all_done(self) -> bool:
        """docmgr's ``all_tasks_done``: no open task, and at least one task at all."""
        return self.open == 0 and self.done > 0


def count_tasks(text: str) -> TaskCounts:
    """Count tasks as docmgr does: a line starting ``- [`` or ``* [``; ``[x]``/``[X]`` is done."""
    open_count = done = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped.startswith(("- [", "* [")):
            continue
        if stripped[:5].lower() in ("- [x]", "* [x]"):
            done += 1
        else:
            open_count += 1
    return TaskCounts(open_count, done)
