"""The options many commands share, declared once.

``--run-id``, ``--ticket``, ``--policy``, ``--db`` and ``--json`` used to be repeated, with
their help, in every command. They are two flattened dataclasses (cyclopts'
``Parameter(name="*")``): :class:`Target` for the commands that act on one run, and
:class:`Root` for the commands that only need the root's files. A command takes one as a
keyword parameter (``target: Target = Target()``) and gets the same flags, the same help and the
same checks everywhere; the help shows them in a panel of their own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from cyclopts import Group, Parameter

from metawsm.cli.completers import complete_run_ids, complete_tickets

if TYPE_CHECKING:
    from metawsm.supervisor.environment import Environment

#: The help panels of the shared options (after each command's own parameters).
RUN_GROUP = Group("Run selection", sort_key=10)
ROOT_GROUP = Group("Root", sort_key=20)

#: ``--json``: a flag without a ``--no-json`` twin.
JsonFlag = Annotated[bool, Parameter(name="--json", negative="")]


@Parameter(name="*", group=ROOT_GROUP)
@dataclass(frozen=True)
class Root:
    """Where a command works: the metawsm root found from the current directory."""

    policy: str = ""
    """Policy file (default .metawsm/policy.json of the root)."""

    db: str = ""
    """Database file (default .metawsm/metawsm.db of the root)."""

    def env(self) -> Environment:
        from metawsm.cli.common import load_env

        return load_env(self.policy, self.db)

    def serve_args(self) -> dict[str, Any]:
        """``run_serve``'s root, policy and db: the root found from the current directory,
        the files as typed (relative to the current directory)."""
        from metawsm.supervisor.rootdir import announce_root, find_root

        root = find_root()
        announce_root(root)
        policy, db = self.files()
        return {"root": root, "policy": policy, "db": db}

    def files(self) -> tuple[str | None, str | None]:
        """``--policy`` and ``--db`` made absolute (as typed: relative to the current
        directory), or None when not given."""
        return (
            os.path.abspath(self.policy) if self.policy else None,
            os.path.abspath(self.db) if self.db else None,
        )


@Parameter(name="*", group=RUN_GROUP)
@dataclass(frozen=True)
class Target:
    """The run a command acts on, the root's files, and the output format."""

    run_id: Annotated[str, Parameter(completer=complete_run_ids)] = ""
    """The run (an id from `metawsm runs`)."""

    ticket: Annotated[str, Parameter(completer=complete_tickets)] = ""
    """The newest run of this ticket: an active run first, else the newest finished one."""

    policy: str = ""
    """Policy file (default .metawsm/policy.json of the root)."""

    db: str = ""
    """Database file (default .metawsm/metawsm.db of the root)."""

    json_output: JsonFlag = False
    """Print the result as JSON."""

    def env(self) -> Environment:
        from metawsm.cli.common import load_env

        return load_env(self.policy, self.db)

    def selector(self, **extra: Any) -> dict[str, Any]:
        """The params of a core call: the selector plus the command's own keys."""
        return {"run_id": self.run_id, "ticket": self.ticket, **extra}

    def call(self, method: str, **extra: Any) -> Any:
        """Run ``method`` on this run (through the supervisor when it is up)."""
        from metawsm.cli.common import call

        return call(self.env(), method, self.selector(**extra))
