"""An async tmux client that runs every tmux command through a :class:`~metawsm.hosts.Host`.

One :class:`TmuxServer` names one tmux server on one host: the user's default server, or a
private one (``-L name`` / ``-S path``). Agents run in detached sessions, one per agent; the
*agent pane* of a session is the top-left pane of its lowest-numbered window (the pane
:meth:`TmuxServer.new_session` made, unless an operator rearranged the window).

Facts this module relies on, measured on tmux 3.3a (see ``tests/tmux``):

* ``remain-on-exit`` must be on before the agent's command runs, or a command that exits at once
  takes its session with it. :meth:`TmuxServer.new_session` therefore makes the session with a
  placeholder, sets the option and ``respawn-pane -k``\\ s the real command, all in ONE tmux
  invocation (commands chained with ``;`` argv items). A failing command stops the chain, so a
  duplicate name never respawns the existing session's pane.
* A dead pane reports ``pane_dead=1`` and its exit code in ``pane_dead_status``; a death by a
  signal leaves ``pane_dead_status`` empty and sets ``pane_dead_signal``. A pane can also read
  dead with BOTH empty: tmux saw its terminal close but has not reaped the process. Usually that
  lasts a moment; with tmux < 3.6 built with libutempter (Debian, Ubuntu) ~10% of fast exits
  stay that way for good, because ``utempter_remove_record`` drops the pending SIGCHLD (tmux
  issue 4559, fixed in 3.6 by commit fa5f3cef). Any later SIGCHLD makes the server reap every
  zombie, so :meth:`TmuxServer.snapshot`, when it sees such a pane, asks again with
  ``run-shell true`` chained in front. A process that closed its terminal and ignores SIGHUP
  also reads this way until it exits. :attr:`PaneState.exit_known` tells these apart from a
  signal death.
* When its last session ends the server exits, and a client that connects in the next few
  milliseconds gets "server exited unexpectedly". :meth:`TmuxServer.run` retries that a few
  times (a dying server takes anything it half-did with it), after which the answer is "no
  server running"; only an answer that stays that way is :class:`TmuxUnavailable`.
* tmux leaves its socket file behind when the server exits.
* ``session_activity`` does not move when a pane prints (only on client input); output moves
  ``window_activity`` (1 s resolution). Health should read :attr:`PaneState.activity`.
* tmux splits its own argv at every argument that *ends* in ``;`` (``\\;`` escapes it), and
  expands formats, including ``#(shell command)``, in ``-c`` directories. Every value from the
  caller goes through :func:`_arg`, and a ``-c`` value through :func:`_cwd_arg`.
* With one command argument tmux runs it through ``default-shell -c``; with several it
  ``execvp``\\ s them, and a missing program dies silently with status 1. The agent's argv is
  therefore run as ``/bin/sh -c 'exec "$@"' metawsm ARGV...``: no shell string is built from
  input, the program replaces the shell (``pane_pid`` is the agent), and a missing program
  exits 127 with ``exec: NAME: not found`` on the dead pane.
* A failure to reach the server is not the absence of sessions: "no server running" (and a
  socket whose folder does not exist) means no sessions; anything else, or a timeout, raises
  :class:`TmuxUnavailable`, which callers must read as *unknown*, never *dead*.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import anyio

from metawsm.errors import UsageError
from metawsm.hosts import CommandResult, CommandTimeout, Host, HostError
from metawsm.hosts.base import FileStat
from metawsm.hosts.errors import HostUnreachable
from metawsm.hosts.statlines import parse_stat_lines, paths_input, stat_script

__all__ = [
    "SESSION_NAME_RE",
    "InvalidSessionName",
    "NoSuchSession",
    "PaneState",
    "SessionExists",
    "Snapshot",
    "TmuxError",
    "TmuxServer",
    "TmuxUnavailable",
    "parse_snapshot",
    "validate_session_name",
]

SESSION_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
"""Allowed session names. tmux treats ``.`` and ``:`` as target separators (and rewrites them
in new names), so they are rejected; the original metawsm turned ``.`` into ``-`` anyway."""

_ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OPTION_RE = re.compile(r"^@?[A-Za-z][A-Za-z0-9_-]*$")
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with its NUL
_PLACEHOLDER = ("sleep", "2147483647")
_EXITING_SERVER_RETRIES = (0.02, 0.1, 0.3)  # pauses before each retry, see TmuxServer.run
_EXITING_SERVER_MARKERS = ("server exited unexpectedly", "lost server")
_EXEC_WRAPPER = ("/bin/sh", "-c", 'exec "$@"', "metawsm")
_REAP_TIMEOUT = 2.0  # the snapshot's second call, see TmuxServer.snapshot

_OBSERVE_MARK = "\x1e"
# ``sh -c`` script of snapshot_with_stats: tmux (its argv is "$@"), the mark and its exit code,
# then the stats of the paths on stdin. tmux gets /dev/null as stdin, so it cannot eat them.
_OBSERVE_SCRIPT = f'"$@" </dev/null; printf \'\\036%s\\n\' "$?"; {stat_script(follow=False)}'

_SEP = "\x1f"
_FIELDS = (
    "session_name",
    "window_index",
    "pane_index",
    "pane_at_top",
    "pane_at_left",
    "pane_id",
    "pane_pid",
    "pane_dead",
    "pane_dead_status",
    "pane_dead_signal",
    "session_activity",
    "window_activity",
    "pane_current_command",  # last: may hold anything, split with maxsplit
)
_FORMAT = _SEP.join(f"#{{{name}}}" for name in _FIELDS)

# stderr of a server (or session list) that is simply not there. "no current target" is what a
# server with no session left (one that is exiting) says to list-panes.
_ABSENT_MARKERS = ("no server running", "no sessions", "no current target")
# A missing session, as tmux words it for our ``=NAME``, ``=NAME:^`` and ``=NAME:^.{top-left}``
# targets (a session always has a first window and a top-left pane).
_MISSING_SESSION_MARKERS = (
    "can't find session",
    "no such session",
    "no such window",
    "can't find window",
    "can't find pane",
)
# stderr of a server that exists, or may, but cannot be reached or trusted.
_UNREACHABLE_MARKERS = (
    "error connecting to",
    "server exited unexpectedly",
    "lost server",
    "unsafe permissions",
    "permission denied",
    "operation not permitted",
    "access not allowed",
    "protocol version",
    "file name too long",
)


# -- errors ----------------------------------------------------------------------------------


class TmuxError(HostError):
    """A tmux command failed; the message carries tmux's own stderr line."""


class TmuxUnavailable(TmuxError):
    """The tmux server could not be reached (permission, connection, timeout, no tmux).

    Whatever the agents are doing is unknown: never read this as "the sessions are gone".
    """


class SessionExists(TmuxError):
    """:meth:`TmuxServer.new_session` was asked for a name that is already taken."""


class NoSuchSession(TmuxError):
    """The session an operation targets does not exist (or there is no server at all)."""


class InvalidSessionName(UsageError):
    """A session name outside :data:`SESSION_NAME_RE`; rejected before tmux runs."""


def validate_session_name(name: str) -> str:
    """Return ``name`` if tmux can target it exactly, else raise :class:`InvalidSessionName`."""
    if not SESSION_NAME_RE.match(name):
        raise InvalidSessionName(
            f"invalid tmux session name {name!r}",
            hint="use 1-100 characters from A-Z a-z 0-9 _ -, starting with a letter or digit",
        )
    return name


# -- snapshot ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaneState:
    """One session's agent pane as ``list-panes`` saw it."""

    session: str
    pane_id: str
    pane_pid: int
    dead: bool
    dead_status: int | None
    """Exit code of a dead pane; ``None`` while alive or when a signal killed it."""
    dead_signal: int | None
    """Signal number that killed the pane's process, if one did."""
    current_command: str
    session_activity: float
    window_activity: float
    window_index: int
    pane_index: int

    @property
    def alive(self) -> bool:
        return not self.dead

    @property
    def exit_known(self) -> bool:
        """Dead, and tmux has reaped the process: ``dead_status`` or ``dead_signal`` is set.

        Dead with neither means "the terminal is gone, the exit is not known (yet)": never a
        signal death. :meth:`TmuxServer.snapshot` already retried once; look again next tick.
        """
        return self.dead and (self.dead_status is not None or self.dead_signal is not None)

    @property
    def activity(self) -> float:
        """Last output or input in the session (epoch seconds); output only moves the window."""
        return max(self.session_activity, self.window_activity)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every session of a server at one moment, from one ``list-panes -a`` call."""

    sessions: dict[str, PaneState]
    taken_at: float
    """Wall-clock time (epoch seconds) of the call, comparable with the activity fields."""
    unreadable: frozenset[str] = field(default_factory=frozenset)
    """Sessions listed by tmux whose rows could not be parsed: their state is unknown."""

    def get(self, name: str) -> PaneState | None:
        return self.sessions.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.sessions

    def __len__(self) -> int:
        return len(self.sessions)


def _opt_int(text: str) -> int | None:
    return int(text) if text != "" else None


def _parse_row(fields: list[str]) -> tuple[PaneState, bool]:
    """A row as ``(pane, is_top_left)``; ``ValueError`` if it is malformed."""
    (name, win, pane, top, left, pane_id, pid, dead, status, signal, s_act, w_act, cmd) = fields
    if dead not in ("0", "1"):
        raise ValueError(f"pane_dead {dead!r}")
    state = PaneState(
        session=name,
        pane_id=pane_id,
        pane_pid=int(pid),
        dead=dead == "1",
        dead_status=_opt_int(status),
        dead_signal=_opt_int(signal),
        current_command=cmd,
        session_activity=float(s_act or 0),
        window_activity=float(w_act or 0),
        window_index=int(win),
        pane_index=int(pane),
    )
    return state, top == "1" and left == "1"


def parse_snapshot(text: str, taken_at: float) -> Snapshot:
    """Parse ``list-panes -a -F`` output made with this module's format.

    Per session keep the top-left pane of the lowest-numbered window (the same pane the
    ``=NAME:^.{top-left}`` target names); with no top-left flag, the lowest pane index.
    """
    best: dict[str, tuple[tuple[int, int, int], PaneState]] = {}
    unreadable: set[str] = set()
    for line in text.split("\n"):  # not splitlines(): it also splits at \x1c-\x1e, \x85...
        if not line:
            continue
        fields = line.split(_SEP, len(_FIELDS) - 1)
        try:
            if len(fields) != len(_FIELDS):
                raise ValueError("field count")
            state, top_left = _parse_row(fields)
        except ValueError:
            unreadable.add(fields[0])
            continue
        rank = (state.window_index, 0 if top_left else 1, state.pane_index)
        held = best.get(state.session)
        if held is None or rank < held[0]:
            best[state.session] = (rank, state)
    sessions = {name: state for name, (_, state) in best.items()}
    return Snapshot(sessions, taken_at, frozenset(unreadable - sessions.keys()))


# -- argument helpers --------------------------------------------------------------------------


def _arg(value: str) -> str:
    """Protect a value from tmux's argv splitting: a trailing ``;`` would end the command."""
    return value[:-1] + "\\;" if value.endswith(";") else value


def _cwd_arg(path: str) -> str:
    """A ``-c`` directory: tmux expands formats there (``#(cmd)`` runs a shell!), so ``#``
    doubles."""
    return _arg(path.replace("#", "##"))


def _command_args(argv: Sequence[str]) -> list[str]:
    if not argv:
        raise ValueError("empty agent argv")
    if argv[0].startswith("-"):
        raise ValueError(f"agent program must not start with '-': {argv[0]!r}")
    for item in argv:
        if "\x00" in item:
            raise ValueError("agent argv contains a NUL byte")
    return ["--", *_EXEC_WRAPPER, *(_arg(a) for a in argv)]


def _pipe_args(pane: str, pipe_to: str | None) -> list[str]:
    """``pipe-pane`` of ``pane`` into the file ``pipe_to`` (appending), after a ``;``: tmux runs
    the command with ``/bin/sh -c`` after expanding formats, so the path is one quoted shell
    word with every ``#`` doubled. Run in the same invocation as the spawn, before tmux reads
    the new process's first output, so the file gets all of it; it replaces any pipe of the
    pane, so each generation's file holds that generation alone."""
    if pipe_to is None:
        return []
    if not pipe_to.startswith("/") or "\x00" in pipe_to or "\n" in pipe_to:
        raise ValueError(f"pipe-pane file must be an absolute path on one line: {pipe_to!r}")
    command = f"exec cat >> {shlex.quote(pipe_to)}".replace("#", "##")
    return [";", "pipe-pane", "-t", pane, _arg(command)]


def _env_args(env: Mapping[str, str]) -> list[str]:
    out: list[str] = []
    for key, value in env.items():
        if not _ENV_KEY_RE.match(key):
            raise ValueError(f"invalid environment variable name {key!r}")
        if "\x00" in value:
            raise ValueError(f"environment variable {key} contains a NUL byte")
        out += ["-e", _arg(f"{key}={value}")]
    return out


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else "no output"


def _has(text: str, markers: Sequence[str]) -> bool:
    low = text.lower()
    return any(m in low for m in markers)


def _is_absent(stderr: str) -> bool:
    """No server (or no socket folder): there are no sessions."""
    low = stderr.lower()
    if _has(low, _ABSENT_MARKERS):
        return True
    return "error connecting to" in low and "(no such file or directory)" in low


# -- the client --------------------------------------------------------------------------------


class TmuxServer:
    """One tmux server on one host.

    ``socket``: ``""`` is the user's default server (no flag, the user's config applies); a
    plain name is ``-L name``; a value with ``/`` is ``-S path``. Private servers also get
    ``-f /dev/null`` so they start without any config. ``calls`` counts tmux processes run;
    at most ``max_concurrent`` run at once (the server answers one client at a time, and many
    agents starting together spawned dozens of clients that starved the observer's snapshot).
    """

    def __init__(
        self,
        host: Host,
        socket: str = "",
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        max_concurrent: int = 8,
    ) -> None:
        if "/" in socket and len(socket.encode()) > _SOCKET_PATH_MAX:
            raise ValueError(f"tmux socket path longer than {_SOCKET_PATH_MAX} bytes: {socket}")
        self.host = host
        self.socket = socket
        self.timeout = timeout
        self.calls = 0
        self._clock = clock
        self._max_concurrent = max_concurrent
        self._limiter: anyio.CapacityLimiter | None = None  # made in the event loop, on first use
        if not socket:
            self._prefix: tuple[str, ...] = ("tmux", "-u")
        elif "/" in socket:
            self._prefix = ("tmux", "-u", "-S", socket, "-f", "/dev/null")
        else:
            self._prefix = ("tmux", "-u", "-L", socket, "-f", "/dev/null")
        # -u: without a UTF-8 locale (LC_ALL=C, cron, ssh) the tmux client prints the snapshot's
        # \x1f field separator as "_", every row becomes unreadable and every agent "unknown".

    def __repr__(self) -> str:
        return f"TmuxServer({self.host.name!r}, socket={self.socket!r})"

    @property
    def label(self) -> str:
        """How messages name this server."""
        where = f"socket {self.socket}" if self.socket else "default server"
        return f"tmux ({where}) on {self.host.name}"

    def argv(self, *args: str) -> list[str]:
        """The full argv of one tmux invocation on this server."""
        return [*self._prefix, *args]

    async def run(self, *args: str, timeout: float | None = None) -> CommandResult:
        """Run one tmux invocation; unreachable tmux (timeout, not installed) raises.

        A non-zero exit is returned, not raised: each caller decides what it means. A server
        caught exiting ("server exited unexpectedly") is asked again, up to 3 more times.
        """
        limit = self.timeout if timeout is None else timeout
        result = await self._run_once(args, limit)
        for delay in _EXITING_SERVER_RETRIES:
            if result.ok or not _has(result.stderr, _EXITING_SERVER_MARKERS):
                break
            await anyio.sleep(delay)
            result = await self._run_once(args, limit)
        return result

    async def _run_once(self, args: tuple[str, ...], timeout: float) -> CommandResult:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._max_concurrent)
        async with self._limiter:
            return await self._spawn(args, timeout)

    async def _spawn(self, args: tuple[str, ...], timeout: float) -> CommandResult:
        self.calls += 1
        try:
            result = await self.host.run(self.argv(*args), timeout=timeout)
        except CommandTimeout:
            raise TmuxUnavailable(
                f"{self.label}: no answer within {timeout:g}s ({args[0] if args else ''})"
            ) from None
        except HostUnreachable as exc:
            raise TmuxUnavailable(f"{self.label}: {exc.reason}") from None
        if result.returncode == 127 and "command not found" in result.stderr:
            raise TmuxUnavailable(f"{self.label}: tmux is not installed")
        return result

    def _error(self, result: CommandResult, what: str) -> TmuxError:
        line = _first_line(result.stderr)
        message = f"{self.label}: {what} failed: {line}"
        if _has(result.stderr, _UNREACHABLE_MARKERS):
            return TmuxUnavailable(message)
        return TmuxError(message)

    def _missing(self, result: CommandResult) -> bool:
        return _is_absent(result.stderr) or _has(result.stderr, _MISSING_SESSION_MARKERS)

    async def _check_cwd(self, cwd: str) -> None:
        # tmux silently falls back to another folder when -c does not exist.
        if not cwd.startswith("/"):
            raise ValueError(f"working folder must be an absolute path: {cwd!r}")
        st = await self.host.stat(cwd)
        if st is None or not st.is_dir:
            raise TmuxError(f"working folder {cwd} does not exist on {self.host.name}")

    # -- sessions ------------------------------------------------------------------------------

    async def new_session(
        self,
        name: str,
        *,
        cwd: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        width: int = 200,
        height: int = 50,
        pipe_to: str | None = None,
    ) -> None:
        """Start ``argv`` in a new detached session ``name`` in ``cwd`` with ``env`` added.

        ONE tmux invocation: new session running a placeholder, ``remain-on-exit on``, then
        ``respawn-pane -k`` with the real command, so even an instant exit leaves a dead pane;
        with ``pipe_to``, the pane's output is appended to that file from its first byte.
        Raises :class:`SessionExists` if the name is taken (the existing session is untouched).
        """
        validate_session_name(name)
        command = _command_args(argv)
        env_args = _env_args(env)
        await self._check_cwd(cwd)
        window, pane = f"={name}:^", f"={name}:^.{{top-left}}"
        args = (
            "new-session", "-d", "-s", name, "-c", _cwd_arg(cwd),
            "-x", str(int(width)), "-y", str(int(height)), "--", *_PLACEHOLDER,
            ";", "set-option", "-w", "-t", window, "remain-on-exit", "on",
            ";", "respawn-pane", "-k", "-t", pane, "-c", _cwd_arg(cwd), *env_args, *command,
            *_pipe_args(pane, pipe_to),
        )  # fmt: skip
        result = await self.run(*args)
        if result.ok:
            return
        if "duplicate session" in result.stderr.lower():
            raise SessionExists(f"tmux session {name} already exists on {self.label}")
        raise self._error(result, f"new-session {name}")

    async def respawn(
        self,
        name: str,
        *,
        cwd: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        pipe_to: str | None = None,
    ) -> None:
        """Kill whatever runs in the agent pane and start ``argv`` there (a new generation).

        Re-asserts ``remain-on-exit`` in the same invocation; with ``pipe_to``, the new
        process's output goes to that file (the previous pipe, if any, is closed).
        :class:`NoSuchSession` if absent.
        """
        validate_session_name(name)
        command = _command_args(argv)
        env_args = _env_args(env)
        await self._check_cwd(cwd)
        result = await self.run(
            "set-option", "-w", "-t", f"={name}:^", "remain-on-exit", "on",
            ";", "respawn-pane", "-k", "-t", f"={name}:^.{{top-left}}", "-c", _cwd_arg(cwd),
            *env_args, *command, *_pipe_args(f"={name}:^.{{top-left}}", pipe_to),
        )  # fmt: skip
        if result.ok:
            return
        if self._missing(result):
            raise NoSuchSession(f"tmux session {name} does not exist on {self.label}")
        raise self._error(result, f"respawn-pane {name}")

    async def kill_session(self, name: str) -> bool:
        """Kill the session; ``False`` if it (or the whole server) was not there."""
        validate_session_name(name)
        result = await self.run("kill-session", "-t", f"={name}")
        if result.ok:
            return True
        if self._missing(result):
            return False
        raise self._error(result, f"kill-session {name}")

    async def has_session(self, name: str) -> bool:
        """Whether a session of exactly this name exists (no prefix matching)."""
        validate_session_name(name)
        result = await self.run("has-session", "-t", f"={name}")
        if result.ok:
            return True
        if self._missing(result):
            return False
        raise self._error(result, f"has-session {name}")

    async def list_sessions(self) -> list[str]:
        """Names of every session on the server, sorted; ``[]`` when no server runs."""
        result = await self.run("list-sessions", "-F", "#{session_name}")
        if result.ok:
            return sorted(line for line in result.stdout.split("\n") if line)
        if _is_absent(result.stderr):
            return []
        raise self._error(result, "list-sessions")

    async def set_option(self, name: str, option: str, value: str) -> None:
        """``set-option`` on the session's first window; tmux picks the scope from the name."""
        validate_session_name(name)
        if not _OPTION_RE.match(option):
            raise ValueError(f"invalid tmux option name {option!r}")
        result = await self.run("set-option", "-t", f"={name}:^", option, _arg(value))
        if result.ok:
            return
        if self._missing(result):
            raise NoSuchSession(f"tmux session {name} does not exist on {self.label}")
        raise self._error(result, f"set-option {option} on {name}")

    async def capture(self, name: str, lines: int = 200) -> str:
        """The last ``lines`` non-blank-tail lines of the agent pane (history + screen)."""
        validate_session_name(name)
        result = await self.run(
            "capture-pane", "-p", "-J", "-t", f"={name}:^.{{top-left}}", "-S", f"-{int(lines)}"
        )
        if not result.ok:
            if self._missing(result):
                raise NoSuchSession(f"tmux session {name} does not exist on {self.label}")
            raise self._error(result, f"capture-pane {name}")
        rows = [row.rstrip() for row in result.stdout.splitlines()]
        while rows and not rows[-1]:
            rows.pop()
        kept = rows[-lines:] if lines > 0 else []
        return "".join(row + "\n" for row in kept)

    async def snapshot(self) -> Snapshot:
        """Every session's agent pane from ONE ``list-panes -a`` call.

        A second call (``run-shell true`` then ``list-panes``) only when an agent pane reads
        dead with no exit recorded, to make the server reap lost children (module notes).
        No server, or no sessions: an empty snapshot. Any other failure (permission,
        connection, timeout): :class:`TmuxUnavailable`, so callers mark agents unknown.
        """
        snap = await self._list_panes()
        if any(p.dead and not p.exit_known for p in snap.sessions.values()):
            # run-shell waits for its own child to be reaped, and the server reaps every
            # zombie at once. Should even that SIGCHLD go missing, keep the first answer.
            with contextlib.suppress(TmuxUnavailable):
                snap = await self._list_panes(
                    "run-shell", "true", ";", timeout=min(self.timeout, _REAP_TIMEOUT)
                )
        return snap

    async def _list_panes(self, *before: str, timeout: float | None = None) -> Snapshot:
        taken_at = self._clock()
        result = await self.run(*before, "list-panes", "-a", "-F", _FORMAT, timeout=timeout)
        return self._snapshot_of(result, taken_at)

    def _snapshot_of(self, result: CommandResult, taken_at: float) -> Snapshot:
        if result.ok:
            return parse_snapshot(result.stdout, taken_at)
        if _is_absent(result.stderr):
            return Snapshot({}, taken_at)
        raise TmuxUnavailable(f"{self.label}: list-panes failed: {_first_line(result.stderr)}")

    async def snapshot_with_stats(
        self, paths: Sequence[str], *, timeout: float | None = None
    ) -> tuple[Snapshot, dict[str, FileStat | None]]:
        """:meth:`snapshot` and the stats of ``paths`` in ONE host command (one round trip to
        a remote host): ``list-panes -a``, then ``lstat`` of every path read from stdin
        (links are reported as links, as :meth:`Host.lstat_many` does)."""
        taken_at = self._clock()
        limit = self.timeout if timeout is None else timeout
        listing = self.argv("list-panes", "-a", "-F", _FORMAT)
        self.calls += 1
        try:
            result = await self.host.run(
                ["/bin/sh", "-c", _OBSERVE_SCRIPT, "sh", *listing],
                timeout=limit,
                stdin=paths_input(paths),
            )
        except CommandTimeout:
            raise TmuxUnavailable(f"{self.label}: no answer within {limit:g}s") from None
        except HostUnreachable as exc:
            raise TmuxUnavailable(f"{self.label}: {exc.reason}") from None
        head, mark, tail = result.stdout.partition(_OBSERVE_MARK)
        code_line, _, stat_text = tail.partition("\n")
        if not mark or not code_line.strip().isdigit():
            raise TmuxUnavailable(
                f"{self.label}: observation failed (exit {result.returncode}): "
                f"{_first_line(result.stderr)}"
            )
        code = int(code_line)
        if code == 127 and "not found" in result.stderr:
            raise TmuxUnavailable(f"{self.label}: tmux is not installed")
        snap = self._snapshot_of(CommandResult(tuple(listing), code, head, result.stderr), taken_at)
        if any(p.dead and not p.exit_known for p in snap.sessions.values()):
            with contextlib.suppress(TmuxUnavailable):
                snap = await self._list_panes(
                    "run-shell", "true", ";", timeout=min(self.timeout, _REAP_TIMEOUT)
                )
        return snap, parse_stat_lines(stat_text, paths)

    async def kill_server(self) -> bool:
        """Stop the whole server; ``False`` if none was running. For private servers only."""
        if not self.socket:
            raise TmuxError("refusing to kill the user's default tmux server")
        result = await self.run("kill-server")
        if result.ok:
            return True
        if _is_absent(result.stderr):
            return False
        raise self._error(result, "kill-server")
