"""The CLI's thin path: ``--help``, ``--version`` and the supervisor's reads answered without
loading cyclopts or pydantic, with the same output as the full CLI; anything else falls
through to the full CLI unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from metawsm.cli.help_text import TOP_HELP
from metawsm.cli.helpgen import render_top_help
from metawsm.cli.thin import MAX_LINE_BYTES, parse
from metawsm.control.protocol import MAX_LINE_BYTES as PROTOCOL_MAX_LINE_BYTES
from tests.supervisor.world import HOLD, World

HEAVY = ("cyclopts", "pydantic", "rich", "anyio")

#: Runs the CLI in a fresh interpreter, then reports which heavy packages it had loaded.
PROBE = """
import json, sys
from metawsm.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
sys.stderr.write("\\nLOADED " + json.dumps(heavy) + "\\n")
raise SystemExit(code)
""".replace("HEAVY", repr(HEAVY))


def probe(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str, list[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
    )
    err, _, loaded = proc.stderr.rpartition("\nLOADED ")
    return proc.returncode, proc.stdout, err.lstrip("\n"), json.loads(loaded)


def test_the_stored_help_is_the_apps_rendering() -> None:
    assert render_top_help() == TOP_HELP, "run `python -m metawsm.cli.helpgen`"
    assert MAX_LINE_BYTES == PROTOCOL_MAX_LINE_BYTES


def test_help_and_version_load_nothing_heavy(tmp_path: Path) -> None:
    for args in ((), ("--help",), ("-h",)):
        code, out, err, loaded = probe(tmp_path, *args)
        assert (code, out, err, loaded) == (0, TOP_HELP, "", [])
    code, out, _, loaded = probe(tmp_path, "--version")
    assert (code, out.strip(), loaded) == (0, "0.1.0", [])


def test_parse_takes_only_what_it_knows() -> None:
    assert parse("status", ["--json", "--ticket", "T-1"]) == {
        "run_id": "",
        "ticket": "T-1",
        "diffs": True,
    }
    assert parse("status", ["--run-id=r-1", "--no-diffs", "--json"]) == {
        "run_id": "r-1",
        "ticket": "",
        "diffs": False,
    }
    assert parse("runs", ["--all", "--json"]) == {"all": True}
    # Text output, unknown or repeated flags, a missing value: the full CLI decides.
    for command, args in (
        ("status", ["--ticket", "T-1"]),
        ("status", ["--json", "--policy", "p.json"]),
        ("status", ["--json", "--ticket"]),
        ("status", ["--json", "--ticket", "--no-diffs"]),
        ("status", ["--json", "--json"]),
        ("runs", ["--json", "--db", "x.db"]),
        ("runs", ["--json", "--all=yes"]),
    ):
        assert parse(command, args) is None, (command, args)


def _without_ages(data: Any) -> Any:
    """``data`` without the fields that change from one call to the next (ages, times)."""
    if isinstance(data, dict):
        return {
            k: _without_ages(v)
            for k, v in data.items()
            if not any(w in k for w in ("age", "_at", "seconds", "since", "time"))
        }
    if isinstance(data, list):
        return [_without_ages(v) for v in data]
    return data


def test_status_json_is_answered_by_the_supervisor_without_pydantic_or_cyclopts(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"hold": HOLD})
    world.serve()
    run_id = world.json("run", "--ticket", "T-1", "--repos", "api", "--detach")["run_id"]
    full_env = {**world.env, "METAWSM_NO_THIN": "1"}
    code, out, err, loaded = probe(world.root, "status", "--ticket", "T-1", "--json", env=world.env)
    assert (code, err, loaded) == (0, "", [])
    thin = json.loads(out)
    assert thin["run_id"] == run_id
    code, out, _, loaded = probe(world.root, "status", "--ticket", "T-1", "--json", env=full_env)
    assert code == 0 and "pydantic" in loaded  # the full path, for comparison
    assert _without_ages(thin) == _without_ages(json.loads(out))
    # runs --json: the same text as the full path; from a subdirectory, the root is named.
    sub = world.root / "repos" / "api"
    code, out, err, loaded = probe(sub, "runs", "--all", "--json", env=world.env)
    assert (code, loaded) == (0, [])
    assert err == f"metawsm: using the root {world.root}\n"
    assert [r["run_id"] for r in json.loads(out)] == [run_id]
    _, full_out, full_err, _ = probe(sub, "runs", "--all", "--json", env=full_env)
    assert (_without_ages(json.loads(full_out)), full_err) == (_without_ages(json.loads(out)), err)


def test_anything_else_falls_through_to_the_full_cli(make_world: Callable[..., World]) -> None:
    world = make_world({"hold": HOLD})
    # No supervisor: the offline read of the full CLI (it says the supervisor is down).
    code, out, err, loaded = probe(world.root, "runs", "--json", env=world.env)
    assert (code, json.loads(out), "pydantic" in loaded) == (0, [], True)
    world.serve()
    # A name the name rule refuses: the full CLI's error, exit 2, no traceback.
    code, out, err, loaded = probe(world.root, "status", "--run-id", "a/b", "--json", env=world.env)
    assert code == 2 and err.startswith('error: invalid run id name "a/b"')
    assert "Traceback" not in err
    # An error answer from the supervisor: the full CLI reports it (typed error, its exit code).
    code, out, err, loaded = probe(
        world.root, "status", "--run-id", "run-x", "--json", env=world.env
    )
    assert (code, out, "cyclopts" in loaded) == (1, "", True)
    assert err.splitlines()[0] == "error: no run run-x"
