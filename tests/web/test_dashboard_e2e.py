"""The web dashboard against a real supervisor, a real run and real headless Chromium.

``metawsm serve --web 127.0.0.1:0`` runs in a world of its own (real git, real tmux); the
browser is Debian's Chromium driven by Playwright. An agent asks a question; the page shows it
without a reload; the operator answers on the page; the agent gets the answer. The security
checks are made over plain HTTP against the same server.

Set ``METAWSM_UPDATE_SCREENSHOTS=1`` to refresh the operator guide's screenshot from this test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.supervisor.world import BRIEF, HOLD, World, wait_until

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "dashboard.png"

ASKER = {
    "steps": [
        {"do": "say", "text": "generation starts"},
        {"do": "sleep", "seconds": 4},
        {
            "do": "guidance",
            "question": "Ship it on Friday?",
            "timeout": 90,
            "save_answer": "answer.txt",
            "when_generation": 1,
        },
        {
            "do": "forum",
            "title": "Cache size?",
            "body": "How big may the cache grow?",
            "priority": "urgent",
            "timeout": 90,
            "save_answer": "forum-answer.txt",
        },
        {"do": "say", "text": "holding now"},
        {"do": "hold"},
    ]
}


def _require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is missing at {CHROMIUM}: `make test` installs it")
        pytest.skip(f"no Chromium at {CHROMIUM} (make test installs Debian's chromium)")


def _dashboard_url(world: World) -> str:
    url_file = world.state_dir / "web.url"
    wait_until(url_file.exists, what="the dashboard URL file")
    return url_file.read_text().strip()


@pytest.fixture
def browser() -> Iterator[Callable[[], Any]]:
    """Launch Chromium on demand: Playwright's sync API keeps an event loop running in this
    thread, so it starts after the world (whose set-up runs one of its own)."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    started: list[Any] = []

    def launch() -> Any:
        p = sync_playwright().start()
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        started.append((p, chromium))
        return chromium

    yield launch
    for p, chromium in started:
        chromium.close()
        p.stop()


def _status(world: World, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = world.json("status", "--run-id", run_id, "--no-diffs")
    return data


def _thread(world: World, run_id: str, title: str) -> dict[str, Any]:
    threads = world.json("forum", "list", "--run-id", run_id)["threads"]
    found: dict[str, Any] = next(t for t in threads if t["title"] == title)
    return found


def test_dashboard_shows_a_question_live_and_the_answer_reaches_the_agent(
    make_world: Callable[..., World], browser: Callable[[], Any]
) -> None:
    world = make_world({"asker": ASKER, "holder": HOLD})
    serve = world.serve("--web", "127.0.0.1:0")
    url = _dashboard_url(world)
    run_id = world.json("bootstrap", "--ticket", "T-1", "--repos", "api", *BRIEF, "--detach")[
        "run_id"
    ]
    page = browser().new_page(viewport={"width": 1280, "height": 860})
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(url)
    # The token in the URL became a cookie and left the address bar.
    assert "token=" not in page.url
    page.wait_for_selector("#conn.ok", timeout=15_000)
    page.wait_for_selector(f"text={run_id}", timeout=15_000)
    page.wait_for_selector("text=asker", timeout=15_000)
    # A live update: the agent asks while the page is open, and the question appears in this
    # same document (the marker set on it survives: no reload, no navigation).
    page.evaluate("window.__metawsmMarker = 'same page'")
    workspace = next(world.workspaces_dir.iterdir())
    page.wait_for_selector("text=Ship it on Friday?", timeout=30_000)
    assert page.evaluate("window.__metawsmMarker") == "same page"
    if os.environ.get("METAWSM_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    # The answer round trip, from the page to the agent.
    form = page.locator('form[data-method="guide"]')
    form.locator("input[name=answer]").fill("Yes, ship it")
    form.locator("button").click()
    saved = workspace / "api" / "answer.txt"
    wait_until(saved.exists, timeout=30, what="the agent to receive the page's answer")
    assert saved.read_text() == "Yes, ship it"
    wait_until(
        lambda: _status(world, run_id)["status"] == "running", what="the run to leave guidance"
    )
    page.wait_for_selector("text=no agent is waiting for an answer", timeout=15_000)

    # The agent asks on the forum (urgent): an escalation and a thread, answered on the page.
    page.wait_for_selector("text=Cache size?", timeout=30_000)
    page.wait_for_selector("h3.bad:has-text('Escalations')", timeout=15_000)
    thread_row = page.locator("tr", has_text="Cache size?")
    thread_row.locator('form[data-method="forum.answer"] input[name=body]').fill("1 GiB at most")
    thread_row.locator('form[data-method="forum.answer"] button').click()
    forum_saved = workspace / "api" / "forum-answer.txt"
    wait_until(forum_saved.exists, timeout=30, what="the agent to receive the thread's answer")
    assert forum_saved.read_text().strip() == "1 GiB at most"

    # A thread of the operator's: assign it, then close it (after the confirmation).
    world.cli("forum", "ask", "--run-id", run_id, "--title", "Rotate keys", "--body", "when?")
    page.wait_for_selector("text=Rotate keys", timeout=15_000)
    rotate = page.locator("tr", has_text="Rotate keys")
    rotate.locator('form[data-method="forum.assign"] input').fill("alice")
    rotate.locator('form[data-method="forum.assign"] button').click()
    wait_until(
        lambda: _thread(world, run_id, "Rotate keys")["assignee_name"] == "alice",
        what="the assignment from the page",
    )
    page.locator("tr", has_text="Rotate keys").locator(
        'form[data-method="forum.close"] button'
    ).click()
    wait_until(
        lambda: _thread(world, run_id, "Rotate keys")["state"] == "closed",
        what="the close from the page",
    )

    # An action with its confirmation: restart the holder, generation 2 shows on the page.
    holder_row = page.locator("tr", has_text="holder")
    holder_row.locator('form[data-method="agent.restart"] button').click()
    wait_until(
        lambda: (
            next(a for a in _status(world, run_id)["agents"] if a["name"] == "holder")["generation"]
            == 2
        ),
        what="the holder's restart from the page",
    )
    page.wait_for_selector("#msg.ok", timeout=10_000)

    # The agent's recent output.
    page.goto(url.split("?")[0] + f"logs?run={run_id}&agent=asker&workspace={workspace.name}")
    assert "holding now" in page.locator("#log").inner_text()
    page.close()
    world.cli("stop", "--run-id", run_id)
    assert serve.poll() is None


def test_dashboard_refuses_requests_without_its_token_or_from_elsewhere(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"holder": HOLD})
    world.serve("--web", "127.0.0.1:0")
    url = _dashboard_url(world)
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    token = parts.query.split("token=", 1)[1]
    run_id = world.json("run", "--ticket", "T-1", "--repos", "api", "--detach")["run_id"]
    with httpx.Client(base_url=base, timeout=10) as http:
        # No token: nothing is served, reads or writes.
        assert http.get("/").status_code == 403
        assert http.get("/api/state").status_code == 403
        assert http.get("/events").status_code == 403
        refused = http.post("/api/call/agent.stop", json={"run_id": run_id})
        assert refused.status_code == 403
        assert "token" in refused.json()["error"]["message"]
        # A wrong token is no token.
        assert http.get("/api/state", headers={"X-Metawsm-Token": "x" * 43}).status_code == 403
        # DNS rebinding: another name for this address is refused whatever it carries.
        rebound = http.get(
            "/api/state", headers={"Host": "evil.example:80"}, params={"token": token}
        )
        assert rebound.status_code == 421
        # A cross-site request is refused before any handler, even with the token.
        cross = http.post(
            "/api/call/agent.stop",
            headers={"X-Metawsm-Token": token, "Origin": "http://evil.example"},
            json={"run_id": run_id, "agent": "holder", "workspace": "x"},
        )
        assert cross.status_code == 403
        # The cookie is enough to read, never to write (a cross-site form can carry cookies).
        login = http.get("/", params={"token": token})
        assert login.status_code == 303 and "HttpOnly" in login.headers["set-cookie"]
        assert "samesite=strict" in login.headers["set-cookie"].lower()
        assert http.get("/api/state").status_code == 200
        assert http.post("/api/call/guide", json={"run_id": run_id}).status_code == 403
        # Only the tui's actions are offered: no cleanup, merge, close or submit.
        offlimits = http.post("/api/call/cleanup", headers={"X-Metawsm-Token": token}, json={})
        assert offlimits.status_code == 404
        # With the token in its header, a write goes through and answers like the socket.
        answer = http.post(
            "/api/call/guide",
            headers={"X-Metawsm-Token": token},
            json={"run_id": run_id, "answer": "x"},
        )
        assert answer.status_code == 200
        assert "no pending guidance" in answer.json()["error"]["message"]
        # The event stream: an open-ended text/event-stream, no length, first a comment line.
        with http.stream("GET", "/events", headers={"X-Metawsm-Token": token}) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert "content-length" not in stream.headers
            assert next(stream.iter_lines()) == ": connected"
        state = http.get("/api/state").json()
        assert state["selected"] == run_id and state["status"]["agents"][0]["name"] == "holder"
    # Nothing is bound beyond loopback without an explicit address.
    assert parts.hostname == "127.0.0.1"
    world.cli("stop", "--run-id", run_id)
