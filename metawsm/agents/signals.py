"""Signal files: how an agent talks to metawsm through its ``.metawsm/`` folder.

An agent writes ``guidance-request.json``, ``implementation-complete.json`` and
``validation-result.json``; metawsm answers guidance with ``guidance-response.json``. The field
names are the original metawsm's, so an agent written for it keeps working; this design adds
``generation`` (and ``agent`` where the original had none) so a signal left behind by an earlier
incarnation or another run can be told apart and rejected (see :func:`stale_reason`).

Reading never trusts the file: :func:`read_signal` and :func:`parse_signal` turn every bad input
(oversized, half-written, not JSON, wrong shape, a directory, a pipe) into a :class:`SignalProblem`
the caller records, and never raise for it. Writing is atomic (:func:`write_signal_atomic`), so a
reader sees the old file or the new one, never a torn one.

The agent's side of the contract is in ``docs/agent-protocol.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from metawsm.errors import MetawsmError, UsageError

SIGNAL_DIR_NAME = ".metawsm"
"""The folder, in the workspace root and in the doc-home repo, that holds signal files."""

MAX_SIGNAL_BYTES = 64 * 1024
"""A signal file larger than this is rejected unread (``oversized``)."""

GUIDANCE_REQUEST_FILE = "guidance-request.json"
GUIDANCE_RESPONSE_FILE = "guidance-response.json"
IMPLEMENTATION_COMPLETE_FILE = "implementation-complete.json"
VALIDATION_RESULT_FILE = "validation-result.json"

# The environment metawsm gives every agent process.
ENV_RUN_ID = "METAWSM_RUN_ID"
ENV_AGENT = "METAWSM_AGENT"
ENV_WORKSPACE = "METAWSM_WORKSPACE"
ENV_GENERATION = "METAWSM_GENERATION"
ENV_SIGNAL_DIR = "METAWSM_SIGNAL_DIR"
ENV_SOCKET = "METAWSM_SOCKET"


# -- field normalisation -------------------------------------------------------------------------


def _optional_name(value: Any) -> Any:
    """``run_id``/``agent``: trimmed; empty or null means "not given", as in the original."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    return value


def _not_bool(value: Any) -> Any:
    # JSON ``true`` would otherwise pass as generation 1.
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


def _guidance_context(value: Any) -> str:
    """``context``: a string is trimmed, null is "", any other JSON becomes compact JSON text.

    Agents sent structured context (an object) to the original, which then ignored the whole
    request; it learned to accept it, and so do we.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


OptionalName = Annotated[str | None, BeforeValidator(_optional_name)]
Generation = Annotated[int, Field(ge=1), BeforeValidator(_not_bool)]
Question = Annotated[str, BeforeValidator(_stripped), Field(min_length=1)]


# -- the four files ------------------------------------------------------------------------------


class SignalModel(BaseModel):
    """Fields every signal file may carry to say whom it is from.

    All three are optional on files agents write: an agent written for the original sends no
    ``generation`` (and may send no ``run_id``); the reader decides what a missing stamp means.
    Unknown fields are ignored, so an agent may add its own.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    FILE_NAME: ClassVar[str]

    run_id: OptionalName = None
    agent: OptionalName = None
    generation: Generation | None = None


class GuidanceRequest(SignalModel):
    """``guidance-request.json``, written by the agent: a question for the operator."""

    FILE_NAME: ClassVar[str] = GUIDANCE_REQUEST_FILE

    question: Question
    context: Annotated[str, BeforeValidator(_guidance_context)] = ""


class GuidanceResponse(SignalModel):
    """``guidance-response.json``, written by metawsm when the operator answers."""

    FILE_NAME: ClassVar[str] = GUIDANCE_RESPONSE_FILE

    guidance_id: Annotated[int, Field(ge=0), BeforeValidator(_not_bool)]
    run_id: str
    question: str
    answer: str
    answered_at: AwareDatetime


class ImplementationComplete(SignalModel):
    """``implementation-complete.json``, written by the agent when its work is done."""

    FILE_NAME: ClassVar[str] = IMPLEMENTATION_COMPLETE_FILE

    summary: Annotated[str, BeforeValidator(_stripped)] = ""


class ValidationCheck(BaseModel):
    """One check behind a validation result (an addition: the original had only a status)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    status: str
    detail: str = ""


class ValidationResult(SignalModel):
    """``validation-result.json``, written by the agent; read by the close gate.

    ``status`` and ``done_criteria`` are kept as written; the gate compares them the original's
    way (status ``passed`` trimmed and case-insensitively, done criteria trimmed).
    """

    FILE_NAME: ClassVar[str] = VALIDATION_RESULT_FILE

    status: str
    done_criteria: str
    checks: list[ValidationCheck] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether ``status`` says ``passed`` (trimmed, any case)."""
        return self.status.strip().casefold() == "passed"


SIGNAL_MODELS: Mapping[str, type[SignalModel]] = {
    model.FILE_NAME: model
    for model in (GuidanceRequest, GuidanceResponse, ImplementationComplete, ValidationResult)
}
"""Every signal file name and the model of its contents."""

AGENT_SIGNAL_FILES = (GUIDANCE_REQUEST_FILE, IMPLEMENTATION_COMPLETE_FILE, VALIDATION_RESULT_FILE)
"""The files an agent writes (metawsm writes only the guidance response)."""


# -- reading -------------------------------------------------------------------------------------

SignalT = TypeVar("SignalT", bound=SignalModel)

ProblemKind = Literal["oversized", "malformed", "invalid", "unreadable"]


@dataclass(frozen=True)
class ParsedSignal(Generic[SignalT]):
    """A signal file that parsed and matched its schema."""

    path: Path
    signal: SignalT
    mtime: datetime | None = None
    """When the file was last written (local files only; ``None`` when parsed from bytes)."""


@dataclass(frozen=True)
class SignalProblem:
    """A signal file that is there but cannot be used, and why.

    ``kind`` is ``oversized`` (larger than :data:`MAX_SIGNAL_BYTES`), ``malformed`` (empty, not
    UTF-8 or not JSON: often a file caught half-written by an agent that does not write
    atomically), ``invalid`` (JSON of the wrong shape; ``detail`` is the first schema error) or
    ``unreadable`` (not a regular file, a symlink, or an OS error).
    """

    path: Path
    kind: ProblemKind
    detail: str

    def describe(self) -> str:
        """One line for an event or a log: ``<file>: <kind>: <detail>``."""
        return f"{self.path.name}: {self.kind}: {self.detail}"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def describe_validation_error(exc: ValidationError) -> str:
    """The first error of ``exc`` on one line: ``<location>: <message> (and N more)``."""
    errors = exc.errors(include_url=False)
    if not errors:  # pragma: no cover - pydantic always reports at least one
        return str(exc)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    message = first["msg"].removeprefix("Value error, ")
    return f"{where + ': ' if where else ''}{message}{more}"


def parse_signal(
    data: bytes, model_type: type[SignalT], path: Path
) -> ParsedSignal[SignalT] | SignalProblem:
    """Parse the bytes of a signal file; never raises for bad input.

    For files read some other way than :func:`read_signal` (over SFTP from a remote host);
    ``path`` only names the file in the result.
    """
    if len(data) > MAX_SIGNAL_BYTES:
        return SignalProblem(
            path, "oversized", f"larger than {MAX_SIGNAL_BYTES} bytes ({len(data)} read)"
        )
    if not data.strip():
        return SignalProblem(path, "malformed", "empty file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return SignalProblem(path, "malformed", f"not UTF-8: {exc.reason} at byte {exc.start}")
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        return SignalProblem(path, "malformed", f"invalid JSON: {exc}")
    except (ValueError, RecursionError) as exc:
        # RecursionError: a few thousand nested brackets fit easily within the size bound.
        return SignalProblem(path, "malformed", f"invalid JSON: {exc}")
    if not isinstance(document, dict):
        return SignalProblem(
            path, "invalid", f"expected a JSON object, got {type(document).__name__}"
        )
    try:
        signal = model_type.model_validate(document)
    except ValidationError as exc:
        return SignalProblem(path, "invalid", describe_validation_error(exc))
    except RecursionError as exc:  # pragma: no cover - deep context re-serialised
        return SignalProblem(path, "invalid", f"too deeply nested: {exc}")
    return ParsedSignal(path, signal)


def read_signal(
    path: Path, model_type: type[SignalT]
) -> ParsedSignal[SignalT] | SignalProblem | None:
    """Read and parse one signal file; ``None`` when it does not exist. Never raises for bad input.

    Only a regular file is read, and never through a symlink; at most
    :data:`MAX_SIGNAL_BYTES` + 1 bytes are read, so a runaway writer costs nothing.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if path.is_symlink():
            return SignalProblem(path, "unreadable", "is a symlink; signal files must be regular")
        return SignalProblem(path, "unreadable", exc.strerror or str(exc))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            return SignalProblem(path, "unreadable", f"is {kind}")
        if info.st_size > MAX_SIGNAL_BYTES:
            return SignalProblem(
                path, "oversized", f"larger than {MAX_SIGNAL_BYTES} bytes ({info.st_size})"
            )
        chunks: list[bytes] = []
        remaining = MAX_SIGNAL_BYTES + 1
        while remaining > 0:
            chunk = os.read(fd, remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as exc:
        return SignalProblem(path, "unreadable", exc.strerror or str(exc))
    finally:
        os.close(fd)
    parsed = parse_signal(b"".join(chunks), model_type, path)
    if isinstance(parsed, SignalProblem):
        return parsed
    mtime = datetime.fromtimestamp(info.st_mtime, tz=UTC)
    return ParsedSignal(path, parsed.signal, mtime)


def stale_reason(
    signal: SignalModel, *, run_id: str, agent: str, generation: int | None = None
) -> str | None:
    """Why ``signal`` does not belong to this agent incarnation, or ``None`` when it does.

    A stamp that is present must match: ``run_id`` and ``agent`` exactly, ``generation`` equal to
    the current one (older means a previous incarnation wrote it; newer cannot be ours either).
    A missing stamp is accepted, as the original accepted files without ``run_id``; the protocol
    has metawsm clear an incarnation's signal files before it starts the next one, which is what
    makes a stamp-less file the current incarnation's.
    """
    if signal.run_id is not None and signal.run_id != run_id:
        return f"run_id {signal.run_id!r} is not this run ({run_id!r})"
    if signal.agent is not None and signal.agent != agent:
        return f"agent {signal.agent!r} is not this agent ({agent!r})"
    if generation is not None and signal.generation is not None and signal.generation != generation:
        return f"generation {signal.generation} is not the current generation {generation}"
    return None


def agent_signal_dir(workspace_root: Path, agent: str) -> Path:
    """An agent's own signal folder, ``<workspace>/.metawsm/agents/<agent>`` (what
    ``METAWSM_SIGNAL_DIR`` names): agents that share a workspace would overwrite each other's
    files in the shared root."""
    return workspace_root / SIGNAL_DIR_NAME / "agents" / agent


def signal_dirs(workspace_root: Path, doc_home_repo: Path | None = None) -> list[Path]:
    """The signal directories of a workspace, in the order they are read: root, then doc-home.

    Agents run in the doc-home repo, so a relative ``.metawsm/`` lands there; the original read
    only the workspace root and missed those files.
    """
    dirs = [workspace_root / SIGNAL_DIR_NAME]
    if doc_home_repo is not None:
        doc_dir = doc_home_repo / SIGNAL_DIR_NAME
        if doc_dir != dirs[0]:
            dirs.append(doc_dir)
    return dirs


# -- writing -------------------------------------------------------------------------------------


def render_signal(model: SignalModel) -> bytes:
    """The bytes of a signal file: JSON indented by two spaces and a final newline, as the
    original wrote; absent stamps are left out rather than written as ``null``."""
    return (model.model_dump_json(indent=2, exclude_none=True) + "\n").encode("utf-8")


def write_signal_atomic(path_dir: Path, model: SignalModel) -> Path:
    """Write ``model`` to ``path_dir/<its file name>`` atomically and durably; return the path.

    A temporary file in the same directory is written, flushed to disk and renamed over the
    target, so a reader sees the previous file or the complete new one. The directory is
    created when missing. The file is mode ``0644``.
    """
    data = render_signal(model)
    if len(data) > MAX_SIGNAL_BYTES:
        raise UsageError(
            f"signal {model.FILE_NAME} would be {len(data)} bytes, over the "
            f"{MAX_SIGNAL_BYTES}-byte limit readers accept",
            hint="shorten the question, context or summary",
        )
    target = path_dir / model.FILE_NAME
    try:
        path_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path_dir, prefix=f".{model.FILE_NAME}.", suffix=".tmp")
    except OSError as exc:
        raise MetawsmError(f"write signal {target}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), 0o644)
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise MetawsmError(f"write signal {target}: {exc.strerror or exc}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path_dir)
    return target


def _fsync_dir(path_dir: Path) -> None:
    # Makes the rename itself durable; best effort, some file systems refuse it.
    with contextlib.suppress(OSError):
        dir_fd = os.open(path_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def remove_signal(path: Path) -> bool:
    """Remove a signal file; ``True`` if it was there. A missing file is not an error."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise MetawsmError(f"remove signal {path}: {exc.strerror or exc}") from exc
    return True


# -- the agent's environment ---------------------------------------------------------------------


@dataclass(frozen=True)
class SignalContext:
    """Who an agent process is, from the environment metawsm started it with."""

    run_id: str
    agent: str
    workspace: str | None
    generation: int
    signal_dir: Path
    socket: Path | None = None

    def environ(self) -> dict[str, str]:
        """The environment variables that describe this context (what metawsm sets)."""
        env = {
            ENV_RUN_ID: self.run_id,
            ENV_AGENT: self.agent,
            ENV_GENERATION: str(self.generation),
            ENV_SIGNAL_DIR: str(self.signal_dir),
        }
        if self.workspace is not None:
            env[ENV_WORKSPACE] = self.workspace
        if self.socket is not None:
            env[ENV_SOCKET] = str(self.socket)
        return env


def parse_generation(value: str) -> int:
    """``METAWSM_GENERATION`` as an integer ≥ 1; raises :class:`UsageError` otherwise."""
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise UsageError(
            f"{ENV_GENERATION} must be an integer >= 1, got {value!r}",
            hint="metawsm sets it when it starts an agent; do not edit it",
        )
    return int(text)


def signal_env_from_environ(environ: Mapping[str, str]) -> SignalContext:
    """The agent's :class:`SignalContext` from ``environ`` (usually ``os.environ``).

    ``METAWSM_RUN_ID``, ``METAWSM_AGENT``, ``METAWSM_GENERATION`` and ``METAWSM_SIGNAL_DIR`` are
    required; ``METAWSM_WORKSPACE`` and ``METAWSM_SOCKET`` are optional. Raises
    :class:`~metawsm.errors.UsageError` naming every missing or empty variable at once.
    """
    required = (ENV_RUN_ID, ENV_AGENT, ENV_GENERATION, ENV_SIGNAL_DIR)
    missing = [name for name in required if not environ.get(name, "").strip()]
    if missing:
        raise UsageError(
            f"missing agent environment: {', '.join(missing)}",
            hint="metawsm sets these when it starts an agent; run inside an agent session "
            "or export them",
        )
    workspace = environ.get(ENV_WORKSPACE, "").strip() or None
    socket = environ.get(ENV_SOCKET, "").strip()
    return SignalContext(
        run_id=environ[ENV_RUN_ID].strip(),
        agent=environ[ENV_AGENT].strip(),
        workspace=workspace,
        generation=parse_generation(environ[ENV_GENERATION]),
        signal_dir=Path(environ[ENV_SIGNAL_DIR].strip()),
        socket=Path(socket) if socket else None,
    )
