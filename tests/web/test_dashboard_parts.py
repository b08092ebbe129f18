"""The dashboard's pure parts: the access checks, address parsing, and escaping in pages."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from metawsm.errors import UsageError
from metawsm.web import pages
from metawsm.web.access import Access, is_loopback, new_token
from metawsm.web.server import DEFAULT_PORT, WebAddress, parse_address


def test_tokens_are_fresh_and_long() -> None:
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50 and all(len(t) >= 40 for t in tokens)


def test_a_loopback_bind_accepts_its_loopback_names_and_nothing_else() -> None:
    access = Access("127.0.0.1", 7780, "t")
    for ok in ("127.0.0.1:7780", "localhost:7780", "[::1]:7780", "LOCALHOST:7780"):
        assert access.host_ok(ok), ok
    for bad in (None, "", "127.0.0.1", "127.0.0.1:7781", "evil.example:7780", "evil.example"):
        assert not access.host_ok(bad), bad


def test_an_explicit_address_accepts_only_itself() -> None:
    access = Access("10.1.2.3", 80, "t")
    assert access.host_ok("10.1.2.3:80")
    assert not access.host_ok("localhost:80") and not access.host_ok("127.0.0.1:80")


def test_origin_must_be_absent_or_the_dashboards_own() -> None:
    access = Access("127.0.0.1", 7780, "t")
    assert access.origin_ok(None)
    assert access.origin_ok("http://127.0.0.1:7780") and access.origin_ok("http://localhost:7780")
    for bad in ("http://evil.example", "null", "https://127.0.0.1:7780", "http://127.0.0.1:1"):
        assert not access.origin_ok(bad), bad


def test_token_comparison() -> None:
    access = Access("127.0.0.1", 1, "secret")
    assert access.token_ok("secret")
    assert not access.token_ok(None) and not access.token_ok("") and not access.token_ok("secreT")


def test_the_url_carries_the_token_and_brackets_ipv6() -> None:
    assert Access("127.0.0.1", 5, "abc").url == "http://127.0.0.1:5/?token=abc"
    assert Access("::1", 5, "abc").url == "http://[::1]:5/?token=abc"
    assert is_loopback("::1") and is_loopback("127.0.0.9") and not is_loopback("0.0.0.0")


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("", WebAddress("127.0.0.1", DEFAULT_PORT)),
        ("8000", WebAddress("127.0.0.1", 8000)),
        ("0", WebAddress("127.0.0.1", 0)),
        ("0.0.0.0:9000", WebAddress("0.0.0.0", 9000)),
        ("localhost", WebAddress("localhost", DEFAULT_PORT)),
        ("[::1]:8001", WebAddress("::1", 8001)),
    ],
)
def test_web_addresses(text: str, address: WebAddress) -> None:
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["host:port", "[::1", "127.0.0.1:70000"])
def test_bad_web_addresses_are_one_clear_error(text: str) -> None:
    with pytest.raises(UsageError):
        parse_address(text)


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.forms: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "form":
            self.forms.append(dict(attrs))


HOSTILE = "<script>alert(1)</script>\"'&"


def test_values_from_outside_are_escaped_everywhere() -> None:
    view = {
        "run_id": "run-1",
        "status": HOSTILE,
        "tickets": [HOSTILE],
        "guidance": [{"agent": HOSTILE, "question": HOSTILE}],
        "agents": [{"name": HOSTILE, "workspace": HOSTILE, "health": HOSTILE}],
        "steps": [{"index": 1, "name": HOSTILE, "status": "done", "error": HOSTILE}],
        "last_message": HOSTILE,
    }
    threads = [{"thread_id": HOSTILE, "title": HOSTILE, "state": "new", "priority": "urgent"}]
    html = pages.run_detail(view, threads=threads, escalations=threads)
    parsed = _Collect()
    parsed.feed(html)
    assert "script" not in parsed.tags
    # Action parameters survive as JSON inside their attribute, whatever they hold.
    restart = next(f for f in parsed.forms if f.get("data-method") == "agent.restart")
    assert json.loads(restart["data-params"] or "") == {
        "run_id": "run-1",
        "agent": HOSTILE,
        "workspace": HOSTILE,
    }


def test_threads_are_shown_urgent_first_then_newest() -> None:
    threads = [
        {"thread_id": "a", "priority": "normal", "updated_at": "2026-01-03"},
        {"thread_id": "b", "priority": "urgent", "updated_at": "2026-01-01"},
        {"thread_id": "c", "priority": "normal", "updated_at": "2026-01-04"},
        {"thread_id": "d", "priority": "high", "updated_at": "2026-01-02"},
    ]
    assert [t["thread_id"] for t in pages.sort_threads(threads)] == ["b", "d", "c", "a"]
