"""Names: the original's token rules, run ids, workspace names, and validation of runtime names.

The token helpers reproduce the Go original (``internal/policy/policy.go`` and
``internal/orchestrator/service.go``, original-metawsm.md §2.2 and §5.2) character for
character, so sessions, branches and workspaces keep the names operators already know:

>>> workspace_name_for("METAWSM-003", "run-20260207-084728")
'metawsm-003-20260207-084728'
>>> render_session_name("{agent}-{workspace}", "agent", "metawsm-003-20260207-084728")
'agent-metawsm-003-20260207-084728'

The original kept only the last 14 characters of the run token, which cut the first digit of
the year off every generated run id (``…-0260207-…``); we keep 18, the whole timestamp and a
retry suffix up to ``-99``.

:func:`validate_name` is the gate for names that arrive at runtime (flags, socket requests) and
later become path components, branch segments or tmux targets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from metawsm.errors import UsageError

__all__ = [
    "NAME_KINDS",
    "NAME_MAX",
    "ORIGINAL_RUN_TOKEN_KEEP",
    "TICKET_MAX",
    "generate_run_id",
    "normalize_tokens",
    "render_git_branch",
    "render_session_name",
    "sanitize_token",
    "validate_name",
    "workspace_name_for",
]

# Go's strings.TrimSpace trims Unicode White_Space; Python's str.strip() also trims the ASCII
# separators U+001C..U+001F. Spell the Go set out so both trim exactly the same characters.
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)

# Every character the original's sanitizeToken turns into '-' (space is replaced first there;
# the order does not change the result).
_TOKEN_SEPARATORS = str.maketrans(dict.fromkeys(" /\\:,.@#[]{}()", "-"))
_RUN_TOKEN_SEPARATORS = str.maketrans(dict.fromkeys("/ :", "-"))
_DASHES = re.compile(r"-{2,}")

# How many characters of the run token a workspace name keeps: the whole generated timestamp
# (``YYYYMMDD-HHMMSS``, 15) and a retry suffix up to ``-99``. The original kept 14 (its 7650e65),
# which dropped the first digit of the year.
_RUN_TOKEN_KEEP = 18

NAME_MAX = 64
"""The most characters a name may have (every kind)."""

TICKET_MAX = NAME_MAX - 1 - _RUN_TOKEN_KEEP
"""The most characters a ticket may have: its workspace name is ``<ticket>-<run token>``, which
must itself be a valid name. This is the one length rule both checks follow, so a ticket that
passes :func:`validate_name` never fails later as a workspace name."""

NAME_PATTERN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{NAME_MAX - 1}}}")
"""The one name rule (use with ``fullmatch``) for tickets, repos, agents, runs, hosts."""

NAME_KINDS = ("ticket", "repo", "agent", "run id", "host", "workspace")
"""The kinds of name :func:`validate_name` is used for (the kind only shapes the message)."""


def _trim(value: str) -> str:
    return value.strip(_GO_SPACE)


def sanitize_token(value: str) -> str:
    """The original's ``sanitizeToken``: a lower-case token safe in session and branch names.

    Lower-case and trim; turn space and each of ``/ \\ : , . @ # [ ] { } ( )`` into ``-``;
    collapse runs of ``-``; trim ``-`` at both ends; an empty result becomes ``x``.
    """
    token = _trim(value.lower()).translate(_TOKEN_SEPARATORS)
    token = _DASHES.sub("-", token).strip("-")
    return token or "x"


def render_session_name(pattern: str, agent: str, workspace: str) -> str:
    """The tmux session name: ``pattern`` with ``{agent}`` and ``{workspace}`` substituted.

    Both values are sanitized first. A pattern that renders blank falls back to
    ``<agent>-<workspace>``, as the original's ``RenderSessionName`` does.
    """
    agent_token, workspace_token = sanitize_token(agent), sanitize_token(workspace)
    rendered = pattern.replace("{agent}", agent_token).replace("{workspace}", workspace_token)
    if not _trim(rendered):
        return f"{agent_token}-{workspace_token}"
    return rendered


def render_git_branch(template: str, ticket: str, repo: str, run: str) -> str:
    """The PR branch name from ``git_pr.branch_template`` (original ``RenderGitBranch``).

    ``{ticket}``, ``{repo}`` and ``{run}`` are substituted with sanitized tokens; the result is
    split on ``/``, blank segments dropped and every segment sanitized again. A blank template
    means ``{ticket}/{repo}/{run}``; nothing left means ``<ticket>/<repo>/<run>``.
    """
    ticket_token, repo_token, run_token = (sanitize_token(v) for v in (ticket, repo, run))
    text = _trim(template) or "{ticket}/{repo}/{run}"
    text = text.replace("{ticket}", ticket_token).replace("{repo}", repo_token)
    text = text.replace("{run}", run_token)
    segments = [sanitize_token(s) for s in (_trim(seg) for seg in text.split("/")) if s]
    if not segments:
        return f"{ticket_token}/{repo_token}/{run_token}"
    return "/".join(segments)


def generate_run_id(now: datetime, *, attempt: int = 1) -> str:
    """A run id ``run-YYYYMMDD-HHMMSS`` for ``now`` in UTC (naive datetimes are taken as UTC).

    The format is the original's, kept because workspace names are derived from it. Its one
    second resolution collides when two runs start in the same second (original-metawsm.md
    §12.4): the caller that finds the id taken asks again with ``attempt=2``, ``3``, ... and
    gets ``run-YYYYMMDD-HHMMSS-2``, ``-3``, ... The suffix lands inside the 18 characters
    :func:`workspace_name_for` keeps, so the workspace names differ too.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    moment = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    run_id = "run-" + moment.strftime("%Y%m%d-%H%M%S")
    return run_id if attempt == 1 else f"{run_id}-{attempt}"


def workspace_name_for(ticket: str, run_id: str, *, keep: int = _RUN_TOKEN_KEEP) -> str:
    """The workspace of one ticket in one run, exactly as the original's ``workspaceNameFor``.

    Prefix: the trimmed, lower-cased ticket with ``/`` and space turned into ``-`` (nothing
    else is sanitized). Token: the trimmed, lower-cased run id without a leading ``run-``, with
    ``/``, space and ``:`` turned into ``-``, runs of ``-`` collapsed, ``-`` trimmed (``x`` if
    empty), and only its **last 18 characters** kept (the original kept 14, which cut the
    year). The name is ``<prefix>-<token>``; for a ticket and a run id that pass
    :func:`validate_name` it is a valid name too (see :data:`TICKET_MAX`).
    """
    prefix = _trim(ticket).lower().replace("/", "-").replace(" ", "-")
    token = _trim(run_id).lower().removeprefix("run-").translate(_RUN_TOKEN_SEPARATORS)
    token = _DASHES.sub("-", token).strip("-") or "x"
    return f"{prefix}-{token[-keep:]}"


ORIGINAL_RUN_TOKEN_KEEP = 14
"""What the original kept of the run token: a spec it wrote names its workspaces this way."""


def validate_name(kind: str, value: str) -> str:
    """Return ``value`` if it is a safe name, else raise :class:`~metawsm.errors.UsageError`.

    A safe name is 1 to 64 ASCII letters, digits, ``.``, ``_`` or ``-``, starting with a letter
    or a digit: it can be a path component (no ``/``, never ``.`` or ``..``), a branch segment
    and a tmux target, and it cannot be mistaken for a command-line option. ``kind`` names what
    the value is (see :data:`NAME_KINDS`) in the message. A ticket has at most
    :data:`TICKET_MAX` characters, so that its workspace name fits the same rule.
    """
    if kind == "ticket" and len(value) > TICKET_MAX and NAME_PATTERN.fullmatch(value):
        raise UsageError(
            f"invalid ticket name {json.dumps(value)}: at most {TICKET_MAX} characters "
            f"(got {len(value)})",
            hint=f"a ticket's workspace is named <ticket>-<run timestamp>, and every name has at "
            f"most {NAME_MAX} characters",
        )
    if NAME_PATTERN.fullmatch(value) is None:
        raise UsageError(
            f"invalid {kind} name {json.dumps(value, ensure_ascii=False)}: use letters, digits, "
            "'.', '_' or '-' "
            f"(at most {NAME_MAX} characters, not starting with '.' or '-')",
            hint="names become folders, git branches and tmux sessions, so nothing else is "
            "accepted",
        )
    return value


def normalize_tokens(values: Iterable[str]) -> list[str]:
    """Flatten repeatable, comma-separated flag values (the original's ``normalizeTokens``).

    Each value is split on ``,``; tokens are trimmed, blanks dropped and repeats removed, keeping
    the first occurrence's position. ``["api,web", " web ", "", "docs"]`` gives
    ``["api", "web", "docs"]``.
    """
    seen: dict[str, None] = {}
    for value in values:
        for raw in value.split(","):
            token = _trim(raw)
            if token:
                seen.setdefault(token)
    return list(seen)
