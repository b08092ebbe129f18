"""Starting many agents: from ``metawsm run --detach`` to every agent started and verified,
beside the floor of as many bare ``tmux new-session -d`` calls, measured in the same run.

One metawsm root (the one ``bench_supervisor`` builds: one ticket, one repo, one workspace, a
private tmux server) with N agents (``METAWSM_BENCH_AGENTS``, default 200) whose profile is the
``shell`` runner holding with ``sleep``: what is timed is metawsm's start path (plan, one tmux
call per agent, the verification window), not an agent program's own start-up.

- **floor**: N ``tmux -L <fresh socket> -f /dev/null new-session -d -s s<i>`` one after another
  (each session runs the default shell), then ``kill-server``. Measured before and after the
  metawsm start; the median of those is the floor.
- **metawsm**: ``metawsm serve`` already up; the clock runs from launching
  ``metawsm run --detach`` until status (through the socket, polled every 50 ms) shows every
  ``tmux_start`` step done, i.e. every agent started and its start verified, and every agent
  running and alive. Repeated ``ROUNDS`` times on fresh roots; the median is reported.

The target: metawsm at most 5x the floor. Run: ``.venv/bin/python -m tests.bench bench_start``.
Everything is stopped and deleted at the end, also on failure.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from tests.bench.bench_supervisor import AGENTS, REAL_TMUX, Root, log

ROUNDS = int(os.environ.get("METAWSM_BENCH_ROUNDS", "3"))
POLL = 0.05
TARGET_RATIO = 5.0


def floor_seconds(n: int) -> float:
    """N bare ``tmux new-session -d`` calls one after another on a fresh private server."""
    with tempfile.TemporaryDirectory(prefix="mwf-", dir="/tmp") as tmpdir:
        env = {**os.environ, "TMUX_TMPDIR": tmpdir}
        env.pop("TMUX", None)
        env.pop("TMUX_PANE", None)
        base = [REAL_TMUX, "-L", f"mwf-{secrets.token_hex(3)}", "-f", "/dev/null"]
        try:
            started = time.perf_counter()
            for i in range(n):
                subprocess.run(
                    [*base, "new-session", "-d", "-s", f"s{i}"],
                    env=env,
                    check=True,
                    capture_output=True,
                )
            return time.perf_counter() - started
        finally:
            subprocess.run([*base, "kill-server"], env=env, capture_output=True)


def _shell_agents(root: Root) -> None:
    """Give every agent of ``root`` a holding ``shell`` profile instead of the scripted one."""
    path = root.dir / ".metawsm" / "policy.json"
    policy = json.loads(path.read_text())
    policy["agent_profiles"] = [
        {"name": "hold", "runner": "shell", "runner_options": {"command": "exec sleep 86400"}}
    ]
    path.write_text(json.dumps(policy))


def start_seconds(n: int) -> float:
    """Seconds from launching ``run --detach`` to every start verified and every agent alive."""
    root = Root(n)
    try:
        _shell_agents(root)
        root.serve()
        started = time.perf_counter()
        submitted = json.loads(
            root.cli("run", "--ticket", "B-1", "--repos", "api", "--detach", "--json").stdout
        )
        root.run_id = submitted["run_id"]
        deadline = time.monotonic() + 120 + 3 * n
        while True:
            status = root.status()
            counts = status["step_counts"]
            alive = sum(1 for a in status["agents"] if a["status"] == "running" and a["alive"])
            if counts["failed"]:
                raise RuntimeError(f"a step failed: {status['steps']}")
            if counts["done"] == counts["total"] and alive == n:
                return time.perf_counter() - started
            if time.monotonic() > deadline:
                raise RuntimeError(f"{counts} steps, {alive} of {n} agents alive")
            time.sleep(POLL)
    except BaseException:
        log(f"failed; supervisor log tail:\n{root.serve_log()}")
        kept = os.environ.get("METAWSM_BENCH_KEEP_LOG")
        if kept:
            Path(kept).write_bytes((root.dir / "serve.log").read_bytes())
        raise
    finally:
        root.close()


def main() -> None:
    log(f"floor: {AGENTS} bare tmux new-session -d")
    floors = [floor_seconds(AGENTS)]
    starts = []
    for i in range(ROUNDS):
        log(f"round {i + 1}/{ROUNDS}: starting {AGENTS} agents")
        starts.append(start_seconds(AGENTS))
        floors.append(floor_seconds(AGENTS))
        log(f"  {starts[-1]:.2f}s (floor now {floors[-1]:.2f}s)")
    floor = statistics.median(floors)
    start = statistics.median(starts)
    print(
        f"{AGENTS} agents (`shell` runner holding in `sleep`), one run, one workspace; private "
        f"tmux {REAL_TMUX}; {ROUNDS} rounds, medians; floor measured {len(floors)} times "
        "around them."
    )
    print()
    print("| what | median s | all runs s |")
    print("|---|---|---|")
    print(
        f"| floor: {AGENTS} × `tmux new-session -d` one after another | {floor:.2f} | "
        f"{', '.join(f'{v:.2f}' for v in floors)} |"
    )
    print(
        f"| `run --detach` to {AGENTS} starts verified and alive | {start:.2f} | "
        f"{', '.join(f'{v:.2f}' for v in starts)} |"
    )
    print()
    ratio = start / floor
    verdict = "within" if ratio <= TARGET_RATIO else "OVER"
    print(f"Ratio: {ratio:.1f}x the floor ({verdict} the {TARGET_RATIO:g}x target).")


if __name__ == "__main__":
    main()
