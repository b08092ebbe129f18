"""Agent programs shipped with metawsm.

:mod:`metawsm.agents.scripted` is the scripted agent: a real process that runs in tmux the way a
coding agent does (edits, commits, asks for guidance, signals completion and validation),
following a script file. It is for demos, tests and benchmarks; run it with
``python -m metawsm.agents.scripted SCRIPT.json``.

This package imports nothing at import time, so ``python -m metawsm.agents.scripted`` runs the
module once, as ``__main__``.
"""
