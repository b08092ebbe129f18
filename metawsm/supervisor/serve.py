"""``metawsm serve``: build the actor tree for one metawsm root and run it in the foreground.

One supervisor per root, guarded by an exclusive lock on ``.metawsm/serve.lock`` (held for the
life of the process, so it vanishes with it however it dies: a socket file left by a killed
supervisor is recognised as stale because nobody holds the lock). Ctrl-C or SIGTERM stops the
actors in reverse start order within ``supervisor.shutdown_seconds`` and leaves every agent
running; the next supervisor adopts them.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskStatus

from actors import ChildSpec, Strategy, Supervisor
from metawsm.control.server import ControlServer
from metawsm.core import socket_methods
from metawsm.errors import MetawsmError
from metawsm.forum.actor import ForumActor
from metawsm.forum.consumers import forum_consumers
from metawsm.store.client import StoreClient
from metawsm.store.db import connect
from metawsm.store.schema import migrate
from metawsm.store.writer import StoreWriter
from metawsm.supervisor.doc_servers import DocServers
from metawsm.supervisor.docs_federation import DocsFederation
from metawsm.supervisor.environment import Environment
from metawsm.supervisor.events import EventBus, PublishingStore
from metawsm.supervisor.lock import hold_lock
from metawsm.supervisor.observer import HostObserver
from metawsm.supervisor.service import ServiceCore

if TYPE_CHECKING:
    from metawsm.web.server import WebAddress, WebDashboard

log = logging.getLogger("metawsm.serve")

Job = Callable[[ServiceCore], Awaitable[None]]


def configure_logging(env: Environment, *, verbose: bool = False) -> logging.Handler:
    """Log to stderr and to ``.metawsm/logs/serve.log``; return the file handler to close."""
    env.logs_dir.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("metawsm")
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    file_handler = logging.FileHandler(env.logs_dir / "serve.log")
    file_handler.setFormatter(fmt)
    logger.addHandler(file_handler)
    if not any(
        isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) is sys.stderr
        for h in logger.handlers
    ):
        stderr = logging.StreamHandler(sys.stderr)
        stderr.setFormatter(fmt)
        logger.addHandler(stderr)
    return file_handler


def _observer_spec(observer: HostObserver) -> ChildSpec:
    return ChildSpec(id=f"observer:{observer.host_name}", run=observer.run, shutdown=2.0)


def _control_spec(server: ControlServer) -> ChildSpec:
    return ChildSpec(id="control", run=server.run, shutdown=2.0)


def _dashboard(env: Environment, core: ServiceCore, address: WebAddress) -> WebDashboard:
    """The web dashboard over the same socket methods as the control server (bound here, so
    a port in use is a clear error before anything starts)."""
    from metawsm.core import socket_methods
    from metawsm.hosts.tmux import TmuxError
    from metawsm.web.access import new_token
    from metawsm.web.app import build_app
    from metawsm.web.server import WebDashboard, bind

    async def forum_changes(seen: int) -> int:
        from metawsm.forum.store import last_sequence

        if seen >= 0:
            await core.forum_next_change(60.0, seen)
        with core.forum_conn() as conn:
            return last_sequence(conn) if conn is not None else 0

    async def read_logs(session: str) -> str:
        try:
            return await env.tmux.capture(session, 400)
        except TmuxError as exc:
            return f"(no output: {exc})"

    return WebDashboard(
        bind(address),
        lambda access: build_app(
            access=access,
            methods=socket_methods(core),
            subscribe=core.bus.subscribe,
            read_logs=read_logs,
            root=str(env.root),
            forum_changes=forum_changes,
        ),
        new_token(),
        url_file=env.state_dir / "web.url",
    )


async def serve(
    env: Environment,
    *,
    job: Job | None = None,
    web: WebAddress | None = None,
    task_status: TaskStatus[ServiceCore] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run the supervisor for ``env`` until a signal, or until ``job`` returns; with ``web``,
    serve the dashboard there too."""
    with hold_lock(env):
        conn = connect(env.db_path)
        try:
            migrate(conn)
        finally:
            conn.close()
        writer_spec = StoreWriter.child_spec(env.db_path)
        assert writer_spec.mailbox is not None
        bus = EventBus(env.db_path)
        store = PublishingStore(StoreClient(writer_spec.mailbox.ref), bus)
        tick = env.policy.supervisor.tick_seconds
        observer = HostObserver("local", env.tmux, tick)
        # One observer per SSH host; each connects on its own first tick, so a host that is
        # down delays neither the start nor the other hosts.
        remote = {
            site.name: HostObserver(site.name, site.tmux, tick, site=site, wait_first=False)
            for site in env.sites()
            if site.remote
        }
        runs_sup = Supervisor("runs", strategy=Strategy.ONE_FOR_ONE, intensity=20, period=60.0)
        forum = ForumActor(env.db_path, forum_consumers(env, store))
        bus.listeners.append(forum.poke)
        core = ServiceCore(env, store, observer, runs_sup, bus, forum, observers=remote)
        federation = DocsFederation.from_policy(env.policy)
        core.federation = federation
        doc_servers = DocServers(env, federation, bus=bus)
        control = ControlServer(
            env.socket_path,
            socket_methods(core),
            {"watch": core.follow, "forum.follow": core.forum_follow},
        )
        children = [
            writer_spec,
            ChildSpec(id="events", run=bus.run, shutdown=2.0),
            forum.spec(),
            _observer_spec(observer),
            *(_observer_spec(o) for o in remote.values()),
            ChildSpec(id="docs-federation", run=federation.run, shutdown=2.0),
            ChildSpec(id="doc-servers", run=doc_servers.run, shutdown=15.0),
            runs_sup.spec(),
            _control_spec(control),
        ]
        dashboard = _dashboard(env, core, web) if web is not None else None
        if dashboard is not None:
            children.append(ChildSpec(id="web", run=dashboard.run, shutdown=5.0))
        root = Supervisor(
            "root",
            children,
            strategy=Strategy.ONE_FOR_ONE,
            intensity=5,
            period=30.0,
        )
        async with anyio.create_task_group() as tg:
            await tg.start(root.run)
            adopted = await core.adopt_active_runs()
            log.info(
                "supervisor up for %s (pid %d); %d active run(s) adopted",
                env.root,
                os.getpid(),
                len(adopted),
            )
            # Everything built so far lives as long as the supervisor: move it out of the
            # collector's reach, so full collections stay short (40 ms with 200 agents before).
            gc.freeze()
            if dashboard is not None:
                print(f"dashboard: {dashboard.url}", file=sys.stderr, flush=True)
            task_status.started(core)
            with anyio.CancelScope() as waiting:
                tg.start_soon(_stop_on_signal, waiting)
                if job is not None:
                    await job(core)
                    waiting.cancel()
                else:
                    await anyio.sleep_forever()
            with anyio.move_on_after(env.policy.supervisor.shutdown_seconds) as bounded:
                await root.stop()
            if bounded.cancelled_caught:
                log.warning(
                    "actors did not stop within %ss; leaving them",
                    env.policy.supervisor.shutdown_seconds,
                )
            tg.cancel_scope.cancel()
        gc.unfreeze()  # serve may run inside a longer process (tests, `metawsm run`)
        core.close_reader()
        with anyio.move_on_after(5.0, shield=True):
            await env.aclose()
        log.info("supervisor stopped; agents keep running")


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            log.info(
                "received %s; stopping the actors (agents keep running)",
                signal.Signals(signum).name,
            )
            scope.cancel()
            return


def run_serve(
    root: Path | None = None,
    *,
    policy: str | None = None,
    db: str | None = None,
    job: Job | None = None,
    verbose: bool = False,
    web: WebAddress | None = None,
) -> None:
    """Load the environment and run :func:`serve` on the asyncio backend (asyncssh and
    aiosqlite need it)."""
    env = Environment.load(root=root, policy=policy, db=db)
    handler = configure_logging(env, verbose=verbose)
    try:
        anyio.run(_serve_main, env, job, web, backend="asyncio")
    finally:
        logging.getLogger("metawsm").removeHandler(handler)
        handler.close()


async def _serve_main(env: Environment, job: Job | None, web: WebAddress | None) -> None:
    try:
        await serve(env, job=job, web=web)
    except BaseExceptionGroup as group:
        # The job runs inside serve's task group, so an operator-facing error it raised (an
        # invalid request, a plan step that failed) arrived wrapped in an exception group and
        # the CLI printed a traceback instead of its one `error:` line.
        error = _sole_operator_error(group)
        if error is None:
            raise
        raise error from None


def _sole_operator_error(group: BaseExceptionGroup[BaseException]) -> MetawsmError | None:
    """The group's only exception when that is a :class:`MetawsmError`, else None."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop()
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
        else:
            leaves.append(exc)
    if len(leaves) == 1 and isinstance(leaves[0], MetawsmError):
        return leaves[0]
    return None
