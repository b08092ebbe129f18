"""The operator's policy, ``.metawsm/policy.json``: load it, merge it over the defaults, check it.

Loading follows the original: a missing file means the defaults; a present file is merged over
them (absent keys keep their default, nested objects merge, arrays replace the default array
wholesale); then every rule is checked. Unlike the original, which stopped at the first broken
rule, every error is collected, each with the key it is about, in the original's validation order
(then the keys this design adds). Unknown keys and wrong types are errors too.

The models live in :mod:`metawsm.policy.model` and are re-exported here. The name rule
(:data:`NAME_PATTERN`, :func:`validate_name`) is shared with the rest of metawsm for agents,
profiles, repos, hosts, tickets and run ids.

Errors (:mod:`metawsm.errors`): :class:`~metawsm.errors.PolicyError` when the file cannot be read
or parsed, :class:`~metawsm.errors.PolicyValidationError` (with every ``(key, message)``) when
it breaks rules.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from metawsm.errors import PolicyError, PolicyValidationError
from metawsm.naming import NAME_PATTERN, validate_name
from metawsm.policy.model import (
    RUNNERS,
    SUPPORTED_CHECKS,
    AgentEntry,
    AgentProfile,
    DocAPIEndpoint,
    HostPolicy,
    Policy,
    PolicySchemaGenerator,
    RunnerOptions,
    quote,
)
from metawsm.policy.rules import evaluate, format_key

__all__ = [
    "DEFAULT_POLICY_PATH",
    "NAME_PATTERN",
    "RUNNERS",
    "SUPPORTED_CHECKS",
    "AgentEntry",
    "AgentProfile",
    "DocAPIEndpoint",
    "HostPolicy",
    "Policy",
    "RunnerOptions",
    "default_policy",
    "default_policy_json",
    "format_key",
    "load_policy",
    "merge_over_defaults",
    "metawsm_root_of",
    "policy_from_data",
    "policy_json",
    "policy_json_schema",
    "resolve_policy_path",
    "resolve_under",
    "save_default_policy",
    "validate_name",
    "validate_policy_data",
]

DEFAULT_POLICY_PATH = ".metawsm/policy.json"
"""Where the policy lives, relative to the metawsm root."""


# ------------------------------------------------------------------------ defaults and output


def default_policy() -> Policy:
    """The policy that applies when there is no policy file."""
    return Policy()


def policy_json(policy: Policy) -> str:
    """``policy`` as the JSON a policy file holds: 2-space indent, trailing newline."""
    return json.dumps(policy.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def default_policy_json() -> str:
    """The default policy as JSON; what ``metawsm policy-init`` writes."""
    return policy_json(default_policy())


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the policy file, with every default."""
    schema = Policy.model_json_schema(schema_generator=PolicySchemaGenerator)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def save_default_policy(path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the default policy to ``path`` (parents made); return the path written.

    An existing file is kept unless ``overwrite``: bad input must never lose an operator's
    policy (the original overwrote silently). With ``overwrite`` the file is replaced atomically.
    """
    target = Path(path)
    text = default_policy_json()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if overwrite:
            # Write aside then rename: a failure half-way never leaves a truncated policy.
            temp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
            try:
                temp.write_text(text, encoding="utf-8")
                os.replace(temp, target)
            finally:
                temp.unlink(missing_ok=True)
        else:
            with target.open("x", encoding="utf-8") as handle:
                handle.write(text)
    except FileExistsError:
        raise PolicyError(
            f"policy file {target} already exists",
            hint="pass --force to overwrite it, or choose another --path",
        ) from None
    except OSError as exc:
        raise PolicyError(f"write policy {target}: {exc.strerror or exc}") from None
    return target


# ---------------------------------------------------------------------------------- locating


def resolve_policy_path(path: str | Path | None = None, *, root: Path | None = None) -> Path:
    """The absolute policy path: ``path`` (default ``.metawsm/policy.json``) under ``root``.

    ``root`` defaults to the current directory. Symlinks are not resolved (like Go's
    ``filepath.Abs``), so messages show the path the operator gave.
    """
    text = "" if path is None else str(path)
    chosen = Path(text) if text.strip() else Path(DEFAULT_POLICY_PATH)
    base = Path.cwd() if root is None else root
    return Path(os.path.abspath(base / chosen))


def metawsm_root_of(policy_path: str | Path) -> Path:
    """The metawsm root of a policy file: the parent of its ``.metawsm/`` folder."""
    return Path(os.path.abspath(policy_path)).parent.parent


def resolve_under(root: Path, value: str) -> Path:
    """A path from the policy (``workspace.root``, a repo clone, a script) made absolute.

    Relative paths are relative to the metawsm root, not to the current directory, so a
    policy means the same from wherever a command runs; ``~`` is expanded.
    """
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else Path(os.path.abspath(root / candidate))


# ----------------------------------------------------------------------------------- loading


def load_policy(path: str | Path | None = None, *, root: Path | None = None) -> Policy:
    """Load the policy at ``path`` (see :func:`resolve_policy_path`); defaults if it is missing.

    Raises :class:`PolicyError` (``read policy <p>: ...`` or ``parse policy <p>: ...``) and
    :class:`PolicyValidationError` carrying every broken rule.
    """
    target = resolve_policy_path(path, root=root)
    try:
        raw = target.read_bytes()
    except FileNotFoundError:
        return default_policy()
    except OSError as exc:
        raise PolicyError(f"read policy {target}: {exc.strerror or exc}") from None
    return policy_from_data(_parse(raw, target), source=str(target))


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON (and Go) do not.
    raise ValueError(f"invalid JSON value {name}")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A key written twice is almost always a mistake whose first value would be silently lost.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {quote(key)}")
        result[key] = value
    return result


def _parse(raw: bytes, target: Path) -> Any:
    try:
        return json.loads(
            raw.decode("utf-8"),
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicate_keys,
        )
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise PolicyError(
            f"parse policy {target}: {exc}",
            hint="the policy file must be JSON; `metawsm policy-init --path <new>` shows one",
        ) from None


def policy_from_data(data: Any, *, source: str = "<data>") -> Policy:
    """Build the policy from parsed file content, merged over the defaults.

    Raises :class:`PolicyValidationError` (path ``source``) listing every error.
    """
    policy, errors = _check(data)
    if errors or policy is None:
        raise PolicyValidationError(source, errors)
    return policy


def validate_policy_data(data: Any) -> list[tuple[str, str]]:
    """Every ``(key, message)`` error of parsed file content, in validation order; [] if valid."""
    return _check(data)[1]


def merge_over_defaults(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` deep-merged over the default policy, as the original's unmarshal did.

    Objects merge key by key; arrays and scalars replace. ``null`` leaves an object at its
    default (as Go did); for arrays and maps the models read ``null`` as empty.
    """
    merged = _merge(default_policy().model_dump(mode="json"), data)
    assert isinstance(merged, dict)
    return merged


def _merge(base: Any, over: Any) -> Any:
    if not (isinstance(base, dict) and isinstance(over, Mapping)):
        return copy.deepcopy(over)
    result = dict(base)
    for key, value in over.items():
        if key in base:
            if value is None and isinstance(base[key], dict) and base[key]:
                continue
            result[key] = _merge(base[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _check(data: Any) -> tuple[Policy | None, list[tuple[str, str]]]:
    if not isinstance(data, Mapping):
        return None, [("", "the policy must be a JSON object")]
    return evaluate(merge_over_defaults(data))
