"""The docs federation: docmgr HTTP APIs read into one view (the original's ``metawsm docs``).

Endpoints are docmgr servers (``docmgr api serve``): the policy's
``docs.api.workspace_endpoints[]`` and ``repo_endpoints[]``, plus the servers metawsm runs
for its active workspaces. For each endpoint two GETs (contract §C.4) make a snapshot:
``/api/v1/workspace/status`` (root, ``indexedAt``, ``docsIndexed``) and
``/api/v1/workspace/tickets?includeArchived=true&pageSize=1000``. An endpoint that fails
is *unreachable* with the error, never an exception: one bad endpoint never hides the others.

The merge is the original's (``MergeWorkspaceFirst``, reference §10): each ticket of a
reachable endpoint takes the endpoint's repo as its home; ``active`` when
``(UPPER(ticket), lower(repo))`` is a ticket of an active run with that doc-home repo; the
dedupe key is ``UPPER(ticket)|lower(repo)|active``; the winner is the workspace endpoint over
the repo endpoint, then the newer ``updatedAt``, then the newer endpoint ``indexedAt``, then
the smaller endpoint name. Tickets sort active first, then ticket, repo, source name;
endpoints workspace kind first, then name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import anyio

if TYPE_CHECKING:
    import httpx  # imported when a request is made: it costs the supervisor's start-up 0.4 s

Kind = Literal["workspace", "repo"]
_ERROR_BODY = 2048
_TICKETS_PATH = "/api/v1/workspace/tickets?includeArchived=true&pageSize=1000"


class EndpointURLError(ValueError):
    """A base URL that is not ``http(s)://host[:port][/path]``."""


def check_base_url(url: str, what: str = "base_url") -> str:
    """``url`` if it is an absolute http(s) URL with a host and no query or fragment."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port that is not a number
    except ValueError as exc:
        raise EndpointURLError(f"{what} {url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointURLError(f"{what} {url!r} must be an http:// or https:// URL with a host")
    if parts.query or parts.fragment or (port is not None and not 0 < port < 65536):
        raise EndpointURLError(f"{what} {url!r} must be a plain base URL (no query, fragment)")
    return url


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One docmgr HTTP API."""

    name: str
    kind: Kind
    base_url: str
    repo: str = ""
    workspace: str = ""
    web_url: str = ""
    #: Served by metawsm itself: refreshed before every read, since nothing else refreshes it.
    managed: bool = False

    @property
    def link(self) -> str:
        return self.web_url or self.base_url

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path


@dataclass(frozen=True, slots=True)
class RemoteTicket:
    """One row of ``workspace/tickets``."""

    ticket: str
    title: str
    status: str
    updated_at: str
    topics: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EndpointSnapshot:
    """What one poll of one endpoint found (or why it found nothing)."""

    endpoint: Endpoint
    reachable: bool
    polled_at: datetime
    indexed_at: str = ""
    docs_indexed: int = 0
    root: str = ""
    tickets: tuple[RemoteTicket, ...] = ()
    error: str = ""
    #: Consecutive failed polls (0 after a good one); drives the backoff.
    failures: int = 0
    #: When the last good poll was, if any (a failed poll keeps the tickets it had).
    last_ok_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FederatedTicket:
    """One ticket of the merged view."""

    ticket: str
    title: str
    status: str
    home_repo: str
    active: bool
    source: EndpointSnapshot = field(repr=False)
    updated_at: str = ""

    def as_json(self) -> dict[str, Any]:
        ep = self.source.endpoint
        return {
            "ticket": self.ticket,
            "title": self.title,
            "status": self.status,
            "home_repo": self.home_repo,
            "active": self.active,
            "source_kind": ep.kind,
            "source_name": ep.name,
            "workspace": ep.workspace,
            "link": ep.link,
        }


class EndpointError(Exception):
    """One request to an endpoint failed; the message is what the endpoint's health shows."""


# -- the HTTP side ---------------------------------------------------------------------------


async def _get_json(client: httpx.AsyncClient, method: str, url: str, timeout: float) -> Any:
    import httpx

    headers = {"Accept": "application/json"}
    if method == "POST":
        headers["Content-Type"] = "application/json"
    try:
        # httpx's timeout bounds each phase; the outer bound covers a server that trickles.
        with anyio.fail_after(timeout):
            response = await client.request(method, url, headers=headers, timeout=timeout)
    except TimeoutError:
        raise EndpointError(f"timed out after {timeout:g}s") from None
    except httpx.TimeoutException:
        raise EndpointError(f"timed out after {timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise EndpointError(str(exc) or type(exc).__name__) from None
    if not 200 <= response.status_code < 300:
        body = response.content[:_ERROR_BODY].decode("utf-8", "replace").strip()
        raise EndpointError(f"http {response.status_code}: {body}")
    try:
        return response.json()
    except ValueError:
        head = response.content[:80].decode("utf-8", "replace")
        raise EndpointError(f"response is not JSON: {head!r}") from None


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _tickets(data: Any) -> tuple[RemoteTicket, ...]:
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise EndpointError("response has no results list")
    rows: list[RemoteTicket] = []
    for row in data["results"]:
        if not isinstance(row, dict) or not _str(row, "ticket").strip():
            continue
        topics = row.get("topics")
        rows.append(
            RemoteTicket(
                ticket=_str(row, "ticket").strip(),
                title=_str(row, "title"),
                status=_str(row, "status"),
                updated_at=_str(row, "updatedAt"),
                topics=tuple(t for t in topics if isinstance(t, str))
                if isinstance(topics, list)
                else (),
            )
        )
    return tuple(rows)


async def poll_endpoint(
    client: httpx.AsyncClient,
    endpoint: Endpoint,
    *,
    timeout: float,
    now: datetime,
    previous: EndpointSnapshot | None = None,
) -> EndpointSnapshot:
    """One snapshot of ``endpoint``; never raises for what the endpoint does.

    A managed endpoint is refreshed first (``POST index/refresh`` answers ``indexedAt``
    and ``docsIndexed`` as status would). A failed poll keeps the previous tickets, marked
    unreachable with the error and one more failure.
    """
    step = "workspace status"
    try:
        if endpoint.managed:
            step = "index refresh"
            status = await _get_json(client, "POST", endpoint.url("/api/v1/index/refresh"), timeout)
        else:
            status = await _get_json(
                client, "GET", endpoint.url("/api/v1/workspace/status"), timeout
            )
        if not isinstance(status, dict):
            raise EndpointError("response is not a JSON object")
        step = "workspace tickets"
        tickets = _tickets(await _get_json(client, "GET", endpoint.url(_TICKETS_PATH), timeout))
    except EndpointError as exc:
        failures = (previous.failures if previous is not None else 0) + 1
        error = f"{step} for {endpoint.name}: {exc}"
        if previous is None:
            return EndpointSnapshot(endpoint, False, now, error=error, failures=failures)
        return replace(
            previous, endpoint=endpoint, reachable=False, polled_at=now, error=error,
            failures=failures,
        )  # fmt: skip
    return EndpointSnapshot(
        endpoint,
        True,
        now,
        indexed_at=_str(status, "indexedAt"),
        docs_indexed=_int(status, "docsIndexed"),
        root=_str(status, "root"),
        tickets=tickets,
        last_ok_at=now,
    )


async def refresh_endpoint(
    client: httpx.AsyncClient, endpoint: Endpoint, *, timeout: float
) -> dict[str, Any]:
    """``POST index/refresh``: the original's refresh line as data (error instead of raising)."""
    out: dict[str, Any] = {"name": endpoint.name, "kind": endpoint.kind}
    try:
        data = await _get_json(client, "POST", endpoint.url("/api/v1/index/refresh"), timeout)
        if not isinstance(data, dict):
            raise EndpointError("response is not a JSON object")
    except EndpointError as exc:
        out.update(refreshed=False, indexed_at="", docs_indexed=0, error=str(exc))
        return out
    out.update(
        refreshed=bool(data.get("refreshed")),
        indexed_at=_str(data, "indexedAt"),
        docs_indexed=_int(data, "docsIndexed"),
        error="",
    )
    return out


# -- time ------------------------------------------------------------------------------------


def parse_time(text: str) -> datetime | None:
    """RFC3339 (with or without fraction, nanoseconds cut), or ``YYYY-MM-DD``; else None."""
    text = text.strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        head, dot, rest = text.partition(".")
        if dot:
            digits = len(rest) - len(rest.lstrip("0123456789"))
            text = head + "." + rest[:digits][:6].ljust(6, "0") + rest[digits:]
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _stamp(text: str) -> datetime:
    return parse_time(text) or datetime.min.replace(tzinfo=UTC)


def is_stale(snapshot: EndpointSnapshot, now: datetime, stale_after: float) -> bool:
    """The endpoint's index is older than ``stale_after`` seconds (or it has none)."""
    indexed = parse_time(snapshot.indexed_at)
    if indexed is None:
        return snapshot.reachable
    return (now - indexed).total_seconds() > stale_after


# -- merge and views -------------------------------------------------------------------------


def _active_key(ticket: str, repo: str) -> tuple[str, str]:
    return ticket.upper(), repo.lower()


def _preferred(a: FederatedTicket, b: FederatedTicket) -> bool:
    """True when ``a`` wins over ``b`` (the original's ``preferredOver``)."""
    ka, kb = a.source.endpoint.kind, b.source.endpoint.kind
    if ka != kb:
        return ka == "workspace"
    ua, ub = _stamp(a.updated_at), _stamp(b.updated_at)
    if ua != ub:
        return ua > ub
    ia, ib = _stamp(a.source.indexed_at), _stamp(b.source.indexed_at)
    if ia != ib:
        return ia > ib
    return a.source.endpoint.name < b.source.endpoint.name


def merge_workspace_first(
    snapshots: Iterable[EndpointSnapshot], active: Iterable[tuple[str, str]]
) -> list[FederatedTicket]:
    """One ticket per ``(ticket, repo, active)``, the preferred copy kept (module docstring)."""
    active_keys = {_active_key(t, r) for t, r in active}
    chosen: dict[tuple[str, str, bool], FederatedTicket] = {}
    for snap in snapshots:
        if not snap.reachable:
            continue
        repo = snap.endpoint.repo
        for row in snap.tickets:
            is_active = _active_key(row.ticket, repo) in active_keys
            candidate = FederatedTicket(
                row.ticket, row.title, row.status, repo, is_active, snap, row.updated_at
            )
            key = (row.ticket.upper(), repo.lower(), is_active)
            current = chosen.get(key)
            if current is None or _preferred(candidate, current):
                chosen[key] = candidate
    return sorted(
        chosen.values(),
        key=lambda t: (not t.active, t.ticket, t.home_repo, t.source.endpoint.name),
    )


def sort_snapshots(snapshots: Iterable[EndpointSnapshot]) -> list[EndpointSnapshot]:
    """Workspace endpoints first, then by name."""
    return sorted(snapshots, key=lambda s: (s.endpoint.kind != "workspace", s.endpoint.name))


def endpoint_json(snap: EndpointSnapshot, now: datetime, stale_after: float) -> dict[str, Any]:
    ep = snap.endpoint
    return {
        "name": ep.name,
        "kind": ep.kind,
        "repo": ep.repo,
        "workspace": ep.workspace,
        "base_url": ep.base_url,
        "reachable": snap.reachable,
        "indexed_at": snap.indexed_at,
        "docs_indexed": snap.docs_indexed,
        "stale": is_stale(snap, now, stale_after),
        "error": snap.error,
        "managed": ep.managed,
        "polled_at": snap.polled_at.isoformat(),
    }


def federation_view(
    snapshots: Sequence[EndpointSnapshot],
    active: Iterable[tuple[str, str]],
    *,
    now: datetime,
    stale_after: float,
    ticket: str = "",
    refresh: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ``docs --json`` object."""
    tickets = merge_workspace_first(snapshots, active)
    if ticket:
        tickets = [t for t in tickets if t.ticket.casefold() == ticket.casefold()]
    view: dict[str, Any] = {
        "endpoints": [endpoint_json(s, now, stale_after) for s in sort_snapshots(snapshots)],
        "tickets": [t.as_json() for t in tickets],
    }
    if refresh is not None:
        view["refresh"] = list(refresh)
    return view


def render_text(view: Mapping[str, Any]) -> str:
    """The original's ``Doc Federation`` text (reference §10), plus ``stale`` marks."""
    lines = ["Doc Federation"]
    if view.get("refresh") is not None:
        lines.append("Refresh:")
        for row in view["refresh"]:
            tail = (
                f"error={row['error']}"
                if row["error"]
                else f"refreshed={str(row['refreshed']).lower()} "
                f"indexed_at={row['indexed_at'] or 'unknown'} docs={row['docs_indexed']}"
            )
            lines.append(f"  - {row['name']} ({row['kind']}) {tail}")
    lines.append("Endpoints:")
    if not view["endpoints"]:
        lines.append("  - none")
    for ep in view["endpoints"]:
        head = (
            f"  - {ep['name']} kind={ep['kind']} repo={ep['repo'] or '-'} "
            f"workspace={ep['workspace'] or '-'}"
        )
        if not ep["reachable"]:
            lines.append(f"{head} error={ep['error']}")
            continue
        stale = " STALE" if ep["stale"] else ""
        lines.append(
            f"{head} indexed_at={ep['indexed_at'] or 'unknown'}{stale} "
            f"docs={ep['docs_indexed']} web={ep['base_url']}"
        )
    lines.append("Tickets:")
    if not view["tickets"]:
        lines.append("  - none")
    for t in view["tickets"]:
        lines.append(
            f"  - {t['ticket']} status={t['status'] or 'unknown'} "
            f"home_repo={t['home_repo'] or 'unknown'} active={str(t['active']).lower()} "
            f"source={t['source_kind']}/{t['source_name']} workspace={t['workspace'] or '-'} "
            f"link={t['link']}"
        )
    return "\n".join(lines)
