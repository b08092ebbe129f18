"""What ``metawsm hosts`` shows and what ``metawsm hosts check NAME`` checks.

One row per host (this machine first, then the policy's SSH hosts): its address, its
connection state (``connected``, ``connecting`` or ``unreachable``) and since when, the last
round trip, the agents it holds against its ``max_agents``, the last tick that saw its tmux, and
the last error. With a supervisor running the rows come from its live connections and
observers; without one, each SSH host is connected to once, here, to tell its state.
"""

from __future__ import annotations

import contextlib
import posixpath
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio

from metawsm.errors import MetawsmError
from metawsm.hosts import git as gitops
from metawsm.hosts.errors import HostError
from metawsm.runs.spec import host_load

if TYPE_CHECKING:
    from metawsm.supervisor.environment import Environment, Site
    from metawsm.supervisor.observer import HostObserver

_PROBE_TIMEOUT = 15.0


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return (
        datetime.fromtimestamp(epoch, UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    )


def _load(env: Environment) -> dict[str, int]:
    if not env.db_path.exists():
        return {}
    from metawsm.store.reader import Reader

    with Reader(env.db_path) as reader:
        return host_load(reader)


def host_row(
    site: Site, observer: HostObserver | None, agents: int, *, local_since: float | None = None
) -> dict[str, Any]:
    """One host as ``hosts --json`` shows it."""
    host: Any = site.host
    if site.remote:
        state = str(getattr(host, "state", "connecting"))
        since = getattr(host, "since", None)
        error = getattr(host, "error", None)
        round_trip = getattr(host, "round_trip_ms", None)
    else:
        state, since, error, round_trip = "connected", local_since, None, None
    latest = observer.latest if observer is not None else None
    if latest is not None and latest.unknown and error is None:
        error = latest.error
    return {
        "name": site.name,
        "address": site.address or "this machine",
        "state": state,
        "since": _iso(since),
        "round_trip_ms": None if round_trip is None else round(float(round_trip), 1),
        "agents": agents,
        "max_agents": site.max_agents,
        "last_observation": _iso(observer.last_ok if observer is not None else None),
        "error": error,
    }


def live_hosts(
    env: Environment,
    observers: Mapping[str, HostObserver],
    *,
    started_at: float,
) -> dict[str, Any]:
    """The rows from a running supervisor (``observers`` by host name, local included)."""
    load = _load(env)
    rows = [
        host_row(site, observers.get(site.name), load.get(site.name, 0), local_since=started_at)
        for site in env.sites()
    ]
    return {"hosts": rows}


async def probe_hosts(env: Environment) -> dict[str, Any]:
    """The rows without a supervisor: each SSH host connected to once (concurrently)."""
    load = _load(env)
    sites = env.sites()

    async def probe(site: Site) -> None:
        connect = getattr(site.host, "connect", None)
        if connect is None:
            return
        with anyio.move_on_after(_PROBE_TIMEOUT):
            with contextlib.suppress(HostError):
                await connect(now=True)

    async with anyio.create_task_group() as group:
        for site in sites:
            if site.remote:
                group.start_soon(probe, site)
    rows = [host_row(site, None, load.get(site.name, 0)) for site in sites]
    await env.aclose()
    return {"hosts": rows, "supervisor": "down"}


@dataclass(frozen=True)
class Check:
    """One line of ``hosts check``."""

    name: str
    ok: bool
    detail: str


async def check_host(env: Environment, name: str) -> dict[str, Any]:
    """Connect to ``name`` and check what a run there needs, one clear line each."""
    site = env.site(name)
    checks: list[Check] = []
    host = site.host
    try:
        connect = getattr(host, "connect", None)
        if connect is not None:
            await connect(now=True)
        checks.append(Check("connect", True, f"reached {site.address or 'this machine'}"))
    except HostError as exc:
        checks.append(Check("connect", False, exc.message))
        return _checked(name, checks)
    try:
        checks.extend(await _checks(env, site))
    finally:
        await env.aclose()
    return _checked(name, checks)


def _checked(name: str, checks: list[Check]) -> dict[str, Any]:
    return {"host": name, "ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]}


async def _version(site: Site, argv: list[str], what: str) -> Check:
    try:
        result = await site.host.run(argv, timeout=20.0)
    except HostError as exc:
        return Check(what, False, exc.message)
    if not result.ok:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return Check(what, False, f"`{' '.join(argv)}` failed: {tail}")
    return Check(what, True, (result.stdout.strip().splitlines() or [""])[0])


async def _checks(env: Environment, site: Site) -> list[Check]:
    checks = [
        await _version(site, ["tmux", "-V"], "tmux"),
        await _version(site, ["git", "--version"], "git"),
    ]
    if site.remote:
        checks.append(await _version(site, ["stat", "--version"], "stat"))
    for repo, path in sorted(site.repos.items()):
        try:
            ok = await gitops.is_repo(site.host, path)
            detail = f"clone at {path}" if ok else f"{path} is not the top of a git clone"
        except (HostError, MetawsmError) as exc:
            ok, detail = False, f"{path}: {exc}"
        checks.append(Check(f"repo {repo}", ok, detail))
    root = site.workspaces_root
    probe = posixpath.join(root, f".metawsm-check-{secrets.token_hex(4)}")
    try:
        await site.host.makedirs(root)
        await site.host.write_bytes_atomic(probe, b"ok\n")
        await site.host.remove(probe)
        checks.append(Check("workspaces root", True, f"{root} is writable"))
    except (OSError, HostError) as exc:
        checks.append(Check("workspaces root", False, f"{root} is not writable: {exc}"))
    programs = sorted({_program(env, p.name) for p in env.policy.agent_profiles} - {""})
    for program in programs:
        result = await site.host.run(
            ["/bin/sh", "-c", 'command -v "$1"', "sh", program], timeout=20.0
        )
        found = result.stdout.strip()
        checks.append(
            Check(
                f"agent program {program}",
                result.ok and bool(found),
                found if result.ok and found else f"{shlex.quote(program)} not found on the host",
            )
        )
    return checks


def _program(env: Environment, profile_name: str) -> str:
    """The program an agent profile starts (its argv[0]), or "" if it cannot be told."""
    from metawsm.runs.profiles import resolve_agents

    for entry in env.policy.agents:
        if entry.profile != profile_name:
            continue
        try:
            [agent] = resolve_agents(env.policy, [entry.name], policy_path=env.policy_path)
        except (MetawsmError, ValueError):
            return ""
        return agent.argv[0] if agent.argv else ""
    return ""


def render_hosts(data: dict[str, Any]) -> str:
    """The text form of ``metawsm hosts``."""
    lines = []
    for row in data["hosts"]:
        limit = row["max_agents"] or "no limit"
        rtt = f" rtt={row['round_trip_ms']}ms" if row["round_trip_ms"] is not None else ""
        since = f" since {row['since']}" if row["since"] else ""
        seen = f" seen={row['last_observation']}" if row["last_observation"] else ""
        lines.append(
            f"{row['name']}  {row['address']}  {row['state']}{since}{rtt}"
            f"  agents={row['agents']}/{limit}{seen}"
        )
        if row["error"]:
            lines.append(f"  error: {row['error']}")
    if data.get("supervisor") == "down":
        lines.append("(no supervisor running: each host was connected to once, just now)")
    return "\n".join(lines)


def render_check(data: dict[str, Any]) -> str:
    lines = [f"{'ok' if c['ok'] else 'FAIL':4}  {c['name']}: {c['detail']}" for c in data["checks"]]
    verdict = "ready" if data["ok"] else "NOT ready"
    lines.append(f"host {data['host']} is {verdict} for runs")
    return "\n".join(lines)
