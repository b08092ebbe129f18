"""The ``metawsm`` command line.

One cyclopts :class:`~cyclopts.App`; each group of commands lives in a module of its own and
registers itself on :data:`app`. :func:`main` is the console script: it turns every
:class:`~metawsm.errors.MetawsmError` and every parse error into one line plus a hint, and a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from cyclopts import App, CycloptsError

from metawsm import __version__
from metawsm.errors import MetawsmError

app = App(
    name="metawsm",
    help="Supervise coding agents working on tickets across git workspaces.",
    version=__version__,
)

# Command modules register themselves on `app` when imported.
from metawsm.cli import completion as _completion  # noqa: E402
from metawsm.cli import loop_cmds as _loop_cmds  # noqa: E402
from metawsm.cli import policy_cmds as _policy_cmds  # noqa: E402
from metawsm.cli import run_cmds as _run_cmds  # noqa: E402
from metawsm.cli import store_cmds as _store_cmds  # noqa: E402
from metawsm.cli import tui_cmds as _tui_cmds  # noqa: E402
from metawsm.cli import watch_cmds as _watch_cmds  # noqa: E402

_ = (_completion, _loop_cmds, _policy_cmds, _run_cmds, _store_cmds, _tui_cmds, _watch_cmds)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " ".join(lines) if lines else "invalid command line"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (the console script exits with it)."""
    tokens = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(
            tokens,
            exit_on_error=False,
            print_error=False,
            help_on_error=False,
            result_action="return_value",
        )
    except CycloptsError as exc:
        print(f"error: {_first_line(str(exc))}", file=sys.stderr)
        print("hint: run `metawsm --help` or `metawsm <command> --help`", file=sys.stderr)
        return 2
    except MetawsmError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    return 0


def entrypoint() -> None:
    """Console-script entry: exit with :func:`main`'s code."""
    raise SystemExit(main())
