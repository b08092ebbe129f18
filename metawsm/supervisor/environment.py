"""Where a metawsm root's pieces are, and the providers its policy selects.

One :class:`Environment` per metawsm root (the directory holding ``.metawsm/``): its policy,
database, control socket, lock and logs, the local host and its tmux server, and the workspace
and docs providers. The supervisor and the offline CLI paths build it the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from metawsm.docs.base import DocsProvider
from metawsm.docs.docmgr_cli import DocmgrCliProvider
from metawsm.docs.native import NativeDocsProvider
from metawsm.hosts import LocalHost
from metawsm.hosts.tmux import TmuxServer
from metawsm.policy import Policy, load_policy, resolve_under
from metawsm.supervisor.rootdir import STATE_DIR, find_root
from metawsm.workspaces.base import WorkspaceProvider
from metawsm.workspaces.git import GitWorkspaceProvider
from metawsm.workspaces.wsm import WsmWorkspaceProvider

__all__ = ["STATE_DIR", "Environment"]


@dataclass
class Environment:
    """The files and providers of one metawsm root."""

    root: Path
    policy_path: Path
    policy: Policy
    db_path: Path
    host: LocalHost
    tmux: TmuxServer

    @classmethod
    def load(
        cls, *, root: Path | None = None, policy: str | None = None, db: str | None = None
    ) -> Environment:
        """The environment of ``root`` (default: the root found from the current directory,
        see :func:`~metawsm.supervisor.rootdir.find_root`)."""
        base = Path(os.path.abspath(root)) if root is not None else find_root()
        policy_path = Path(policy) if policy else base / STATE_DIR / "policy.json"
        if not policy_path.is_absolute():
            policy_path = base / policy_path
        loaded = load_policy(policy_path)
        db_path = Path(db) if db else base / STATE_DIR / "metawsm.db"
        if not db_path.is_absolute():
            db_path = base / db_path
        host = LocalHost()
        tmux = TmuxServer(host, _tmux_socket(base, loaded.tmux.socket))
        return cls(base, policy_path, loaded, db_path, host, tmux)

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def socket_path(self) -> Path:
        return self.state_dir / "control.sock"

    @property
    def lock_path(self) -> Path:
        return self.state_dir / "serve.lock"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    def workspaces_root(self) -> str:
        return str(resolve_under(self.root, self.policy.workspace.root))

    def workspace_provider(self) -> WorkspaceProvider:
        if self.policy.workspace.provider == "wsm":
            return WsmWorkspaceProvider(self.host)
        repos = {
            name: str(resolve_under(self.root, path))
            for name, path in self.policy.workspace.repos.items()
        }
        return GitWorkspaceProvider(self.host, self.workspaces_root(), repos)

    def docs_provider(self) -> DocsProvider:
        docs_root = str(resolve_under(self.root, self.policy.docs.root))
        if self.policy.docs.provider == "docmgr":
            return DocmgrCliProvider(self.host, root=docs_root)
        return NativeDocsProvider(self.host, docs_root)


def _tmux_socket(root: Path, socket: str) -> str:
    """A ``tmux.socket`` path is relative to the metawsm root; a plain name is a ``-L`` name."""
    if "/" in socket and not os.path.isabs(socket):
        return str(root / socket)
    return socket
