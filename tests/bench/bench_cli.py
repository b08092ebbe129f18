"""CLI start-up: whole processes, side by side in one run, against the floor of Python itself.

Floors and the figures beside them, measured interleaved (one of each per round, the order
shuffled each round) so that load on the machine hits all of them alike:

* floor: ``python -c "import json, socket"`` (the interpreter and the two modules the thin
  path needs);
* ``metawsm status --json --run-id R --no-diffs`` with the supervisor up (limit: 4x the floor),
  and the same with ``METAWSM_NO_THIN=1`` (the full CLI: cyclopts, pydantic, anyio);
* ``metawsm --help`` (limit: 6x the floor), and the same with ``METAWSM_NO_THIN=1``.

The root has one scripted agent that holds, on a private tmux server; everything is stopped
and deleted at the end. Run: ``.venv/bin/python -m tests.bench bench_cli``.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.bench.bench_supervisor import Root, log

ROUNDS = int(os.environ.get("METAWSM_BENCH_CLI_ROUNDS", "40"))
LIMITS = {"status": 4.0, "help": 6.0}


def _metawsm() -> list[str]:
    script = Path(sys.executable).with_name("metawsm")
    return [str(script)] if script.exists() else [sys.executable, "-m", "metawsm"]


def _time(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, timeout=120)
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    return elapsed


def main() -> None:
    random.seed(20261202)
    root = Root(1)
    try:
        root.start()
        cli = _metawsm()
        thin, full = root.env, {**root.env, "METAWSM_NO_THIN": "1"}
        status = [*cli, "status", "--json", "--run-id", root.run_id, "--no-diffs"]
        cases = {
            "floor": ([sys.executable, "-c", "import json, socket"], thin),
            "status": (status, thin),
            "status (full CLI)": (status, full),
            "help": ([*cli, "--help"], thin),
            "help (full CLI)": ([*cli, "--help"], full),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for argv, env in cases.values():  # warm the page cache and the .pyc files
            _time(argv, root.dir, env)
        log(f"{ROUNDS} rounds of {len(cases)} processes")
        for _ in range(ROUNDS):
            order = list(cases)
            random.shuffle(order)
            for name in order:
                argv, env = cases[name]
                times[name].append(_time(argv, root.dir, env))
    finally:
        root.close()
    medians = {name: statistics.median(values) for name, values in times.items()}
    floor = medians["floor"]
    print(
        f"{ROUNDS} rounds, one process of each kind per round in shuffled order; "
        "supervisor up with one holding agent; medians."
    )
    print()
    print("| process | median ms | × floor | limit |")
    print("|---|---|---|---|")
    labels = {
        "floor": '`python -c "import json, socket"` (floor)',
        "status": "`metawsm status --json --no-diffs` (thin path)",
        "status (full CLI)": "the same, `METAWSM_NO_THIN=1` (full CLI)",
        "help": "`metawsm --help` (thin path)",
        "help (full CLI)": "the same, `METAWSM_NO_THIN=1` (full CLI)",
    }
    for name, label in labels.items():
        limit = f"≤ {LIMITS[name]:.0f}×" if name in LIMITS else ""
        print(f"| {label} | {medians[name]:.0f} | {medians[name] / floor:.1f}× | {limit} |")
    print()
    for name, limit in LIMITS.items():
        ratio = medians[name] / floor
        verdict = "within" if ratio <= limit else "OVER"
        print(f"- {name}: {ratio:.1f}× the floor, {verdict} the limit of {limit:.0f}×")
