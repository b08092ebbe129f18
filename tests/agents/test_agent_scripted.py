"""The scripted agent, run as a real subprocess in a real git workspace."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from agents_kit import AGENT_TIMEOUT, Workspace, git, isolated_git_env, wait_for

from metawsm.agents.scripted import Script, main
from metawsm.agents.signals import (
    GUIDANCE_REQUEST_FILE,
    GUIDANCE_RESPONSE_FILE,
    GuidanceRequest,
    GuidanceResponse,
    ImplementationComplete,
    ParsedSignal,
    ValidationResult,
    read_signal,
    write_signal_atomic,
)

Run = Callable[..., subprocess.CompletedProcess[str]]
Spawn = Callable[..., subprocess.Popen[str]]


def steps(*items: dict[str, Any]) -> dict[str, Any]:
    return {"steps": list(items)}


def answer(workspace: Workspace, text: str, **overrides: Any) -> None:
    """Write the guidance response metawsm would write for ``coder`` in ``run-1``."""
    fields: dict[str, Any] = {
        "guidance_id": 1,
        "run_id": "run-1",
        "agent": "coder",
        "generation": 1,
        "question": "Which database?",
        "answer": text,
        "answered_at": datetime.now(UTC),
    }
    fields.update(overrides)
    write_signal_atomic(workspace.signal_dir, GuidanceResponse(**fields))


def still_running(process: subprocess.Popen[str], seconds: float = 0.5) -> bool:
    time.sleep(seconds)
    return process.poll() is None


# -- edits and commits -------------------------------------------------------------------------


def test_edits_and_commits_land_in_git(run_agent: Run, workspace: Workspace) -> None:
    done = run_agent(
        steps(
            {"do": "say", "text": "starting work"},
            {"do": "edit", "path": "src/app.py", "content": "print('hi')\n"},
            {"do": "commit", "message": "Add app"},
            {"do": "edit", "repo": "web", "path": "index.html", "content": "<p>hi</p>\n"},
            {"do": "commit", "repo": "web", "message": "Add page"},
        )
    )
    assert done.returncode == 0, done.stderr
    assert git(workspace.doc_home, "log", "--format=%s").splitlines() == ["Add app", "initial"]
    assert git(workspace.sibling, "log", "--format=%s").splitlines() == ["Add page", "initial"]
    assert (workspace.doc_home / "src" / "app.py").read_text() == "print('hi')\n"
    assert git(workspace.doc_home, "status", "--porcelain") == ""
    assert done.stdout.splitlines()[:3] == [
        "[scripted] 1/5 say",
        "starting work",
        "[scripted] 2/5 edit src/app.py",
    ]
    assert done.stdout.splitlines()[-1] == "[scripted] done"


def test_append_adds_to_a_file(run_agent: Run, workspace: Workspace) -> None:
    done = run_agent(
        steps(
            {"do": "edit", "path": "notes.md", "content": "one\n"},
            {"do": "edit", "path": "notes.md", "content": "two\n", "append": True},
        )
    )
    assert done.returncode == 0, done.stderr
    assert (workspace.doc_home / "notes.md").read_text() == "one\ntwo\n"


def test_commit_works_without_a_git_identity(
    run_agent: Run, workspace: Workspace, agent_env: dict[str, str]
) -> None:
    env = {key: value for key, value in agent_env.items() if not key.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    done = run_agent(
        steps({"do": "edit", "path": "a.txt", "content": "a"}, {"do": "commit", "message": "A"}),
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert git(workspace.doc_home, "log", "-1", "--format=%ae") == (
        "scripted-agent@metawsm.invalid\n"
    )


def test_a_failed_commit_is_one_error_line(run_agent: Run) -> None:
    done = run_agent(steps({"do": "commit", "message": "nothing to commit"}))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("scripted: error: git commit")


# -- guidance ----------------------------------------------------------------------------------

GUIDANCE = {
    "do": "guidance",
    "question": "Which database?",
    "context": {"options": ["sqlite", "postgres"]},
    "timeout": 15,
}


def test_guidance_blocks_until_the_answer_arrives(spawn_agent: Spawn, workspace: Workspace) -> None:
    process = spawn_agent(
        steps(
            GUIDANCE | {"save_answer": "decision.txt"},
            {"do": "say", "text": "after guidance"},
        )
    )
    request_path = workspace.signal_dir / GUIDANCE_REQUEST_FILE
    wait_for(request_path.exists)
    request = read_signal(request_path, GuidanceRequest)
    assert isinstance(request, ParsedSignal)
    assert request.signal == GuidanceRequest(
        run_id="run-1",
        agent="coder",
        generation=1,
        question="Which database?",
        context='{"options":["sqlite","postgres"]}',
    )
    assert still_running(process)

    answer(workspace, "Use SQLite.")
    stdout, stderr = process.communicate(timeout=AGENT_TIMEOUT)
    assert process.returncode == 0, stderr
    lines = stdout.splitlines()
    assert lines[lines.index("[scripted] answer received") + 1] == "Use SQLite."
    assert lines[-2:] == ["after guidance", "[scripted] done"]
    assert (workspace.doc_home / "decision.txt").read_text() == "Use SQLite."
    # The agent consumed the answer and left no request behind to be taken for a new one.
    assert not (workspace.signal_dir / GUIDANCE_RESPONSE_FILE).exists()
    assert not request_path.exists()


@pytest.mark.parametrize(
    ("stale", "why"),
    [
        ({"generation": 2}, "generation 2"),
        ({"run_id": "run-0"}, "run_id 'run-0'"),
        ({"question": "Which language?"}, "answers another question"),
    ],
    ids=["other-generation", "other-run", "other-question"],
)
def test_guidance_ignores_an_answer_that_is_not_its_own(
    spawn_agent: Spawn, workspace: Workspace, stale: dict[str, Any], why: str
) -> None:
    process = spawn_agent(steps(GUIDANCE))
    wait_for((workspace.signal_dir / GUIDANCE_REQUEST_FILE).exists)
    answer(workspace, "wrong", **stale)
    assert still_running(process)
    answer(workspace, "right")
    stdout, stderr = process.communicate(timeout=AGENT_TIMEOUT)
    assert process.returncode == 0, stderr
    assert f"[scripted] ignoring guidance-response.json: {why}" in stdout
    assert "right" in stdout.splitlines()


def test_a_leftover_answer_does_not_answer_a_new_question(
    spawn_agent: Spawn, workspace: Workspace
) -> None:
    answer(workspace, "an old answer")
    process = spawn_agent(steps(GUIDANCE))
    wait_for((workspace.signal_dir / GUIDANCE_REQUEST_FILE).exists)
    assert still_running(process)
    answer(workspace, "the new answer")
    stdout, _ = process.communicate(timeout=AGENT_TIMEOUT)
    assert "the new answer" in stdout.splitlines()
    assert "an old answer" not in stdout


def test_guidance_without_an_answer_times_out_with_one_error_line(run_agent: Run) -> None:
    done = run_agent(steps(GUIDANCE | {"timeout": 0.3}))
    assert done.returncode == 1
    assert done.stderr == (
        "scripted: error: guidance: no answer within 0.3s to 'Which database?'\n"
    )


def test_guidance_without_agent_environment_fails_before_any_step(
    run_agent: Run, workspace: Workspace
) -> None:
    done = run_agent(
        steps({"do": "edit", "path": "early.txt", "content": "x"}, GUIDANCE),
        env=isolated_git_env(),
    )
    assert done.returncode == 2
    assert done.stderr == (
        "scripted: error: missing agent environment: METAWSM_RUN_ID, METAWSM_AGENT, "
        "METAWSM_GENERATION, METAWSM_SIGNAL_DIR\n"
    )
    assert not (workspace.doc_home / "early.txt").exists()


# -- completion, validation, generations, exit codes -------------------------------------------


def test_complete_and_validate_write_stamped_signals(run_agent: Run, workspace: Workspace) -> None:
    done = run_agent(
        steps(
            {"do": "complete", "summary": "built it"},
            {
                "do": "validate",
                "done_criteria": "tests pass",
                "checks": [{"name": "pytest", "status": "passed"}],
            },
        )
    )
    assert done.returncode == 0, done.stderr
    complete = read_signal(
        workspace.signal_dir / "implementation-complete.json", ImplementationComplete
    )
    assert isinstance(complete, ParsedSignal)
    assert complete.signal == ImplementationComplete(
        run_id="run-1", agent="coder", generation=1, summary="built it"
    )
    result = read_signal(workspace.signal_dir / "validation-result.json", ValidationResult)
    assert isinstance(result, ParsedSignal)
    assert result.signal.passed
    assert (result.signal.run_id, result.signal.generation) == ("run-1", 1)
    assert result.signal.checks[0].name == "pytest"


FAIL_ONCE = steps(
    {"do": "fail_once", "code": 3, "marker": "first-boot"},
    {"do": "edit", "path": "survived.txt", "content": "yes"},
)


def test_fail_once_exits_with_its_code_in_generation_one(
    run_agent: Run, workspace: Workspace
) -> None:
    done = run_agent(FAIL_ONCE)
    assert done.returncode == 3
    assert done.stderr == ""
    assert not (workspace.doc_home / "survived.txt").exists()


def test_fail_once_goes_on_in_generation_two(
    run_agent: Run, workspace: Workspace, agent_env: dict[str, str]
) -> None:
    done = run_agent(FAIL_ONCE, env=agent_env | {"METAWSM_GENERATION": "2"})
    assert done.returncode == 0, done.stderr
    assert (workspace.doc_home / "survived.txt").read_text() == "yes"


def test_when_generation_skips_steps_of_other_generations(
    run_agent: Run, workspace: Workspace, agent_env: dict[str, str]
) -> None:
    done = run_agent(
        steps(
            {"do": "edit", "path": "one.txt", "content": "1", "when_generation": 1},
            {"do": "edit", "path": "two.txt", "content": "2", "when_generation": 2},
        ),
        env=agent_env | {"METAWSM_GENERATION": "2"},
    )
    assert done.returncode == 0, done.stderr
    assert not (workspace.doc_home / "one.txt").exists()
    assert (workspace.doc_home / "two.txt").exists()
    assert "[scripted] skip 1/2 edit one.txt (when_generation 1, this is generation 2)" in (
        done.stdout.splitlines()
    )


def test_exit_ends_the_script_with_its_code(run_agent: Run, workspace: Workspace) -> None:
    done = run_agent(
        steps({"do": "exit", "code": 7}, {"do": "edit", "path": "never.txt", "content": ""})
    )
    assert done.returncode == 7
    assert not (workspace.doc_home / "never.txt").exists()


def test_hold_stays_alive_until_killed(spawn_agent: Spawn) -> None:
    process = spawn_agent(steps({"do": "sleep", "seconds": 0.05}, {"do": "hold"}))
    assert still_running(process, 0.8)
    process.terminate()
    process.communicate(timeout=AGENT_TIMEOUT)
    assert process.returncode != 0


# -- bad scripts -------------------------------------------------------------------------------


def test_a_bad_script_exits_2_with_one_error_line(run_agent: Run) -> None:
    done = run_agent(steps({"do": "edit", "path": "a.txt"}))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.endswith("steps.0.edit.content: Field required\n")
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{", "Invalid JSON"),
        ("[]", "Input should be an object"),
        ('{"steps": [{"do": "fly"}]}', "steps.0: Input tag 'fly' found using 'do'"),
        ('{"steps": [{"do": "say", "txt": "x"}]}', "steps.0.say.text: Field required"),
        ('{"steps": [{"do": "edit", "path": "/etc/passwd", "content": ""}]}', "relative path"),
        ('{"steps": [{"do": "edit", "path": "../x", "content": ""}]}', "relative path"),
        ('{"steps": [{"do": "commit", "message": "m", "repo": "../x"}]}', "sibling repository"),
        ('{"steps": [{"do": "edit", "path": "a", "content": "", "append": "yes"}]}', "boolean"),
        ('{"steps": [{"do": "exit", "code": 300}]}', "less than or equal to 255"),
        ('{"steps": [{"do": "say", "text": "x", "when_generation": 0}]}', "when_generation"),
        ('{"steps": [{"do": "sleep", "seconds": -1}]}', "greater than or equal to 0"),
        ('{"steps": [{"do": "guidance", "question": " "}]}', "must not be empty"),
    ],
)
def test_script_errors_are_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, error: str
) -> None:
    script = tmp_path / "script.json"
    script.write_text(text)
    assert main([str(script)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"scripted: error: script {script}: ")
    assert error in captured.err
    assert captured.err.count("\n") == 1


def test_a_missing_script_file_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "nope.json")]) == 2
    assert capsys.readouterr().err == (
        f"scripted: error: read script {tmp_path / 'nope.json'}: No such file or directory\n"
    )


@pytest.mark.parametrize("argv", [[], ["a.json", "b.json"]])
def test_wrong_arguments_print_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage: python -m metawsm.agents.scripted SCRIPT.json" in capsys.readouterr().err


def test_the_documented_example_script_is_valid() -> None:
    doc = Path(__file__).parents[2] / "docs" / "agent-protocol.md"
    text = doc.read_text()
    start = text.index("```json scripted-example")
    body = text[text.index("\n", start) + 1 : text.index("```", start + 3)]
    script = Script.model_validate(json.loads(body))
    assert {step.do for step in script.steps} >= {"say", "edit", "commit", "guidance", "complete"}
