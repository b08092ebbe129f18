"""The docs federation as a supervised child: polls every docs API endpoint, keeps the snapshot.

One httpx client for the life of the child. Every ``docs.api.poll_interval_seconds`` (or
sooner when poked) the endpoints that are due are polled concurrently, each request bounded
by ``docs.api.request_timeout_seconds``, so a hanging endpoint delays nothing else. An endpoint
that fails is retried with an exponential backoff (the interval doubled per failure, capped
at 8 intervals) and shows its error in its health meanwhile. ``docs`` and ``status`` answer
from the last snapshot in memory; nothing they do waits on a network.

Endpoints come from the policy and from the docmgr servers metawsm runs for its active
workspaces (:meth:`DocsFederation.register`), which are refreshed before each poll.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskStatus

from metawsm.docs.federation import (
    Endpoint,
    EndpointSnapshot,
    federation_view,
    poll_endpoint,
    refresh_endpoint,
)
from metawsm.errors import UsageError
from metawsm.policy.model import Policy

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("metawsm.docs_federation")

_MAX_BACKOFF_INTERVALS = 8


def endpoints_from_policy(policy: Policy) -> list[Endpoint]:
    """Workspace endpoints first, then repo endpoints, as the policy lists them."""
    api = policy.docs.api
    out = [
        Endpoint(e.name.strip(), "workspace", e.base_url.strip(), e.repo.strip(),
                 e.workspace.strip(), e.web_url.strip())
        for e in api.workspace_endpoints
    ]  # fmt: skip
    out += [
        Endpoint(e.name.strip(), "repo", e.base_url.strip(), e.repo.strip(),
                 e.workspace.strip(), e.web_url.strip())
        for e in api.repo_endpoints
    ]  # fmt: skip
    return out


def _now() -> datetime:
    return datetime.now(UTC)


class DocsFederation:
    """Polls the endpoints and keeps one :class:`EndpointSnapshot` per endpoint."""

    def __init__(
        self,
        endpoints: Iterable[Endpoint],
        *,
        interval: float,
        timeout: float,
        stale_after: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.interval = interval
        self.timeout = timeout
        self.stale_after = stale_after
        self._endpoints: dict[str, Endpoint] = {e.name: e for e in endpoints}
        self.snapshots: dict[str, EndpointSnapshot] = {}
        self._due: dict[str, float] = {}
        self._client: httpx.AsyncClient | None = None
        self._transport = transport
        self._poked = anyio.Event()
        self._polled = anyio.Event()
        self._ready = anyio.Event()
        self.polls = 0

    @classmethod
    def from_policy(cls, policy: Policy) -> DocsFederation:
        api = policy.docs.api
        return cls(
            endpoints_from_policy(policy),
            interval=float(api.poll_interval_seconds),
            timeout=float(api.request_timeout_seconds),
            stale_after=float(policy.docs.stale_warning_seconds),
        )

    # -- endpoints --------------------------------------------------------------------------

    @property
    def endpoints(self) -> list[Endpoint]:
        return list(self._endpoints.values())

    def register(self, endpoint: Endpoint) -> None:
        """Add (or replace) an endpoint; it is polled at the next poll."""
        self._endpoints[endpoint.name] = endpoint
        self._due[endpoint.name] = 0.0
        old = self.snapshots.get(endpoint.name)
        if old is not None and old.endpoint != endpoint:
            del self.snapshots[endpoint.name]
        self.poke()

    def unregister(self, name: str) -> None:
        """Forget an endpoint and its snapshot."""
        self._endpoints.pop(name, None)
        self.snapshots.pop(name, None)
        self._due.pop(name, None)

    # -- polling ----------------------------------------------------------------------------

    def poke(self) -> None:
        """Poll every endpoint now, backoff or not (after agents changed docs, a new server)."""
        self._due = dict.fromkeys(self._endpoints, 0.0)
        self._poked.set()

    def _backoff(self, failures: int) -> float:
        factor: int = min(2 ** max(failures - 1, 0), _MAX_BACKOFF_INTERVALS)
        return self.interval * factor

    async def _poll_one(self, client: httpx.AsyncClient, endpoint: Endpoint) -> None:
        previous = self.snapshots.get(endpoint.name)
        snap = await poll_endpoint(
            client, endpoint, timeout=self.timeout, now=_now(), previous=previous
        )
        if self._endpoints.get(endpoint.name) != endpoint:
            return  # unregistered or replaced while it was polled
        self.snapshots[endpoint.name] = snap
        delay = self.interval if snap.reachable else self._backoff(snap.failures)
        self._due[endpoint.name] = anyio.current_time() + delay
        if not snap.reachable and (previous is None or previous.reachable):
            log.warning("docs endpoint %s unreachable: %s", endpoint.name, snap.error)

    async def poll_once(self, *, all_endpoints: bool = False) -> None:
        """Poll the endpoints that are due (or all), concurrently; returns when all answered."""
        client = self._require_client()
        now = anyio.current_time()
        due = [
            e for e in self._endpoints.values() if all_endpoints or self._due.get(e.name, 0) <= now
        ]
        async with anyio.create_task_group() as group:
            for endpoint in due:
                group.start_soon(self._poll_one, client, endpoint)
        self.polls += 1
        polled, self._polled = self._polled, anyio.Event()
        polled.set()

    async def wait_polled(self, timeout: float) -> None:
        """Wait (bounded) for the next poll to complete."""
        with anyio.fail_after(timeout):
            await self._polled.wait()

    def _require_client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("the docs federation is not running")
        return self._client

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """The one httpx client every poll and refresh uses, open for the block."""
        import httpx

        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        async with httpx.AsyncClient(
            timeout=self.timeout, limits=limits, transport=self._transport, trust_env=False
        ) as client:
            self._client = client
            self._ready.set()
            try:
                yield
            finally:
                self._client = None
                self._ready = anyio.Event()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Poll until cancelled; started at once (the first poll runs in the background)."""
        # Started before the client exists: building it (TLS context) must not delay the
        # children after this one, the control socket among them.
        task_status.started()
        async with self.session():
            while True:
                await self.poll_once()
                wait = self.interval
                if self._due:
                    wait = max(0.0, min(self._due.values()) - anyio.current_time())
                    wait = min(wait, self.interval)
                with anyio.move_on_after(wait):
                    await self._poked.wait()
                self._poked = anyio.Event()

    # -- answers (from memory) --------------------------------------------------------------

    async def refresh(self, names: Sequence[str] = ()) -> list[dict[str, Any]]:
        """``POST index/refresh`` on the named endpoints (all when none), then poll them."""
        with anyio.fail_after(max(10.0, self.timeout)):
            await self._ready.wait()  # the client of a federation that has just started
        client = self._require_client()
        unknown = [n for n in names if n not in self._endpoints]
        if unknown:
            known = ", ".join(sorted(self._endpoints)) or "none"
            raise UsageError(
                f"unknown docs endpoint {unknown[0]!r}", hint=f"configured endpoints: {known}"
            )
        targets = [self._endpoints[n] for n in sorted(set(names))] if names else sorted(
            self._endpoints.values(), key=lambda e: e.name
        )  # fmt: skip
        results: dict[str, dict[str, Any]] = {}

        async def one(endpoint: Endpoint) -> None:
            results[endpoint.name] = await refresh_endpoint(client, endpoint, timeout=self.timeout)
            await self._poll_one(client, endpoint)

        async with anyio.create_task_group() as group:
            for endpoint in targets:
                group.start_soon(one, endpoint)
        return [results[e.name] for e in targets]

    def view(
        self,
        active: Iterable[tuple[str, str]],
        *,
        ticket: str = "",
        refresh: Sequence[dict[str, Any]] | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """The ``docs`` answer from the snapshot; endpoints not polled yet show as pending."""
        moment = now or _now()
        snaps = [
            self.snapshots.get(e.name)
            or EndpointSnapshot(e, False, moment, error=f"{e.name}: not polled yet")
            for e in self._endpoints.values()
        ]
        return federation_view(
            snaps, active, now=moment, stale_after=self.stale_after, ticket=ticket,
            refresh=refresh,
        )  # fmt: skip

    def freshness_age(self, name: str, now: datetime | None = None) -> timedelta | None:
        """How old the last good poll of ``name`` is, or None if it never answered."""
        snap = self.snapshots.get(name)
        if snap is None or snap.last_ok_at is None:
            return None
        return (now or _now()) - snap.last_ok_at


def run_workspaces(view: dict[str, Any]) -> set[str]:
    """The workspaces a status view names (its agents and its seeded docs)."""
    names = {str(a.get("workspace", "")) for a in view.get("agents", [])}
    names |= {str(d.get("workspace", "")) for d in view.get("docs", {}).get("sync", [])}
    return {n for n in names if n}


def stale_warnings(endpoints: Iterable[dict[str, Any]]) -> list[str]:
    """One warning per workspace endpoint whose index is stale (warning only, never a block)."""
    return [
        f"docs index of workspace endpoint {ep['name']} is stale "
        f"(indexed_at {ep['indexed_at'] or 'unknown'}); `metawsm docs --refresh` re-indexes it"
        for ep in endpoints
        if ep["kind"] == "workspace" and ep["reachable"] and ep["stale"]
    ]


def add_federation_health(view: dict[str, Any], federation: DocsFederation) -> None:
    """Put the federation's endpoints for this run (its workspaces' and every repo endpoint)
    into a status view's Docs section, with a warning per stale workspace index."""
    workspaces = run_workspaces(view)
    endpoints = [
        ep
        for ep in federation.view(())["endpoints"]
        if ep["kind"] == "repo" or ep["workspace"] in workspaces
    ]
    docs = view.setdefault("docs", {})
    docs["endpoints"] = [
        {key: ep[key] for key in ("name", "kind", "workspace", "reachable", "indexed_at",
                                  "stale", "error")}
        for ep in endpoints
    ]  # fmt: skip
    docs.setdefault("warnings", []).extend(stale_warnings(endpoints))
