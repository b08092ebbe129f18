"""docmgr's YAML (frontmatter, ``.ttmp.yaml``), read and written with ruamel.yaml.

Reading follows docmgr: the text first goes through docmgr's ``PreprocessYAML`` rule (a
``key: value`` line whose plain value looks unsafe is single-quoted, so ``Title: Fix #12:
parser`` is the literal ``Fix #12: parser``), then ruamel.yaml reads it with no implicit
typing: every scalar is a string (docmgr's struct fields are strings; typing, timestamps
included, is the caller's), ``null``/``~``/an empty value are ``None``.

Writing uses ruamel.yaml's round-trip mode laid out as Go's yaml.v3 writes docmgr's files
(4-space indent, ``- item`` four spaces in, strings that would read as another type
quoted). :func:`update_mapping` rewrites some keys of an existing text and keeps everything
else as it was: key order, quoting, comments and keys docmgr does not know.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.resolver import VersionedResolver

Node = str | list["Node"] | dict[str, "Node"] | None

_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_KEY_LINE_RE = re.compile(r"^([ \t]*)([^:]*):(.*)$", re.DOTALL)


class YamlError(Exception):
    """The text is not YAML docmgr could read; ``line`` is 1-based within the text."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message, line)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class Timestamp(str):
    """A scalar yaml.v3 writes plain although it resolves as a timestamp (``LastUpdated``)."""

    __slots__ = ()


class _StringResolver(VersionedResolver):
    """No implicit typing: every plain scalar is a string (docmgr's fields are strings)."""

    @property
    def versioned_resolver(self) -> Any:
        return {}


def _represent_timestamp(representer: RoundTripRepresenter, value: Timestamp) -> Any:
    return representer.represent_scalar(_TIMESTAMP_TAG, str(value))


_STR_TAG = "tag:yaml.org,2002:str"
_TYPING = VersionedResolver()


def _printable(char: str) -> bool:
    """Printable in a plain YAML scalar (YAML 1.2 §5.1; NEL and U+2028/9 break lines)."""
    code = ord(char)
    if char == "\t":
        return True
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return False
    return not (0xD800 <= code <= 0xDFFF or code in (0xFEFF, 0xFFFE, 0xFFFF, 0x2028, 0x2029))


def _represent_str(representer: RoundTripRepresenter, value: str) -> Any:
    # yaml.v3 double-quotes a string that is empty or would read back as another type.
    tag = _TYPING.resolve(ScalarNode, value, (True, False))
    quoted = value == "" or str(tag) != _STR_TAG or not all(map(_printable, value))
    style = '"' if quoted else None
    return representer.represent_scalar(_STR_TAG, value, style=style)


def _reader() -> YAML:
    yaml = YAML(typ="rt")
    # No implicit resolution: `123`, `true`, `2026-02-07` stay the strings they were written as.
    yaml.Resolver = _StringResolver
    yaml.preserve_quotes = True
    yaml.allow_duplicate_keys = False
    return yaml


def _writer() -> YAML:
    yaml = YAML(typ="rt")
    yaml.indent(mapping=4, sequence=6, offset=4)
    yaml.width = 1 << 30  # yaml.v3 folds no line docmgr writes
    yaml.preserve_quotes = True
    yaml.representer.add_representer(Timestamp, _represent_timestamp)
    yaml.representer.add_representer(str, _represent_str)
    return yaml


# -- docmgr's PreprocessYAML -----------------------------------------------------------------


def needs_docmgr_quoting(value: str) -> bool:
    """docmgr's ``NeedsQuoting``: would ``PreprocessYAML`` single-quote this plain value?"""
    trimmed = value.strip()
    if not trimmed:
        return False
    if trimmed[0] in "@`#&*!|>%?":
        return True
    if ": " in value or trimmed.endswith(":"):
        return True
    if " #" in value or "\t" in value:
        return True
    return "{{" in value or "}}" in value


def preprocess(text: str) -> str:
    """docmgr's ``PreprocessYAML``, line by line (the line count never changes).

    A line ``key: value`` (at any indent; not a ``- item`` line, not a comment) whose value is
    not already quoted, a flow collection or a block scalar, and that
    :func:`needs_docmgr_quoting`, becomes ``key: '<value>'``.
    """
    out: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip(" \t\r\n\v\f")
        trimmed = line.lstrip(" \t")
        match = _KEY_LINE_RE.match(line)
        if not stripped or stripped.startswith("#") or trimmed.startswith("- ") or not match:
            out.append(line)
            continue
        indent, key, rest = match.group(1), match.group(2).strip(), match.group(3).strip()
        if not rest or rest[0] in "\"'[{|>" or not needs_docmgr_quoting(rest):
            out.append(line)
            continue
        out.append(f"{indent}{key}: '" + rest.replace("'", "''") + "'")
    return "\n".join(out)


# -- reading ---------------------------------------------------------------------------------


def load_roundtrip(text: str) -> Any:
    """The round-trip document (``CommentedMap`` …) of a text, after :func:`preprocess`."""
    try:
        return _reader().load(preprocess(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        parts = [part for part in (exc.context, exc.problem) if part]
        message = ": ".join(parts) or "not valid YAML"
        raise YamlError(message, line) from None
    except YAMLError as exc:
        raise YamlError(str(exc).splitlines()[0] if str(exc) else "not valid YAML", 1) from None


def to_node(value: Any, line: int = 1) -> Node:
    """A round-trip value as plain :data:`Node` data (``dict``/``list``/``str``/``None``)."""
    if value is None:
        return None
    if isinstance(value, str):
        plain = str(value)
        # Under the base resolver a plain `null` or `~` is still a string; yaml.v3 reads null.
        if type(value) is str and plain in _NULLS:
            return None
        return plain
    if isinstance(value, Mapping):
        out: dict[str, Node] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise YamlError(f"mapping key {key!r} is not a string", line)
            out[str(key)] = to_node(item, line)
        return out
    if isinstance(value, list):
        return [to_node(item, line) for item in value]
    raise YamlError(f"unsupported YAML value {value!r}", line)


def load(text: str) -> Node:
    """Read one YAML text as docmgr reads it; raises :class:`YamlError`."""
    return to_node(load_roundtrip(text))


# -- writing ---------------------------------------------------------------------------------


def _commented(node: Node) -> Any:
    if isinstance(node, dict):
        mapping = CommentedMap()
        for key, item in node.items():
            mapping[key] = _commented(item)
        return mapping
    if isinstance(node, list):
        seq = CommentedSeq(_commented(item) for item in node)
        if not node:
            seq.fa.set_flow_style()
        return seq
    return node


def dump(data: Any) -> str:
    """Render round-trip data (or plain :data:`Node` data) in docmgr's layout."""
    if not isinstance(data, (CommentedMap, CommentedSeq)):
        data = _commented(data)
    stream = io.StringIO()
    _writer().dump(data, stream)
    text = stream.getvalue()
    # ruamel writes an empty mapping as `{}` on its own line; an empty text is what we mean.
    return "" if text.strip() == "{}" else text


def dump_mapping(mapping: Mapping[str, Node]) -> str:
    """A new mapping in docmgr's block style, ending with a newline."""
    for key in mapping:
        if not key or "\n" in key or key != key.strip():
            raise ValueError(f"cannot write {key!r} as a YAML key")
    return dump(dict(mapping))


def update_mapping(text: str, changes: Mapping[str, Node]) -> str:
    """``text`` with the top-level keys in ``changes`` set; everything else is kept.

    A key that exists keeps its place (and its comments); a new key is added at the end.
    """
    document = load_roundtrip(text)
    if document is None:
        document = CommentedMap()
    if not isinstance(document, CommentedMap):
        raise YamlError("frontmatter must be a `Key: value` mapping", 1)
    for key, value in changes.items():
        document[key] = _commented(value)
    return dump(document)
