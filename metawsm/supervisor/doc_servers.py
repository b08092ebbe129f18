"""A ``docmgr api serve`` per active workspace, supervised, registered with the federation.

For every active run (not a dry run) and each of its workspaces, the child runs
``docmgr api serve --addr 127.0.0.1:<free port> --root <workspace doc-home repo>/<docs root>``
(the repo's own ``.ttmp.yaml`` root, else ``ttmp``) and registers it with the docs
federation as that workspace's endpoint (``ws:<workspace>``, kind ``workspace``, managed: the
federation refreshes its index before each read). The set is reconciled when runs change (the
event bus) and every poll interval:

- a server that died is started again (its endpoint shows the error until then);
- a server whose run ended, or whose workspace is gone, is stopped and unregistered;
- each server's pid, port and root are kept in ``.metawsm/docservers/<workspace>.json``; a
  supervisor killed with ``-9`` leaves its servers running, and the next one adopts every
  server still alive at its recorded port (and kills one that is not what the file says).

``docs.api.serve_workspaces``: ``auto`` (default) serves when the docmgr binary is found,
``on`` always tries (a missing binary shows in the endpoint's health), ``off`` never.
A graceful stop of the supervisor stops the servers it runs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process, TaskStatus

from metawsm.core import is_active
from metawsm.docs.federation import Endpoint
from metawsm.docs.seed import workspace_docs_root
from metawsm.store.reader import Reader
from metawsm.supervisor.docs_federation import DocsFederation
from metawsm.supervisor.environment import Environment
from metawsm.supervisor.events import EventBus

log = logging.getLogger("metawsm.doc_servers")

_STOP_GRACE = 5.0


def endpoint_name(workspace: str) -> str:
    return f"ws:{workspace}"


@dataclass(frozen=True, slots=True)
class Wanted:
    """One workspace whose docs should be served."""

    workspace: str
    repo: str
    root: str


@dataclass
class Served:
    """One running (or adopted) server."""

    wanted: Wanted
    port: int
    pid: int
    process: Process | None = None  # None when adopted from an earlier supervisor
    starts: int = 1

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.returncode is None
        return _is_docmgr_server(self.pid, self.port)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _is_docmgr_server(pid: int, port: int) -> bool:
    """``pid`` is alive and is a ``docmgr api serve`` on ``port`` (not a reused pid)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    argv = raw.decode("utf-8", "replace").split("\0")
    return "api" in argv and "serve" in argv and f"127.0.0.1:{port}" in argv


Lister = Callable[[], Awaitable[list[Wanted]]]


class DocServers:
    """Keeps one docmgr server per wanted workspace (module docstring)."""

    def __init__(
        self,
        env: Environment,
        federation: DocsFederation,
        *,
        binary: str | None = None,
        interval: float | None = None,
        lister: Lister | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self.env = env
        self.federation = federation
        self.mode = env.policy.docs.api.serve_workspaces
        self.binary = binary if binary is not None else (shutil.which("docmgr") or "docmgr")
        self.interval = interval if interval is not None else federation.interval
        self.state_dir = env.state_dir / "docservers"
        self.served: dict[str, Served] = {}
        self.errors: dict[str, str] = {}
        self._lister = lister or self.wanted
        self._bus = bus
        self._poked = anyio.Event()
        self.reconciles = 0

    @property
    def enabled(self) -> bool:
        if self.mode == "off":
            return False
        if self.mode == "on":
            return True
        return shutil.which(self.binary) is not None or os.access(self.binary, os.X_OK)

    def poke(self) -> None:
        """Reconcile now (a run started or ended)."""
        self._poked.set()

    # -- what should run --------------------------------------------------------------------

    async def wanted(self) -> list[Wanted]:
        """The workspaces of the active runs, with their doc-home repo's docs root."""
        if not self.env.db_path.exists():
            return []
        with Reader(self.env.db_path) as reader:
            records = [r for r in reader.list_runs() if is_active(r)]
        provider = self.env.workspace_provider()
        out: dict[str, Wanted] = {}
        for record in records:
            spec: dict[str, Any] = json.loads(record.spec_json or "{}")
            repo = str(spec.get("doc_home_repo") or spec.get("doc_repo") or "")
            for name in sorted(set(spec.get("workspaces", {}).values())):
                if name in out or not repo:
                    continue
                try:
                    workspace = await provider.info(name)
                    if workspace is None or repo not in workspace.repos:
                        continue
                    if workspace.host != "local":
                        continue  # docmgr runs here: a workspace on an SSH host is not served
                    root = await workspace_docs_root(self.env.host, workspace.repos[repo])
                except Exception as exc:  # a broken workspace must not stop the others
                    self.errors[name] = f"cannot locate the docs of workspace {name}: {exc}"
                    continue
                out[name] = Wanted(name, repo, root)
        return list(out.values())

    # -- pid files --------------------------------------------------------------------------

    def _pidfile(self, workspace: str) -> Path:
        return self.state_dir / f"{workspace}.json"

    def _record(self, served: Served) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data = {"pid": served.pid, "port": served.port, "root": served.wanted.root,
                "repo": served.wanted.repo}  # fmt: skip
        tmp = self._pidfile(served.wanted.workspace).with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self._pidfile(served.wanted.workspace))

    def _adopt_recorded(self) -> None:
        """Servers a killed supervisor left: adopt the live ones, forget the rest."""
        if not self.state_dir.is_dir():
            return
        for path in sorted(self.state_dir.glob("*.json")):
            workspace = path.stem
            try:
                data = json.loads(path.read_text())
                pid, port = int(data["pid"]), int(data["port"])
                wanted = Wanted(workspace, str(data["repo"]), str(data["root"]))
            except (OSError, ValueError, KeyError, TypeError):
                path.unlink(missing_ok=True)
                continue
            if _is_docmgr_server(pid, port):
                self.served[workspace] = Served(wanted, port, pid)
                self._register(self.served[workspace])
                log.info("adopted the docmgr server of %s (pid %d, port %d)", workspace, pid, port)
            else:
                path.unlink(missing_ok=True)

    # -- processes --------------------------------------------------------------------------

    def _register(self, served: Served) -> None:
        w = served.wanted
        self.federation.register(
            Endpoint(endpoint_name(w.workspace), "workspace", f"http://127.0.0.1:{served.port}",
                     w.repo, w.workspace, managed=True)
        )  # fmt: skip

    async def _start(self, wanted: Wanted, starts: int = 1) -> None:
        port = _free_port()
        argv = [self.binary, "api", "serve", "--addr", f"127.0.0.1:{port}", "--root", wanted.root]
        log_path = self.env.logs_dir / f"docmgr-{wanted.workspace}.log"
        self.env.logs_dir.mkdir(parents=True, exist_ok=True)
        try:
            # A local log file, opened once per server start.
            with open(log_path, "ab") as log_file:  # noqa: ASYNC230
                process = await anyio.open_process(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=log_file,
                    start_new_session=True,
                )
        except OSError as exc:
            self.errors[wanted.workspace] = f"cannot start docmgr: {exc}"
            log.warning("workspace %s: cannot start docmgr: %s", wanted.workspace, exc)
            # The endpoint stays registered, so its health says why there are no docs.
            self._register(Served(wanted, port, 0, None, starts))
            return
        self.errors.pop(wanted.workspace, None)
        served = Served(wanted, port, process.pid, process, starts)
        self.served[wanted.workspace] = served
        self._record(served)
        self._register(served)
        log.info("serving the docs of %s on port %d (pid %d)", wanted.workspace, port, process.pid)

    async def _stop(self, workspace: str) -> None:
        served = self.served.pop(workspace, None)
        self.federation.unregister(endpoint_name(workspace))
        self._pidfile(workspace).unlink(missing_ok=True)
        if served is None:
            return
        with anyio.CancelScope(shield=True):
            if served.process is not None:
                process = served.process
                if process.returncode is None:
                    process.terminate()
                    with anyio.move_on_after(_STOP_GRACE):
                        await process.wait()
                    if process.returncode is None:
                        process.kill()
                        with anyio.move_on_after(_STOP_GRACE):
                            await process.wait()
                await process.aclose()
            elif _is_docmgr_server(served.pid, served.port):
                os.kill(served.pid, signal.SIGTERM)
        log.info("stopped the docmgr server of %s", workspace)

    async def reconcile(self) -> None:
        """Start what is wanted and missing or dead; stop what is no longer wanted."""
        wanted = {w.workspace: w for w in await self._lister()} if self.enabled else {}
        for workspace in list(self.served):
            served = self.served[workspace]
            if workspace not in wanted or wanted[workspace].root != served.wanted.root:
                await self._stop(workspace)
            elif not served.alive():
                log.warning("docmgr server of %s died; starting it again", workspace)
                if served.process is not None:
                    with anyio.CancelScope(shield=True):
                        await served.process.aclose()
                del self.served[workspace]
                await self._start(served.wanted, served.starts + 1)
        for workspace, item in wanted.items():
            if workspace not in self.served:
                await self._start(item)
        self.reconciles += 1

    async def _follow_runs(self) -> None:
        """Poke on every run transition the event bus publishes (a run started or ended)."""
        assert self._bus is not None
        with self._bus.subscribe() as events:
            async for data in events:
                if data.get("entity_type") == "run" and data.get("to_state"):
                    self.poke()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Reconcile on every poke and every interval until cancelled; then stop the servers."""
        self._adopt_recorded()
        try:
            async with anyio.create_task_group() as group:
                if self._bus is not None:
                    group.start_soon(self._follow_runs)
                task_status.started()
                while True:
                    await self.reconcile()
                    with anyio.move_on_after(self.interval):
                        await self._poked.wait()
                    self._poked = anyio.Event()
        finally:
            with anyio.CancelScope(shield=True):
                for workspace in list(self.served):
                    await self._stop(workspace)
