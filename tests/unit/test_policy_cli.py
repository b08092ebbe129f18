"""``metawsm policy-init`` and ``metawsm policy validate|show``, through the real CLI entry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from metawsm.cli import main
from metawsm.policy import default_policy, default_policy_json

BAD_POLICY = {
    "version": 0,
    "health": {"idle_seconds": 0},
    "agents": [{"name": "coder", "profile": "nope"}],
    "tpyo": True,
}
BAD_ERRORS = [
    ("version", "version must be positive"),
    ("health.idle_seconds", "health thresholds must be > 0"),
    ("agents[0].profile", 'agent "coder" references unknown profile "nope"'),
    ("tpyo", "unknown key"),
]


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_policy_init_writes_the_defaults_then_validate_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / ".metawsm" / "policy.json"
    assert main(["policy-init", "--path", str(path)]) == 0
    assert capsys.readouterr().out == f"Wrote default policy to {path}\n"
    assert path.read_text() == default_policy_json()

    assert main(["policy", "validate", "--path", str(path)]) == 0
    assert capsys.readouterr().out == f"Policy {path} is valid.\n"


def test_policy_init_defaults_to_dot_metawsm_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["policy-init"]) == 0
    assert capsys.readouterr().out == "Wrote default policy to .metawsm/policy.json\n"
    assert (tmp_path / ".metawsm" / "policy.json").read_text() == default_policy_json()


def test_policy_init_refuses_to_overwrite_an_existing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "policy.json", {"version": 5})
    assert main(["policy-init", "--path", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"error: policy file {path} already exists",
        "hint: pass --force to overwrite it, or choose another --path",
    ]
    assert json.loads(path.read_text()) == {"version": 5}


def test_policy_init_force_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "policy.json", {"version": 5})
    assert main(["policy-init", "--path", str(path), "--force"]) == 0
    assert path.read_text() == default_policy_json()


def test_policy_init_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "policy.json"
    assert main(["policy-init", "--path", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"path": str(path), "written": True}


def test_validate_prints_every_error_one_per_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "policy.json", BAD_POLICY)
    assert main(["policy", "validate", "--path", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert lines[0] == f"error: policy {path} is invalid (4 errors):"
    assert lines[1:5] == [f"  {key}: {message}" for key, message in BAD_ERRORS]
    assert lines[5].startswith("hint: ")
    assert "Traceback" not in captured.err


def test_validate_json_lists_every_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "policy.json", BAD_POLICY)
    assert main(["policy", "validate", "--path", str(path), "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == {
        "path": str(path),
        "exists": True,
        "valid": False,
        "errors": [{"key": key, "message": message} for key, message in BAD_ERRORS],
        "warnings": [],
    }


def test_validate_json_of_a_valid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "policy.json", {"version": 2})
    assert main(["policy", "validate", "--path", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "path": str(path),
        "exists": True,
        "valid": True,
        "errors": [],
        "warnings": [],
    }


def test_validate_of_a_missing_file_says_the_defaults_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "absent.json"
    assert main(["policy", "validate", "--path", str(path)]) == 0
    assert capsys.readouterr().out == f"Policy {path} is valid. (no file: the defaults apply)\n"


def test_validate_of_bad_json_is_one_line_and_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{"version": 2,,}')
    assert main(["policy", "validate", "--path", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"error: parse policy {path}: Expecting property name")
    assert err[1].startswith("hint: ")
    assert len(err) == 2


def test_validate_json_of_bad_json_reports_it_as_an_error_without_a_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policy.json"
    path.write_text("[")
    assert main(["policy", "validate", "--path", str(path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    [error] = report["errors"]
    assert error["key"] == ""
    assert error["message"].startswith(f"parse policy {path}: ")


def test_show_prints_the_effective_policy_as_a_policy_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "policy.json", {"health": {"idle_seconds": 60}})
    assert main(["policy", "show", "--path", str(path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    expected = default_policy().model_dump(mode="json")
    expected["health"]["idle_seconds"] = 60
    assert shown == expected


def test_show_json_wraps_the_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "absent.json"
    assert main(["policy", "show", "--path", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "path": str(path),
        "exists": False,
        "policy": default_policy().model_dump(mode="json"),
    }


def test_show_of_an_invalid_policy_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "policy.json", BAD_POLICY)
    assert main(["policy", "show", "--path", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: validate policy {path}: version: version must be")
    assert "Traceback" not in captured.err


def test_help_of_each_command_shows_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["policy-init", "--help"],
        ["policy", "validate", "--help"],
        ["policy", "show", "--help"],
    ):
        main(argv)
        assert "Example: metawsm policy" in capsys.readouterr().out


def test_the_installed_module_runs_policy_init_and_validate(tmp_path: Path) -> None:
    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "metawsm", *argv],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    init = run("policy-init")
    assert (init.returncode, init.stdout) == (0, "Wrote default policy to .metawsm/policy.json\n")
    valid = run("policy", "validate")
    assert valid.returncode == 0, valid.stderr
    # The child reports its own absolute cwd, which may spell tmp_path through a symlink.
    assert valid.stdout.startswith("Policy /")
    assert valid.stdout.endswith(f"{Path('.metawsm', 'policy.json')} is valid.\n")

    write(tmp_path / ".metawsm" / "policy.json", BAD_POLICY)
    invalid = run("policy", "validate")
    assert invalid.returncode == 1
    assert invalid.stdout == ""
    for key, message in BAD_ERRORS:
        assert f"  {key}: {message}\n" in invalid.stderr
    assert "Traceback" not in invalid.stderr
