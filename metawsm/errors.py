"""Errors an operator can meet, and how each reaches the CLI.

Every error below prints as one line ``error: <message>`` plus, when there is one, a second line
``hint: <hint>``, and exits non-zero. Anything else that escapes is a bug and is reported as such.

::

    MetawsmError                    exit 1 unless noted
    ├── UsageError                  exit 2: bad flags or arguments, an invalid name
    ├── PolicyError                 the policy file cannot be read or parsed
    │   └── PolicyValidationError   the policy parses but breaks rules; carries every error
    ├── StoreError                  the SQLite store cannot be opened, migrated or written
    │   ├── StoreNewerError         the database was written by a newer metawsm
    │   └── StoreClosedError        a write reached a store writer that has stopped
    ├── TransitionError             an illegal run, step or agent state transition
    └── NotFoundError               a run, ticket or agent that does not exist
"""

from __future__ import annotations


class MetawsmError(Exception):
    """Base of every error metawsm reports to an operator as one clear line."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(MetawsmError):
    """Bad command-line input: a missing flag, a bad value, an invalid name."""

    exit_code = 2


class PolicyError(MetawsmError):
    """The policy file cannot be read or parsed."""


class PolicyValidationError(PolicyError):
    """The policy file breaks one or more rules; ``errors`` holds ``(key, message)`` pairs."""

    def __init__(self, path: str, errors: list[tuple[str, str]]) -> None:
        lines = "; ".join(f"{key}: {msg}" if key else msg for key, msg in errors)
        super().__init__(
            f"validate policy {path}: {lines}",
            hint="fix the keys named above; `metawsm policy validate` lists every error",
        )
        self.path = path
        self.errors = errors


class StoreError(MetawsmError):
    """The SQLite store cannot be opened, migrated or written."""


class StoreNewerError(StoreError):
    """The database schema is newer than this metawsm understands."""


class StoreClosedError(StoreError):
    """A write was sent to a store writer that has stopped."""


class TransitionError(MetawsmError):
    """An illegal state transition for a run, a step or an agent."""


class NotFoundError(MetawsmError):
    """A run, ticket, agent or thread that does not exist."""


class WaitTimeoutError(MetawsmError):
    """A command that waits (``forum wait``) ran out of time; exit 3."""

    exit_code = 3
