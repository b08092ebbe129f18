"""Generate the policy data files from the model, so they can never drift from it.

``python -m metawsm.policy.gen`` rewrites, under the project root:

- ``policy/default.json``: the default policy (what ``metawsm policy-init`` writes),
- ``policy/schema.json``: the JSON Schema of the policy file,
- the key table of ``docs/policy.md`` (between its ``BEGIN``/``END GENERATED KEYS`` markers).

``--check`` writes nothing and exits 1 when a file differs; ``tests/unit/test_policy_files.py``
runs the same comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from metawsm.policy import default_policy_json, policy_json_schema
from metawsm.policy.model import Policy

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The checkout this module lives in: where ``policy/`` and ``docs/`` are."""

BEGIN_MARKER = "<!-- BEGIN GENERATED KEYS (python -m metawsm.policy.gen) -->"
END_MARKER = "<!-- END GENERATED KEYS -->"


def schema_json() -> str:
    """The text of ``policy/schema.json``."""
    return json.dumps(policy_json_schema(), indent=2, ensure_ascii=False) + "\n"


def _strip(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _type_name(annotation: Any) -> str:
    annotation = _strip(annotation)
    origin = get_origin(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{choice}`" for choice in get_args(annotation))
    if origin is list:
        item = _strip(get_args(annotation)[0])
        return "list of objects" if _is_model(item) else f"list of {_type_name(item)}s"
    if origin is dict:
        value = _strip(get_args(annotation)[1])
        return "map of objects" if _is_model(value) else f"map of {_type_name(value)}s"
    if isinstance(annotation, types.UnionType):
        return " or ".join(_type_name(arg) for arg in get_args(annotation))
    names = {int: "integer", float: "number", str: "string", bool: "boolean"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def key_rows(model: type[BaseModel] = Policy, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """``(key, type, default, meaning)`` of every policy key, depth first, in file order."""
    rows: list[tuple[str, str, str, str]] = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = _strip(info.annotation)
        description = info.description or ""
        if _is_model(annotation):
            rows.extend(key_rows(annotation, f"{key}."))
            continue
        default = json.dumps(to_jsonable_python(info.get_default(call_default_factory=True)))
        rows.append((f"`{key}`", _type_name(annotation), f"`{default}`", _cell(description)))
        origin = get_origin(annotation)
        if origin in (list, dict):
            inner = _strip(get_args(annotation)[-1])
            if _is_model(inner):
                suffix = "[]." if origin is list else ".<name>."
                rows.extend(key_rows(inner, f"{key}{suffix}"))
    return rows


def keys_table() -> str:
    """The markdown table of every key, as ``docs/policy.md`` holds it."""
    lines = ["| Key | Type | Default | Meaning |", "|---|---|---|---|"]
    lines += [f"| {k} | {t} | {d} | {m} |" for k, t, d, m in key_rows()]
    return "\n".join(lines) + "\n"


def docs_with_table(current: str) -> str:
    """``current`` (the text of ``docs/policy.md``) with its generated region rewritten."""
    start = current.find(BEGIN_MARKER)
    end = current.find(END_MARKER)
    if start < 0 or end < start:
        raise ValueError(f"docs/policy.md lacks the markers {BEGIN_MARKER!r} ... {END_MARKER!r}")
    head = current[: start + len(BEGIN_MARKER)]
    return f"{head}\n\n{keys_table()}\n{current[end:]}"


def rendered(root: Path = PROJECT_ROOT) -> dict[Path, str]:
    """Every generated file (relative path -> expected text)."""
    docs = Path("docs/policy.md")
    return {
        Path("policy/default.json"): default_policy_json(),
        Path("policy/schema.json"): schema_json(),
        docs: docs_with_table((root / docs).read_text(encoding="utf-8")),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check`` compare) the generated files; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m metawsm.policy.gen", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on drift")
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT, help="project root")
    args = parser.parse_args(argv)
    root: Path = args.root
    stale = []
    for relative, text in rendered(root).items():
        path = root / relative
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(relative)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {relative}")
    if args.check and stale:
        for relative in stale:
            print(f"out of date: {relative} (run `python -m metawsm.policy.gen`)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
