"""Where an agent's output history is kept: one file per generation, outside the pane.

The supervisor pipes each agent pane into a file (tmux ``pipe-pane``) in the same tmux call
that starts the generation, so the file holds everything that generation printed, from its
first byte, and outlives the pane, the session and the supervisor. ``metawsm agent logs``
reads them. Layout, under the root's ``.metawsm/logs/agents/``::

    <run_id>/<workspace>/<agent>/gen-<N>.log

Names are checked by the name rule before they get here, so each is one path component.
"""

from __future__ import annotations

import os
import posixpath
import re

AGENT_LOGS = "agents"
_GENERATION_RE = re.compile(r"^gen-([0-9]{1,9})\.log$")


def agent_log_dir(logs_dir: str | os.PathLike[str], run_id: str, workspace: str, agent: str) -> str:
    """The folder of one agent's generation logs."""
    return posixpath.join(os.fspath(logs_dir), AGENT_LOGS, run_id, workspace, agent)


def generation_log(log_dir: str, generation: int) -> str:
    """The log file of one generation."""
    return posixpath.join(log_dir, f"gen-{int(generation)}.log")


def generations(log_dir: str) -> list[int]:
    """The generations with a log in ``log_dir``, oldest first (none when it does not exist)."""
    try:
        names = os.listdir(log_dir)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = (_GENERATION_RE.match(name) for name in names)
    return sorted(int(m.group(1)) for m in found if m)
