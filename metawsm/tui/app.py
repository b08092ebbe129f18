"""The tui on Textual: the active runs, the selected run's questions (escalations first),
agents (in colour), steps and the selected agent's recent output, live from the event stream.

Two workers feed one :class:`~metawsm.tui.model.State`:

- the stream worker follows ``watch``: a heartbeat replaces the list of active runs, an event
  marks its run dirty; when the supervisor goes away it says so and reconnects (every 2 s);
- the refresher fetches the ``status`` (and forum threads) of dirty runs, so a burst of events
  costs one call per run and never holds the stream up.

Actions (answer, assign, close a thread; restart, stop, open an agent) are bounded calls; their
result or error goes to the message line, never a traceback. Restart and stop ask first.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path
from typing import Any, ClassVar

import anyio
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, Input, Label, Static

from metawsm.control.client import ControlClient
from metawsm.errors import MetawsmError
from metawsm.supervisor.environment import Environment
from metawsm.tui.model import HEALTH_STYLE, STATUS_STYLE, Question, State, clean

CONNECT_TIMEOUT = 5.0
STATUS_TIMEOUT = 15.0
ACTION_TIMEOUT = 120.0  # a restart waits for the agent to be respawned
RECONNECT_SECONDS = 2.0
COALESCE_SECONDS = 0.05
LOG_LINES = 200


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


class Table(DataTable[Any]):
    """A row-cursor table that also moves with j and k."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, *columns: str, id: str) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._columns = columns

    def on_mount(self) -> None:
        self.add_columns(*self._columns)

    def fill(self, rows: list[tuple[str, list[Any]]]) -> None:
        """Replace the rows (key, cells), keeping the cursor on the same key if it is left."""
        keep = self.selected_key()
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        keys = [key for key, _ in rows]
        if keep in keys:
            self.move_cursor(row=keys.index(keep))

    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:  # no row under the cursor
            return None
        return None if key.value is None else str(key.value)


class Confirm(ModalScreen[bool]):
    """Ask before an action: y (or Enter) goes on, n or Esc does not."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question)
            yield Label("[b]y[/b] yes   [b]n[/b] no", classes="keys")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class Ask(ModalScreen[str | None]):
    """One line of text (an answer, an assignee): Enter sends, Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, prompt: str, placeholder: str = "") -> None:
        super().__init__()
        self.prompt = prompt
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.prompt)
            yield Input(placeholder=self.placeholder, id="ask")
            yield Label("Enter sends · Esc cancels", classes="keys")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if text:
            self.dismiss(text)
        else:
            self.notify("an empty answer is not sent (Esc cancels)", severity="warning")

    def action_cancel(self) -> None:
        self.dismiss(None)


class MetawsmTui(App[int]):
    """The live view of ``env``'s supervisor."""

    TITLE = "metawsm"
    CSS = """
    #top { height: auto; max-height: 11; }
    Table { border: round $primary-darken-3; height: auto; }
    #runs { width: 45%; max-height: 11; }
    #questions { width: 55%; max-height: 11; }
    #agents { max-height: 14; }
    #steps { max-height: 12; }
    #log { height: 1fr; border: round $primary-darken-2; padding: 0 1; overflow-y: auto; }
    #message { height: 1; color: $text-muted; }
    #supervisor { height: 1; }
    Confirm, Ask { align: center middle; }
    #dialog { width: 70; height: auto; border: thick $accent; background: $surface;
              padding: 1 2; }
    .keys { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit_tui", "Quit"),
        Binding("ctrl+c", "interrupt", "Quit", show=False, priority=True),
        Binding("n", "next_run(1)", "Next run"),
        Binding("p", "next_run(-1)", "Prev run"),
        Binding("g", "answer", "Answer"),
        Binding("a", "assign", "Assign"),
        Binding("c", "close_thread", "Close thread"),
        Binding("r", "restart", "Restart"),
        Binding("s", "stop", "Stop"),
        Binding("o", "open", "Open session"),
        Binding("l", "logs", "Logs"),
    ]

    def __init__(self, env: Environment, *, interval: float = 2.0) -> None:
        super().__init__()
        self.env = env
        self.interval = interval
        self.state = State(root=str(env.root))
        self._dirty: set[str] = set()
        self._wake = anyio.Event()
        self.log_text = ""
        """The selected agent's output as last shown."""

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="supervisor")
        with Horizontal(id="top"):
            yield Table("run", "status", "tickets", "questions", id="runs")
            yield Table("", "priority", "who", "question / thread", "state", id="questions")
        yield Table(
            "agent", "workspace", "status", "health", "gen", "host", "restarts", id="agents"
        )
        yield Table("#", "step", "status", "error", id="steps")
        yield Static(id="log")
        yield Static(id="message")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.state.root.rstrip("/").rsplit("/", 1)[-1]
        for table_id, title in (
            ("runs", "Active runs"),
            ("questions", "Questions and threads (escalations first)"),
            ("agents", "Agents"),
            ("steps", "Steps"),
        ):
            self.main.query_one(f"#{table_id}", Table).border_title = title
        self.main.query_one("#agents", Table).focus()
        self.draw()
        self._follow()
        self._refresher()

    # -- drawing --------------------------------------------------------------------------------

    @property
    def main(self) -> Screen[Any]:
        """The main screen: queried by name, since ``query_one`` on the app searches whatever
        screen is on top (an answer or a confirmation while the tables refresh)."""
        return self.screen_stack[0]

    def draw(self) -> None:
        state = self.state
        up = state.supervisor == "up"
        self.main.query_one("#supervisor", Static).update(
            Text.assemble(("supervisor: ", "bold"), (state.supervisor, "green" if up else "red"))
        )
        self.main.query_one("#runs", Table).fill(
            [
                (
                    str(r["run_id"]),
                    [
                        Text(("> " if r["run_id"] == state.selected_run else "  ") + r["run_id"]),
                        Text(str(r.get("status", "")), STATUS_STYLE.get(r.get("status", ""), "")),
                        ",".join(str(t) for t in r.get("tickets") or []),
                        str(r.get("guidance", 0)),
                    ],
                )
                for r in state.runs
            ]
        )
        self.main.query_one("#questions", Table).fill(
            [(q.key, _question_cells(q)) for q in state.questions()]
        )
        self.main.query_one("#agents", Table).fill(
            [
                (
                    f"{a.get('name')}@{a.get('workspace')}",
                    [
                        clean(a.get("name")),
                        clean(a.get("workspace")),
                        Text(clean(a.get("status")), STATUS_STYLE.get(str(a.get("status")), "")),
                        Text(clean(a.get("health")), HEALTH_STYLE.get(str(a.get("health")), "")),
                        str(a.get("generation", "")),
                        clean(a.get("host", "local")),
                        str(a.get("restarts", 0)),
                    ],
                )
                for a in state.agents()
            ]
        )
        self.main.query_one("#steps", Table).fill(
            [
                (
                    str(s.get("index")),
                    [
                        str(s.get("index")),
                        clean(s.get("name")),
                        Text(clean(s.get("status")), "red" if s.get("status") == "failed" else ""),
                        clean(s.get("error") or ""),
                    ],
                )
                for s in state.steps()
            ]
        )
        problem = state.stale.get(state.selected_run)
        last = state.view.get("last_message")
        note = f"not refreshed: {problem}" if problem else (clean(last) if last else "")
        self.main.query_one("#message", Static).update(state.message or note)

    def say(self, message: str) -> None:
        self.state.message = clean(message)
        self.main.query_one("#message", Static).update(self.state.message)

    # -- talking to the supervisor --------------------------------------------------------------

    async def call(self, method: str, params: dict[str, Any], timeout: float) -> Any:
        """One call on a connection of its own (the stream has one)."""
        async with ControlClient(self.env.socket_path, timeout=CONNECT_TIMEOUT) as client:
            return await client.call(method, params, timeout=timeout)

    def mark_dirty(self, run_id: str) -> None:
        if run_id:
            self._dirty.add(run_id)
            self._wake.set()

    @work(exclusive=False, group="stream")
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
                        self.draw()
            except Exception as exc:  # any failure of the stream: show it, reconnect
                reason = describe(exc)
            self.state.supervisor = f"down: {reason}; reconnecting"
            self.draw()
            await anyio.sleep(RECONNECT_SECONDS)

    @work(exclusive=False, group="refresh")
    async def _refresher(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            await anyio.sleep(COALESCE_SECONDS)
            dirty, self._dirty = self._dirty, set()
            for run_id in sorted(dirty):
                await self._refresh(run_id)
            self.draw()
            self.action_logs()

    async def _refresh(self, run_id: str) -> None:
        try:
            view = await self.call("status", {"run_id": run_id, "diffs": False}, STATUS_TIMEOUT)
        except Exception as exc:  # shown with the run, tried again at the next heartbeat
            self.state.stale[run_id] = describe(exc)
            return
        if isinstance(view, dict):
            self.state.set_status(view)
        try:
            forum = await self.call("forum.list", {"run_id": run_id}, STATUS_TIMEOUT)
        except Exception:  # a supervisor without a forum, or a forum that failed: no threads
            return
        if isinstance(forum, dict):
            self.state.set_threads(run_id, list(forum.get("threads") or []))

    # -- what is selected -----------------------------------------------------------------------

    def selected_agent(self) -> dict[str, Any] | None:
        key = self.main.query_one("#agents", Table).selected_key()
        for agent in self.state.agents():
            if f"{agent.get('name')}@{agent.get('workspace')}" == key:
                return agent
        return None

    def selected_question(self) -> Question | None:
        questions = self.state.questions()
        key = self.main.query_one("#questions", Table).selected_key()
        for q in questions:
            if q.key == key:
                return q
        return questions[0] if questions else None

    def selected_thread(self) -> Question | None:
        q = self.selected_question()
        return q if q is not None and q.thread_id else None

    # -- actions --------------------------------------------------------------------------------

    def action_quit_tui(self) -> None:
        self.exit(0)

    def action_interrupt(self) -> None:
        self.exit(130, return_code=130)

    def action_help_quit(self) -> None:
        # Textual's own Ctrl-C binding: here Ctrl-C ends the tui, as in any terminal program.
        self.exit(130, return_code=130)

    def action_next_run(self, step: int) -> None:
        run_id = self.state.select_next(step)
        self.mark_dirty(run_id)
        self.draw()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "runs" and event.row_key.value:
            if self.state.selected_run != event.row_key.value:
                self.state.selected_run = str(event.row_key.value)
                self.mark_dirty(self.state.selected_run)
        elif event.data_table.id == "agents":
            self.action_logs()

    @work(exclusive=True, group="action")
    async def action_answer(self) -> None:
        q = self.selected_question()
        if q is None and self.state.selected_run:
            # What is drawn may be newer than the state's copy: ask before saying "none".
            await self._refresh(self.state.selected_run)
            self.draw()
            q = self.selected_question()
        if q is None:
            self.say(f"no pending question for {self.state.selected_run or 'any run'}")
            return
        answer = await self.push_screen_wait(Ask(f"Answer {q.who}: {q.text}", "your answer"))
        if answer is None:
            self.say("answer cancelled")
            return
        run_id = self.state.selected_run
        self.say(f"sending the answer for {run_id}...")
        try:
            if q.kind == "guidance":
                result = await self.call(
                    "guide", {"run_id": run_id, "answer": answer}, ACTION_TIMEOUT
                )
                self.say(f"answer sent to {_field(result, 'agent', 'the agent')}")
            else:
                await self.call(
                    "forum.answer",
                    {"thread_id": q.thread_id, "body": answer, **_operator()},
                    ACTION_TIMEOUT,
                )
                self.say(f"answered thread {q.thread_id}")
        except Exception as exc:
            self.say(f"answer failed: {describe(exc)}")
        self.mark_dirty(run_id)

    @work(exclusive=True, group="action")
    async def action_assign(self) -> None:
        q = self.selected_thread()
        if q is None:
            self.say("no forum thread selected")
            return
        who = await self.push_screen_wait(Ask(f"Assign thread {q.thread_id} to", "name"))
        if who is None:
            self.say("assign cancelled")
            return
        try:
            await self.call(
                "forum.assign",
                {
                    "thread_id": q.thread_id,
                    "assignee_type": "human",
                    "assignee_name": who,
                    **_operator(),
                },
                ACTION_TIMEOUT,
            )
            self.say(f"assigned thread {q.thread_id} to {who}")
        except Exception as exc:
            self.say(f"assign failed: {describe(exc)}")
        self.mark_dirty(self.state.selected_run)

    @work(exclusive=True, group="action")
    async def action_close_thread(self) -> None:
        q = self.selected_thread()
        if q is None:
            self.say("no forum thread selected")
            return
        if not await self.push_screen_wait(Confirm(f"Close thread {q.thread_id} ({q.text})?")):
            self.say("close cancelled")
            return
        try:
            await self.call(
                "forum.close", {"thread_id": q.thread_id, **_operator()}, ACTION_TIMEOUT
            )
            self.say(f"closed thread {q.thread_id}")
        except Exception as exc:
            self.say(f"close failed: {describe(exc)}")
        self.mark_dirty(self.state.selected_run)

    async def _agent_action(self, kind: str) -> None:
        agent = self.selected_agent()
        if agent is None:
            self.say("no agent selected")
            return
        who = f"{agent.get('name')}@{agent.get('workspace')}"
        if not await self.push_screen_wait(Confirm(f"{kind.capitalize()} agent {who}?")):
            self.say(f"{kind} cancelled")
            return
        run_id = self.state.selected_run
        params = {"run_id": run_id, "agent": agent.get("name"), "workspace": agent.get("workspace")}
        self.say(f"{'restarting' if kind == 'restart' else 'stopping'} {who}...")
        try:
            result = await self.call(f"agent.{kind}", params, ACTION_TIMEOUT)
        except Exception as exc:
            self.say(f"{kind} failed: {describe(exc)}")
        else:
            if kind == "restart":
                self.say(f"restarted {who} (generation {_field(result, 'generation', '?')})")
            else:
                self.say(f"stopped {who}")
        self.mark_dirty(run_id)

    @work(exclusive=True, group="action")
    async def action_restart(self) -> None:
        await self._agent_action("restart")

    @work(exclusive=True, group="action")
    async def action_stop(self) -> None:
        await self._agent_action("stop")

    @work(exclusive=True, group="logs")
    async def action_logs(self) -> None:
        """Show the selected agent's recent output."""
        agent = self.selected_agent()
        log = self.main.query_one("#log", Static)
        if agent is None:
            self.log_text = ""
            log.update("")
            return
        session = str(agent.get("session", ""))
        try:
            text = await self.env.tmux.capture(session, LOG_LINES)
        except Exception as exc:
            text = f"(no output: {describe(exc)})"
        self.log_text = "\n".join(text.rstrip().splitlines()[-LOG_LINES:])
        log.border_title = f"{agent.get('name')} · generation {agent.get('generation')}"
        log.update(Text(self.log_text))

    async def action_open(self) -> None:
        agent = self.selected_agent()
        if agent is None:
            self.say("no agent selected")
            return
        self.say(await self._open(str(agent.get("session", ""))))

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
                with self.suspend():
                    done = run()
        except Exception as exc:  # no terminal to hand over (headless), or tmux missing
            return f"open failed: {describe(exc)}"
        if done.returncode != 0:
            lines = [line for line in (done.stderr or "").splitlines() if line.strip()]
            why = lines[-1] if lines else f"exit {done.returncode}"
            return f"open failed: tmux: {why}"
        return f"switched to {session}" if same else f"back from {session}"


def _question_cells(q: Question) -> list[Any]:
    mark = Text("!", "bold red") if q.escalated else Text("?" if q.kind == "guidance" else "#")
    priority_style = {"urgent": "bold red", "high": "yellow"}.get(q.priority, "")
    return [mark, Text(q.priority, priority_style), q.who, q.text, q.state]


def _operator() -> dict[str, str]:
    """Who acts on a thread from the tui: the operator, by login name."""
    return {"actor_type": "human", "actor_name": os.environ.get("USER") or "operator"}


def _field(result: Any, key: str, default: str) -> str:
    return str(result.get(key, default)) if isinstance(result, dict) else default


def run_tui(env: Environment, *, interval: float = 2.0) -> int:
    """Run the tui until the operator quits (0) or presses Ctrl-C (130)."""
    try:
        code = MetawsmTui(env, interval=interval).run()
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a failure of the tui itself: one line
        leaf: BaseException = exc
        while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:
            leaf = leaf.exceptions[0]
        raise MetawsmError(
            f"the tui stopped: {describe(leaf)}", hint="`metawsm status` shows the same"
        ) from None
    return 0 if code is None else code
