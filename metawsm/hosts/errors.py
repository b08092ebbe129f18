"""Errors of the host layer.

::

    HostError (MetawsmError)
    ├── CommandFailed     a command run with check=True exited non-zero (argv, code, stderr tail)
    ├── CommandTimeout    a command did not finish within its timeout and was killed
    └── HostUnreachable   an SSH host cannot be reached (connect failed, connection lost)
        └── HostKeyRejected   its host key is unknown or does not match: nothing was sent

    NotRegularFile (OSError)  ``Host.read_regular`` met a link, a pipe, a folder or a device
"""

from __future__ import annotations

from collections.abc import Sequence

from metawsm.errors import MetawsmError


def _render(argv: Sequence[str]) -> str:
    text = " ".join(argv)
    return text if len(text) <= 200 else text[:197] + "..."


class HostError(MetawsmError):
    """A host could not run a command or reach a file."""


class CommandFailed(HostError):
    """A command exited non-zero where success was required."""

    def __init__(self, host: str, argv: Sequence[str], returncode: int, stderr: str) -> None:
        tail = stderr.strip().splitlines()[-1] if stderr.strip() else "no output"
        super().__init__(f"{_render(argv)} failed on {host} (exit {returncode}): {tail}")
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr = stderr


class CommandTimeout(HostError):
    """A command ran past its timeout; it was killed."""

    def __init__(self, host: str, argv: Sequence[str], timeout: float) -> None:
        super().__init__(f"{_render(argv)} timed out after {timeout:g}s on {host}")
        self.argv = tuple(argv)
        self.timeout = timeout


class HostUnreachable(HostError):
    """An SSH host could not be reached, or its connection was lost mid-command.

    What runs there is *unknown*: never read this as "the command failed" or "it is gone".
    """

    def __init__(self, host: str, reason: str, *, hint: str | None = None) -> None:
        super().__init__(
            f"host {host} is unreachable: {reason}",
            hint=hint or f"check the host's address and sshd; `metawsm hosts check {host}`",
        )
        self.host = host
        self.reason = reason


class HostKeyRejected(HostUnreachable):
    """The host's key is not in the known_hosts file, or does not match it. Nothing was sent."""

    def __init__(self, host: str, reason: str, known_hosts: str) -> None:
        super().__init__(
            host,
            f"host key not verified against {known_hosts}: {reason}",
            hint=f"if the host really changed its key, update {known_hosts} "
            "(ssh-keyscan, then compare the fingerprint out of band)",
        )
        self.known_hosts = known_hosts


class NotRegularFile(OSError):
    """A path that must be a regular file is something else; it was not read (an ``OSError``,
    so a caller that handles unreadable files handles this one too)."""

    def __init__(self, path: str, what: str) -> None:
        super().__init__(f"{path} is {what}, not a regular file")
        self.path = path
        self.what = what
