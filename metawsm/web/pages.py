"""The dashboard's HTML: pure functions of the data the socket methods return.

Every value that came from outside (ticket names, questions, agent output, thread bodies) goes
through :func:`html.escape`; action parameters travel in ``data-params`` attributes as JSON
(escaped too) and are posted by the page's script, never interpolated into script text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import urlencode

HEALTH_CLASS = {
    "healthy": "ok",
    "idle": "warn",
    "stalled": "bad",
    "dead": "bad",
    "unknown": "muted",
    "stopped": "muted",
}
PRIORITY_ORDER = {"urgent": 0, "high": 1, "normal": 2, "low": 3}

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#101418;color:#dde3ea}
header{padding:.6em 1em;background:#1b2229;display:flex;gap:1em;align-items:center}
header h1{font-size:1.1em;margin:0}
#conn{font-size:.85em}
.layout{display:flex}
nav{min-width:15em;padding:.5em 1em;border-right:1px solid #2a333c}
nav a{display:block;color:#9cc4ff;text-decoration:none;padding:.2em 0}
nav a.sel{font-weight:bold;color:#fff}
main{padding:.5em 1.2em;flex:1}
a{color:#9cc4ff}
table{border-collapse:collapse;margin:.3em 0 1em}
td,th{padding:.2em .6em;border-bottom:1px solid #2a333c;text-align:left;vertical-align:top}
.ok{color:#6fdc8c}.warn{color:#f1c21b}.bad{color:#ff8389}.muted{color:#8d959e}
.esc{border-left:4px solid #ff8389;padding-left:.5em}
pre{background:#0b0e11;padding:.5em;max-height:24em;overflow:auto}
button{cursor:pointer}
#msg{min-height:1.2em}
"""

_SCRIPT = """
const token = document.querySelector('meta[name=metawsm-token]').content;
const msg = (text, bad) => { const m = document.getElementById('msg');
  m.textContent = text; m.className = bad ? 'bad' : 'ok'; };
async function refresh() {
  const r = await fetch('/fragment' + location.search, {headers: {'X-Metawsm-Token': token}});
  if (r.ok) { document.getElementById('layout').innerHTML = await r.text(); }
}
async function call(method, params) {
  const r = await fetch('/api/call/' + method, {method: 'POST',
    headers: {'Content-Type': 'application/json', 'X-Metawsm-Token': token},
    body: JSON.stringify(params)});
  const body = await r.json();
  if (body.error) { msg(method + ': ' + body.error.message, true); }
  else { msg(method + ': done', false); }
  await refresh();
}
document.addEventListener('submit', (ev) => {
  const form = ev.target.closest('form[data-method]');
  if (!form) return;
  ev.preventDefault();
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
  const params = JSON.parse(form.dataset.params || '{}');
  for (const [k, v] of new FormData(form).entries()) params[k] = v;
  call(form.dataset.method, params);
});
let pending = null;
function live() {
  const es = new EventSource('/events');
  const conn = document.getElementById('conn');
  es.onopen = () => { conn.textContent = 'live'; conn.className = 'ok'; };
  const soon = () => {
    if (!pending) pending = setTimeout(() => { pending = null; refresh(); }, 150);
  };
  es.onmessage = soon;
  es.addEventListener('forum', soon);
  es.onerror = () => { conn.textContent = 'reconnecting'; conn.className = 'warn'; };
}
live();
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _params(params: Mapping[str, Any]) -> str:
    return escape(json.dumps(dict(params)), quote=True)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> str:
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="muted">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f"<table><tr>{head}</tr>{body}</table>"


def action_form(
    method: str,
    params: Mapping[str, Any],
    label: str,
    *,
    text_field: str = "",
    placeholder: str = "",
    confirm: str = "",
) -> str:
    """A form the page's script posts as ``method`` with ``params`` plus its fields."""
    field = (
        f'<input name="{_e(text_field)}" placeholder="{_e(placeholder)}" required size="40">'
        if text_field
        else ""
    )
    confirm_attr = f' data-confirm="{_e(confirm)}"' if confirm else ""
    return (
        f'<form data-method="{_e(method)}" data-params="{_params(params)}"{confirm_attr}'
        f' style="display:inline">{field}<button type="submit">{_e(label)}</button></form>'
    )


def layout(runs_html: str, main_html: str) -> str:
    """What the page re-renders on each update: the runs and the selected run."""
    return f'<nav>{runs_html}</nav><main id="main">{main_html}</main>'


def page(*, root: str, token: str, runs_html: str, main_html: str) -> str:
    """The whole page: navigation of runs, the selected run, the live-update script."""
    name = root.rstrip("/").rsplit("/", 1)[-1] or root
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f'<meta name="metawsm-token" content="{_e(token)}">'
        f"<title>metawsm — {_e(root)}</title><style>{_STYLE}</style></head><body>"
        f'<header><h1>metawsm</h1><span class="muted" title="{_e(root)}">{_e(name)}</span>'
        '<span id="conn" class="muted">connecting</span><span id="msg"></span></header>'
        f'<div class="layout" id="layout">{layout(runs_html, main_html)}</div>'
        f"<script>{_SCRIPT}</script></body></html>"
    )


def runs_nav(runs: Sequence[Mapping[str, Any]], selected: str) -> str:
    """Links to the active runs; the selected one marked."""
    if not runs:
        return '<p class="muted">no active runs</p>'
    links = []
    for run in runs:
        run_id = str(run.get("run_id", ""))
        cls = ' class="sel"' if run_id == selected else ""
        tickets = ", ".join(str(t) for t in run.get("tickets", []))
        links.append(
            f'<a{cls} href="/?{urlencode({"run": run_id})}">{_e(run_id)}'
            f'<br><span class="muted">{_e(tickets)} · {_e(run.get("status"))}</span></a>'
        )
    return "".join(links)


def _escalations(threads: Sequence[Mapping[str, Any]]) -> str:
    if not threads:
        return ""
    items = "".join(
        f'<li class="esc"><b>{_e(t.get("priority"))}</b> {_e(t.get("title"))}'
        f' <span class="muted">#{_e(t.get("thread_id"))} · {_e(t.get("state"))}'
        f" · {_e(t.get('age_seconds'))}s</span></li>"
        for t in threads
    )
    return f"<h3 class=bad>Escalations</h3><ul>{items}</ul>"


def _guidance(run_id: str, guidance: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for g in guidance:
        thread = f" (thread {_e(g.get('thread_id'))})" if g.get("thread_id") else ""
        rows.append(
            [
                _e(g.get("agent")),
                f'<span class="question">{_e(g.get("question"))}</span>{thread}',
                action_form(
                    "guide",
                    {"run_id": run_id},
                    "Answer",
                    text_field="answer",
                    placeholder="your answer",
                ),
            ]
        )
    return "<h3>Pending questions</h3>" + _table(
        ["agent", "question", ""], rows, "no agent is waiting for an answer"
    )


def _agents(run_id: str, agents: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for a in agents:
        health = str(a.get("health", ""))
        ident = {"run_id": run_id, "agent": a.get("name"), "workspace": a.get("workspace")}
        logs = urlencode({"run": run_id, "agent": a.get("name"), "workspace": a.get("workspace")})
        rows.append(
            [
                _e(a.get("name")),
                _e(a.get("workspace")),
                _e(a.get("status")),
                f'<span class="{HEALTH_CLASS.get(health, "muted")}">{_e(health)}</span>',
                _e(a.get("generation")),
                _e(a.get("host")),
                _e(a.get("restarts")),
                action_form(
                    "agent.restart", ident, "restart", confirm=f"Restart agent {a.get('name')}?"
                )
                + action_form("agent.stop", ident, "stop", confirm=f"Stop agent {a.get('name')}?")
                + f' <a href="/logs?{logs}">logs</a>',
            ]
        )
    return "<h3>Agents</h3>" + _table(
        ["agent", "workspace", "status", "health", "gen", "host", "restarts", ""],
        rows,
        "no agents",
    )


def _steps(steps: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        [_e(s.get("index")), _e(s.get("name")), _e(s.get("status")), _e(s.get("error") or "")]
        for s in steps
    ]
    return "<h3>Steps</h3>" + _table(["#", "step", "status", "error"], rows, "no steps")


def sort_threads(threads: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Urgent first, then newest first (the forum's own order)."""
    by_time = sorted(threads, key=lambda t: str(t.get("updated_at") or ""), reverse=True)
    return sorted(by_time, key=lambda t: PRIORITY_ORDER.get(str(t.get("priority")), 9))


def _threads(threads: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for t in sort_threads(threads):
        tid = {"thread_id": t.get("thread_id")}
        open_ = t.get("state") != "closed"
        actions = (
            action_form("forum.answer", tid, "Answer", text_field="body", placeholder="answer")
            + action_form("forum.assign", tid, "Assign", text_field="assignee_name")
            + action_form("forum.close", tid, "Close", confirm="Close this thread?")
            if open_
            else ""
        )
        rows.append(
            [
                _e(t.get("thread_id")),
                _e(t.get("priority")),
                _e(t.get("state")),
                _e(t.get("title")),
                _e(t.get("agent") or ""),
                _e(t.get("posts_count")),
                actions,
            ]
        )
    return "<h3>Forum threads</h3>" + _table(
        ["thread", "priority", "state", "title", "agent", "posts", ""], rows, "no threads"
    )


def run_detail(
    view: Mapping[str, Any],
    *,
    threads: Sequence[Mapping[str, Any]] | None = None,
    escalations: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """The selected run: escalations first, questions, agents, threads, steps."""
    run_id = str(view.get("run_id", ""))
    tickets = ", ".join(str(t) for t in view.get("tickets", []))
    parts = [
        f'<h2 id="run">{_e(run_id)} <span class="muted">{_e(tickets)}</span>'
        f' <span class="status">{_e(view.get("status"))}</span></h2>',
        _escalations(escalations or []),
        _guidance(run_id, view.get("guidance", [])),
        _agents(run_id, view.get("agents", [])),
    ]
    if threads is not None:
        parts.append(_threads(threads))
    parts.append(_steps(view.get("steps", [])))
    if view.get("last_message"):
        parts.append(f'<p class="muted">last: {_e(view.get("last_message"))}</p>')
    return "".join(parts)


def no_run() -> str:
    return '<p class="muted">Select a run. Active runs appear here as they start.</p>'


def logs_page(*, token: str, title: str, text: str) -> str:
    """An agent's recent output."""
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f'<meta name="metawsm-token" content="{_e(token)}">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
        f'<header><h1>{_e(title)}</h1><a href="/">back</a></header>'
        f'<main><pre id="log">{_e(text)}</pre></main></body></html>'
    )
