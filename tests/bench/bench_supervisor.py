"""The supervisor with many agents: status latency, tmux processes per tick, kill-to-respawn
time, and the supervisor's idle CPU and memory.

One metawsm root with N scripted agents that hold (``METAWSM_BENCH_AGENTS``, default 200), all
in one run of one ticket with one repo, so all N sessions share one workspace (their names
differ by agent). A private tmux server (``tmux.socket`` in the policy, ``TMUX_TMPDIR`` in a
throwaway folder), ``supervisor.tick_seconds`` = 1.0, ``metawsm serve`` as a subprocess and
``metawsm run --detach`` as the CLI does it. A second root with one agent gives the baseline
for the per-tick and idle figures.

Side by side in one run:

1. ``status`` through the control socket (connect, one call, close; the same call the CLI
   makes) and the full ``python -m metawsm status --json --no-diffs`` process, beside the
   original metawsm's health evaluation per status call, done the way it did it: per agent one
   ``tmux has-session``, one ``capture-pane -p -t <s>:0`` (last 200 lines kept), one
   ``display-message -p '#{session_activity}'``, then one ``git status --short`` per workspace
   repo, all sequential. The original ran each through ``zsh -lc``; zsh is not installed here,
   so this runs them with direct argv (the cheapest way, a floor for the original) and, beside
   that, each through ``bash -c`` with the pipe to ``tail`` as the original wrote it.
2. tmux processes the supervisor spawns while idle: a ``tmux`` shim first on the supervisor's
   ``PATH`` logs every invocation and execs the real tmux; the log is counted over a window.
3. ``kill -9`` of agent processes (one at a time, different agents, a random pause first so
   the kills land at every phase of the tick): time until status through the socket shows the
   change, and until it shows generation + 1 running; also the supervisor's own event stamps.
4. The serve process's CPU (``/proc/<pid>/stat``) and RSS (``/proc/<pid>/status``) over the
   same idle window as 2, with N agents and with one.

Run: ``.venv/bin/python -m tests.bench bench_supervisor`` (several minutes: the agents are
started one after another, each watched for a second before its start counts as verified).
Everything is stopped and deleted at the end, also on failure.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio

from metawsm.control.client import ControlClient
from metawsm.docs.native import NativeDocsProvider
from metawsm.hosts import LocalHost

AGENTS = int(os.environ.get("METAWSM_BENCH_AGENTS", "200"))
TICK = 1.0
TICKET = "B-1"
SOCKET_CALLS = 500
CLI_CALLS = 20
ORIGINAL_ROUNDS = 5
INTERLEAVE = 5  # the status paths are measured in this many interleaved slices
IDLE_WINDOW = 30.0
SETTLE = 10.0
KILLS = 24
POLL_PAUSE = 0.01
AFTER_TICK = 0.040  #: a status call started this soon after a tick's tmux call meets the tick
REAL_TMUX = shutil.which("tmux") or "/usr/bin/tmux"
EXIT_RE = re.compile(r"\[metawsm\] agent command exited with status ([0-9]+)")


# -- measuring helpers --------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100): an observed value, never interpolated."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def log(message: str) -> None:
    print(f"[bench_supervisor {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class ProcSample:
    at: float
    cpu: float  #: user + system seconds of the process itself
    children: float  #: user + system seconds of its reaped children (tmux, git clients)
    rss_kb: int
    hwm_kb: int


def proc_sample(pid: int) -> ProcSample:
    ticks = os.sysconf("SC_CLK_TCK")
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # fields from the 3rd (state) on
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    memory = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            memory[key] = int(value.split()[0])
    return ProcSample(
        time.monotonic(),
        (utime + stime) / ticks,
        (cutime + cstime) / ticks,
        memory.get("VmRSS", 0),
        memory.get("VmHWM", 0),
    )


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ}
    for role in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{role}_NAME"] = "metawsm bench"
        env[f"GIT_{role}_EMAIL"] = "bench@example.invalid"
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


# -- one metawsm root ---------------------------------------------------------------------------


@dataclass
class Root:
    """A throwaway metawsm root with ``n`` holding agents, its supervisor and its tmux server."""

    n: int
    dir: Path = field(init=False)
    socket: str = field(init=False)
    env: dict[str, str] = field(init=False)  #: the CLI's and the original probe's
    serve_env: dict[str, str] = field(init=False)  #: the supervisor's: the tmux shim first
    shim_log: Path = field(init=False)
    agents: list[str] = field(init=False)
    server: subprocess.Popen[bytes] | None = None
    run_id: str = ""

    def __post_init__(self) -> None:
        # Short paths: tmux and AF_UNIX sockets refuse paths over 108 bytes.
        self.dir = Path(tempfile.mkdtemp(prefix="mwb-", dir="/tmp"))
        self.socket = f"mwb-{secrets.token_hex(3)}"
        tmux_tmpdir = self.dir / "t"
        tmux_tmpdir.mkdir(mode=0o700)
        self.env = {**os.environ, "TMUX_TMPDIR": str(tmux_tmpdir)}
        self.env.pop("TMUX", None)
        self.env.pop("TMUX_PANE", None)
        shim_dir = self.dir / "shim"
        shim_dir.mkdir()
        self.shim_log = self.dir / "tmux-calls.log"
        shim = shim_dir / "tmux"
        shim.write_text(f'#!/bin/sh\necho "$*" >> {self.shim_log}\nexec {REAL_TMUX} "$@"\n')
        shim.chmod(0o755)
        self.serve_env = {**self.env, "PATH": f"{shim_dir}{os.pathsep}{self.env['PATH']}"}
        self.agents = [f"a{i:03d}" for i in range(1, self.n + 1)]

        repo = self.dir / "repos" / "api"
        repo.mkdir(parents=True)
        _git(repo, "-c", "init.defaultBranch=main", "init", "-q")
        (repo / "README.md").write_text("# api\n")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "initial")
        (self.dir / "ttmp").mkdir()
        docs = NativeDocsProvider(LocalHost(), str(self.dir / "ttmp"))
        anyio.run(docs.create_ticket, TICKET, "Supervisor benchmark")
        (self.dir / "scripts").mkdir()
        (self.dir / "scripts" / "hold.json").write_text(json.dumps({"steps": [{"do": "hold"}]}))
        policy = {
            "workspace": {"repos": {"api": "repos/api"}},
            "tmux": {"socket": self.socket},
            # Far thresholds: agents that print nothing for minutes stay `running`.
            "health": {
                "idle_seconds": 7200,
                "activity_stalled_seconds": 7200,
                "progress_stalled_seconds": 7200,
            },
            "operator": {"restart_budget": 100, "restart_cooldown_seconds": 1},
            "supervisor": {"tick_seconds": TICK, "shutdown_seconds": 10},
            "agent_profiles": [
                {
                    "name": "hold",
                    "runner": "scripted",
                    "runner_options": {"script": "scripts/hold.json"},
                }
            ],
            "agents": [{"name": name, "profile": "hold"} for name in self.agents],
        }
        (self.dir / ".metawsm").mkdir()
        (self.dir / ".metawsm" / "policy.json").write_text(json.dumps(policy))

    @property
    def control_socket(self) -> Path:
        return self.dir / ".metawsm" / "control.sock"

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "metawsm", *args],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"metawsm {' '.join(args)}: rc {done.returncode}\n{done.stderr}")
        return done

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The real tmux on this root's server (not through the shim)."""
        return subprocess.run(
            [REAL_TMUX, "-L", self.socket, "-f", "/dev/null", *args],
            env=self.env,
            capture_output=True,
            text=True,
        )

    def start(self) -> float:
        """Start the supervisor, submit the run, wait until every agent runs; return the
        seconds from submitting to all running."""
        self.serve()
        started = time.monotonic()
        submitted = json.loads(
            self.cli(
                "run", "--ticket", TICKET, "--repos", "api", "--detach", "--json", timeout=3600
            ).stdout
        )
        self.run_id = submitted["run_id"]
        deadline = time.monotonic() + 120 + 3 * self.n
        while True:
            agents = self.status()["agents"]
            running = sum(1 for a in agents if a["status"] == "running" and a["alive"])
            if running == self.n:
                return time.monotonic() - started
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {running} of {self.n} agents running")
            time.sleep(1.0)

    def serve(self) -> None:
        """Start ``metawsm serve`` and wait until its socket is there."""
        with open(self.dir / "serve.log", "wb") as out:
            self.server = subprocess.Popen(
                [sys.executable, "-m", "metawsm", "serve"],
                cwd=self.dir,
                env=self.serve_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while not self.control_socket.exists():
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not come up:\n{self.serve_log()}")
            time.sleep(0.05)

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = anyio.run(self._status_once)
        return result

    async def _status_once(self) -> Any:
        async with ControlClient(self.control_socket) as client:
            return await client.call("status", {"run_id": self.run_id, "diffs": False})

    def serve_log(self) -> str:
        path = self.dir / "serve.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def workspace_repos(self) -> list[Path]:
        """The worktrees the run made (what the original ran ``git status`` in)."""
        listing = _git(self.dir / "repos" / "api", "worktree", "list", "--porcelain")
        paths = [Path(line[9:]) for line in listing.splitlines() if line.startswith("worktree ")]
        return [p for p in paths if p != self.dir / "repos" / "api"]

    def sessions(self) -> dict[str, str]:
        """Agent name → tmux session, from status."""
        return {a["name"]: a["session"] for a in self.status()["agents"]}

    def close(self) -> None:
        """Stop and clean up the run, stop the supervisor and the tmux server, delete it all.
        Each part is tried whatever the others did."""
        if self.run_id and self.server is not None and self.server.poll() is None:
            for command in ("stop", "cleanup"):
                try:
                    self.cli(command, "--run-id", self.run_id)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    log(f"{command} failed: {exc}")
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        self.tmux("kill-server")
        shutil.rmtree(self.dir, ignore_errors=True)


# -- (1) status latency -------------------------------------------------------------------------


async def socket_status_calls(root: Root, calls: int) -> list[tuple[float, float]]:
    """(wall clock at the start, milliseconds) per status: connect, one call, close (what one
    CLI invocation does)."""
    times = []
    params = {"run_id": root.run_id, "diffs": False}
    for _ in range(calls):
        wall = time.time()
        started = time.perf_counter()
        async with ControlClient(root.control_socket) as client:
            result = await client.call("status", params)
        times.append((wall, (time.perf_counter() - started) * 1000))
        assert len(result["agents"]) == root.n
    return times


async def socket_status_times(root: Root, calls: int) -> list[float]:
    return [ms for _, ms in await socket_status_calls(root, calls)]


class TickWatch:
    """Notes when the supervisor runs tmux (the shim's log grows): the start of each tick, as
    the supervisor spawns nothing else while idle. Polled every half millisecond."""

    def __init__(self, log_path: Path) -> None:
        self.path = log_path
        self.starts: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        size = self.path.stat().st_size
        while not self._stop.is_set():
            now = self.path.stat().st_size
            if now != size:
                self.starts.append(time.time())
                size = now
            time.sleep(0.0005)

    def __enter__(self) -> TickWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def near_tick(self, wall: float) -> bool:
        """Did a call started at ``wall`` start within :data:`AFTER_TICK` of a tick?"""
        i = bisect.bisect_right(self.starts, wall) - 1
        return i >= 0 and wall - self.starts[i] < AFTER_TICK


def cli_status_times(root: Root, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        done = root.cli("status", "--run-id", root.run_id, "--json", "--no-diffs")
        times.append((time.perf_counter() - started) * 1000)
        assert len(json.loads(done.stdout)["agents"]) == root.n
    return times


def original_round(
    root: Root, sessions: Sequence[str], repos: Sequence[Path], *, shell: bool
) -> float:
    """One status call's health evaluation as the original did it; milliseconds."""
    tmux = f"{REAL_TMUX} -L {root.socket} -f /dev/null"

    def run(argv: list[str], command: str, cwd: Path | None = None) -> str:
        if shell:
            argv = ["bash", "-c", command]
        done = subprocess.run(argv, env=root.env, cwd=cwd, capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else ""

    started = time.perf_counter()
    now = time.time()
    for s in sessions:
        base = [REAL_TMUX, "-L", root.socket, "-f", "/dev/null"]
        present = subprocess.run(
            ["bash", "-c", f"{tmux} has-session -t '{s}'"]
            if shell
            else [*base, "has-session", "-t", s],
            env=root.env,
            capture_output=True,
        )
        if present.returncode != 0:
            raise RuntimeError(f"session {s} missing during the original's probe")
        pane = run(
            [*base, "capture-pane", "-p", "-t", f"{s}:0"],
            f"{tmux} capture-pane -p -t '{s}':0 | tail -n 200",
        )
        tail = "\n".join(pane.splitlines()[-200:])
        exits = EXIT_RE.findall(tail)
        if exits:
            continue
        activity = run(
            [*base, "display-message", "-p", "-t", s, "#{session_activity}"],
            f"{tmux} display-message -p -t '{s}' '#{{session_activity}}'",
        )
        with contextlib.suppress(ValueError):
            _ = now - int(activity.strip() or 0)
    for repo in repos:
        run(["git", "status", "--short"], "git status --short", cwd=repo)
    return (time.perf_counter() - started) * 1000


@dataclass
class StatusFigures:
    socket: list[float] = field(default_factory=list)
    socket_near_tick: list[float] = field(default_factory=list)
    socket_between: list[float] = field(default_factory=list)
    cli: list[float] = field(default_factory=list)
    original: list[float] = field(default_factory=list)
    original_shell: list[float] = field(default_factory=list)
    login_shell_ms: float = 0.0


def measure_status(root: Root) -> StatusFigures:
    sessions = list(root.sessions().values())
    repos = root.workspace_repos()
    figures = StatusFigures()
    anyio.run(socket_status_times, root, 10)  # warm: first connection, page cache
    for index in range(INTERLEAVE):
        with TickWatch(root.shim_log) as ticks:
            calls = anyio.run(socket_status_calls, root, SOCKET_CALLS // INTERLEAVE)
        for wall, ms in calls:
            figures.socket.append(ms)
            near = ticks.near_tick(wall)
            (figures.socket_near_tick if near else figures.socket_between).append(ms)
        figures.cli += cli_status_times(root, CLI_CALLS // INTERLEAVE)
        if index < ORIGINAL_ROUNDS:
            figures.original.append(original_round(root, sessions, repos, shell=False))
            figures.original_shell.append(original_round(root, sessions, repos, shell=True))
        log(f"status slice {index + 1}/{INTERLEAVE} done")
    login = []
    for _ in range(10):
        started = time.perf_counter()
        subprocess.run(["bash", "-lc", "true"], env=root.env, capture_output=True)
        login.append((time.perf_counter() - started) * 1000)
    figures.login_shell_ms = statistics.median(login)
    return figures


# -- (2) + (4) idle window ----------------------------------------------------------------------


@dataclass
class IdleFigures:
    agents: int
    seconds: float
    tmux_calls: int
    by_command: Counter[str]
    serve_cpu: float  #: percent of one CPU
    children_cpu: float
    tmux_server_cpu: float
    rss_mb: float
    hwm_mb: float

    @property
    def per_second(self) -> float:
        return self.tmux_calls / self.seconds


def _subcommand(line: str) -> str:
    words = line.split()
    i = 0
    while i < len(words) and words[i].startswith("-"):
        i += 2 if words[i] in ("-L", "-S", "-f") else 1
    return words[i] if i < len(words) else "?"


def _count_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def measure_idle(root: Root, seconds: float) -> IdleFigures:
    assert root.server is not None
    tmux_pid = int(root.tmux("display-message", "-p", "#{pid}").stdout.strip())
    before_lines = len(_count_lines(root.shim_log))
    serve_before, tmux_before = proc_sample(root.server.pid), proc_sample(tmux_pid)
    time.sleep(seconds)
    serve_after, tmux_after = proc_sample(root.server.pid), proc_sample(tmux_pid)
    lines = _count_lines(root.shim_log)[before_lines:]
    elapsed = serve_after.at - serve_before.at
    return IdleFigures(
        agents=root.n,
        seconds=elapsed,
        tmux_calls=len(lines),
        by_command=Counter(_subcommand(line) for line in lines),
        serve_cpu=100 * (serve_after.cpu - serve_before.cpu) / elapsed,
        children_cpu=100 * (serve_after.children - serve_before.children) / elapsed,
        tmux_server_cpu=100 * (tmux_after.cpu - tmux_before.cpu) / elapsed,
        rss_mb=serve_after.rss_kb / 1024,
        hwm_mb=serve_after.hwm_kb / 1024,
    )


# -- (3) kill to respawn ------------------------------------------------------------------------


@dataclass
class KillFigures:
    changed: list[float] = field(default_factory=list)  #: ms until status shows a change
    respawned: list[float] = field(default_factory=list)  #: ms until generation + 1 runs
    dead_event: list[float] = field(default_factory=list)  #: ms until the store's dead stamp
    respawn_event: list[float] = field(default_factory=list)  #: ms until the respawn stamp
    poll_ms: list[float] = field(default_factory=list)  #: one status poll (the resolution)


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def _kill_one(root: Root, name: str, figures: KillFigures) -> tuple[float, str]:
    params = {"run_id": root.run_id, "diffs": False}

    async def agent() -> dict[str, Any]:
        started = time.perf_counter()
        async with ControlClient(root.control_socket) as client:
            view = await client.call("status", params)
        figures.poll_ms.append((time.perf_counter() - started) * 1000)
        return next(a for a in view["agents"] if a["name"] == name)

    before = await agent()
    if before["status"] != "running":
        raise RuntimeError(f"{name} is {before['status']} before its kill")
    generation = before["generation"]
    target = f"={before['session']}"
    argv = [REAL_TMUX, "-L", root.socket, "-f", "/dev/null", "list-panes", "-t", target]
    listed = await anyio.run_process([*argv, "-F", "#{pane_pid}"], env=root.env)
    pid = int(listed.stdout.split()[0])
    await anyio.sleep(random.uniform(0, TICK))  # land anywhere in the tick
    wall = time.time()
    killed = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    changed = None
    deadline = killed + 20 * TICK
    while time.perf_counter() < deadline:
        seen = await agent()
        now = (time.perf_counter() - killed) * 1000
        if changed is None and (
            seen["generation"] != generation or seen["status"] != "running" or not seen["alive"]
        ):
            changed = now
        if seen["generation"] == generation + 1 and seen["status"] == "running":
            assert changed is not None
            figures.changed.append(changed)
            figures.respawned.append(now)
            return wall, f"{name}@{before['workspace']}"
        await anyio.sleep(POLL_PAUSE)
    raise RuntimeError(f"{name} not respawned within {20 * TICK}s of its kill")


def measure_kills(root: Root, kills: int) -> KillFigures:
    figures = KillFigures()
    step = max(1, root.n // kills)
    targets = [root.agents[(i * step) % root.n] for i in range(kills)]
    done: list[tuple[float, str]] = []
    for index, name in enumerate(targets):
        done.append(anyio.run(_kill_one, root, name, figures))
        if (index + 1) % 8 == 0:
            log(f"kill {index + 1}/{kills} done")
    # The supervisor's own stamps: the dead transition and the respawn, per kill.
    db = sqlite3.connect(f"file:{root.dir / '.metawsm' / 'metawsm.db'}?mode=ro", uri=True)
    try:
        for wall, entity in done:
            rows = db.execute(
                "SELECT to_state, created_at FROM events WHERE run_id = ? AND entity_id = ?"
                " ORDER BY id",
                (root.run_id, entity),
            ).fetchall()
            after = [(state, _stamp(at)) for state, at in rows if _stamp(at) >= wall]
            dead = next((at for state, at in after if state == "dead"), None)
            back = next((at for state, at in after if state == "running"), None)
            if dead is not None:
                figures.dead_event.append((dead - wall) * 1000)
            if back is not None:
                figures.respawn_event.append((back - wall) * 1000)
    finally:
        db.close()
    return figures


# -- the run ------------------------------------------------------------------------------------


def with_root(n: int, body: Callable[[Root], Any]) -> Any:
    root = Root(n)
    try:
        return body(root)
    except BaseException:
        log(f"failed; supervisor log tail:\n{root.serve_log()}")
        raise
    finally:
        root.close()


def _baseline(root: Root) -> tuple[float, IdleFigures, list[float]]:
    started = root.start()
    time.sleep(SETTLE)
    idle = measure_idle(root, IDLE_WINDOW)
    socket = anyio.run(socket_status_times, root, SOCKET_CALLS)
    return started, idle, socket


def _full(root: Root) -> tuple[float, IdleFigures, StatusFigures, KillFigures]:
    log(f"starting {root.n} agents (about a second each)")
    started = root.start()
    log(f"{root.n} agents running after {started:.0f}s; settling {SETTLE:.0f}s")
    time.sleep(SETTLE)
    idle = measure_idle(root, IDLE_WINDOW)
    log("idle window done; timing status")
    status = measure_status(root)
    log("status done; killing agents")
    kills = measure_kills(root, KILLS)
    return started, idle, status, kills


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _ms(values: Sequence[float]) -> tuple[str, str]:
    return f"{pct(values, 50):.1f}", f"{pct(values, 95):.1f}"


def _commands(counter: Counter[str], seconds: float) -> str:
    return ", ".join(f"{cmd} {n / seconds:.2f}/s" for cmd, n in counter.most_common()) or "none"


def main() -> None:
    random.seed(20261121)
    log("baseline: one agent")
    one_start, one_idle, one_socket = with_root(1, _baseline)
    n_start, n_idle, status, kills = with_root(AGENTS, _full)

    print(
        f"{AGENTS} scripted agents holding, one run (1 ticket, 1 repo, one workspace); "
        f"supervisor.tick_seconds = {TICK}; private tmux {REAL_TMUX}. Percentiles are "
        f"nearest-rank. Start-up: {AGENTS} agents running {n_start:.0f}s after "
        f"`run --detach` (1 agent: {one_start:.1f}s)."
    )
    print()
    print("### Status latency\n")
    print(_row(["path", "samples", "p50 ms", "p95 ms", "p99 ms", "max ms"]))
    print(_row(["---"] * 6))
    near = f"started < {AFTER_TICK * 1000:.0f} ms after a tick"
    for label, values in (
        (f"`status` through the socket, {AGENTS} agents", status.socket),
        (f"... of which {near}", status.socket_near_tick),
        ("... of which the others", status.socket_between),
        ("`status` through the socket, 1 agent", one_socket),
        ("`python -m metawsm status --json --no-diffs` (process)", status.cli),
        (f"original's probe, direct argv ({3 * AGENTS} tmux + 1 git)", status.original),
        ("original's probe, each through `bash -c`", status.original_shell),
    ):
        if values:
            tail = [f"{pct(values, 99):.1f}", f"{max(values):.1f}"]
            print(_row([label, len(values), *_ms(values), *tail]))
    p95_socket = pct(status.socket, 95)
    print()
    print(
        "Ratios: original direct / socket = "
        f"{pct(status.original, 50) / pct(status.socket, 50):.0f}x at p50, "
        f"{pct(status.original, 95) / p95_socket:.0f}x at p95; through `bash -c`: "
        f"{pct(status.original_shell, 95) / p95_socket:.0f}x at p95. One `bash -lc true` here "
        f"costs {status.login_shell_ms:.0f} ms (login files), so the original's 3N+1 `zsh -lc` "
        f"would add ~{status.login_shell_ms * (3 * AGENTS + 1) / 1000:.0f} s on this machine."
    )
    print()
    print("### Idle: tmux processes, CPU and memory of `metawsm serve`\n")
    print(
        _row(
            [
                "agents",
                "window s",
                "tmux processes",
                "per tick",
                "by command",
                "serve CPU %",
                "its children CPU %",
                "tmux server CPU %",
                "RSS MB",
                "peak RSS MB",
            ]
        )
    )
    print(_row(["---"] * 10))
    for idle in (one_idle, n_idle):
        print(
            _row(
                [
                    idle.agents,
                    f"{idle.seconds:.1f}",
                    idle.tmux_calls,
                    f"{idle.per_second * TICK:.2f}",
                    _commands(idle.by_command, idle.seconds),
                    f"{idle.serve_cpu:.1f}",
                    f"{idle.children_cpu:.1f}",
                    f"{idle.tmux_server_cpu:.1f}",
                    f"{idle.rss_mb:.0f}",
                    f"{idle.hwm_mb:.0f}",
                ]
            )
        )
    print()
    print(f"### Kill -9 to respawn ({len(kills.respawned)} kills, different agents)\n")
    print(_row(["measure", "p50 ms", "p95 ms", "max ms", "p50 ticks", "p95 ticks"]))
    print(_row(["---"] * 6))
    for label, values in (
        ("change visible in status (socket)", kills.changed),
        ("generation + 1 running in status (socket)", kills.respawned),
        ("supervisor's `dead` event stamp", kills.dead_event),
        ("supervisor's respawn event stamp", kills.respawn_event),
    ):
        if not values:
            print(_row([label, "-", "-", "-", "-", "-"]))
            continue
        print(
            _row(
                [
                    label,
                    *_ms(values),
                    f"{max(values):.1f}",
                    f"{pct(values, 50) / 1000 / TICK:.2f}",
                    f"{pct(values, 95) / 1000 / TICK:.2f}",
                ]
            )
        )
    print()
    print(
        f"Status polls during the kills: p50 {pct(kills.poll_ms, 50):.1f} ms each, "
        f"{POLL_PAUSE * 1000:.0f} ms apart (the socket figures' resolution)."
    )
    print()
    goals = [
        ("status p95 through the socket < 20 ms", p95_socket < 20),
        (
            "status >= 50x faster than the original (p95, direct argv)",
            pct(status.original, 95) / p95_socket >= 50,
        ),
        ("about 1 tmux process per tick with N agents", n_idle.per_second * TICK < 1.5),
        ("respawn p95 < 1.5 ticks", pct(kills.respawned, 95) / 1000 < 1.5 * TICK),
    ]
    for text, met in goals:
        print(f"- {text}: {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
