"""Signal files: the original's payloads parse, writes are atomic, and reads never raise."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from metawsm.agents.signals import (
    GUIDANCE_REQUEST_FILE,
    MAX_SIGNAL_BYTES,
    SIGNAL_DIR_NAME,
    SIGNAL_MODELS,
    GuidanceRequest,
    GuidanceResponse,
    ImplementationComplete,
    ParsedSignal,
    SignalContext,
    SignalModel,
    SignalProblem,
    SignalT,
    ValidationCheck,
    ValidationResult,
    parse_signal,
    read_signal,
    remove_signal,
    render_signal,
    signal_dirs,
    signal_env_from_environ,
    stale_reason,
    write_signal_atomic,
)
from metawsm.errors import MetawsmError, UsageError


def parse(model: type[SignalT], payload: Any) -> SignalT:
    """Parse ``payload`` (JSON-encoded here) as ``model``; fail the test on a problem."""
    result = parse_signal(json.dumps(payload).encode(), model, Path(model.FILE_NAME))
    assert isinstance(result, ParsedSignal), result
    return result.signal


def problem(data: bytes, model: type[SignalModel] = GuidanceRequest) -> SignalProblem:
    result = parse_signal(data, model, Path(model.FILE_NAME))
    assert isinstance(result, SignalProblem), result
    return result


# -- the original's payloads -------------------------------------------------------------------


def test_original_guidance_request_parses_without_generation() -> None:
    request = parse(
        GuidanceRequest,
        {"run_id": "run-1", "agent": "coder", "question": " Which DB? ", "context": " two "},
    )
    assert request == GuidanceRequest(
        run_id="run-1", agent="coder", question="Which DB?", context="two"
    )
    assert request.generation is None


def test_guidance_request_without_run_or_agent_is_accepted() -> None:
    request = parse(GuidanceRequest, {"question": "Which DB?"})
    assert (request.run_id, request.agent, request.generation) == (None, None, None)


def test_empty_run_id_and_agent_mean_not_given() -> None:
    request = parse(GuidanceRequest, {"run_id": " ", "agent": "", "question": "q"})
    assert (request.run_id, request.agent) == (None, None)


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"files": ["a.go", "b.go"], "why": "ü"}, '{"files":["a.go","b.go"],"why":"ü"}'),
        (["x", 1], '["x",1]'),
        (None, ""),
        (7, "7"),
    ],
)
def test_structured_guidance_context_becomes_compact_json(context: Any, expected: str) -> None:
    request = parse(GuidanceRequest, {"question": "q", "context": context})
    assert isinstance(request, GuidanceRequest)
    assert request.context == expected


def test_original_guidance_response_parses() -> None:
    response = parse(
        GuidanceResponse,
        {
            "guidance_id": 3,
            "run_id": "run-1",
            "agent": "coder",
            "question": "Which DB?",
            "answer": "SQLite",
            "answered_at": "2026-02-08T12:00:00Z",
        },
    )
    assert isinstance(response, GuidanceResponse)
    assert response.guidance_id == 3
    assert response.answered_at == datetime(2026, 2, 8, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "payload",
    [{}, {"run_id": "run-1", "agent": "coder", "summary": "done"}, {"summary": None}],
)
def test_original_implementation_complete_parses(payload: dict[str, Any]) -> None:
    payload = {key: value for key, value in payload.items() if value is not None}
    assert isinstance(parse(ImplementationComplete, payload), ImplementationComplete)


@pytest.mark.parametrize(
    ("status", "passed"), [("passed", True), (" PASSED\n", True), ("failed", False)]
)
def test_original_validation_result_parses(status: str, passed: bool) -> None:
    result = parse(
        ValidationResult, {"run_id": "run-1", "status": status, "done_criteria": "tests pass"}
    )
    assert isinstance(result, ValidationResult)
    assert result.passed is passed
    assert result.done_criteria == "tests pass"
    assert result.checks == []


def test_validation_result_carries_structured_checks() -> None:
    result = parse(
        ValidationResult,
        {
            "status": "passed",
            "done_criteria": "tests pass",
            "checks": [{"name": "pytest", "status": "passed", "detail": "12 passed"}],
        },
    )
    assert isinstance(result, ValidationResult)
    assert result.checks == [ValidationCheck(name="pytest", status="passed", detail="12 passed")]


def test_unknown_fields_are_ignored() -> None:
    request = parse(GuidanceRequest, {"question": "q", "priority": "high", "tags": [1]})
    assert not hasattr(request, "priority")


def test_generation_is_parsed_when_present() -> None:
    assert parse(ImplementationComplete, {"generation": 2}).generation == 2


@pytest.mark.parametrize(
    ("model", "payload", "where"),
    [
        (GuidanceRequest, {"question": "  "}, "question"),
        (GuidanceRequest, {"context": "c"}, "question"),
        (GuidanceRequest, {"question": 5}, "question"),
        (GuidanceRequest, {"question": "q", "generation": 0}, "generation"),
        (GuidanceRequest, {"question": "q", "generation": True}, "generation"),
        (GuidanceRequest, {"question": "q", "run_id": 12}, "run_id"),
        (ValidationResult, {"status": "passed"}, "done_criteria"),
        (
            GuidanceResponse,
            {
                "guidance_id": 1,
                "run_id": "r",
                "question": "q",
                "answer": "a",
                "answered_at": "2026-02-08T12:00:00",
            },
            "answered_at",
        ),
    ],
)
def test_schema_violations_are_invalid_with_the_field_named(
    model: type[SignalModel], payload: dict[str, Any], where: str
) -> None:
    found = problem(json.dumps(payload).encode(), model)
    assert found.kind == "invalid"
    assert found.detail.startswith(where)


# -- reading never raises ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "malformed"),
        (b" \n\t", "malformed"),
        (b'{"question": "half writ', "malformed"),
        (b"\xff\xfe\x00{", "malformed"),
        (b'{"question": NaN}', "malformed"),
        (b"[" * 40_000, "malformed"),
        (b"[1, 2]", "invalid"),
        (b'"just a string"', "invalid"),
        (b"null", "invalid"),
    ],
    ids=[
        "empty",
        "blank",
        "truncated",
        "not-utf8",
        "nan",
        "deep-nesting",
        "array",
        "string",
        "null",
    ],
)
def test_bad_contents_are_reported_not_raised(tmp_path: Path, data: bytes, kind: str) -> None:
    path = tmp_path / GUIDANCE_REQUEST_FILE
    path.write_bytes(data)
    found = read_signal(path, GuidanceRequest)
    assert isinstance(found, SignalProblem)
    assert found.kind == kind
    assert found.describe().startswith(f"{GUIDANCE_REQUEST_FILE}: {kind}: ")


def test_a_utf8_bom_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / GUIDANCE_REQUEST_FILE
    path.write_bytes(b'\xef\xbb\xbf{"question": "q"}')
    assert isinstance(read_signal(path, GuidanceRequest), ParsedSignal)


def test_a_missing_file_reads_as_none(tmp_path: Path) -> None:
    assert read_signal(tmp_path / GUIDANCE_REQUEST_FILE, GuidanceRequest) is None


def test_a_one_megabyte_file_is_oversized(tmp_path: Path) -> None:
    path = tmp_path / GUIDANCE_REQUEST_FILE
    path.write_bytes(b'{"question": "' + b"x" * (1024 * 1024) + b'"}')
    found = read_signal(path, GuidanceRequest)
    assert isinstance(found, SignalProblem)
    assert found.kind == "oversized"


def test_the_size_limit_is_inclusive(tmp_path: Path) -> None:
    body = b'{"question": "q"}'
    path = tmp_path / GUIDANCE_REQUEST_FILE
    path.write_bytes(body + b" " * (MAX_SIGNAL_BYTES - len(body)))
    assert isinstance(read_signal(path, GuidanceRequest), ParsedSignal)
    path.write_bytes(body + b" " * (MAX_SIGNAL_BYTES - len(body) + 1))
    found = read_signal(path, GuidanceRequest)
    assert isinstance(found, SignalProblem)
    assert found.kind == "oversized"
    assert problem(path.read_bytes()).kind == "oversized"


def test_a_directory_in_place_of_the_file_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / GUIDANCE_REQUEST_FILE).mkdir()
    found = read_signal(tmp_path / GUIDANCE_REQUEST_FILE, GuidanceRequest)
    assert isinstance(found, SignalProblem)
    assert (found.kind, found.detail) == ("unreadable", "is a directory")


def test_a_named_pipe_is_unreadable_and_does_not_block(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / GUIDANCE_REQUEST_FILE)
    found = read_signal(tmp_path / GUIDANCE_REQUEST_FILE, GuidanceRequest)
    assert isinstance(found, SignalProblem)
    assert found.kind == "unreadable"


def test_a_symlink_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text('{"question": "q"}')
    (tmp_path / GUIDANCE_REQUEST_FILE).symlink_to(target)
    found = read_signal(tmp_path / GUIDANCE_REQUEST_FILE, GuidanceRequest)
    assert isinstance(found, SignalProblem)
    assert found.kind == "unreadable"
    assert "symlink" in found.detail


# -- writing -----------------------------------------------------------------------------------

SAMPLES: list[SignalModel] = [
    GuidanceRequest(run_id="run-1", agent="coder", generation=1, question="q", context="c"),
    GuidanceResponse(
        guidance_id=4,
        run_id="run-1",
        agent="coder",
        generation=2,
        question="q",
        answer="a\nmultiline",
        answered_at=datetime(2026, 2, 8, 12, 30, tzinfo=UTC),
    ),
    ImplementationComplete(run_id="run-1", agent="coder", generation=1, summary="done"),
    ValidationResult(
        run_id="run-1",
        generation=3,
        status="passed",
        done_criteria="tests pass",
        checks=[ValidationCheck(name="pytest", status="passed")],
    ),
]


@pytest.mark.parametrize("model", SAMPLES, ids=lambda model: model.FILE_NAME)
def test_write_then_read_round_trips(tmp_path: Path, model: SignalModel) -> None:
    path = write_signal_atomic(tmp_path, model)
    assert path == tmp_path / model.FILE_NAME
    found = read_signal(path, SIGNAL_MODELS[model.FILE_NAME])
    assert isinstance(found, ParsedSignal)
    assert found.signal == model
    assert found.mtime is not None


def test_written_file_is_indented_json_with_a_newline_and_no_nulls(tmp_path: Path) -> None:
    path = write_signal_atomic(tmp_path, ImplementationComplete(summary="done"))
    text = path.read_text()
    assert text == '{\n  "summary": "done"\n}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_write_creates_the_signal_directory(tmp_path: Path) -> None:
    path = write_signal_atomic(tmp_path / "ws" / SIGNAL_DIR_NAME, ImplementationComplete())
    assert path.is_file()


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    for summary in ("one", "two", "three"):
        write_signal_atomic(tmp_path, ImplementationComplete(summary=summary))
    assert sorted(os.listdir(tmp_path)) == ["implementation-complete.json"]


def test_a_failed_write_raises_clearly_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "implementation-complete.json").mkdir()
    with pytest.raises(MetawsmError, match="write signal"):
        write_signal_atomic(tmp_path, ImplementationComplete())
    assert os.listdir(tmp_path) == ["implementation-complete.json"]


def test_a_signal_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="limit"):
        write_signal_atomic(tmp_path, ImplementationComplete(summary="x" * MAX_SIGNAL_BYTES))
    assert os.listdir(tmp_path) == []


@pytest.fixture
def busy_writer(tmp_path: Path) -> Iterator[None]:
    """A thread rewriting ``implementation-complete.json`` in ``tmp_path`` until the test ends."""
    stop = threading.Event()
    write_signal_atomic(tmp_path, ImplementationComplete(summary="0"))

    def write() -> None:
        count = 0
        while not stop.is_set():
            count += 1
            write_signal_atomic(tmp_path, ImplementationComplete(summary=str(count) * count))

    thread = threading.Thread(target=write)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


@pytest.mark.usefixtures("busy_writer")
def test_a_reader_never_sees_a_torn_file(tmp_path: Path) -> None:
    for _ in range(300):
        found = read_signal(tmp_path / "implementation-complete.json", ImplementationComplete)
        assert isinstance(found, ParsedSignal), found


def test_remove_signal_reports_whether_it_was_there(tmp_path: Path) -> None:
    path = write_signal_atomic(tmp_path, ImplementationComplete())
    assert remove_signal(path) is True
    assert remove_signal(path) is False


def test_render_matches_what_is_written(tmp_path: Path) -> None:
    model = SAMPLES[0]
    assert write_signal_atomic(tmp_path, model).read_bytes() == render_signal(model)


# -- staleness and directories -----------------------------------------------------------------


def test_a_signal_of_this_incarnation_is_current() -> None:
    signal = ImplementationComplete(run_id="run-1", agent="coder", generation=2)
    assert stale_reason(signal, run_id="run-1", agent="coder", generation=2) is None


def test_a_signal_without_stamps_is_accepted() -> None:
    assert stale_reason(ImplementationComplete(), run_id="r", agent="a", generation=5) is None


@pytest.mark.parametrize(
    ("signal", "reason"),
    [
        (ImplementationComplete(run_id="run-0", agent="coder", generation=2), "run_id 'run-0'"),
        (ImplementationComplete(run_id="run-1", agent="tester", generation=2), "agent 'tester'"),
        (ImplementationComplete(run_id="run-1", agent="coder", generation=1), "generation 1"),
        (ImplementationComplete(generation=3), "generation 3"),
    ],
)
def test_a_signal_from_another_run_agent_or_generation_is_stale(
    signal: SignalModel, reason: str
) -> None:
    found = stale_reason(signal, run_id="run-1", agent="coder", generation=2)
    assert found is not None
    assert found.startswith(reason)


def test_both_signal_directories_are_read_root_first(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert signal_dirs(ws, ws / "api") == [ws / ".metawsm", ws / "api" / ".metawsm"]
    assert signal_dirs(ws, ws) == [ws / ".metawsm"]
    assert signal_dirs(ws) == [ws / ".metawsm"]


# -- the agent's environment -------------------------------------------------------------------

FULL_ENV = {
    "METAWSM_RUN_ID": "run-1",
    "METAWSM_AGENT": "coder",
    "METAWSM_WORKSPACE": "ws-1",
    "METAWSM_GENERATION": "2",
    "METAWSM_SIGNAL_DIR": "/w/ws-1/.metawsm",
    "METAWSM_SOCKET": "/home/op/.metawsm/control.sock",
}


def test_signal_context_comes_from_the_environment() -> None:
    context = signal_env_from_environ({**FULL_ENV, "HOME": "/root"})
    assert context == SignalContext(
        run_id="run-1",
        agent="coder",
        workspace="ws-1",
        generation=2,
        signal_dir=Path("/w/ws-1/.metawsm"),
        socket=Path("/home/op/.metawsm/control.sock"),
    )
    assert context.environ() == FULL_ENV


def test_workspace_and_socket_are_optional() -> None:
    env = {k: v for k, v in FULL_ENV.items() if k not in {"METAWSM_WORKSPACE", "METAWSM_SOCKET"}}
    context = signal_env_from_environ(env)
    assert (context.workspace, context.socket) == (None, None)
    assert context.environ() == env


def test_every_missing_variable_is_named_at_once() -> None:
    env = {"METAWSM_AGENT": "coder", "METAWSM_RUN_ID": " "}
    with pytest.raises(UsageError) as caught:
        signal_env_from_environ(env)
    assert caught.value.message == (
        "missing agent environment: METAWSM_RUN_ID, METAWSM_GENERATION, METAWSM_SIGNAL_DIR"
    )
    assert caught.value.hint


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "two", "", "٣"])
def test_generation_must_be_a_positive_integer(value: str) -> None:
    with pytest.raises(UsageError, match="METAWSM_GENERATION"):
        signal_env_from_environ({**FULL_ENV, "METAWSM_GENERATION": value})


def test_generation_may_carry_whitespace() -> None:
    assert signal_env_from_environ({**FULL_ENV, "METAWSM_GENERATION": " 7\n"}).generation == 7
