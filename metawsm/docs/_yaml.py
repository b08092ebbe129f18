"""A small reader and writer for the YAML subset docmgr's files use.

docmgr writes frontmatter with Go's yaml.v3 (4-space indent) and reads it after
``PreprocessYAML``, which single-quotes risky ``key: value`` scalars. Its ``.ttmp.yaml`` is a
two-level mapping. What appears in practice, and so what this module reads:

- block mappings and block sequences (including the compact ``key:\\n- item`` form and
  mappings inside sequence items, as in ``RelatedFiles``);
- plain, single-quoted and double-quoted scalars, multi-line ones folded as YAML folds them;
- literal and folded block scalars (``|``, ``>``, with ``-``/``+`` chomping), which docmgr's
  own templates use for ``Summary``;
- flow sequences of scalars (``[a, 'b c']``) and the empty flow mapping ``{}``;
- full-line and trailing comments.

Anchors, aliases, tags, flow mappings with content and multi-document streams are refused
with a clear error rather than guessed at. Every scalar is read as a string; ``null``, ``~``
and an absent value read as ``None``. Typing (timestamps, lists of strings) is the caller's.

PyYAML is deliberately not a dependency: this subset is small, and reading it ourselves lets
us reproduce docmgr's lenient quoting exactly.
"""

from __future__ import annotations

import re

Node = str | list["Node"] | dict[str, "Node"] | None

# A mapping key as docmgr and .ttmp.yaml write them: a bare word (PascalCase or camelCase).
_KEY_RE = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.\-]*)[ \t]*:(?:[ \t]+(.*)|)$")
# YAML whitespace is space and tab only; str.strip() would also eat U+00A0 and friends.
_WS = " \t"
_NULLS = frozenset({"~", "null", "Null", "NULL"})
# Escapes of YAML double-quoted scalars (YAML 1.2 §5.7).
_ESCAPES = {
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "t": "\t",
    "\t": "\t",
    "n": "\n",
    "v": "\v",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


class YamlSubsetError(Exception):
    """The text is not in the supported subset; ``line`` is 1-based within the text."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message, line)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def needs_docmgr_quoting(value: str) -> bool:
    """docmgr's ``NeedsQuoting``: would ``PreprocessYAML`` single-quote this plain value?

    When it would, docmgr reads the whole trimmed value as a literal string (so
    ``Title: Fix #12: parser`` is ``Fix #12: parser``, not a YAML error or a comment).
    """
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


class _Reader:
    """A recursive-descent reader over the lines of one YAML text."""

    def __init__(self, text: str) -> None:
        # CRLF files read like LF files; nothing we write uses CR.
        self.lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
        self.i = 0

    # -- line helpers ------------------------------------------------------------------------

    def _error(self, message: str, index: int | None = None) -> YamlSubsetError:
        return YamlSubsetError(message, (self.i if index is None else index) + 1)

    @staticmethod
    def _is_skippable(line: str) -> bool:
        stripped = line.strip(_WS)
        return not stripped or stripped.startswith("#")

    def _indent(self, index: int) -> int:
        line = self.lines[index]
        indent = len(line) - len(line.lstrip(" "))
        if line[indent : indent + 1] == "\t":
            raise self._error("tab used for indentation", index)
        return indent

    def _next_content(self, start: int) -> int | None:
        """Index of the next line that is neither blank nor a full-line comment."""
        for index in range(start, len(self.lines)):
            if not self._is_skippable(self.lines[index]):
                return index
        return None

    # -- structure -----------------------------------------------------------------------------

    def read(self) -> Node:
        first = self._next_content(0)
        if first is None:
            return None
        if self._indent(first) != 0:
            raise self._error("the document must start at column 0", first)
        self.i = first
        node = self._block(0)
        rest = self._next_content(self.i)
        if rest is not None:
            raise self._error("unexpected text after the document (check indentation)", rest)
        return node

    def _block(self, indent: int) -> Node:
        content = self.lines[self.i][indent:]
        if content == "-" or content.startswith("- "):
            return self._sequence(indent)
        return self._mapping(indent)

    def _mapping(self, indent: int) -> dict[str, Node]:
        result: dict[str, Node] = {}
        while True:
            index = self._next_content(self.i)
            if index is None or self._indent(index) < indent:
                self.i = len(self.lines) if index is None else index
                return result
            self.i = index
            if self._indent(index) > indent:
                raise self._error("unexpected indentation")
            content = self.lines[index][indent:]
            match = _KEY_RE.match(content)
            if match is None:
                if content == "-" or content.startswith("- "):
                    raise self._error("a list item where a key was expected")
                raise self._error(f"expected `key: value`, found {content[:40]!r}")
            key, rest = match.group(1), match.group(2) or ""
            if key in result:
                raise self._error(f"key {key!r} appears twice")
            self.i += 1
            result[key] = self._value(rest, indent, index, map_value=True)

    def _sequence(self, indent: int) -> list[Node]:
        items: list[Node] = []
        while True:
            index = self._next_content(self.i)
            if index is None or self._indent(index) < indent:
                self.i = len(self.lines) if index is None else index
                return items
            self.i = index
            if self._indent(index) > indent:
                raise self._error("unexpected indentation inside a list")
            content = self.lines[index][indent:]
            if content != "-" and not content.startswith("- "):
                # A key at the list's own column ends a compact list (`Topics:\n- a\nNext: b`).
                return items
            after = content[1:]
            sub = after.lstrip(" ")
            column = indent + 1 + (len(after) - len(sub))
            if not sub or sub.startswith("#"):
                self.i += 1
                items.append(self._children(indent))
            elif _KEY_RE.match(sub) or sub == "-" or sub.startswith("- "):
                # `- Path: x` opens a mapping (or `- - x` a list) at the column of its text:
                # re-read this line as if it were indented there.
                self.lines[index] = " " * column + sub
                items.append(self._block(column))
            else:
                self.i += 1
                items.append(self._value(sub, indent, index, map_value=False))

    def _children(self, parent_indent: int, *, allow_compact: bool = False) -> Node:
        """The nested block after a bare ``key:`` or ``-``, or None when there is none."""
        index = self._next_content(self.i)
        if index is None:
            return None
        indent = self._indent(index)
        content = self.lines[index][indent:]
        is_item = content == "-" or content.startswith("- ")
        if indent > parent_indent or (allow_compact and indent == parent_indent and is_item):
            self.i = index
            return self._block(indent)
        return None

    # -- scalars -------------------------------------------------------------------------------

    def _value(self, rest: str, parent_indent: int, index: int, *, map_value: bool) -> Node:
        """The value after ``key:`` or ``- `` on line ``index`` (already consumed)."""
        text = rest.strip(_WS)
        if not text or text.startswith("#"):
            return self._children(parent_indent, allow_compact=map_value)
        head = text[0]
        if head in "|>":
            return self._block_scalar(text, parent_indent, index)
        if head == "[":
            return self._flow_sequence(text, index)
        if head == "{":
            if text.split("#", 1)[0].strip(_WS) == "{}":
                return {}
            raise self._error("flow mappings `{...}` are not supported", index)
        if head in "'\"":
            return self._quoted(text, index)
        if head in "&*!":
            raise self._error("anchors, aliases and tags are not supported", index)
        if map_value and needs_docmgr_quoting(text):
            # docmgr's PreprocessYAML quotes these before parsing: the value is literal
            # (trimmed like Go's strings.TrimSpace, which it applies first).
            return text.strip()
        return self._plain(text, parent_indent)

    def _plain(self, first: str, parent_indent: int) -> Node:
        parts = [_strip_comment(first)]
        # A plain scalar continues on more-indented lines; YAML folds them with spaces.
        blank_run = 0
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if not line.strip(_WS):
                blank_run += 1
                self.i += 1
                continue
            if self._indent(self.i) <= parent_indent or line.strip(_WS).startswith("#"):
                break
            piece = _strip_comment(line.strip(_WS))
            parts.append("\n" * blank_run if blank_run else " ")
            parts.append(piece)
            blank_run = 0
            self.i += 1
        if blank_run:
            # Blank lines after the scalar belong to whatever comes next.
            self.i -= blank_run
        value = "".join(parts)
        return None if value in _NULLS else value

    def _quoted(self, text: str, index: int) -> str:
        quote = text[0]
        buffer = text
        while True:
            end = _closing_quote(buffer, quote)
            if end is not None:
                break
            if self.i >= len(self.lines):
                raise self._error("unterminated quoted string", index)
            buffer += "\n" + self.lines[self.i]
            self.i += 1
        trailing = buffer[end + 1 :].strip(_WS)
        if trailing and not trailing.startswith("#"):
            raise self._error(f"unexpected text after a quoted string: {trailing[:40]!r}", index)
        raw = buffer[1:end]
        if quote == "'":
            return _fold(raw.split("\n"), escaped=False).replace("''", "'")
        try:
            return _unescape(_fold(raw.split("\n"), escaped=True))
        except ValueError as exc:
            raise self._error(str(exc), index) from None

    def _block_scalar(self, header: str, parent_indent: int, index: int) -> str:
        match = re.fullmatch(r"([|>])([1-9]?)([+-]?)([1-9]?)\s*(#.*)?", header)
        if match is None:
            raise self._error(f"bad block scalar header {header!r}", index)
        style, digit_a, chomp, digit_b = match.group(1, 2, 3, 4)
        digit = digit_a or digit_b
        block: list[str] = []
        content_indent = parent_indent + int(digit) if digit else None
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.strip(_WS):
                indent = len(line) - len(line.lstrip(" "))
                if content_indent is None:
                    if indent <= parent_indent:
                        break
                    content_indent = indent
                if indent < content_indent:
                    break
            block.append(line)
            self.i += 1
        # Trailing blank lines are kept for chomping but not consumed past the scalar's end.
        body = [line[content_indent or 0 :] if line.strip(_WS) else "" for line in block]
        while body and not body[-1]:
            body.pop()
        trailing_blank = len(block) - len(body)
        text = "\n".join(body) if style == "|" else _fold_block(body)
        if chomp == "-" or not body:
            return text if chomp != "+" else text + "\n" * trailing_blank
        if chomp == "+":
            return text + "\n" + "\n" * trailing_blank
        return text + "\n"

    def _flow_sequence(self, text: str, index: int) -> list[Node]:
        buffer = text
        while True:
            end = _closing_bracket(buffer)
            if end is not None:
                break
            if self.i >= len(self.lines):
                raise self._error("unterminated flow list `[`", index)
            buffer += " " + self.lines[self.i].strip(_WS)
            self.i += 1
        trailing = buffer[end + 1 :].strip(_WS)
        if trailing and not trailing.startswith("#"):
            raise self._error(f"unexpected text after a flow list: {trailing[:40]!r}", index)
        items: list[Node] = []
        for piece in _split_flow(buffer[1:end], self._error(_FLOW_NESTED, index)):
            item = piece.strip(_WS)
            if item[:1] in ("'", '"'):
                items.append(_Reader(item)._quoted(item, 0))
            elif item[:1] in "[{&*!":
                raise self._error(_FLOW_NESTED, index)
            else:
                items.append(None if item in _NULLS else item)
        return items


_FLOW_NESTED = "only plain or quoted scalars are supported inside `[...]`"


def _strip_comment(text: str) -> str:
    """Drop a trailing ``  # comment`` from a plain scalar (YAML needs the space before #)."""
    cut = re.search(r"[ \t]#", text)
    return (text[: cut.start()] if cut else text).rstrip(_WS)


def _closing_quote(buffer: str, quote: str) -> int | None:
    position = 1
    while position < len(buffer):
        char = buffer[position]
        if quote == '"' and char == "\\":
            position += 2
            continue
        if char == quote:
            if quote == "'" and buffer[position + 1 : position + 2] == "'":
                position += 2
                continue
            return position
        position += 1
    return None


def _closing_bracket(buffer: str) -> int | None:
    quote: str | None = None
    position = 1
    while position < len(buffer):
        char = buffer[position]
        if quote is None:
            if char in "'\"":
                quote = char
            elif char == "]":
                return position
        elif quote == '"' and char == "\\":
            position += 1
        elif char == quote:
            if quote == "'" and buffer[position + 1 : position + 2] == "'":
                position += 1
            else:
                quote = None
        position += 1
    return None


def _split_flow(inner: str, nested: YamlSubsetError) -> list[str]:
    """Split the inside of ``[...]`` on commas outside quotes; a trailing comma is allowed."""
    pieces: list[str] = []
    current: list[str] = []
    quote: str | None = None
    position = 0
    while position < len(inner):
        char = inner[position]
        if quote is None:
            if char in "'\"":
                quote = char
            elif char in "[]{}":
                raise nested
            elif char == ",":
                pieces.append("".join(current))
                current = []
                position += 1
                continue
        elif quote == '"' and char == "\\":
            current.append(inner[position : position + 2])
            position += 2
            continue
        elif char == quote:
            if quote == "'" and inner[position + 1 : position + 2] == "'":
                current.append("''")
                position += 2
                continue
            quote = None
        current.append(char)
        position += 1
    pieces.append("".join(current))
    if pieces and not pieces[-1].strip(_WS):
        pieces.pop()
    if any(not piece.strip(_WS) for piece in pieces):
        raise YamlSubsetError("empty item in a flow list", nested.line)
    return pieces


def _fold(lines: list[str], *, escaped: bool) -> str:
    """Fold the lines of a multi-line quoted scalar as YAML does.

    A single line break becomes a space, each blank line a newline; surrounding whitespace of
    inner lines is dropped. In double quotes a trailing backslash joins lines without a space.
    """
    if len(lines) == 1:
        return lines[0]
    segments = [lines[0].rstrip(" \t")]
    segments += [line.strip(" \t") for line in lines[1:-1]]
    segments.append(lines[-1].lstrip(" \t"))
    out = segments[0]
    blanks = 0
    last = len(segments) - 1
    for position in range(1, len(segments)):
        segment = segments[position]
        if not segment and position != last:
            blanks += 1
            continue
        if escaped and _ends_with_escape(out) and not blanks:
            out = out[:-1] + segment
        elif blanks:
            out += "\n" * blanks + segment
        else:
            out += " " + segment
        blanks = 0
    return out


def _ends_with_escape(text: str) -> bool:
    count = len(text) - len(text.rstrip("\\"))
    return count % 2 == 1


def _fold_block(lines: list[str]) -> str:
    """Folded (``>``) block content: lines join with spaces; blank and indented lines break."""
    out = ""
    previous_plain = False
    for line in lines:
        if not line:
            out += "\n"
            previous_plain = False
            continue
        more_indented = line[0] in " \t"
        if previous_plain and not more_indented:
            out += " " + line
        else:
            if out and not out.endswith("\n"):
                out += "\n"
            out += line
        previous_plain = not more_indented
    return out


def _unescape(text: str) -> str:
    out: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char != "\\":
            out.append(char)
            position += 1
            continue
        code = text[position + 1 : position + 2]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            position += 2
        elif code in _HEX_ESCAPES:
            width = _HEX_ESCAPES[code]
            digits = text[position + 2 : position + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError(f"bad escape \\{code}{digits}")
            out.append(chr(int(digits, 16)))
            position += 2 + width
        else:
            raise ValueError(f"unknown escape \\{code}")
    return "".join(out)


def load(text: str) -> Node:
    """Read one YAML text in the supported subset; raises :class:`YamlSubsetError`."""
    return _Reader(text).read()


# -- writing ---------------------------------------------------------------------------------


class Verbatim(str):
    """A scalar written exactly as given, unquoted: a timestamp yaml.v3 writes plain.

    The caller guarantees it is valid plain YAML (no ``: ``, `` #``, newline, indicator).
    """

    __slots__ = ()


# Plain scalars yaml.v3 would resolve to something other than a string: it double-quotes them.
_NON_STRING_RE = re.compile(
    r"""^(?:
        ~|null|Null|NULL
        |true|True|TRUE|false|False|FALSE
        |y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF
        |[-+]?(?:0|[1-9][0-9_]*)
        |0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+
        |[-+]?(?:\.[0-9_]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)
        |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?
        |\d{4}-\d{1,2}-\d{1,2}(?:[Tt ].*)?
    )$""",
    re.VERBOSE,
)
# Characters a plain scalar cannot start with (YAML indicators).
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")


def _printable(char: str) -> bool:
    code = ord(char)
    if char in "\t":
        return True
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return False
    return not (0xD800 <= code <= 0xDFFF or code in (0xFEFF, 0xFFFE, 0xFFFF, 0x2028, 0x2029))


def _plain_ok(value: str) -> bool:
    if value != value.strip(" ") or "\t" in value:
        return False
    first = value[0]
    if first in _INDICATORS and (first not in "-?:" or len(value) == 1 or value[1] == " "):
        return False
    if ": " in value or " #" in value or value.endswith(":"):
        return False
    # A document marker at the start would end our frontmatter block when read line by line.
    return not (value.startswith("---") or value.startswith("..."))


def scalar(value: str) -> str:
    """Render one string the way yaml.v3 + PreprocessYAML would, readable by :func:`load`.

    Empty, non-string-looking or non-printable values are double-quoted (yaml.v3's choice);
    values that are unsafe as plain YAML are single-quoted (the emitter's fallback, and what
    PreprocessYAML writes); everything else is plain.
    """
    if value == "" or _NON_STRING_RE.match(value):
        return _double_quoted(value)
    if "\n" in value or not all(_printable(char) for char in value):
        return _double_quoted(value)
    if not _plain_ok(value) or needs_docmgr_quoting(value):
        return "'" + value.replace("'", "''") + "'"
    return value


def _double_quoted(value: str) -> str:
    out = ['"']
    for char in value:
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif not _printable(char):
            code = ord(char)
            out.append(f"\\x{code:02X}" if code <= 0xFF else f"\\u{code:04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def dump_mapping(mapping: dict[str, Node]) -> str:
    """Render a mapping in yaml.v3's block style with a 4-space indent, ending in a newline."""
    lines: list[str] = []
    _emit_mapping(mapping, 0, lines)
    return "".join(line + "\n" for line in lines)


def _check_key(key: str) -> None:
    if not _KEY_RE.match(f"{key}:"):
        raise ValueError(f"cannot write {key!r} as a YAML key")


def _inline(node: Node) -> str | None:
    """The one-line form of a node, or None when it needs a nested block."""
    if node is None:
        return "null"
    if isinstance(node, Verbatim):
        return str(node)
    if isinstance(node, str):
        return scalar(node)
    if not node:
        return "[]" if isinstance(node, list) else "{}"
    return None


def _emit_mapping(mapping: dict[str, Node], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for key, value in mapping.items():
        _check_key(key)
        inline = _inline(value)
        if inline is not None:
            lines.append(f"{pad}{key}: {inline}")
            continue
        lines.append(f"{pad}{key}:")
        if isinstance(value, list):
            _emit_sequence(value, indent + 4, lines)
        elif isinstance(value, dict):
            _emit_mapping(value, indent + 4, lines)


def _emit_sequence(items: list[Node], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for item in items:
        inline = _inline(item)
        if inline is not None:
            lines.append(f"{pad}- {inline}")
            continue
        nested: list[str] = []
        if isinstance(item, dict):
            # A mapping item starts on the dash line; its other keys align under the first.
            _emit_mapping(item, indent + 2, nested)
        elif isinstance(item, list):
            _emit_sequence(item, indent + 2, nested)
        lines.append(f"{pad}- {nested[0][indent + 2 :]}")
        lines.extend(nested[1:])
