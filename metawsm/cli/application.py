"""The cyclopts :class:`~cyclopts.App` of ``metawsm`` and the registration of every command.

Imported only when a command needs the full CLI (the thin path of :mod:`metawsm.cli.thin`
answers ``--help``, ``--version`` and the supervisor's reads without it). Each group of
commands lives in a module of its own and registers itself on :data:`app` when imported here;
a new command module is added to the imports below.
"""

from __future__ import annotations

from cyclopts import App

from metawsm import __version__

app = App(
    name="metawsm",
    help="Supervise coding agents working on tickets across git workspaces.",
    version=__version__,
)

# Command modules register themselves on `app` when imported.
from metawsm.cli import agent_cmds as _agent_cmds  # noqa: E402
from metawsm.cli import completion as _completion  # noqa: E402
from metawsm.cli import docs_cmds as _docs_cmds  # noqa: E402
from metawsm.cli import forum_cmds as _forum_cmds  # noqa: E402
from metawsm.cli import host_cmds as _host_cmds  # noqa: E402
from metawsm.cli import loop_cmds as _loop_cmds  # noqa: E402
from metawsm.cli import policy_cmds as _policy_cmds  # noqa: E402
from metawsm.cli import run_cmds as _run_cmds  # noqa: E402
from metawsm.cli import store_cmds as _store_cmds  # noqa: E402
from metawsm.cli import tui_cmds as _tui_cmds  # noqa: E402
from metawsm.cli import watch_cmds as _watch_cmds  # noqa: E402

_ = (
    _agent_cmds,
    _completion,
    _docs_cmds,
    _forum_cmds,
    _host_cmds,
    _loop_cmds,
    _policy_cmds,
    _run_cmds,
    _store_cmds,
    _tui_cmds,
    _watch_cmds,
)
