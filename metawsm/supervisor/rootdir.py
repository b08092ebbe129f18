"""Finding the metawsm root of a directory, as git finds its repository.

A metawsm root is the folder holding ``.metawsm/`` with the root's own files (its policy, its
database or its supervisor lock). Commands run anywhere below it use it: the nearest such folder
at or above the current directory wins. A bare ``.metawsm/`` folder is not a root: agents keep
their signal files in ``<workspace>/.metawsm/`` and ``<repo>/.metawsm/``, and a command run
inside a workspace must still find the operator's root above it. With no root above, the
current directory is the root (``serve``, ``run`` and ``policy-init`` create one there).

Kept free of heavy imports: the CLI's thin path uses it before anything else loads.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

STATE_DIR = ".metawsm"

#: Files whose presence in ``.metawsm/`` marks the folder above it as a metawsm root.
ROOT_MARKERS = ("policy.json", "metawsm.db", "serve.lock")


def is_root(folder: Path) -> bool:
    state = folder / STATE_DIR
    return state.is_dir() and any((state / name).exists() for name in ROOT_MARKERS)


def find_root(start: Path | None = None) -> Path:
    """The nearest metawsm root at or above ``start`` (default: the current directory), else
    ``start`` itself (absolute, symlinks kept as the shell shows them)."""
    here = Path(os.path.abspath(start if start is not None else Path.cwd()))
    for folder in (here, *here.parents):
        if is_root(folder):
            return folder
    return here


def announce_root(root: Path) -> None:
    """One line on stderr naming the root, when it was found above the current directory."""
    if root != Path(os.path.abspath(Path.cwd())):
        sys.stderr.write(f"metawsm: using the root {root}\n")
        sys.stderr.flush()
