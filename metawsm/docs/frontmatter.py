"""docmgr document frontmatter: the typed fields of contract §A.3, read and written.

A docmgr document is ``---`` newline, a YAML block, ``---`` newline, then the markdown body.
Keys are PascalCase, written in the order of docmgr's ``models.Document`` struct with a
4-space indent; ``LastUpdated`` is Go's RFC3339Nano. Reading follows docmgr's own reader:
the block must open on the first line, it closes at the next line that is ``---`` once
trimmed, and risky plain scalars are taken literally (``PreprocessYAML``).

Unlike docmgr, which re-serializes through its struct and so drops keys it does not know,
unknown keys are kept (in ``extra``) and written back after the known ones; and the body is
kept byte for byte (docmgr adds a blank line each time it rewrites a file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from metawsm.docs import _yaml
from metawsm.docs.errors import FrontmatterError

Node = _yaml.Node

# Go's zero time.Time, which yaml.v3 writes for a document that never had LastUpdated.
_ZERO_TIME = "0001-01-01T00:00:00Z"
_TIMESTAMP_RE = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[Tt ](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d+))?[ \t]*(Z|z|[+-]\d{2}(?::?\d{2})?)?)?$"
)
REQUIRED_FIELDS = ("Title", "Ticket", "DocType")


@dataclass(frozen=True, slots=True)
class RelatedFile:
    """One ``RelatedFiles`` entry: a path (repo-relative, or an anchor) and why it matters."""

    path: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Frontmatter:
    """The fields docmgr knows (contract §A.3), plus any others the file carried."""

    title: str = ""
    ticket: str = ""
    status: str = ""
    topics: tuple[str, ...] = ()
    doc_type: str = ""
    intent: str = ""
    owners: tuple[str, ...] = ()
    related_files: tuple[RelatedFile, ...] = ()
    external_sources: tuple[str, ...] = ()
    summary: str = ""
    last_updated: datetime | None = None
    what_for: str = ""
    when_to_use: str = ""
    # Keys docmgr's struct does not know, in file order; written back after the known ones.
    extra: tuple[tuple[str, Node], ...] = field(default=())

    def missing_required(self) -> tuple[str, ...]:
        """The required keys (Title, Ticket, DocType) that are empty, as docmgr validates."""
        values = {"Title": self.title, "Ticket": self.ticket, "DocType": self.doc_type}
        return tuple(key for key in REQUIRED_FIELDS if not values[key].strip())


@dataclass(frozen=True, slots=True)
class Document:
    """A markdown document: its frontmatter and the body after the closing ``---`` line."""

    frontmatter: Frontmatter
    body: str


# -- timestamps ------------------------------------------------------------------------------


def parse_timestamp(text: str) -> datetime | None:
    """Read a YAML timestamp as Go's yaml.v3 does; Go's zero time reads as ``None``.

    Accepted: ``2026-02-07T07:26:37.343558-08:00`` (any fraction length, ``Z`` or an offset),
    the space-separated form, and a bare date. A missing zone means UTC, as in yaml.v3.
    Nanoseconds are cut to microseconds, the finest a Python datetime holds.
    """
    match = _TIMESTAMP_RE.match(text.strip())
    if match is None:
        raise ValueError(f"not a timestamp: {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz: timezone = UTC
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or "0"))
        tz = timezone(sign * offset)
    value = datetime(
        int(year),
        int(month),
        int(day),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        micro,
        tzinfo=tz,
    )
    if value == datetime(1, 1, 1, tzinfo=UTC):
        return None
    return value


def format_timestamp(value: datetime | None) -> str:
    """Go's ``time.RFC3339Nano``: trailing fraction zeros dropped, ``Z`` for a zero offset."""
    if value is None:
        return _ZERO_TIME
    offset = value.utcoffset()
    if offset is None:
        raise ValueError("LastUpdated must carry a timezone")
    if offset.seconds % 60 or offset.microseconds:
        raise ValueError("LastUpdated offset must be whole minutes")
    text = (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )
    if value.microsecond:
        text += "." + f"{value.microsecond:06d}".rstrip("0")
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        return text + "Z"
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


# -- mapping <-> Frontmatter -----------------------------------------------------------------

# docmgr's struct order: rendering follows it so our files diff cleanly against docmgr's.
_ORDER = (
    "Title",
    "Ticket",
    "Status",
    "Topics",
    "DocType",
    "Intent",
    "Owners",
    "RelatedFiles",
    "ExternalSources",
    "Summary",
    "LastUpdated",
    "WhatFor",
    "WhenToUse",
)
_KNOWN = frozenset(_ORDER)


def _as_string(key: str, node: Node) -> str:
    if node is None:
        return ""
    if isinstance(node, str):
        return node
    raise ValueError(f"{key} must be a single value, not a list or mapping")


def _as_list(key: str, node: Node) -> tuple[str, ...]:
    if node is None or node == "":
        return ()
    if not isinstance(node, list):
        raise ValueError(f"{key} must be a list (`- item` lines or `[a, b]`)")
    items: list[str] = []
    for item in node:
        if isinstance(item, (list, dict)):
            raise ValueError(f"{key} items must be single values")
        if item is not None:
            items.append(item)
    return tuple(items)


def _as_related(node: Node) -> tuple[RelatedFile, ...]:
    if node is None or node == "":
        return ()
    if not isinstance(node, list):
        raise ValueError("RelatedFiles must be a list")
    entries: list[RelatedFile] = []
    for item in node:
        if item is None:
            continue
        if isinstance(item, str):
            # Legacy form: a bare path string.
            entries.append(RelatedFile(item))
            continue
        if not isinstance(item, dict):
            raise ValueError("RelatedFiles items must be `Path:`/`Note:` mappings or paths")
        path = item.get("Path", item.get("path"))
        note = item.get("Note", item.get("note"))
        entries.append(RelatedFile(_as_string("Path", path), _as_string("Note", note)))
    return tuple(entries)


def frontmatter_from_mapping(mapping: dict[str, Node]) -> Frontmatter:
    """Type a parsed mapping; raises ``ValueError`` naming the key that has the wrong shape."""

    def text(key: str) -> str:
        return _as_string(key, mapping.get(key))

    def items(key: str) -> tuple[str, ...]:
        return _as_list(key, mapping.get(key))

    stamp = text("LastUpdated")
    return Frontmatter(
        title=text("Title"),
        ticket=text("Ticket"),
        status=text("Status"),
        topics=items("Topics"),
        doc_type=text("DocType"),
        intent=text("Intent"),
        owners=items("Owners"),
        related_files=_as_related(mapping.get("RelatedFiles")),
        external_sources=items("ExternalSources"),
        summary=text("Summary"),
        last_updated=parse_timestamp(stamp) if stamp else None,
        what_for=text("WhatFor"),
        when_to_use=text("WhenToUse"),
        extra=tuple((key, node) for key, node in mapping.items() if key not in _KNOWN),
    )


def frontmatter_to_mapping(fm: Frontmatter) -> dict[str, Node]:
    """The mapping docmgr would write: every known key, in struct order, then the extras."""
    related: list[Node] = []
    for entry in fm.related_files:
        item: dict[str, Node] = {"Path": entry.path}
        if entry.note:
            item["Note"] = entry.note
        related.append(item)
    known: dict[str, Node] = {
        "Title": fm.title,
        "Ticket": fm.ticket,
        "Status": fm.status,
        "Topics": list(fm.topics),
        "DocType": fm.doc_type,
        "Intent": fm.intent,
        "Owners": list(fm.owners),
        "RelatedFiles": related,
        "ExternalSources": list(fm.external_sources),
        "Summary": fm.summary,
        # yaml.v3 writes a time.Time unquoted.
        "LastUpdated": _yaml.Timestamp(format_timestamp(fm.last_updated)),
        "WhatFor": fm.what_for,
        "WhenToUse": fm.when_to_use,
    }
    mapping = {key: known[key] for key in _ORDER}
    for key, node in fm.extra:
        if key in mapping:
            raise ValueError(f"extra key {key!r} shadows a known field")
        mapping[key] = node
    return mapping


# -- text <-> Frontmatter / Document ---------------------------------------------------------


def parse_frontmatter(text: str, *, path: str | None = None, first_line: int = 1) -> Frontmatter:
    """Read the YAML between the ``---`` lines (without them).

    ``first_line`` is the file line the text starts on, so errors point into the file.
    """
    try:
        node = _yaml.load(text)
    except _yaml.YamlError as exc:
        raise FrontmatterError(exc.message, path=path, line=exc.line + first_line - 1) from None
    if node is None:
        node = {}
    if not isinstance(node, dict):
        raise FrontmatterError("frontmatter must be a `Key: value` mapping", path=path)
    try:
        return frontmatter_from_mapping(node)
    except ValueError as exc:
        raise FrontmatterError(str(exc), path=path) from None


def render_frontmatter(fm: Frontmatter) -> str:
    """The YAML block (without the ``---`` lines), ending with a newline."""
    return _yaml.dump_mapping(frontmatter_to_mapping(fm))


def split_document(text: str) -> tuple[str, str, int] | None:
    """``(yaml, body, yaml_first_line)``, or None when the text has no frontmatter block.

    Mirrors docmgr's ``extractFrontmatter``: the first line must be ``---`` once trimmed,
    the block ends at the next such line, and the body is everything after that line.
    """
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return None
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :]), 2
    return None


def parse_document(text: str, *, path: str | None = None) -> Document:
    """Read a whole document; raises :class:`FrontmatterError` without a frontmatter block."""
    parts = split_document(text)
    if parts is None:
        raise FrontmatterError("frontmatter delimiters '---' not found", path=path)
    yaml_text, body, first_line = parts
    return Document(parse_frontmatter(yaml_text, path=path, first_line=first_line), body)


def update_document(text: str, fm: Frontmatter, *, path: str | None = None) -> str:
    """``text`` with its frontmatter changed to ``fm``, everything else kept as it was.

    Only the keys whose value differs are rewritten (ruamel.yaml round trip): key order,
    quoting, comments, unknown keys and the body stay byte for byte where nothing changed.
    """
    parts = split_document(text)
    if parts is None:
        raise FrontmatterError("frontmatter delimiters '---' not found", path=path)
    yaml_text, body, first_line = parts
    before = frontmatter_to_mapping(parse_frontmatter(yaml_text, path=path, first_line=first_line))
    after = frontmatter_to_mapping(fm)
    changes = {key: value for key, value in after.items() if before.get(key) != value}
    if not changes:
        return text
    try:
        block = _yaml.update_mapping(yaml_text, changes)
    except _yaml.YamlError as exc:
        raise FrontmatterError(exc.message, path=path, line=exc.line + first_line - 1) from None
    return "---\n" + block + "---\n" + body


def render_document(document: Document) -> str:
    """``---``, the frontmatter, ``---``, then the body exactly as given."""
    return "---\n" + render_frontmatter(document.frontmatter) + "---\n" + document.body
