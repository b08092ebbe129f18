"""metawsm watch follows the supervisor's event stream and alerts, as the original did."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

from tests.supervisor.world import EXIT0, HOLD, World

GUIDANCE = {
    "steps": [{"do": "guidance", "question": "Left or right?", "timeout": 60}, {"do": "hold"}]
}
BRIEF = [
    "--goal",
    "g",
    "--scope",
    "s",
    "--done-criteria",
    "d",
    "--constraints",
    "c",
    "--merge-intent",
    "default",
]


def _watch(world: World, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "metawsm", "watch", *args],
        cwd=world.root,
        env=world.env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_watch_alerts_run_done_runs_the_notify_command_and_exits(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"q": EXIT0, "hold": HOLD})
    world.serve()
    out = world.json("run", "--ticket", "T-1", "--repos", "api", "--detach", "--agent", "q")
    notified = world.root / "notified.txt"
    script = world.root / "notify.sh"
    script.write_text(
        f'#!/bin/sh\necho "$METAWSM_EVENT $METAWSM_RUN_ID $METAWSM_RUN_STATUS '
        f'$METAWSM_TICKETS" >> {notified}\n'
    )
    script.chmod(0o755)
    watcher = _watch(
        world, "--run-id", out["run_id"], "--json", "--interval", "0.5", "--notify-cmd", str(script)
    )
    stdout, stderr = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, stderr
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert lines[0]["type"] == "heartbeat"
    alerts = [line["alert"] for line in lines if "alert" in line]
    assert alerts and alerts[-1]["event"] == "run_done"
    assert notified.read_text().split() == ["run_done", out["run_id"], "completed", "T-1"]


def test_watch_alerts_guidance_needed_with_its_hints(make_world: Callable[..., World]) -> None:
    world = make_world({"asker": GUIDANCE})
    world.serve()
    out = world.json("bootstrap", "--ticket", "T-1", "--repos", "api", *BRIEF, "--detach")
    watcher = _watch(world, "--ticket", "T-1", "--no-bell", "--interval", "0.5")
    stdout, stderr = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, stderr
    assert "ALERT guidance_needed: run=" + out["run_id"] in stdout
    assert f'metawsm guide --run-id {out["run_id"]} --answer "..."' in stdout
    assert "\a" not in stdout
    world.cli("stop", "--ticket", "T-1")


def test_watch_refuses_bad_flags_and_a_missing_supervisor(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD})
    both = world.cli("watch", "--all", "--ticket", "T-1", check=False)
    assert both.returncode == 2 and "--all cannot be combined" in both.stderr
    down = world.cli("watch", check=False)
    assert down.returncode == 1 and "no supervisor is running" in down.stderr
