"""Checking a policy: the name rule, the cross-key rules, and collecting every error in order.

:func:`evaluate` takes file content already merged over the defaults (see
:func:`metawsm.policy.merge_over_defaults`) and returns the policy, or every ``(key, message)``
error. Type errors and single-key rules come from the pydantic models
(:mod:`metawsm.policy.model`); the values they reject are then replaced by their defaults so
the rules that compare keys still run over the rest of the file. Errors are ordered as the
original validated (version, strategy, session pattern, docs, endpoints, base branch, health,
operator, forum, git_pr, step retries, profiles, agents), then the keys this design adds.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Generator, Iterator, Mapping
from typing import Annotated, Any, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, to_jsonable_python

from metawsm.errors import UsageError
from metawsm.naming import validate_name
from metawsm.policy.model import RULE_ERROR_TYPE, HostPolicy, Policy, quote

# The name rule is metawsm.naming's, so a name from the policy and one from a flag meet
# one rule and one wording.

Loc = tuple[str | int, ...]


# -------------------------------------------------------------------------------- evaluation


def evaluate(merged: Mapping[str, Any]) -> tuple[Policy | None, list[tuple[str, str]]]:
    """Validate policy data merged over the defaults: the policy if valid, every error, in order.

    ``merged`` itself is not modified.
    """
    data = copy.deepcopy(dict(merged))
    structural: list[tuple[Loc, str]] = []
    repaired: set[Loc] = set()
    policy: Policy | None = None
    # Type and single-key errors are reported from the first pass; the broken values are then
    # replaced by their defaults so the cross-key rules can still run over everything else.
    for attempt in range(4):
        try:
            policy = Policy.model_validate(data)
            break
        except ValidationError as exc:
            details = exc.errors()
            if attempt == 0:
                structural = [(tuple(d["loc"]), _message(d)) for d in details]
            repaired |= _repair(data, details)
    errors = list(structural)
    if policy is not None:
        for loc, message in _rule_errors(policy, repaired):
            if not any(loc[: len(r)] == r for r in repaired):
                errors.append((loc, message))
    errors.sort(key=_order)  # stable: structural errors stay ahead of rule errors of a key
    return (policy if not errors else None), [(format_key(loc), msg) for loc, msg in errors]


_TYPE_MESSAGES = {
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "extra_forbidden": "unknown key",
    "missing": "is required",
}


def _message(detail: ErrorDetails) -> str:
    kind = detail["type"]
    if kind == RULE_ERROR_TYPE:
        return str((detail.get("ctx") or {})["message"])
    if kind == "literal_error":
        if not isinstance(detail.get("input"), str):
            return "must be a string"
        return f"must be one of {(detail.get('ctx') or {}).get('expected', '')}"
    if kind in _TYPE_MESSAGES:
        return _TYPE_MESSAGES[kind]
    text = detail["msg"]
    return text[:1].lower() + text[1:]


# The original's validation order; a key's errors sort by the longest prefix listed here.
_ORDER: tuple[Loc, ...] = (
    ("version",),
    ("workspace", "default_strategy"),
    ("tmux", "session_pattern"),
    ("docs", "authority_mode"),
    ("docs", "seed_mode"),
    ("docs", "stale_warning_seconds"),
    ("docs", "api", "request_timeout_seconds"),
    ("docs", "api", "workspace_endpoints"),
    ("docs", "api", "repo_endpoints"),
    ("workspace", "base_branch"),
    ("health",),
    ("operator",),
    ("forum",),
    ("git_pr",),
    ("execution",),
    ("agent_profiles",),
    ("agents",),
    # Keys the original did not validate or did not have.
    ("workspace",),
    ("docs",),
    ("tmux",),
    ("close",),
    ("supervisor",),
    ("hosts",),
    ("placement",),
)


def _order(error: tuple[Loc, str]) -> tuple[int, int]:
    loc = error[0]
    rank = len(_ORDER)
    best = 0
    for index, prefix in enumerate(_ORDER):
        if loc[: len(prefix)] == prefix and len(prefix) > best:
            rank, best = index, len(prefix)
    # Entries of a list keep their order: all of item 0's errors, then item 1's.
    item = next((seg for seg in loc if isinstance(seg, int)), -1)
    return rank, item


def format_key(loc: Loc) -> str:
    """A key path as operators write it: ``agents[0].name``, ``hosts["my host"].port``."""
    text = ""
    for seg in loc:
        if isinstance(seg, int):
            text += f"[{seg}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", seg):
            text += f".{seg}" if text else seg
        else:
            text += f"[{quote(seg)}]"
    return text


# ------------------------------------------------------------------------------------ repair


def _strip(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _types_along(loc: Loc) -> list[Any] | None:
    """The model annotation at each prefix of ``loc`` (``[Policy, ...]``), or None if off-model."""
    current: Any = Policy
    types = [current]
    for seg in loc:
        current = _strip(current)
        if isinstance(seg, str) and _is_model(current):
            info = current.model_fields.get(seg)
            if info is None:
                return None
            current = info.annotation
        elif isinstance(seg, int) and get_origin(current) is list:
            current = get_args(current)[0]
        elif isinstance(seg, str) and get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return None
        types.append(current)
    return types


def _replacement(loc: Loc, types: list[Any]) -> tuple[Loc, Any] | None:
    """Where to put a valid value for a broken ``loc``, and the value."""
    parent = _strip(types[-2])
    own = _strip(types[-1])
    if _is_model(parent):
        info = parent.model_fields[str(loc[-1])]
        return loc, to_jsonable_python(info.get_default(call_default_factory=True))
    if _is_model(own):
        return loc, {}
    if get_origin(parent) is list and len(loc) >= 2:
        # A bad string in a list: fall back to the whole list's default, which keeps the
        # indexes of every later rule error honest.
        outer = _types_along(loc[:-1])
        return None if outer is None else _replacement(loc[:-1], outer)
    if own is str:
        return loc, ""
    return None


def _repair(data: dict[str, Any], details: list[ErrorDetails]) -> set[Loc]:
    repaired: set[Loc] = set()
    for detail in details:
        loc: Loc = tuple(detail["loc"])
        if not loc:
            continue
        if detail["type"] == "extra_forbidden":
            _set(data, loc, None, delete=True)
            continue
        types = _types_along(loc)
        target = None if types is None else _replacement(loc, types)
        if target is None:
            _set(data, loc, None, delete=True)
            repaired.add(loc)
        else:
            _set(data, target[0], target[1])
            repaired.add(target[0])
    return repaired


def _set(data: Any, loc: Loc, value: Any, *, delete: bool = False) -> None:
    try:
        for seg in loc[:-1]:
            data = data[seg]
        if delete:
            del data[loc[-1]]
        else:
            data[loc[-1]] = value
    except (KeyError, IndexError, TypeError):
        pass  # an earlier repair in this pass already replaced the container


# ------------------------------------------------------------------------------------- rules


def _rule_errors(policy: Policy, repaired: set[Loc]) -> Iterator[tuple[Loc, str]]:
    """Rules that compare keys or name things; run over a structurally valid policy."""
    yield from _endpoint_errors(policy)
    health = policy.health
    uncertain = {("health", "idle_seconds"), ("health", "activity_stalled_seconds")} & repaired
    if not uncertain and health.activity_stalled_seconds < health.idle_seconds:
        yield (
            ("health", "activity_stalled_seconds"),
            "activity_stalled_seconds must be >= idle_seconds",
        )
    profile_names = yield from _profile_errors(policy)
    # When a profile name could not be read, a reference to it is not known to be wrong.
    names_known = not any(
        r[:1] == ("agent_profiles",) and (len(r) < 3 or r[2] == "name") for r in repaired
    )
    yield from _agent_errors(policy, profile_names if names_known else None)
    yield from _added_key_errors(policy)


def _bad_url(text: str) -> bool:
    try:
        parts = urlsplit(text.strip())
        parts.port  # noqa: B018 - raises for a port that is not a number in range
        return parts.scheme not in ("http", "https") or not parts.netloc or not parts.hostname
    except ValueError:
        return True


def _endpoint_errors(policy: Policy) -> Iterator[tuple[Loc, str]]:
    seen: set[str] = set()  # names are unique across both lists
    api = policy.docs.api
    for kind, endpoints in (("workspace", api.workspace_endpoints), ("repo", api.repo_endpoints)):
        for index, endpoint in enumerate(endpoints):
            at: Loc = ("docs", "api", f"{kind}_endpoints", index)
            name = endpoint.name.strip()
            if not name:
                yield (*at, "name"), f"docs.api.{kind}_endpoints.name cannot be empty"
                continue
            if name in seen:
                yield (*at, "name"), f"duplicate docs API endpoint name {quote(name)}"
            seen.add(name)
            label = f"docs.api endpoint {quote(name)}"
            if not endpoint.base_url.strip():
                yield (*at, "base_url"), f"{label} base_url cannot be empty"
            elif _bad_url(endpoint.base_url):
                yield (*at, "base_url"), f"{label} has invalid base_url {quote(endpoint.base_url)}"
            if endpoint.web_url.strip() and _bad_url(endpoint.web_url):
                yield (*at, "web_url"), f"{label} has invalid web_url {quote(endpoint.web_url)}"
            if not endpoint.repo.strip():
                yield (*at, "repo"), f"{label} repo cannot be empty"
            if kind == "workspace" and not endpoint.workspace.strip():
                yield (
                    (*at, "workspace"),
                    f"docs.api workspace endpoint {quote(name)} requires workspace",
                )


def _name_error(kind: str, value: str) -> str | None:
    try:
        validate_name(kind, value)
    except UsageError as exc:
        return exc.message
    return None


def _profile_errors(policy: Policy) -> Generator[tuple[Loc, str], None, set[str]]:
    """Errors of ``agent_profiles``; returns (as the generator's value) every profile name."""
    names: set[str] = set()
    if not policy.agent_profiles:
        yield ("agent_profiles",), "agent_profiles must contain at least one entry"
    for index, profile in enumerate(policy.agent_profiles):
        at: Loc = ("agent_profiles", index)
        name = profile.name.strip()
        if not name:
            yield (*at, "name"), "agent_profiles.name cannot be empty"
            continue
        if (problem := _name_error("agent profile", profile.name)) is not None:
            yield (*at, "name"), problem
        if name in names:
            yield (*at, "name"), f"duplicate agent profile {quote(name)}"
        names.add(name)
        label = f"agent profile {quote(name)}"
        runner = profile.runner_kind
        if runner in ("codex", "claude"):
            if not profile.base_prompt.strip():
                yield (
                    (*at, "base_prompt"),
                    f"{label} requires non-empty base_prompt for {runner} runner",
                )
        elif runner == "shell":
            if not profile.runner_options.command.strip():
                yield (
                    (*at, "runner_options", "command"),
                    f"{label} requires runner_options.command for shell runner",
                )
        elif runner == "scripted":
            if not profile.runner_options.script.strip():
                yield (
                    (*at, "runner_options", "script"),
                    f"{label} requires runner_options.script for scripted runner",
                )
        else:
            yield (*at, "runner"), f"{label} has unsupported runner {quote(profile.runner)}"
        for skill_index, skill in enumerate(profile.skills):
            if not skill.strip():
                yield (*at, "skills", skill_index), f"{label} has empty skill name"
    return names


def _agent_errors(policy: Policy, profile_names: set[str] | None) -> Iterator[tuple[Loc, str]]:
    if not policy.agents:
        yield ("agents",), "agents must contain at least one entry"
    seen: set[str] = set()
    for index, agent in enumerate(policy.agents):
        at: Loc = ("agents", index)
        name = agent.name.strip()
        if not name:
            yield (*at, "name"), "agent.name cannot be empty"
        else:
            if (problem := _name_error("agent", agent.name)) is not None:
                yield (*at, "name"), problem
            if name in seen:
                # Two agents of one name would share a tmux session and a signal directory.
                yield (*at, "name"), f"duplicate agent {quote(name)}"
            seen.add(name)
        profile = agent.profile.strip()
        if not profile:
            yield (*at, "profile"), "agent.profile cannot be empty"
        elif profile_names is not None and profile not in profile_names:
            yield (
                (*at, "profile"),
                f"agent {quote(name)} references unknown profile {quote(profile)}",
            )


def _added_key_errors(policy: Policy) -> Iterator[tuple[Loc, str]]:
    for repo, clone in policy.workspace.repos.items():
        at: Loc = ("workspace", "repos", repo)
        if (problem := _name_error("repo", repo)) is not None:
            yield at, problem
        if not clone.strip():
            yield at, f"workspace.repos {quote(repo)} path cannot be empty"
    socket = policy.tmux.socket
    if socket and "/" not in socket and (problem := _name_error("tmux socket", socket)):
        yield ("tmux", "socket"), problem
    for host_name, host in policy.hosts.items():
        yield from _host_errors(host_name, host)
    default_host = policy.placement.default_host.strip()
    if default_host and default_host not in ("local", "auto", *policy.hosts):
        yield (
            ("placement", "default_host"),
            f"placement.default_host {quote(default_host)} is not local, auto or a hosts key",
        )


def _host_errors(host_name: str, host: HostPolicy) -> Iterator[tuple[Loc, str]]:
    at: Loc = ("hosts", host_name)
    named = quote(host_name)
    if (problem := _name_error("host", host_name)) is not None:
        yield at, problem
    if host_name == "local":
        if host.address.strip():
            yield (*at, "address"), 'host "local" is this machine: it takes no address'
        return
    if host_name == "auto":
        yield at, 'host name "auto" is reserved (--host auto places a run)'
    if not host.address.strip():
        yield (*at, "address"), f"host {named} requires address"
    if not 1 <= host.port <= 65535:
        yield (*at, "port"), f"host {named} port must be between 1 and 65535"
    if host.workspaces_root and not host.workspaces_root.startswith("/"):
        yield (*at, "workspaces_root"), f"host {named} workspaces_root must be an absolute path"
    for repo, clone in host.repos.items():
        if (problem := _name_error("repo", repo)) is not None:
            yield (*at, "repos", repo), problem
        if not clone.startswith("/"):
            yield (
                (*at, "repos", repo),
                f"host {named} repos {quote(repo)} must be an absolute path on that host",
            )
    socket = host.tmux_socket
    if socket and "/" not in socket and (problem := _name_error("tmux socket", socket)):
        yield (*at, "tmux_socket"), problem
    if socket and "/" in socket and not socket.startswith("/"):
        yield (*at, "tmux_socket"), f"host {named} tmux_socket path must be absolute"
