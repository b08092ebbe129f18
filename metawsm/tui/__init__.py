"""``metawsm tui``: a live terminal view of the active runs, their agents, steps and pending
guidance, following the supervisor's event stream; the operator answers guidance, restarts or
stops an agent, and opens an agent's tmux session from it.

:mod:`metawsm.tui.model` is the pure part (state, keys, rendering), :mod:`metawsm.tui.terminal`
the terminal (termios and ANSI escapes, no curses), :mod:`metawsm.tui.app` the event loop.
"""

from __future__ import annotations

from metawsm.tui.app import TuiApp, run_tui
from metawsm.tui.model import Action, State, handle_key, render

__all__ = ["Action", "State", "TuiApp", "handle_key", "render", "run_tui"]
