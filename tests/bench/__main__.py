"""``python -m tests.bench``: run every ``bench_*.py`` module here, one after another.

Each module has a ``main()`` that prints a markdown table of medians measured side by side in
one run; ``docs/benchmarks.md`` records those tables. Pass module names to run only some:
``python -m tests.bench bench_actors``.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import tests.bench as package


def main(argv: list[str]) -> int:
    names = sorted(
        m.name for m in pkgutil.iter_modules(package.__path__) if m.name.startswith("bench_")
    )
    wanted = [n for n in names if not argv or n in argv]
    if not wanted:
        print(f"no benchmark matches {argv}; have: {', '.join(names)}", file=sys.stderr)
        return 2
    for name in wanted:
        started = time.perf_counter()
        print(f"\n## {name}\n", flush=True)
        importlib.import_module(f"tests.bench.{name}").main()
        print(f"\n({name} took {time.perf_counter() - started:.1f}s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
