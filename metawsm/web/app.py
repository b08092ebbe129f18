"""The dashboard as a Starlette application over the supervisor's own socket methods.

The page calls the same methods the CLI calls over the control socket (``status``, ``runs``,
``guide``, ``agent.restart``, ``forum.*`` ...), so the dashboard cannot do anything the CLI
cannot, and it answers errors the same way. Live updates are server-sent events fed by the
event bus: each committed event is one ``data:`` line; the page re-renders on it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from metawsm.control.protocol import error_for
from metawsm.errors import MetawsmError, NotFoundError
from metawsm.web import pages
from metawsm.web.access import TOKEN_COOKIE, TOKEN_HEADER, TOKEN_QUERY, Access

log = logging.getLogger("metawsm.web")

Method = Callable[[dict[str, Any]], Awaitable[Any]]
Subscribe = Callable[[], MemoryObjectReceiveStream[dict[str, Any]]]
ReadLogs = Callable[[str], Awaitable[str]]
#: ``await forum_changes(seen)``: returns the forum's newest event sequence once it is past
#: ``seen`` (or after a while without change); ``forum_changes(-1)`` returns it at once.
ForumChanges = Callable[[int], Awaitable[int]]

#: What the page may call; everything else is refused (no submit, cleanup, merge or close).
ACTIONS = frozenset(
    {"guide", "agent.restart", "agent.stop", "forum.answer", "forum.assign", "forum.close"}
)
#: Longest request body a POST may carry.
MAX_BODY = 64 * 1024
#: A comment line this often keeps idle event streams open through proxies and finds gone
#: clients (the write fails).
KEEPALIVE_SECONDS = 15.0
#: Bound on every socket-method call the page makes.
CALL_TIMEOUT = 30.0


class Guard:
    """ASGI middleware: the ``Host`` and ``Origin`` checks and the token, before any route."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self._refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, request: Request) -> Response | None:
        if not self.access.host_ok(request.headers.get("host")):
            return PlainTextResponse("unknown host", status_code=421)
        if not self.access.origin_ok(request.headers.get("origin")):
            return PlainTextResponse("cross-origin request refused", status_code=403)
        header = request.headers.get(TOKEN_HEADER)
        if request.method != "GET":
            if not self.access.token_ok(header):
                return JSONResponse(
                    {"error": {"code": 403, "message": "a write needs the dashboard token"}},
                    status_code=403,
                )
            return None
        presented = (
            header or request.query_params.get(TOKEN_QUERY) or request.cookies.get(TOKEN_COOKIE)
        )
        if not self.access.token_ok(presented):
            return PlainTextResponse(
                "this dashboard needs its token: open the URL `metawsm serve --web` printed",
                status_code=403,
            )
        return None


def build_app(
    *,
    access: Access,
    methods: Mapping[str, Method],
    subscribe: Subscribe,
    read_logs: ReadLogs,
    root: str,
    forum_changes: ForumChanges | None = None,
) -> ASGIApp:
    """The dashboard application (wrapped in its :class:`Guard`)."""

    async def call(method: str, params: dict[str, Any]) -> Any:
        handler = methods.get(method)
        if handler is None:
            raise NotFoundError(f"this supervisor has no {method!r}")
        with anyio.fail_after(CALL_TIMEOUT):
            return await handler(params)

    async def optional(method: str, params: dict[str, Any]) -> Any:
        """``method``'s result, or None when this supervisor does not have it or it fails
        (a part of the page that cannot be shown is left out, the rest still renders)."""
        if method not in methods:
            return None
        try:
            return await call(method, params)
        except (MetawsmError, TimeoutError) as exc:
            log.debug("dashboard: %s failed: %s", method, exc)
            return None

    async def active_runs() -> list[dict[str, Any]]:
        result = await call("runs", {"all": False})
        runs = result.get("runs", []) if isinstance(result, dict) else result
        return [dict(r) for r in runs if isinstance(r, dict)]

    async def main_html(run_id: str) -> str:
        if not run_id:
            return pages.no_run()
        view = await optional("status", {"run_id": run_id, "diffs": False})
        if not isinstance(view, dict):
            return pages.no_run()
        forum = await optional("forum.list", {"run_id": run_id})
        threads = forum.get("threads") if isinstance(forum, dict) else None
        forum_view = view.get("forum") if isinstance(view.get("forum"), dict) else {}
        escalations = forum_view.get("escalations", []) if forum_view else []
        return pages.run_detail(view, threads=threads, escalations=escalations)

    async def selected(request: Request) -> tuple[list[dict[str, Any]], str]:
        runs = await active_runs()
        run_id = request.query_params.get("run", "")
        if not run_id and runs:
            run_id = str(runs[0].get("run_id", ""))
        return runs, run_id

    async def index(request: Request) -> Response:
        if TOKEN_QUERY in request.query_params:
            # Trade the token in the URL for a cookie, and drop it from the address bar.
            rest = {k: v for k, v in request.query_params.items() if k != TOKEN_QUERY}
            target = "/" + ("?" + "&".join(f"{k}={v}" for k, v in rest.items()) if rest else "")
            response: Response = RedirectResponse(target, status_code=303)
            response.set_cookie(
                TOKEN_COOKIE, access.token, httponly=True, samesite="strict", path="/"
            )
            return response
        runs, run_id = await selected(request)
        return HTMLResponse(
            pages.page(
                root=root,
                token=access.token,
                runs_html=pages.runs_nav(runs, run_id),
                main_html=await main_html(run_id),
            )
        )

    async def fragment(request: Request) -> Response:
        runs, run_id = await selected(request)
        return HTMLResponse(pages.layout(pages.runs_nav(runs, run_id), await main_html(run_id)))

    async def state(request: Request) -> Response:
        runs, run_id = await selected(request)
        view = await optional("status", {"run_id": run_id, "diffs": False}) if run_id else None
        return JSONResponse({"runs": runs, "selected": run_id, "status": view})

    async def logs(request: Request) -> Response:
        run_id = request.query_params.get("run", "")
        agent = request.query_params.get("agent", "")
        workspace = request.query_params.get("workspace", "")
        view = await optional("status", {"run_id": run_id, "diffs": False})
        agents = view.get("agents", []) if isinstance(view, dict) else []
        match = [a for a in agents if a.get("name") == agent and a.get("workspace") == workspace]
        if not match:
            return PlainTextResponse(f"no agent {agent!r} in {workspace!r}", status_code=404)
        text = await read_logs(str(match[0].get("session", "")))
        return HTMLResponse(
            pages.logs_page(token=access.token, title=f"{agent} · {workspace}", text=text)
        )

    async def action(request: Request) -> Response:
        method = request.path_params["method"]
        if method not in ACTIONS:
            return _error(404, f"the dashboard cannot call {method!r}")
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(413, f"request body over {MAX_BODY} bytes")
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            return _error(400, "the request body is not JSON")
        if not isinstance(params, dict):
            return _error(400, "the request body must be a JSON object")
        try:
            result = await call(method, params)
        except Exception as exc:
            error = error_for(exc)
            return JSONResponse({"error": error.model_dump()}, status_code=200)
        return JSONResponse({"result": result})

    async def events(request: Request) -> Response:
        return EventStream(subscribe, forum_changes)

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/fragment", fragment),
            Route("/api/state", state),
            Route("/logs", logs),
            Route("/events", events),
            Route("/api/call/{method:str}", action, methods=["POST"]),
        ]
    )
    return Guard(app, access)


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": {"code": status, "message": message}}, status_code=status)


class EventStream(Response):
    """Server-sent events: each committed run event, and a ``forum`` event for each change of
    the forum, until the client leaves. Two producers feed one bounded stream in a task group
    of this response's own, so leaving (or the server stopping) ends all of it."""

    media_type = "text/event-stream"

    def __init__(self, subscribe: Subscribe, forum_changes: ForumChanges | None) -> None:
        # No body and no content-length: the stream is written by __call__.
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"),
        ]
        self.subscribe = subscribe
        self.forum_changes = forum_changes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        out, chunks = anyio.create_memory_object_stream[str](64)
        async with anyio.create_task_group() as tg:

            async def until_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                tg.cancel_scope.cancel()

            tg.start_soon(until_disconnect)
            tg.start_soon(_run_events, self.subscribe, out.clone())
            if self.forum_changes is not None:
                tg.start_soon(_forum_events, self.forum_changes, out.clone())
            out.close()
            async with chunks:
                await _write(send, ": connected\n\n")
                while True:
                    with anyio.move_on_after(KEEPALIVE_SECONDS) as quiet:
                        try:
                            chunk = await chunks.receive()
                        except anyio.EndOfStream:
                            break
                    await _write(send, ": keepalive\n\n" if quiet.cancelled_caught else chunk)
            tg.cancel_scope.cancel()
        with anyio.CancelScope(shield=True):
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _write(send: Send, text: str) -> None:
    await send({"type": "http.response.body", "body": text.encode(), "more_body": True})


async def _run_events(subscribe: Subscribe, out: Any) -> None:
    async with out:
        with subscribe() as events:
            try:
                async for event in events:
                    await out.send(f"data: {json.dumps(event, default=str)}\n\n")
            except anyio.EndOfStream:
                pass
            await out.send('event: dropped\ndata: {"reason": "fell behind"}\n\n')


async def _forum_events(forum_changes: ForumChanges, out: Any) -> None:
    async with out:
        seen = await forum_changes(-1)
        while True:
            newest = await forum_changes(seen)
            if newest > seen:
                seen = newest
                await out.send(f"event: forum\ndata: {json.dumps({'sequence': seen})}\n\n")
