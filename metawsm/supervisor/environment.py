"""Where a metawsm root's pieces are, and the providers its policy selects.

One :class:`Environment` per metawsm root (the directory holding ``.metawsm/``): its policy,
database, control socket, lock and logs, its hosts (this machine and the policy's SSH hosts,
each a :class:`Site` with its tmux server, workspaces root and repo clones), and the workspace
and docs providers. The supervisor and the offline CLI paths build it the same way.

Docs always live on this machine (the metawsm root's docs root); a run's workspaces, agents
and signal files live on the run's host.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from metawsm.docs.base import DocsProvider
from metawsm.docs.docmgr_cli import DocmgrCliProvider
from metawsm.docs.native import NativeDocsProvider
from metawsm.errors import PolicyError, UsageError
from metawsm.hosts import Host, LocalHost
from metawsm.hosts.tmux import TmuxServer
from metawsm.policy import Policy, load_policy, resolve_under
from metawsm.supervisor.rootdir import STATE_DIR, find_root
from metawsm.workspaces.base import WorkspaceProvider
from metawsm.workspaces.git import GitWorkspaceProvider
from metawsm.workspaces.wsm import WsmWorkspaceProvider

__all__ = ["LOCAL", "STATE_DIR", "Environment", "Site"]
LOCAL = "local"


@dataclass
class Site:
    """One host as the policy places things on it."""

    name: str
    host: Host
    tmux: TmuxServer
    workspaces_root: str
    repos: dict[str, str]
    max_agents: int
    address: str = ""

    @property
    def remote(self) -> bool:
        return self.name != LOCAL


@dataclass
class Environment:
    """The files and providers of one metawsm root."""

    root: Path
    policy_path: Path
    policy: Policy
    db_path: Path
    host: LocalHost
    tmux: TmuxServer
    _sites: dict[str, Site] = field(default_factory=dict, repr=False)
    #: When the policy was read (epoch seconds), and the file's modification time then (None:
    #: there was no file and the defaults apply).
    policy_read_at: float = 0.0
    policy_modified_at: float | None = None

    @classmethod
    def load(
        cls, *, root: Path | None = None, policy: str | None = None, db: str | None = None
    ) -> Environment:
        """The environment of ``root`` (default: the root found from the current directory,
        see :func:`~metawsm.supervisor.rootdir.find_root`).

        An explicitly named ``policy`` file must exist (the defaults apply only when the
        default ``.metawsm/policy.json`` is absent)."""
        base = Path(os.path.abspath(root)) if root is not None else find_root()
        policy_path = Path(policy) if policy else base / STATE_DIR / "policy.json"
        if not policy_path.is_absolute():
            policy_path = base / policy_path
        loaded, modified = read_policy(policy_path, explicit=bool(policy))
        db_path = Path(db) if db else base / STATE_DIR / "metawsm.db"
        if not db_path.is_absolute():
            db_path = base / db_path
        host = LocalHost()
        tmux = TmuxServer(host, _tmux_socket(base, loaded.tmux.socket))
        return cls(
            base,
            policy_path,
            loaded,
            db_path,
            host,
            tmux,
            policy_read_at=time.time(),
            policy_modified_at=modified,
        )

    def reread_policy(self, policy: str = "") -> Environment:
        """This environment with its policy read again, as the file is now: ``policy`` (an
        explicitly named file, which must exist) or this environment's own policy file.

        The tmux server stays this environment's (the supervisor's observer watches it), so a
        policy that names another ``tmux.socket`` is refused."""
        path = Path(policy) if policy else self.policy_path
        if not path.is_absolute():
            path = self.root / path
        loaded, modified = read_policy(path, explicit=bool(policy))
        if _tmux_socket(self.root, loaded.tmux.socket) != self.tmux.socket:
            raise PolicyError(
                f"policy {path} names tmux.socket {loaded.tmux.socket!r}, but this supervisor "
                f"watches {self.policy.tmux.socket!r}",
                hint="restart the supervisor (`metawsm serve`) to change tmux servers",
            )
        return dataclasses.replace(
            self,
            policy_path=path,
            policy=loaded,
            policy_read_at=time.time(),
            policy_modified_at=modified,
        )

    def with_policy(self, policy: Policy) -> Environment:
        """This environment with ``policy`` (a run's snapshot) in force."""
        return dataclasses.replace(self, policy=policy)

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

    def host_names(self) -> list[str]:
        """``local`` and every SSH host of the policy, in policy order."""
        return [LOCAL, *(name for name in self.policy.hosts if name != LOCAL)]

    def site(self, name: str = LOCAL) -> Site:
        """The host called ``name`` (one object, so one connection, per host)."""
        found = self._sites.get(name)
        if found is not None:
            return found
        local_repos = {
            repo: str(resolve_under(self.root, path))
            for repo, path in self.policy.workspace.repos.items()
        }
        entry = self.policy.hosts.get(name)
        if name == LOCAL:
            made = Site(
                LOCAL,
                self.host,
                self.tmux,
                self.workspaces_root(),
                local_repos,
                entry.max_agents if entry is not None else 0,
            )
        elif entry is None:
            raise UsageError(
                f"host {name} is not in the policy",
                hint=f"add hosts.{name} to the policy, or use one of: "
                + ", ".join(self.host_names()),
            )
        else:
            from metawsm.hosts.ssh import SSHHost, SSHTarget

            target = SSHTarget(
                entry.address, entry.port, entry.user, entry.key_file, entry.known_hosts
            )
            remote = SSHHost(name, target, keepalive_seconds=entry.keepalive_seconds)
            socket = entry.tmux_socket or self.policy.tmux.socket
            made = Site(
                name,
                remote,
                TmuxServer(remote, _tmux_socket(self.root, socket)),
                entry.workspaces_root or self.workspaces_root(),
                dict(entry.repos) or local_repos,
                entry.max_agents,
                target.label,
            )
        self._sites[name] = made
        return made

    def sites(self) -> list[Site]:
        return [self.site(name) for name in self.host_names()]

    def host_for(self, name: str = LOCAL) -> Host:
        return self.site(name).host

    def tmux_for(self, name: str = LOCAL) -> TmuxServer:
        return self.site(name).tmux

    def workspace_provider(self, host: str = LOCAL) -> WorkspaceProvider:
        site = self.site(host)
        if self.policy.workspace.provider == "wsm":
            return WsmWorkspaceProvider(site.host)
        return GitWorkspaceProvider(site.host, site.workspaces_root, dict(site.repos))

    def docs_provider(self) -> DocsProvider:
        docs_root = str(resolve_under(self.root, self.policy.docs.root))
        if self.policy.docs.provider == "docmgr":
            return DocmgrCliProvider(self.host, root=docs_root)
        return NativeDocsProvider(self.host, docs_root)

    async def aclose(self) -> None:
        """Close the SSH connections opened so far."""
        for site in list(self._sites.values()):
            close = getattr(site.host, "aclose", None)
            if close is not None:
                await close()


def read_policy(path: Path, *, explicit: bool) -> tuple[Policy, float | None]:
    """The policy at ``path`` and the file's modification time (None: no file, the defaults).

    A missing file is an error when it was named explicitly (``--policy``): silently running
    on the defaults instead was how a typo in the name went unnoticed."""
    try:
        modified: float | None = path.stat().st_mtime
    except FileNotFoundError:
        modified = None
    except OSError as exc:
        raise PolicyError(f"read policy {path}: {exc.strerror or exc}") from None
    if modified is None and explicit:
        raise PolicyError(
            f"policy file {path} does not exist",
            hint="name an existing file with --policy, or leave --policy out to use "
            ".metawsm/policy.json (the defaults apply when it is absent)",
        )
    return load_policy(path), modified


def _tmux_socket(root: Path, socket: str) -> str:
    """A ``tmux.socket`` path is relative to the metawsm root; a plain name is a ``-L`` name."""
    if "/" in socket and not os.path.isabs(socket):
        return str(root / socket)
    return socket
