"""The scripted agent: a real agent process that follows a script file instead of a model.

metawsm starts it in tmux exactly as it starts codex or claude (working directory = the doc-home
repo, the ``METAWSM_*`` environment set), and it behaves like one: it prints activity, edits and
commits files, asks the operator for guidance and waits for the answer, signals completion and
validation, exits with a chosen code or stays alive until killed. Demos, tests and benchmarks use
it to drive every path of the supervisor with a deterministic agent.

Usage::

    python -m metawsm.agents.scripted SCRIPT.json

The script format is documented in ``docs/agent-protocol.md``. Exit codes: what the script says
(``exit``, ``fail_once``; 0 at the end of the script), 2 for a bad script or a missing agent
environment, 1 when a step fails (a git error, no guidance answer in time), 130 on Ctrl-C. Every
error is one line on stderr, ``scripted: error: <message>``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, ValidationError

from metawsm.agents.signals import (
    ENV_GENERATION,
    GUIDANCE_REQUEST_FILE,
    GUIDANCE_RESPONSE_FILE,
    GuidanceRequest,
    GuidanceResponse,
    ImplementationComplete,
    ParsedSignal,
    SignalContext,
    SignalProblem,
    ValidationCheck,
    ValidationResult,
    describe_validation_error,
    parse_generation,
    read_signal,
    remove_signal,
    signal_env_from_environ,
    stale_reason,
    write_signal_atomic,
)
from metawsm.errors import MetawsmError, UsageError

USAGE = "usage: python -m metawsm.agents.scripted SCRIPT.json"
PREFIX = "[scripted]"
POLL_SECONDS = 0.2
"""How often a guidance step looks for the answer."""
GIT_TIMEOUT_SECONDS = 120.0
#: How often a commit that finds git locked (metawsm committing its own files) is tried.
COMMIT_ATTEMPTS = 20
FALLBACK_GIT_NAME = "metawsm scripted agent"
FALLBACK_GIT_EMAIL = "scripted-agent@metawsm.invalid"


# -- the script ----------------------------------------------------------------------------------


def _relative_path(value: str) -> str:
    path = PurePosixPath(value)
    if not value or path.is_absolute() or ".." in path.parts:
        raise ValueError("must be a relative path inside the repository (no '..')")
    return value


def _repo_name(value: str) -> str:
    if not value or value in {".", ".."} or "/" in value or "\\" in value:
        raise ValueError("must be the name of a sibling repository in the workspace")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


RelativePath = Annotated[str, AfterValidator(_relative_path)]
RepoName = Annotated[str, AfterValidator(_repo_name)]
Text = Annotated[str, AfterValidator(_not_blank)]


class _Step(BaseModel):
    # Strict and closed: a misspelt key or a "yes" for a boolean is a script error, not a guess.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    when_generation: int | None = Field(default=None, ge=1)
    """Run this step only in that generation of the agent (``METAWSM_GENERATION``)."""


class SayStep(_Step):
    """Print a line, to show activity in the pane."""

    do: Literal["say"]
    text: str


class EditStep(_Step):
    """Write (or append to) a file of the doc-home repo, or of a sibling repo with ``repo``."""

    do: Literal["edit"]
    path: RelativePath
    content: str
    append: bool = False
    repo: RepoName | None = None


class CommitStep(_Step):
    """``git add -A`` and ``git commit -m MESSAGE`` in the doc-home repo or a sibling repo;
    with ``paths``, only those files are added and committed (an agent that commits only its
    own work, as docs/agent-protocol.md asks)."""

    do: Literal["commit"]
    message: Text
    repo: RepoName | None = None
    allow_empty: bool = False
    paths: list[RelativePath] | None = None


class SleepStep(_Step):
    """Wait, doing nothing."""

    do: Literal["sleep"]
    seconds: float = Field(ge=0, allow_inf_nan=False)


class GuidanceStep(_Step):
    """Ask the operator through ``guidance-request.json`` and wait for the answer."""

    do: Literal["guidance"]
    question: Text
    context: JsonValue = None
    timeout: float = Field(default=600.0, gt=0, allow_inf_nan=False)
    save_answer: RelativePath | None = None
    """Also write the answer to this file of the doc-home repo."""


class ForumStep(_Step):
    """Ask on the forum (``metawsm forum ask``, which takes run, ticket and agent from this
    agent's environment) and block in ``metawsm forum wait`` until the answer comes."""

    do: Literal["forum"]
    title: Text
    body: Text
    priority: str = "normal"
    timeout: float = Field(default=600.0, gt=0, allow_inf_nan=False)
    save_answer: RelativePath | None = None
    """Also write the answer to this file of the doc-home repo."""


class CompleteStep(_Step):
    """Write ``implementation-complete.json``."""

    do: Literal["complete"]
    summary: str = ""


class ValidateStep(_Step):
    """Write ``validation-result.json``."""

    do: Literal["validate"]
    status: str = "passed"
    done_criteria: str
    checks: list[ValidationCheck] = Field(default_factory=list)


class ExitStep(_Step):
    """End the agent with this exit code."""

    do: Literal["exit"]
    code: int = Field(default=0, ge=0, le=255)


class FailOnceStep(_Step):
    """Exit with ``code`` in generation 1 only; later generations go on (restart tests)."""

    do: Literal["fail_once"]
    code: int = Field(default=1, ge=1, le=255)
    marker: str | None = None
    """A label printed with the step, to tell several ``fail_once`` steps apart."""


class HoldStep(_Step):
    """Stay alive, idle, until killed."""

    do: Literal["hold"]


Step = Annotated[
    SayStep
    | EditStep
    | CommitStep
    | SleepStep
    | GuidanceStep
    | ForumStep
    | CompleteStep
    | ValidateStep
    | ExitStep
    | FailOnceStep
    | HoldStep,
    Field(discriminator="do"),
]

_SIGNAL_STEPS = (GuidanceStep, CompleteStep, ValidateStep)


class Script(BaseModel):
    """A scripted agent's script: steps run in order; the agent exits 0 after the last."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    steps: list[Step]


def load_script(path: Path) -> Script:
    """Read and validate a script file; raises :class:`UsageError` with one clear line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"read script {path}: {exc.strerror or exc}") from exc
    try:
        return Script.model_validate_json(data)
    except ValidationError as exc:
        raise UsageError(f"script {path}: {describe_validation_error(exc)}") from exc


def describe(step: Step) -> str:
    """A short label for a step, for the progress line."""
    match step:
        case SayStep():
            return "say"
        case EditStep():
            where = f"{step.repo}:" if step.repo else ""
            return f"{'append' if step.append else 'edit'} {where}{step.path}"
        case CommitStep():
            where = f" in {step.repo}" if step.repo else ""
            return f"commit {step.message.strip().splitlines()[0]!r}{where}"
        case SleepStep():
            return f"sleep {step.seconds:g}s"
        case GuidanceStep():
            return f"guidance {step.question.strip()!r}"
        case ForumStep():
            return f"forum {step.title.strip()!r}"
        case CompleteStep():
            return "complete"
        case ValidateStep():
            return f"validate {step.status}"
        case ExitStep():
            return f"exit {step.code}"
        case FailOnceStep():
            return f"fail_once {step.marker}" if step.marker else "fail_once"
        case HoldStep():
            return "hold"


# -- running it ----------------------------------------------------------------------------------


def current_generation(environ: Mapping[str, str]) -> int:
    """``METAWSM_GENERATION``, or 1 when unset (the script was started by hand)."""
    value = environ.get(ENV_GENERATION, "")
    return parse_generation(value) if value.strip() else 1


@dataclass
class Runner:
    """Runs one script in ``cwd`` with ``environ``; prints progress to stdout."""

    cwd: Path
    environ: Mapping[str, str]
    generation: int
    context: SignalContext | None = None

    @classmethod
    def prepare(cls, script: Script, cwd: Path, environ: Mapping[str, str]) -> Runner:
        """Check the environment up front, so a missing variable fails before any step runs."""
        generation = current_generation(environ)
        needs_signals = any(
            isinstance(step, _SIGNAL_STEPS) and step.when_generation in (None, generation)
            for step in script.steps
        )
        context = signal_env_from_environ(environ) if needs_signals else None
        return cls(cwd=cwd, environ=environ, generation=generation, context=context)

    def run(self, script: Script) -> int:
        """Run every step in order; return the exit code."""
        total = len(script.steps)
        for number, step in enumerate(script.steps, start=1):
            label = f"{number}/{total} {describe(step)}"
            if step.when_generation is not None and step.when_generation != self.generation:
                _progress(
                    f"skip {label} (when_generation {step.when_generation}, "
                    f"this is generation {self.generation})"
                )
                continue
            _progress(label)
            try:
                code = self.perform(step)
            except OSError as exc:
                raise MetawsmError(f"step {label}: {exc.strerror or exc}") from exc
            if code is not None:
                return code
        _progress("done")
        return 0

    def perform(self, step: Step) -> int | None:
        """Run one step; an exit code ends the script."""
        match step:
            case SayStep():
                print(step.text, flush=True)
            case EditStep():
                self._edit(step)
            case CommitStep():
                self._commit(step)
            case SleepStep():
                time.sleep(step.seconds)
            case GuidanceStep():
                self._guidance(step)
            case ForumStep():
                self._forum(step)
            case CompleteStep():
                context = self._signal_context()
                signal = ImplementationComplete(
                    run_id=context.run_id,
                    agent=context.agent,
                    generation=context.generation,
                    summary=step.summary,
                )
                self._write(signal)
            case ValidateStep():
                context = self._signal_context()
                result = ValidationResult(
                    run_id=context.run_id,
                    agent=context.agent,
                    generation=context.generation,
                    status=step.status,
                    done_criteria=step.done_criteria,
                    checks=step.checks,
                )
                self._write(result)
            case ExitStep():
                return step.code
            case FailOnceStep():
                if self.generation == 1:
                    _progress(f"failing on purpose with exit code {step.code} (generation 1)")
                    return step.code
                _progress(f"not failing: generation {self.generation}")
            case HoldStep():
                while True:
                    time.sleep(3600)
        return None

    # -- steps ----------------------------------------------------------------------------------

    def _repo_dir(self, repo: str | None) -> Path:
        if repo is None:
            return self.cwd
        sibling = self.cwd.parent / repo
        if not sibling.is_dir():
            raise MetawsmError(f"sibling repo {repo!r} not found at {sibling}")
        return sibling

    def _edit(self, step: EditStep) -> None:
        target = self._repo_dir(step.repo) / step.path
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a" if step.append else "w", encoding="utf-8") as handle:
            handle.write(step.content)

    def _commit(self, step: CommitStep) -> None:
        repo = self._repo_dir(step.repo)
        only = [str(p) for p in step.paths] if step.paths else []
        commit = [*self._identity(repo), "commit", "--quiet", "-m", step.message]
        if step.allow_empty:
            commit.append("--allow-empty")
        if only:
            commit += ["--", *only]
        # metawsm commits its own files in the same worktree; while it holds git's index or
        # HEAD lock a commit fails at once, and the agent protocol says to run it again.
        for attempt in range(COMMIT_ATTEMPTS):
            try:
                self._git(repo, ["add", "-A", "--", *only])
                self._git(repo, commit)
                break
            except MetawsmError as exc:
                if "lock" not in str(exc) or attempt == COMMIT_ATTEMPTS - 1:
                    raise
                print(f"git is locked ({exc}); trying again", flush=True)
                time.sleep(0.1 * (attempt + 1))
        head = self._git(repo, ["log", "-1", "--format=%h %s"]).strip()
        print(f"committed {head}", flush=True)

    def _identity(self, repo: Path) -> list[str]:
        """``-c user.*`` options when git has no identity, so a commit never stops on it."""
        configured = self._git(
            repo, ["config", "--get-regexp", r"^user\.(name|email)$"], check=False
        )
        keys = {line.split(" ", 1)[0] for line in configured.splitlines()}
        options: list[str] = []
        if "user.name" not in keys and "GIT_AUTHOR_NAME" not in self.environ:
            options += ["-c", f"user.name={FALLBACK_GIT_NAME}"]
        if "user.email" not in keys and "GIT_AUTHOR_EMAIL" not in self.environ:
            options += ["-c", f"user.email={FALLBACK_GIT_EMAIL}"]
        return options

    def _git(self, repo: Path, args: Sequence[str], *, check: bool = True) -> str:
        argv = ["git", "-C", str(repo), *args]
        try:
            done = subprocess.run(
                argv,
                env=dict(self.environ),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise MetawsmError(f"git {args[-1]}: no answer within {exc.timeout:g}s") from exc
        except OSError as exc:
            raise MetawsmError(f"run git: {exc.strerror or exc}") from exc
        if check and done.returncode != 0:
            lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
            why = lines[-1].strip() if lines else "no output"
            command = " ".join(arg for arg in args if not arg.startswith("user."))
            raise MetawsmError(f"git {command} in {repo}: exit {done.returncode}: {why}")
        return done.stdout

    def _metawsm(self, args: Sequence[str], timeout: float) -> dict[str, object]:
        argv = [sys.executable, "-m", "metawsm", *args, "--json"]
        try:
            done = subprocess.run(
                argv,
                cwd=self.cwd,
                env=dict(self.environ),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise MetawsmError(
                f"metawsm {args[0]} {args[1]}: no answer within {exc.timeout:g}s"
            ) from None
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or ["no output"])[0]
            raise MetawsmError(f"metawsm {args[0]} {args[1]}: exit {done.returncode}: {why}")
        result: dict[str, object] = json.loads(done.stdout)
        return result

    def _forum(self, step: ForumStep) -> None:
        opened = self._metawsm(
            [
                "forum",
                "ask",
                "--title",
                step.title,
                "--body",
                step.body,
                "--priority",
                step.priority,
            ],
            60.0,
        )
        thread_id = str(opened["thread_id"])
        print(f"asked on the forum: thread={thread_id}", flush=True)
        waited = self._metawsm(
            ["forum", "wait", "--thread-id", thread_id, "--timeout", f"{step.timeout:g}"],
            step.timeout + 60.0,
        )
        answer = str(waited.get("answer") or "")
        print(f"forum answer: {answer}", flush=True)
        if step.save_answer is not None:
            target = self.cwd / step.save_answer
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(answer + "\n", encoding="utf-8")

    def _signal_context(self) -> SignalContext:
        if self.context is None:  # prepare() saw no signal step; not reachable from run()
            self.context = signal_env_from_environ(self.environ)
        return self.context

    def _signal_dir(self) -> Path:
        signal_dir = self._signal_context().signal_dir
        return signal_dir if signal_dir.is_absolute() else self.cwd / signal_dir

    def _write(self, signal: GuidanceRequest | ImplementationComplete | ValidationResult) -> None:
        path = write_signal_atomic(self._signal_dir(), signal)
        print(f"wrote {path}", flush=True)

    def _guidance(self, step: GuidanceStep) -> None:
        context = self._signal_context()
        signal_dir = self._signal_dir()
        response_path = signal_dir / GUIDANCE_RESPONSE_FILE
        question = step.question.strip()
        # A response already there answers an earlier question; it must not answer this one.
        remove_signal(response_path)
        request = GuidanceRequest.model_validate(
            {
                "run_id": context.run_id,
                "agent": context.agent,
                "generation": context.generation,
                "question": question,
                "context": step.context,
            }
        )
        self._write(request)
        answer = self._wait_for_answer(response_path, context, question, step.timeout)
        # Consume the answer; and the request too, in case whoever answered left it behind,
        # so it is not taken for a new question.
        remove_signal(response_path)
        remove_signal(signal_dir / GUIDANCE_REQUEST_FILE)
        _progress("answer received")
        print(answer.answer, flush=True)
        if step.save_answer is not None:
            target = self.cwd / step.save_answer
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(answer.answer, encoding="utf-8")

    def _wait_for_answer(
        self, path: Path, context: SignalContext, question: str, timeout: float
    ) -> GuidanceResponse:
        deadline = time.monotonic() + timeout
        reported: set[str] = set()
        while True:
            found = read_signal(path, GuidanceResponse)
            note: str | None = None
            if isinstance(found, ParsedSignal):
                response = found.signal
                note = stale_reason(
                    response,
                    run_id=context.run_id,
                    agent=context.agent,
                    generation=context.generation,
                )
                if note is None and response.question.strip() != question:
                    note = f"answers another question ({response.question.strip()!r})"
                if note is None:
                    return response
                note = f"{path.name}: {note}"
            elif isinstance(found, SignalProblem):
                note = found.describe()
            if note is not None and note not in reported:
                reported.add(note)
                _progress(f"ignoring {note}")
            if time.monotonic() >= deadline:
                raise MetawsmError(f"guidance: no answer within {timeout:g}s to {question!r}")
            time.sleep(POLL_SECONDS)


def _progress(text: str) -> None:
    print(f"{PREFIX} {text}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the script named by ``argv[0]`` (default: ``sys.argv[1:]``); return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["-h"], ["--help"]):
        print(USAGE)
        print("Runs a scripted agent; the script format is in docs/agent-protocol.md.")
        return 0
    if len(args) != 1:
        print(f"scripted: error: {USAGE}", file=sys.stderr)
        return 2
    try:
        script = load_script(Path(args[0]))
        runner = Runner.prepare(script, Path.cwd(), os.environ)
        return runner.run(script)
    except MetawsmError as exc:
        print(f"scripted: error: {exc.message}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
