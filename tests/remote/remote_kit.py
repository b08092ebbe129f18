"""A World whose policy names an SSH host reached through a private sshd."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.helpers.sshd import Sshd
from tests.supervisor.world import World


@contextmanager
def remote_tmux_socket() -> Iterator[str]:
    """A short absolute ``-S`` path for the host's tmux server (killed and removed after)."""
    folder = tempfile.mkdtemp(prefix="mwr-", dir="/tmp")
    socket = f"{folder}/box.sock"
    try:
        yield socket
    finally:
        subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def host_entry(world_root: Path, server: Sshd, socket: str, **extra: Any) -> dict[str, Any]:
    """``hosts.<name>`` for ``server``: the world's repos, its own workspaces root and tmux."""
    return server.host_policy(
        repos={"api": str(world_root / "repos" / "api"), "web": str(world_root / "repos" / "web")},
        workspaces_root=str(world_root / "remote-ws"),
        tmux_socket=socket,
        keepalive_seconds=5.0,  # long enough that a loaded machine is not taken for a cut
        **extra,
    )


def remote_world(
    make_world: Callable[..., World],
    agents: dict[str, dict[str, Any]],
    hosts: dict[str, tuple[Sshd, str]],
    **kwargs: Any,
) -> World:
    """A world with ``hosts`` (name -> (sshd, tmux socket)) in its policy."""
    world = make_world(agents, **kwargs)

    def add(data: dict[str, Any]) -> None:
        data["hosts"] = {
            name: host_entry(world.root, server, socket) for name, (server, socket) in hosts.items()
        }

    world.edit_policy(add)
    return world


def remote_sessions(socket: str) -> list[str]:
    out = subprocess.run(
        ["tmux", "-S", socket, "list-sessions", "-F", "#{session_name}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return sorted(out.stdout.split()) if out.returncode == 0 else []
