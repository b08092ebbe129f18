"""Errors of the host layer.

::

    HostError (MetawsmError)
    ├── CommandFailed     a command run with check=True exited non-zero (argv, code, stderr tail)
    └── CommandTimeout    a command did not finish within its timeout and was killed
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
