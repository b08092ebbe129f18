"""The ``metawsm`` command line.

:func:`main` is the console script. It first tries the thin path (:mod:`metawsm.cli.thin`):
``--help``, ``--version`` and the reads the running supervisor answers (``status --json``,
``runs --json``) are served with little more than ``json`` and ``socket`` imported. Every other
command loads the cyclopts app (:mod:`metawsm.cli.application`), whose errors become one line
plus a hint and a non-zero exit code, never a traceback.

``from metawsm.cli import app`` (as the command modules do) loads the app on first use.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cyclopts import App

    app: App


def __getattr__(name: str) -> Any:
    if name == "app":
        from metawsm.cli.application import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " ".join(lines) if lines else "invalid command line"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (the console script exits with it)."""
    tokens = list(sys.argv[1:] if argv is None else argv)
    from metawsm.cli.thin import run_thin

    answered = run_thin(tokens)
    if answered is not None:
        return answered
    return run_full(tokens)


def run_full(tokens: list[str]) -> int:
    """Run ``tokens`` through the cyclopts app."""
    from cyclopts import CycloptsError

    from metawsm.cli.application import app
    from metawsm.errors import MetawsmError

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
