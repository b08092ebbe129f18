"""A throwaway metawsm root for end-to-end tests: real git repos, a ticket in the docmgr layout,
scripted agents, a private tmux server, and the real CLI run as subprocesses.

Teardown kills every supervisor the test started, kills the private tmux server, and fails the
test if any supervisor process or tmux session of the test was still alive when it ended
without being asked to stop (everything is cleaned up regardless).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio

from metawsm.docs.native import NativeDocsProvider
from metawsm.hosts import LocalHost
from metawsm.store.reader import Reader
from metawsm.store.records import AgentRecord, EventRecord, RunRecord, StepRecord
from metawsm.supervisor.environment import Environment

#: The five bootstrap brief flags, filled with placeholders (tests that only need a brief).
BRIEF = [
    "--goal",
    "g",
    "--scope",
    "s",
    "--done-criteria",
    "d",
    "--constraints",
    "c",
    "--merge-intent",
    "default",
]
HOLD = {"steps": [{"do": "say", "text": "holding"}, {"do": "hold"}]}
EXIT0 = {
    "steps": [
        {"do": "say", "text": "quick job"},
        {"do": "sleep", "seconds": 0.3},
        {"do": "exit", "code": 0},
    ]
}
EXIT3 = {"steps": [{"do": "say", "text": "failing"}, {"do": "exit", "code": 3}]}


def _git(cwd: Path, *args: str, check: bool = True) -> str:
    env = {**os.environ}
    for role in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{role}_NAME"] = "metawsm test"
        env[f"GIT_{role}_EMAIL"] = "test@example.invalid"
    out = subprocess.run(
        ["git", *args], cwd=cwd, check=check, env=env, capture_output=True, text=True
    )
    return out.stdout


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """Poll ``predicate`` (every 0.1 s, bounded) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what or predicate}; last value: {last!r}"
    )


def _accepts(path: Path) -> bool:
    """A unix socket at ``path`` accepts connections."""
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


class World:
    """One metawsm root under ``tmp`` with ``agents`` (name → script) on a private tmux."""

    def __init__(
        self,
        tmp: Path,
        agents: dict[str, dict[str, Any]],
        *,
        operator: dict[str, Any] | None = None,
        ticket: str = "T-1",
        policy: dict[str, Any] | None = None,
        docs_in: str | None = None,
    ) -> None:
        """``policy`` adds (or replaces) top-level sections of the policy, e.g.
        ``{"execution": {"step_retries": 2}}``. ``docs_in="api"`` puts the docs root inside
        that repo (``repos/api/ttmp``, the ticket committed on its ``main``): the layout where
        the operator works from that repo's checkout."""
        self.root = tmp
        self.ticket = ticket
        self.socket = f"mwt-{secrets.token_hex(4)}"
        self.tmux_tmpdir = tmp / "tmux"
        self.tmux_tmpdir.mkdir(mode=0o700)
        self.env = {**os.environ, "TMUX_TMPDIR": str(self.tmux_tmpdir)}
        self.env.pop("TMUX", None)
        self.servers: list[subprocess.Popen[str]] = []
        self._background: list[subprocess.Popen[str]] = []
        for repo in ("api", "web"):
            path = tmp / "repos" / repo
            path.mkdir(parents=True)
            _git(path, "-c", "init.defaultBranch=main", "init", "-q")
            (path / "README.md").write_text(f"# {repo}\n")
            _git(path, "add", "-A")
            _git(path, "commit", "-q", "-m", "initial")
        self.docs_root = tmp / "repos" / docs_in / "ttmp" if docs_in else tmp / "ttmp"
        self.docs_root.mkdir()
        anyio.run(
            NativeDocsProvider(LocalHost(), str(self.docs_root)).create_ticket, ticket, "End to end"
        )
        if docs_in:
            _git(tmp / "repos" / docs_in, "add", "-A")
            _git(tmp / "repos" / docs_in, "commit", "-q", "-m", f"{ticket}: ticket docs")
        (tmp / "scripts").mkdir()
        profiles, entries = [], []
        for name, script in agents.items():
            (tmp / "scripts" / f"{name}.json").write_text(json.dumps(script))
            profiles.append(
                {
                    "name": f"p-{name}",
                    "runner": "scripted",
                    "runner_options": {"script": f"scripts/{name}.json"},
                }
            )
            entries.append({"name": name, "profile": f"p-{name}"})
        settings: dict[str, Any] = {
            "workspace": {"repos": {"api": "repos/api", "web": "repos/web"}},
            "tmux": {"socket": self.socket},
            "operator": {"restart_budget": 3, "restart_cooldown_seconds": 1, **(operator or {})},
            "supervisor": {"tick_seconds": 0.2, "shutdown_seconds": 5},
            "agent_profiles": profiles,
            "agents": entries,
            **({"docs": {"root": f"repos/{docs_in}/ttmp"}} if docs_in else {}),
            **(policy or {}),
        }
        (tmp / ".metawsm").mkdir()
        (tmp / ".metawsm" / "policy.json").write_text(json.dumps(settings))

    # -- files ------------------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        return self.root / ".metawsm"

    @property
    def db_path(self) -> Path:
        return self.state_dir / "metawsm.db"

    @property
    def workspaces_dir(self) -> Path:
        return Path(Environment.load(root=self.root).workspaces_root())

    def edit_policy(self, change: Callable[[dict[str, Any]], None]) -> None:
        """Rewrite ``.metawsm/policy.json`` through ``change`` (read by the next supervisor)."""
        path = self.state_dir / "policy.json"
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    def git(self, repo: str, *args: str, check: bool = True) -> str:
        """``git`` in the clone of ``repo`` (``repos/<repo>``); its stdout."""
        return _git(self.root / "repos" / repo, *args, check=check)

    def worktrees(self, repo: str) -> list[str]:
        """The worktree paths of ``repo``'s clone (the clone itself first)."""
        listed = self.git(repo, "worktree", "list", "--porcelain")
        return [
            line.split(" ", 1)[1] for line in listed.splitlines() if line.startswith("worktree ")
        ]

    # -- the store, read directly -----------------------------------------------------------

    def reader(self) -> Reader:
        return Reader(self.db_path)

    def run_record(self, run_id: str) -> RunRecord:
        with self.reader() as reader:
            record = reader.get_run(run_id)
        assert record is not None, f"no run {run_id}"
        return record

    def steps(self, run_id: str) -> list[StepRecord]:
        with self.reader() as reader:
            return reader.list_steps(run_id)

    def agent_rows(self, run_id: str) -> list[AgentRecord]:
        with self.reader() as reader:
            return reader.list_agents(run_id)

    def events(self, run_id: str) -> list[EventRecord]:
        with self.reader() as reader:
            return reader.list_events(run_id)

    # -- the CLI ----------------------------------------------------------------------------

    def cli(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "metawsm", *args],
            cwd=self.root,
            env=self.env,
            text=True,
            capture_output=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"metawsm {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def cli_background(self, *args: str) -> subprocess.Popen[str]:
        """Start ``metawsm <args>`` without waiting (killed at teardown if still running)."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "metawsm", *args],
            cwd=self.root,
            env=self.env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._background.append(proc)
        return proc

    def serve(self, *args: str) -> subprocess.Popen[str]:
        """Start ``metawsm serve <args>`` and wait until it answers on its socket."""
        log = open(self.root / f"serve-{len(self.servers)}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "metawsm", "serve", *args],
            cwd=self.root,
            env=self.env,
            text=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.servers.append(proc)
        sock = self.root / ".metawsm" / "control.sock"
        # A socket file left by a supervisor killed with -9 exists before the new one listens:
        # wait until it accepts a connection, not until the file exists.
        wait_until(
            lambda: proc.poll() is not None or _accepts(sock), timeout=60, what="the supervisor"
        )
        assert proc.poll() is None, self.serve_log(len(self.servers) - 1)
        return proc

    def serve_log(self, index: int = -1) -> str:
        n = index if index >= 0 else len(self.servers) - 1
        return (self.root / f"serve-{n}.log").read_text()

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = self.json("status", "--ticket", self.ticket, "--no-diffs")
        return data

    # -- tmux -------------------------------------------------------------------------------

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], env=self.env, text=True, capture_output=True
        )

    def sessions(self) -> list[str]:
        out = self.tmux("list-sessions", "-F", "#{session_name}")
        return sorted(out.stdout.split()) if out.returncode == 0 else []

    def pane_pid(self, session: str) -> int:
        out = self.tmux("list-panes", "-t", f"={session}", "-F", "#{pane_pid}")
        return int(out.stdout.split()[0])

    # -- teardown ---------------------------------------------------------------------------

    def close(self) -> None:
        for proc in self._background:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        for proc in self.servers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.tmux("kill-server")


def world_fixture(tmp_path: Path) -> Iterator[Callable[..., World]]:
    made: list[World] = []

    def make(agents: dict[str, dict[str, Any]], **kwargs: Any) -> World:
        world = World(tmp_path, agents, **kwargs)
        made.append(world)
        return world

    yield make
    for world in made:
        world.close()
