"""A real OpenSSH ``sshd`` for tests: private config, keys, port and (optionally) network namespace.

Every server here is ``/usr/sbin/sshd -D -e -f <tmp config>`` on a free port, with a fresh
ed25519 host key, a client key in ``authorized_keys``, and a ``known_hosts`` file pinning the
host key, so tests connect with host keys verified exactly as in production. Nothing of the
system's sshd (config, port 22, keys) is used.

Facts this relies on (``deps-spike.md`` §3): a root sshd needs ``/run/sshd``; ``StrictModes no``
because the keys live under a temp folder; ``UsePAM no``. The logged-in user is the test's own
user; when that is root, sshd runs in a private mount namespace in which the user's ``~/.bashrc``
reads empty (bash sources it for every ssh command, and the machine's one costs ~140 ms), so a
test measures metawsm and not a shell rc file. Nothing outside that namespace sees the change.

With ``netns=True`` the sshd runs in its own network namespace joined to this one by a veth pair
(``10.<a>.<b>.1`` here, ``.2`` there); :meth:`Sshd.cut` sets this side's link down, a real
network loss, and :meth:`Sshd.restore` brings it back.

Teardown kills the sshd and every process it started (found through ``/proc``), removes the
namespace and links, and deletes the files.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from metawsm.demo_ssh import SSHD, sshd_argv, sshd_config, write_keys

__all__ = [
    "SSHD",
    "Sshd",
    "descendants",
    "free_port",
    "make_sshd",
    "sshd",
    "sshd_factory",
]

_IP = shutil.which("ip") or "/usr/sbin/ip"


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port free on ``address`` right now."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                raw = handle.read().decode("utf-8", "replace")
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may hold spaces and parentheses
        ppid = int(raw[raw.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, their children...)."""
    tree = _children_map()
    found: list[int] = []
    todo = list(tree.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(tree.get(child, []))
    return found


def cmdline(pid: int) -> list[str]:
    """A process's argv, ``[]`` if it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return [part.decode("utf-8", "replace") for part in handle.read().split(b"\0") if part]
    except OSError:
        return []


@dataclass
class Sshd:
    """One running private sshd and what a client needs to reach it."""

    folder: Path
    address: str
    port: int
    user: str
    client_key: Path
    known_hosts: Path
    host_public_key: str
    netns: str | None = None
    links: tuple[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None
    _log: object | None = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        return self.folder / "sshd.log"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def host_policy(self, **extra: object) -> dict[str, object]:
        """The ``hosts.<name>`` policy entry that reaches this server."""
        return {
            "address": self.address,
            "port": self.port,
            "user": self.user,
            "key_file": str(self.client_key),
            "known_hosts": str(self.known_hosts),
            **extra,
        }

    def accepted_logins(self) -> int:
        """SSH connections authenticated so far, counted on the sshd side (its log)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return 0
        return text.count("Accepted publickey for ")

    def exec_requests(self) -> int:
        """Remote commands run so far (exec channel requests in a DEBUG1 log)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return 0
        return text.count("request exec")

    def session_processes(self) -> list[int]:
        """Processes started under this sshd (connection handlers and their commands)."""
        return descendants(self.pid) if self.process is not None else []

    def processes_matching(self, needle: str) -> list[int]:
        """Processes under this sshd whose argv contains ``needle``."""
        return [pid for pid in self.session_processes() if needle in " ".join(cmdline(pid))]

    # -- network ----------------------------------------------------------------------------

    def cut(self) -> None:
        """Set this side of the veth pair down: the host vanishes from the network."""
        assert self.links is not None, "cut() needs an sshd started with netns=True"
        subprocess.run([_IP, "link", "set", self.links[0], "down"], check=True)

    def restore(self) -> None:
        """Bring the link back up."""
        assert self.links is not None, "restore() needs an sshd started with netns=True"
        subprocess.run([_IP, "link", "set", self.links[0], "up"], check=True)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start (or start again, same keys and port) the server; wait for its banner."""
        assert self.process is None or self.process.poll() is not None
        argv = sshd_argv(self.folder / "sshd_config", self.user)
        if self.netns is not None:
            argv = [_IP, "netns", "exec", self.netns, *argv]
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log = log
        self.process = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10.0
        while True:
            if self.process.poll() is not None:
                self._close_log()
                raise RuntimeError(f"sshd exited at start: {self.log_path.read_text()[-2000:]}")
            try:
                with socket.create_connection((self.address, self.port), timeout=0.5) as probe:
                    if probe.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"sshd did not answer on {self.address}:{self.port}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Kill the server and everything it started."""
        if self.process is not None and self.process.poll() is None:
            for pid in [*descendants(self.pid), self.pid]:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        log, self._log = self._log, None
        if log is not None:
            log.close()  # type: ignore[attr-defined]


def _netns_up(tag: str) -> tuple[str, tuple[str, str], str, str]:
    """A namespace and a veth pair: (namespace, (this side, that side), this ip, that ip)."""
    ns = f"mwt-{tag}"
    here, there = f"mwh{tag}", f"mwn{tag}"
    a, b = secrets.randbelow(200) + 20, secrets.randbelow(63) * 4
    mine, theirs = f"10.{a}.{b}.1", f"10.{a}.{b}.2"
    steps = [
        ["netns", "add", ns],
        ["link", "add", here, "type", "veth", "peer", "name", there],
        ["link", "set", there, "netns", ns],
        ["addr", "add", f"{mine}/30", "dev", here],
        ["link", "set", here, "up"],
        ["-n", ns, "addr", "add", f"{theirs}/30", "dev", there],
        ["-n", ns, "link", "set", there, "up"],
        ["-n", ns, "link", "set", "lo", "up"],
    ]
    try:
        for step in steps:
            subprocess.run([_IP, *step], check=True, capture_output=True)
    except subprocess.CalledProcessError:
        _netns_down(ns, here)
        raise
    return ns, (here, there), mine, theirs


def _netns_down(ns: str, here: str) -> None:
    subprocess.run([_IP, "link", "del", here], capture_output=True, check=False)
    subprocess.run([_IP, "netns", "del", ns], capture_output=True, check=False)


@contextmanager
def make_sshd(
    *, netns: bool = False, user: str | None = None, log_level: str = "INFO"
) -> Iterator[Sshd]:
    """A started private sshd; stopped, unlinked and deleted on exit. ``log_level`` DEBUG1
    makes :meth:`Sshd.exec_requests` count."""
    if not os.path.exists(SSHD):
        pytest.skip("openssh-server is not installed (make system-deps installs it)")
    login = user or pwd.getpwuid(os.geteuid()).pw_name
    folder = Path(tempfile.mkdtemp(prefix="mwsshd-"))
    ns: str | None = None
    links: tuple[str, str] | None = None
    address = "127.0.0.1"
    try:
        if netns:
            if os.geteuid() != 0:
                pytest.skip("network namespaces need root")
            ns, links, _mine, address = _netns_up(secrets.token_hex(3))
            port = 2222
        else:
            port = free_port()
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # a root sshd needs it
        client_key, known_hosts, public = write_keys(folder, address, port)
        (folder / "sshd_config").write_text(
            sshd_config(folder, address, port, login, log_level=log_level)
        )
        server = Sshd(folder, address, port, login, client_key, known_hosts, public, ns, links)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        if ns is not None and links is not None:
            _netns_down(ns, links[0])
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def sshd() -> Iterator[Sshd]:
    """A private sshd on loopback for one test."""
    with make_sshd() as server:
        yield server


@pytest.fixture
def sshd_factory() -> Iterator[object]:
    """``sshd_factory(netns=True)``: as many private servers as the test needs."""
    from contextlib import ExitStack

    with ExitStack() as stack:

        def start(*, netns: bool = False) -> Sshd:
            return stack.enter_context(make_sshd(netns=netns))

        yield start
