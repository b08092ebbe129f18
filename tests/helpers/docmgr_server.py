"""Real ``docmgr api serve`` processes on free loopback ports, for the federation's tests.

::

    with DocmgrServer(docmgr, root) as server:
        httpx.get(server.url("/api/v1/healthz"))

The server runs in its own session with stdin at ``/dev/null``; it is ready once
``/api/v1/healthz`` answers (bounded), and stopped with SIGTERM, then SIGKILL. Every server
a test starts is stopped when the ``with`` block ends, whatever happened in it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

import httpx

from tests.helpers.sshd import free_port

READY_TIMEOUT = 90.0  # a cold docmgr on a loaded 2-core machine builds its index slowly


class DocmgrServer:
    """One ``docmgr api serve --addr 127.0.0.1:<port> --root <root>``."""

    def __init__(self, binary: Path, root: Path, *, port: int | None = None) -> None:
        self.binary = binary
        self.root = root
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, path: str) -> str:
        return self.base_url + path

    def launch(self) -> None:
        """Start the process without waiting for it (see :meth:`wait_ready`)."""
        argv = [str(self.binary), "api", "serve", "--addr", f"127.0.0.1:{self.port}",
                "--root", str(self.root)]  # fmt: skip
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def wait_ready(self) -> DocmgrServer:
        """Wait (bounded) until ``/api/v1/healthz`` answers; stop the server if it never does."""
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"docmgr api serve exited {self.process.returncode}: {err}")
            try:
                if httpx.get(self.url("/api/v1/healthz"), timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"docmgr api serve on {self.base_url} not ready in {READY_TIMEOUT}s")

    def start(self) -> DocmgrServer:
        self.launch()
        return self.wait_ready()

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            except ProcessLookupError:
                pass
        if process.stderr is not None:
            process.stderr.close()

    def __enter__(self) -> DocmgrServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
