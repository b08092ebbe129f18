"""The docs federation against real ``docmgr api serve`` processes holding overlapping tickets.

Each test starts its docmgr servers on free loopback ports (``tests/helpers/docmgr_server.py``)
over docs roots written in docmgr's layout; the broken endpoints of the fault tests are real
sockets too (``tests/helpers/bad_endpoints.py``: docmgr cannot be made to hang or answer 500).
"""

# Tests write the docs roots directly; blocking there is intended.

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from metawsm.docs.federation import (
    Endpoint,
    EndpointSnapshot,
    RemoteTicket,
    merge_workspace_first,
    parse_time,
    render_text,
)
from metawsm.supervisor.docs_federation import DocsFederation
from tests.helpers.bad_endpoints import hanging, http_answer
from tests.helpers.docmgr_server import DocmgrServer
from tests.helpers.docs import TicketSpec, build_docs_root, write_ticket
from tests.helpers.tools import require_tool

pytestmark = pytest.mark.anyio

OLD = "2026-02-08T06:28:17.900821-08:00"
NEW = "2026-03-01T10:00:00Z"


@pytest.fixture
def docmgr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    return require_tool("docmgr")


@pytest.fixture
def servers(docmgr: Path, tmp_path: Path) -> Iterator[dict[str, DocmgrServer]]:
    """Four real docmgr servers: a workspace copy of repo api, repo api, repo web, and a
    second copy of repo api (``api-mirror``)."""
    roots = {
        "ws-a": (TicketSpec("T-1", "One (workspace)"), TicketSpec("T-2", "Two")),
        "repo-api": (
            TicketSpec("T-1", "One (repo)", status="review", last_updated=NEW),
            TicketSpec("T-3", "Three, old"),
        ),
        "repo-web": (TicketSpec("T-1", "One of web"),),
        "api-mirror": (TicketSpec("T-3", "Three, newer", last_updated=NEW),),
    }
    with ExitStack() as stack:
        out = {}
        for name, specs in roots.items():
            root = build_docs_root(tmp_path / name / "ttmp", *specs)
            out[name] = stack.enter_context(DocmgrServer(docmgr, root))
        yield out


def endpoints(servers: dict[str, DocmgrServer]) -> list[Endpoint]:
    return [
        Endpoint("ws-a", "workspace", servers["ws-a"].base_url, "api", "ws1"),
        Endpoint("repo-api", "repo", servers["repo-api"].base_url, "api"),
        Endpoint("repo-web", "repo", servers["repo-web"].base_url, "web",
                 web_url="http://web.example/ui"),
        Endpoint("api-mirror", "repo", servers["api-mirror"].base_url, "api"),
    ]  # fmt: skip


def federation(eps: list[Endpoint], timeout: float = 10.0) -> DocsFederation:
    return DocsFederation(eps, interval=30.0, timeout=timeout, stale_after=900.0)


async def test_the_merge_prefers_the_workspace_then_the_newer_copy_and_keeps_repos_apart(
    servers: dict[str, DocmgrServer],
) -> None:
    fed = federation(endpoints(servers))
    async with fed.session():
        await fed.poll_once()
    view = fed.view({("t-1", "API")})
    rows = [
        (t["ticket"], t["home_repo"], t["active"], t["source_name"], t["title"])
        for t in view["tickets"]
    ]
    assert rows == [
        # Active first: the workspace copy wins over the repo's newer one.
        ("T-1", "api", True, "ws-a", "One (workspace)"),
        # The same id in another repo stays its own ticket.
        ("T-1", "web", False, "repo-web", "One of web"),
        ("T-2", "api", False, "ws-a", "Two"),
        # Two repo endpoints of one repo: the newer updatedAt wins.
        ("T-3", "api", False, "api-mirror", "Three, newer"),
    ]
    assert view["tickets"][1]["link"] == "http://web.example/ui"
    # docsIndexed counts every .md: index, README, tasks and changelog of each ticket.
    health = [(e["name"], e["kind"], e["reachable"], e["docs_indexed"]) for e in view["endpoints"]]
    assert health == [
        ("ws-a", "workspace", True, 8),
        ("api-mirror", "repo", True, 4),
        ("repo-api", "repo", True, 8),
        ("repo-web", "repo", True, 4),
    ]  # fmt: skip
    indexed = parse_time(view["endpoints"][0]["indexed_at"])
    assert indexed is not None and abs(datetime.now(UTC) - indexed) < timedelta(minutes=10)
    assert set(view["endpoints"][0]) == {
        "name", "kind", "repo", "workspace", "base_url", "reachable", "indexed_at",
        "docs_indexed", "stale", "error", "managed", "polled_at",
    }  # fmt: skip
    assert set(view["tickets"][0]) == {
        "ticket", "title", "status", "home_repo", "active", "source_kind", "source_name",
        "workspace", "link",
    }  # fmt: skip
    text = render_text(fed.view((), ticket="t-3"))
    assert "  - T-3 status=active home_repo=api active=false source=repo/api-mirror" in text
    assert "T-1" not in text.split("Tickets:")[1]


def test_ties_fall_back_to_the_endpoint_index_time_then_the_name() -> None:
    now = datetime.now(UTC)

    def snap(name: str, indexed_at: str) -> EndpointSnapshot:
        ep = Endpoint(name, "repo", f"http://127.0.0.1:1/{name}", "api")
        row = RemoteTicket("T-9", name, "active", OLD)
        return EndpointSnapshot(ep, True, now, indexed_at=indexed_at, tickets=(row,))

    newer_index = merge_workspace_first([snap("a", OLD), snap("b", NEW)], ())
    assert [t.source.endpoint.name for t in newer_index] == ["b"]
    same = merge_workspace_first([snap("b", NEW), snap("a", NEW)], ())
    assert [t.source.endpoint.name for t in same] == ["a"]


async def test_a_refresh_makes_new_docs_visible_and_reports_each_endpoint(
    servers: dict[str, DocmgrServer], tmp_path: Path
) -> None:
    fed = federation(endpoints(servers))
    async with fed.session():
        await fed.poll_once()
        write_ticket(tmp_path / "ws-a" / "ttmp", TicketSpec("T-7", "Seven, added by an agent"))
        await fed.poll_once(all_endpoints=True)
        assert "T-7" not in {t["ticket"] for t in fed.view(())["tickets"]}  # index is a snapshot
        refreshed = await fed.refresh(["ws-a"])
    assert [(r["name"], r["refreshed"], r["docs_indexed"], r["error"]) for r in refreshed] == [
        ("ws-a", True, 12, "")
    ]
    assert "T-7" in {t["ticket"] for t in fed.view(())["tickets"]}
    text = render_text(fed.view((), refresh=refreshed))
    assert "Refresh:\n  - ws-a (workspace) refreshed=true indexed_at=" in text


async def test_a_hanging_a_failing_and_a_vanished_endpoint_show_their_errors_and_stop_nothing(
    servers: dict[str, DocmgrServer],
) -> None:
    with (
        hanging() as slow,
        http_answer(500, b"boom") as broken,
        http_answer(200, b"<html>not json</html>") as html,
    ):
        eps = [
            *endpoints(servers),
            Endpoint("hangs", "repo", slow, "x"),
            Endpoint("500s", "repo", broken, "y"),
            Endpoint("html", "repo", html, "z"),
        ]
        fed = federation(eps, timeout=1.5)
        async with fed.session():
            started = anyio.current_time()
            await fed.poll_once()
            took = anyio.current_time() - started
            servers["repo-web"].kill()  # vanishes between polls
            await fed.poll_once(all_endpoints=True)
    health = {e["name"]: e for e in fed.view(())["endpoints"]}
    assert health["hangs"]["error"] == "workspace status for hangs: timed out after 1.5s"
    assert health["500s"]["error"] == "workspace status for 500s: http 500: boom"
    assert health["html"]["error"].startswith("workspace status for html: response is not JSON")
    assert health["repo-web"]["reachable"] is False
    assert health["repo-web"]["error"].startswith("workspace status for repo-web:")
    assert all(health[n]["reachable"] for n in ("ws-a", "repo-api", "api-mirror"))
    # The hanging endpoint cost one timeout, not one per endpoint.
    assert took < 1.5 * 3
    # A vanished endpoint keeps its last tickets out of the merge, and its failure counts.
    assert fed.snapshots["repo-web"].failures == 1
    assert "web" not in {t["home_repo"] for t in fed.view(())["tickets"]}


async def test_a_failing_endpoint_backs_off_and_comes_back(docmgr: Path, tmp_path: Path) -> None:
    root = build_docs_root(tmp_path / "late" / "ttmp", TicketSpec("L-1", "Late"))
    server = DocmgrServer(docmgr, root)
    fed = DocsFederation(
        [Endpoint("late", "repo", server.base_url, "late")],
        interval=0.2, timeout=2.0, stale_after=900.0,
    )  # fmt: skip
    async with fed.session():
        await fed.poll_once()
        await fed.poll_once()
        assert fed.snapshots["late"].failures == 1  # not due yet: backing off
        await anyio.sleep(0.25)
        await fed.poll_once()
        assert fed.snapshots["late"].failures == 2
        with server:
            fed.poke()
            await fed.poll_once()
    assert fed.snapshots["late"].reachable
    assert fed.snapshots["late"].failures == 0
    assert [t["ticket"] for t in fed.view(())["tickets"]] == ["L-1"]


def test_docs_without_a_supervisor_polls_the_policys_endpoints(
    servers: dict[str, DocmgrServer], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from metawsm.cli import main

    root = tmp_path / "root"
    (root / ".metawsm").mkdir(parents=True)
    policy = {
        "docs": {
            "api": {
                "workspace_endpoints": [
                    {"name": "ws-a", "base_url": servers["ws-a"].base_url, "repo": "api",
                     "workspace": "ws1"}
                ],
                "repo_endpoints": [
                    {"name": "repo-web", "base_url": servers["repo-web"].base_url, "repo": "web"}
                ],
            }
        }
    }  # fmt: skip
    (root / ".metawsm" / "policy.json").write_text(json.dumps(policy))
    monkeypatch.chdir(root)
    assert main(["docs", "--json", "--ticket", "T-1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(t["ticket"], t["home_repo"], t["source_name"]) for t in data["tickets"]] == [
        ("T-1", "api", "ws-a"),
        ("T-1", "web", "repo-web"),
    ]
    assert data["supervisor"] == "down"
    assert main(["docs", "--refresh", "--endpoint", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown docs endpoint 'nope'\nhint: configured endpoints:")


def test_docs_with_no_endpoint_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from metawsm.cli import main

    (tmp_path / "root" / ".metawsm").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "root")
    assert main(["docs"]) != 0
    assert capsys.readouterr().err.startswith("error: no docs.api endpoints configured in policy")


def test_a_bad_endpoint_url_in_the_policy_is_a_validation_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from metawsm.cli import main

    root = tmp_path / "root"
    (root / ".metawsm").mkdir(parents=True)
    bad = {"name": "b", "base_url": "http://127.0.0.1:notaport", "repo": "api"}
    (root / ".metawsm" / "policy.json").write_text(
        json.dumps({"docs": {"api": {"repo_endpoints": [bad]}}})
    )
    monkeypatch.chdir(root)
    assert main(["docs"]) != 0
    err = capsys.readouterr().err
    assert "invalid base_url" in err and "Traceback" not in err
