"""The tui's event loop: follow the supervisor's event stream, read keys, perform actions.

Three tasks share one :class:`~metawsm.tui.model.State` (one thread, so no locks):

- the stream task follows ``watch``: a heartbeat replaces the list of active runs, an event
  marks its run dirty; it reconnects (every 2 s) when the supervisor goes away;
- the refresher task fetches the ``status`` of dirty runs, a few at a time, so a burst of
  events costs one call per run and never holds the stream up;
- the key task reads keys and performs the actions they ask for, one at a time.

Every call to the supervisor is bounded; an error is shown on the status line, never raised.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio

from metawsm.control.client import ControlClient
from metawsm.errors import MetawsmError
from metawsm.supervisor.environment import Environment
from metawsm.tui.model import Action, State, handle_key, render
from metawsm.tui.terminal import Terminal

CONNECT_TIMEOUT = 5.0
STATUS_TIMEOUT = 15.0
ACTION_TIMEOUT = 120.0  # a restart waits for the agent to be respawned
RECONNECT_SECONDS = 2.0
COALESCE_SECONDS = 0.05


def describe(exc: BaseException) -> str:
    """One line for an error: a metawsm error's message and hint, else the exception's text."""
    if isinstance(exc, MetawsmError):
        text = exc.message + (f" ({exc.hint})" if exc.hint else "")
    elif isinstance(exc, TimeoutError):
        text = "the supervisor did not answer in time"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def tmux_socket_path(socket: str, environ: dict[str, str]) -> str:
    """The socket file of the tmux server a ``tmux.socket`` setting names, as tmux finds it
    (``-S`` path, or ``-L`` name / the default server under ``$TMUX_TMPDIR/tmux-<uid>``)."""
    if "/" in socket:
        return os.path.realpath(socket)
    base = os.path.realpath(environ.get("TMUX_TMPDIR") or "/tmp")
    return os.path.join(base, f"tmux-{os.getuid()}", socket or "default")


def same_tmux_server(socket: str, environ: dict[str, str]) -> bool:
    """Whether this process runs in a pane of the tmux server ``socket`` names (``$TMUX``
    starts with the socket file of the server the pane belongs to)."""
    current = environ.get("TMUX", "").split(",")[0]
    return bool(current) and os.path.realpath(current) == tmux_socket_path(socket, environ)


class TuiApp:
    """The live view of ``env``'s supervisor on ``terminal``."""

    def __init__(self, env: Environment, terminal: Terminal, *, interval: float = 2.0) -> None:
        self.env = env
        self.terminal = terminal
        self.interval = interval
        self.state = State(root=str(env.root))
        self._dirty: set[str] = set()
        self._wake = anyio.Event()
        self._suspended = False

    # -- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until the operator quits (``q``) or the input ends."""
        self.redraw()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self._follow)
            tasks.start_soon(self._refresher)
            tasks.start_soon(self._on_resize)
            await self._keys()
            tasks.cancel_scope.cancel()

    def redraw(self) -> None:
        """Draw the state (not while another program has the terminal)."""
        if self._suspended:
            return
        width, height = self.terminal.size()
        now = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
        with contextlib.suppress(OSError):  # the terminal went away: reading keys ends the tui
            self.terminal.draw(render(self.state, width, height, now))

    def mark_dirty(self, run_id: str) -> None:
        """Have the refresher fetch ``run_id``'s status soon."""
        if run_id:
            self._dirty.add(run_id)
            self._wake.set()

    async def call(self, method: str, params: dict[str, Any], timeout: float) -> Any:
        """One call to the supervisor on a connection of its own (the stream has one)."""
        async with ControlClient(self.env.socket_path, timeout=CONNECT_TIMEOUT) as client:
            return await client.call(method, params, timeout=timeout)

    async def _follow(self) -> None:
        params = {"run_id": "", "ticket": "", "heartbeat_seconds": self.interval}
        while True:
            reason = "the event stream ended"
            try:
                async with ControlClient(self.env.socket_path, timeout=CONNECT_TIMEOUT) as client:
                    async for note in client.stream("watch", params):
                        self.state.supervisor = "up"
                        if note.method == "heartbeat":
                            self.state.set_runs(list(note.params.get("runs") or []))
                            self.mark_dirty(self.state.selected_run)
                        elif note.method == "event":
                            self.mark_dirty(str(note.params.get("run_id", "")))
                        self.redraw()
            except Exception as exc:  # any failure of the stream: show it, reconnect
                reason = describe(exc)
            self.state.supervisor = f"down: {reason}; reconnecting"
            self.redraw()
            await anyio.sleep(RECONNECT_SECONDS)

    async def _refresher(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            await anyio.sleep(COALESCE_SECONDS)
            dirty, self._dirty = self._dirty, set()
            for run_id in sorted(dirty):
                try:
                    view = await self.call(
                        "status", {"run_id": run_id, "diffs": False}, STATUS_TIMEOUT
                    )
                except Exception as exc:  # shown with the run, tried again at the next heartbeat
                    self.state.stale[run_id] = describe(exc)
                else:
                    if isinstance(view, dict):
                        self.state.set_status(view)
            self.redraw()

    async def _on_resize(self) -> None:
        with anyio.open_signal_receiver(signal.SIGWINCH) as signals:
            async for _ in signals:
                self.redraw()

    async def _keys(self) -> None:
        while True:
            keys = await self.terminal.read()
            if keys is None:
                return
            for key in keys:
                action = handle_key(self.state, key)
                self.redraw()
                if action is None:
                    continue
                if action.kind == "quit":
                    return
                await self.perform(action)
                self.redraw()

    # -- actions --------------------------------------------------------------------------------

    async def perform(self, action: Action) -> None:
        """Do what a key asked for; its result, or its error, goes to the status line."""
        if action.kind == "refresh":
            self.mark_dirty(action.run_id)
            return
        if action.kind == "open":
            self.state.message = await self._open(action.session)
            return
        who = f"{action.agent}@{action.workspace}"
        self.state.message = {
            "guide": f"sending the answer for {action.run_id}...",
            "restart": f"restarting {who}...",
            "stop": f"stopping {who}...",
        }.get(action.kind, f"{action.kind}...")
        self.redraw()
        agent = {"run_id": action.run_id, "agent": action.agent, "workspace": action.workspace}
        try:
            if action.kind == "guide":
                result = await self.call(
                    "guide", {"run_id": action.run_id, "answer": action.text}, ACTION_TIMEOUT
                )
                self.state.message = f"answer sent to {_field(result, 'agent', 'the agent')}"
            elif action.kind == "restart":
                result = await self.call("agent.restart", agent, ACTION_TIMEOUT)
                generation = _field(result, "generation", "?")
                self.state.message = f"restarted {who} (generation {generation})"
            elif action.kind == "stop":
                await self.call("agent.stop", agent, ACTION_TIMEOUT)
                self.state.message = f"stopped {who}"
        except Exception as exc:  # the supervisor's refusal or a lost connection: one line
            self.state.message = f"{action.kind} failed: {describe(exc)}"
        self.mark_dirty(action.run_id)

    async def _open(self, session: str) -> str:
        """Show the agent's session: switch to it when this tui runs in a pane of the agents'
        own tmux server, else hand the terminal to ``tmux attach`` until the operator
        detaches."""
        if not session:
            return "the agent has no tmux session"
        tmux = self.env.tmux
        environ = dict(os.environ)
        same = same_tmux_server(tmux.socket, environ)
        if same:
            argv = tmux.argv("switch-client", "-t", f"={session}")
        else:
            environ.pop("TMUX", None)
            argv = tmux.argv("attach-session", "-t", f"={session}")
        run = functools.partial(
            subprocess.run,
            argv,
            env=environ,
            cwd=Path(self.env.root),
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        try:
            if same:
                done = await anyio.to_thread.run_sync(run)
            else:
                self._suspended = True
                try:
                    with self.terminal.suspended():
                        done = await anyio.to_thread.run_sync(run)
                finally:
                    self._suspended = False
        except OSError as exc:
            return f"open failed: {describe(exc)}"
        if done.returncode != 0:
            lines = [line for line in (done.stderr or "").splitlines() if line.strip()]
            why = lines[-1] if lines else f"exit {done.returncode}"
            return f"open failed: tmux: {why}"
        if same:
            return f"switched to {session}"
        return f"back from {session}"


def _field(result: Any, key: str, default: str) -> str:
    return str(result.get(key, default)) if isinstance(result, dict) else default


def run_tui(env: Environment, *, interval: float = 2.0) -> int:
    """Run the tui on the controlling terminal until the operator quits (0) or presses Ctrl-C
    (130); the terminal is restored however it ends."""
    try:
        with Terminal() as terminal:
            app = TuiApp(env, terminal, interval=interval)
            anyio.run(app.run, backend="asyncio")
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a failure of the tui itself: one line, the terminal restored
        leaf: BaseException = exc
        while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:
            leaf = leaf.exceptions[0]
        raise MetawsmError(
            f"the tui stopped: {describe(leaf)}", hint="`metawsm status` shows the same"
        ) from None
    return 0
