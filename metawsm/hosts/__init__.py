"""Hosts: where commands run and files live, this machine or (later) one reached over SSH.

Everything above this layer (tmux, git, docs, agents) is written against :class:`Host`, so a
workspace on a remote machine is driven by the same code as a local one. Arguments always
travel as argv, never as a shell string built from input.
"""

from metawsm.hosts.base import CommandResult, FileStat, Host
from metawsm.hosts.errors import CommandFailed, CommandTimeout, HostError, NotRegularFile
from metawsm.hosts.local import LocalHost

__all__ = [
    "CommandFailed",
    "CommandResult",
    "CommandTimeout",
    "FileStat",
    "Host",
    "HostError",
    "LocalHost",
    "NotRegularFile",
]
