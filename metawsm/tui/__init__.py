"""``metawsm tui``: a live terminal view (Textual) of the active runs, their questions and
forum threads (escalations first), agents, steps and the selected agent's output, following the
supervisor's event stream; from it the operator answers, assigns and closes threads, restarts
or stops an agent, and opens an agent's tmux session.

:mod:`metawsm.tui.model` is the pure part (state and ordering), :mod:`metawsm.tui.app` the
Textual application. Importing this package imports neither.
"""
