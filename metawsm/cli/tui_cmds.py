"""``metawsm tui``: the live terminal view of the supervisor (see :mod:`metawsm.tui`)."""

from __future__ import annotations

import sys

from metawsm.cli import app
from metawsm.cli.params import Root
from metawsm.cli.run_cmds import ROOT
from metawsm.errors import MetawsmError, UsageError
from metawsm.supervisor.lock import supervisor_is_running


@app.command
def tui(*, interval: float = 2.0, root: Root = ROOT) -> int:
    """A live view of the active runs: questions and forum threads (escalations first),
    agents, steps and the selected agent's output.

    Follows the supervisor's event stream (needs a running supervisor) and reconnects when it
    restarts. Keys (shown in the footer): j/k or the arrows move in a table, Tab the next
    table, n/p the next or previous run, g answers the selected question (Enter sends, Esc
    cancels), a assigns and c closes the selected thread, r restarts and s stops the selected
    agent (after a y/n), o opens its tmux session (detach with prefix+d to come back), l shows
    its output, q quits.

    Example: metawsm tui

    Parameters
    ----------
    interval
        Seconds of quiet between refreshes of the runs list.
    """
    if interval <= 0:
        raise UsageError("--interval must be > 0")
    env = root.env()
    if not supervisor_is_running(env):
        raise MetawsmError(
            f"no supervisor is running for {env.root}; the tui follows its events",
            hint="start it with `metawsm serve`",
        )
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise MetawsmError(
            "the tui needs a terminal (stdin and stdout are not a tty)",
            hint="run it in a terminal; `metawsm watch` and `metawsm status` work without one",
        )
    from metawsm.tui.app import run_tui

    return run_tui(env, interval=interval)
