"""The signal watcher on real files: the three roots, one finding per file version, and every
kind of bad file an agent can leave behind (stale, malformed, half-written, oversized, not a
file). Nothing an agent writes makes a scan raise or hang."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metawsm.agents.signals import (
    GUIDANCE_REQUEST_FILE,
    IMPLEMENTATION_COMPLETE_FILE,
    MAX_SIGNAL_BYTES,
    VALIDATION_RESULT_FILE,
    GuidanceRequest,
    ImplementationComplete,
    ValidationResult,
)
from metawsm.hosts import LocalHost
from metawsm.hosts.base import FileStat
from metawsm.supervisor.signal_watch import (
    Finding,
    SignalWatcher,
    agent_signal_root,
    signal_roots,
)

pytestmark = pytest.mark.anyio

RUN = "run-1"
AGENT = "coder"
GENERATION = 2
#: A scan never takes this long on local files; a hang fails the test instead of blocking it.
SCAN_LIMIT = 5.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Roots:
    """A workspace with a doc-home repo under ``tmp``, and a watcher on the agent's three roots
    (its own folder, the workspace root's ``.metawsm``, the doc-home repo's ``.metawsm``)."""

    def __init__(self, tmp: Path) -> None:
        self.workspace = tmp / "ws"
        self.doc_repo = self.workspace / "api"
        self.doc_repo.mkdir(parents=True)
        paths = signal_roots(str(self.workspace), str(self.doc_repo), AGENT)
        self.own, self.root, self.doc = (Path(p) for p in paths)
        self.watcher = SignalWatcher(LocalHost(), paths)

    async def scan(self, *, generation: int = GENERATION) -> list[Finding]:
        with anyio.fail_after(SCAN_LIMIT):
            return await self.watcher.scan(run_id=RUN, agent=AGENT, generation=generation)


@pytest.fixture
def roots(tmp_path: Path) -> Roots:
    return Roots(tmp_path)


def write(folder: Path, name: str, data: bytes | dict[str, Any]) -> Path:
    """Write a signal file in place (not atomically, as a careless agent does)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    return path


def stamped(**fields: Any) -> dict[str, Any]:
    """A signal body stamped for this run, agent and generation, plus ``fields``."""
    return {"run_id": RUN, "agent": AGENT, "generation": GENERATION, **fields}


def kinds(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.kind, f.path) for f in findings]


# -- where files are looked for ------------------------------------------------------------------


def test_the_roots_are_the_agents_folder_the_workspace_root_then_the_doc_home_repo() -> None:
    assert signal_roots("/w", "/w/api", "a") == (
        "/w/.metawsm/agents/a",
        "/w/.metawsm",
        "/w/api/.metawsm",
    )
    assert agent_signal_root("/w", "a") == "/w/.metawsm/agents/a"
    # A doc-home repo that is the workspace root itself is not read twice.
    assert signal_roots("/w", "/w/", "a") == ("/w/.metawsm/agents/a", "/w/.metawsm")
    assert signal_roots("/w", None) == ("/w/.metawsm",)


async def test_a_valid_file_is_found_in_each_of_the_three_roots(roots: Roots) -> None:
    own = write(roots.own, IMPLEMENTATION_COMPLETE_FILE, stamped(summary="own folder"))
    shared = write(roots.root, GUIDANCE_REQUEST_FILE, stamped(question="Which DB?"))
    doc = write(roots.doc, VALIDATION_RESULT_FILE, stamped(status="passed", done_criteria="d"))

    findings = await roots.scan()

    assert kinds(findings) == [
        ("complete", str(own)),
        ("guidance", str(shared)),
        ("validate", str(doc)),
    ]
    complete, guidance, validate = (f.signal for f in findings)
    assert isinstance(complete, ImplementationComplete) and complete.summary == "own folder"
    assert isinstance(guidance, GuidanceRequest) and guidance.question == "Which DB?"
    assert isinstance(validate, ValidationResult) and validate.passed
    assert [f.file for f in findings] == [
        IMPLEMENTATION_COMPLETE_FILE,
        GUIDANCE_REQUEST_FILE,
        VALIDATION_RESULT_FILE,
    ]


async def test_the_same_file_in_every_root_is_found_in_each_in_root_order(roots: Roots) -> None:
    paths = [
        write(folder, IMPLEMENTATION_COMPLETE_FILE, {"summary": "x"})
        for folder in (roots.doc, roots.root, roots.own)
    ]
    findings = await roots.scan()
    assert kinds(findings) == [("complete", str(p)) for p in reversed(paths)]


async def test_missing_files_and_missing_roots_give_nothing(roots: Roots, tmp_path: Path) -> None:
    # No .metawsm folder anywhere yet.
    assert await roots.scan() == []
    for folder in (roots.own, roots.root, roots.doc):
        folder.mkdir(parents=True, exist_ok=True)
    assert await roots.scan() == []
    # A root under a path that is a file (not a folder) is simply absent.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    watcher = SignalWatcher(LocalHost(), (str(blocker / ".metawsm"),))
    assert await watcher.scan(run_id=RUN, agent=AGENT, generation=1) == []


# -- once per version ----------------------------------------------------------------------------


async def test_a_file_version_is_reported_once_and_a_rewritten_file_again(roots: Roots) -> None:
    path = write(roots.own, IMPLEMENTATION_COMPLETE_FILE, stamped(summary="v1"))
    assert kinds(await roots.scan()) == [("complete", str(path))]
    assert await roots.scan() == []
    assert await roots.scan() == []

    # Rewritten with other content (another size).
    write(roots.own, IMPLEMENTATION_COMPLETE_FILE, stamped(summary="v2 longer"))
    again = await roots.scan()
    assert kinds(again) == [("complete", str(path))]
    assert isinstance(again[0].signal, ImplementationComplete)
    assert again[0].signal.summary == "v2 longer"
    assert await roots.scan() == []

    # Rewritten with the same size: the new modification time makes it a new version.
    write(roots.own, IMPLEMENTATION_COMPLETE_FILE, stamped(summary="v3 longer"))
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
    third = await roots.scan()
    assert [f.signal.summary for f in third if isinstance(f.signal, ImplementationComplete)] == [
        "v3 longer"
    ]


async def test_a_removed_file_written_again_identically_is_a_new_signal(roots: Roots) -> None:
    path = write(roots.doc, IMPLEMENTATION_COMPLETE_FILE, {"summary": "done"})
    info = path.stat()
    assert len(await roots.scan()) == 1
    path.unlink()
    assert await roots.scan() == []
    # Same bytes and even the same modification time: it was gone in between, so it counts.
    write(roots.doc, IMPLEMENTATION_COMPLETE_FILE, {"summary": "done"})
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert kinds(await roots.scan()) == [("complete", str(path))]


async def test_forget_makes_every_file_seen_again(roots: Roots) -> None:
    write(roots.own, IMPLEMENTATION_COMPLETE_FILE, stamped())
    write(roots.root, GUIDANCE_REQUEST_FILE, stamped(question="q", generation=1))
    write(roots.doc, VALIDATION_RESULT_FILE, b"{not json")
    first = await roots.scan()
    assert sorted(f.kind for f in first) == ["complete", "problem", "rejected"]
    assert await roots.scan() == []

    roots.watcher.forget()

    assert [(f.kind, f.path, f.detail) for f in await roots.scan()] == [
        (f.kind, f.path, f.detail) for f in first
    ]
    assert await roots.scan() == []


# -- stale stamps --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stamp", "reason"),
    [
        ({"run_id": "run-other"}, "run_id 'run-other' is not this run ('run-1')"),
        ({"agent": "reviewer"}, "agent 'reviewer' is not this agent ('coder')"),
        ({"generation": 1}, "generation 1 is not the current generation 2"),
        ({"generation": 3}, "generation 3 is not the current generation 2"),
    ],
    ids=["other-run", "other-agent", "older-generation", "newer-generation"],
)
async def test_a_file_stamped_for_someone_else_is_rejected_with_the_reason(
    roots: Roots, stamp: dict[str, Any], reason: str
) -> None:
    body = {**stamped(summary="not mine"), **stamp}
    path = write(roots.own, IMPLEMENTATION_COMPLETE_FILE, body)

    findings = await roots.scan()

    assert len(findings) == 1
    finding = findings[0]
    assert (finding.kind, finding.path, finding.detail) == ("rejected", str(path), reason)
    # The parsed signal is kept for the record; it is never acted on (kind is not "complete").
    assert isinstance(finding.signal, ImplementationComplete)
    assert await roots.scan() == [], "a rejected version is reported once"


async def test_each_rejected_root_is_reported_and_a_good_file_beside_them_is_taken(
    roots: Roots,
) -> None:
    write(roots.own, GUIDANCE_REQUEST_FILE, stamped(question="mine?"))
    write(roots.root, GUIDANCE_REQUEST_FILE, stamped(question="old", generation=1))
    write(roots.doc, GUIDANCE_REQUEST_FILE, stamped(question="other", run_id="run-0"))
    findings = await roots.scan()
    assert [f.kind for f in findings] == ["guidance", "rejected", "rejected"]
    assert "generation 1" in findings[1].detail
    assert "run-0" in findings[2].detail


@pytest.mark.parametrize(
    "body",
    [
        {"summary": "no stamps at all"},
        {"run_id": "", "agent": "  ", "generation": None, "summary": "blank stamps"},
        {"run_id": RUN, "summary": "run only, as the original wrote"},
        stamped(summary="every stamp matches"),
    ],
    ids=["stampless", "blank-stamps", "run-only", "full-stamp"],
)
async def test_a_file_without_stamps_or_with_matching_stamps_is_accepted(
    roots: Roots, body: dict[str, Any]
) -> None:
    path = write(roots.doc, IMPLEMENTATION_COMPLETE_FILE, body)
    findings = await roots.scan()
    assert kinds(findings) == [("complete", str(path))]
    assert findings[0].detail == ""


async def test_the_generation_checked_is_the_one_scanned_with(roots: Roots) -> None:
    write(roots.own, IMPLEMENTATION_COMPLETE_FILE, stamped(generation=5))
    assert [f.kind for f in await roots.scan(generation=4)] == ["rejected"]
    roots.watcher.forget()
    assert [f.kind for f in await roots.scan(generation=5)] == ["complete"]


# -- bad files -----------------------------------------------------------------------------------


async def test_bad_json_is_a_problem_until_it_is_fixed(roots: Roots) -> None:
    path = write(roots.doc, IMPLEMENTATION_COMPLETE_FILE, b'{"summary": done}')
    findings = await roots.scan()
    assert [(f.kind, f.path) for f in findings] == [("problem", str(path))]
    assert "malformed" in findings[0].detail and "invalid JSON" in findings[0].detail
    assert findings[0].signal is None
    assert await roots.scan() == [], "the same bad version is reported once"

    write(roots.doc, IMPLEMENTATION_COMPLETE_FILE, b'{"summary": "done"}')
    fixed = await roots.scan()
    assert kinds(fixed) == [("complete", str(path))]


async def test_a_half_written_file_is_a_problem_then_read_once_complete(roots: Roots) -> None:
    body = json.dumps(stamped(question="Which cache?", context={"why": "speed"})).encode()
    path = write(roots.own, GUIDANCE_REQUEST_FILE, body[: len(body) // 2])
    partial = await roots.scan()
    assert [f.kind for f in partial] == ["problem"]
    assert "malformed" in partial[0].detail

    # The writer finishes the same file (appends the rest).
    with path.open("ab") as handle:
        handle.write(body[len(body) // 2 :])
    complete = await roots.scan()
    assert kinds(complete) == [("guidance", str(path))]
    assert isinstance(complete[0].signal, GuidanceRequest)
    assert complete[0].signal.context == '{"why":"speed"}'


async def test_an_empty_file_just_created_is_a_problem_then_read(roots: Roots) -> None:
    path = write(roots.root, IMPLEMENTATION_COMPLETE_FILE, b"")
    assert [(f.kind, "empty file" in f.detail) for f in await roots.scan()] == [("problem", True)]
    write(roots.root, IMPLEMENTATION_COMPLETE_FILE, {"summary": "ok"})
    assert kinds(await roots.scan()) == [("complete", str(path))]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"[1, 2]", "invalid: expected a JSON object"),
        (b'{"context": "no question"}', "invalid: question"),
        (b'{"question": "   "}', "invalid: question"),
        (b'{"question": "q", "generation": true}', "invalid: generation"),
        (b'{"question": "q", "generation": 0}', "invalid: generation"),
        (b'{"question": NaN}', "malformed"),
        (b"\xff\xfe\x00garbage", "malformed: not UTF-8"),
        (b"[" * 20_000 + b"]" * 20_000, "malformed"),
    ],
    ids=["array", "no-question", "blank-question", "bool-gen", "zero-gen", "nan", "bytes", "deep"],
)
async def test_a_wrong_shape_or_undecodable_file_is_a_problem(
    roots: Roots, data: bytes, words: str
) -> None:
    write(roots.own, GUIDANCE_REQUEST_FILE, data)
    findings = await roots.scan()
    assert [f.kind for f in findings] == ["problem"]
    assert words in findings[0].detail


async def test_an_oversized_file_is_a_problem_and_not_read(roots: Roots) -> None:
    body = stamped(summary="x")
    text = json.dumps(body)
    # Exactly at the limit (padded with whitespace, still valid JSON) is fine ...
    at_limit = write(roots.own, IMPLEMENTATION_COMPLETE_FILE, text.ljust(MAX_SIGNAL_BYTES).encode())
    assert at_limit.stat().st_size == MAX_SIGNAL_BYTES
    assert [f.kind for f in await roots.scan()] == ["complete"]
    # ... one byte more is not.
    write(roots.own, IMPLEMENTATION_COMPLETE_FILE, text.ljust(MAX_SIGNAL_BYTES + 1).encode())
    findings = await roots.scan()
    assert [f.kind for f in findings] == ["problem"]
    assert f"oversized: {MAX_SIGNAL_BYTES + 1} bytes" in findings[0].detail
    # A runaway writer: far larger.
    write(roots.doc, IMPLEMENTATION_COMPLETE_FILE, b" " * (4 * MAX_SIGNAL_BYTES))
    assert ["oversized" in f.detail for f in await roots.scan()] == [True]


async def test_a_directory_named_like_a_signal_file_is_a_problem(roots: Roots) -> None:
    folder = roots.root / IMPLEMENTATION_COMPLETE_FILE
    folder.mkdir(parents=True)
    findings = await roots.scan()
    assert [(f.kind, f.path) for f in findings] == [("problem", str(folder))]
    assert "directory" in findings[0].detail
    assert await roots.scan() == []


async def test_a_named_pipe_is_a_problem_and_never_blocks_the_scan(roots: Roots) -> None:
    roots.own.mkdir(parents=True)
    pipe = roots.own / IMPLEMENTATION_COMPLETE_FILE
    os.mkfifo(pipe)
    # Opening a pipe with no writer blocks; the scan must not even try.
    findings = await roots.scan()
    assert [(f.kind, f.path) for f in findings] == [("problem", str(pipe))]
    assert "not a regular file" in findings[0].detail
    # Through a symlink too (the link is followed to the pipe).
    roots.doc.mkdir(parents=True)
    (roots.doc / GUIDANCE_REQUEST_FILE).symlink_to(pipe)
    assert [f.kind for f in await roots.scan()] == ["problem"]


class FlakyHost(LocalHost):
    """A local host whose ``lstat`` or ``read_regular`` fails on demand (works as root too)."""

    def __init__(self) -> None:
        super().__init__()
        self.stat_error: OSError | None = None
        self.read_error: OSError | None = None
        self.remove_before_read = False

    async def lstat_many(self, paths: Sequence[str]) -> list[FileStat | OSError | None]:
        if self.stat_error is not None:
            return [self.stat_error for _ in paths]
        return await super().lstat_many(paths)

    async def read_regular(self, path: str, *, limit: int) -> bytes:
        if self.remove_before_read:
            await anyio.Path(path).unlink()  # the agent removed it between the stat and the read
        if self.read_error is not None:
            raise self.read_error
        return await super().read_regular(path, limit=limit)


async def test_os_errors_are_problems_reported_once(tmp_path: Path) -> None:
    host = FlakyHost()
    folder = tmp_path / ".metawsm"
    write(folder, IMPLEMENTATION_COMPLETE_FILE, {"summary": "s"})
    watcher = SignalWatcher(host, (str(folder),))

    async def scan() -> list[Finding]:
        with anyio.fail_after(SCAN_LIMIT):
            return await watcher.scan(run_id=RUN, agent=AGENT, generation=1)

    host.read_error = PermissionError(13, "Permission denied")
    findings = await scan()
    assert [f.kind for f in findings] == ["problem"]
    assert "unreadable" in findings[0].detail and "Permission denied" in findings[0].detail
    assert await scan() == []

    host.read_error = None
    host.stat_error = OSError(5, "Input/output error")
    failed_stat = await scan()
    # Every file of the root fails its stat: each is reported, once.
    assert [f.file for f in failed_stat] == [
        GUIDANCE_REQUEST_FILE,
        IMPLEMENTATION_COMPLETE_FILE,
        VALIDATION_RESULT_FILE,
    ]
    assert all(f.kind == "problem" and "Input/output error" in f.detail for f in failed_stat)
    assert await scan() == []

    host.stat_error = None
    assert [f.kind for f in await scan()] == ["complete"], "readable again: read once more"


async def test_a_file_removed_between_stat_and_read_is_no_problem(tmp_path: Path) -> None:
    host = FlakyHost()
    folder = tmp_path / ".metawsm"
    write(folder, GUIDANCE_REQUEST_FILE, {"question": "q"})
    watcher = SignalWatcher(host, (str(folder),))
    host.remove_before_read = True
    assert await watcher.scan(run_id=RUN, agent=AGENT, generation=1) == []
    host.remove_before_read = False
    write(folder, GUIDANCE_REQUEST_FILE, {"question": "q"})
    assert [f.kind for f in await watcher.scan(run_id=RUN, agent=AGENT, generation=1)] == [
        "guidance"
    ]


# -- never raises --------------------------------------------------------------------------------

_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["run_id", "agent", "generation", "question", "summary", "status", "x"]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=12,
)
_CONTENTS = st.binary(max_size=300) | _ANY_JSON.map(lambda value: json.dumps(value).encode())


@settings(max_examples=60)
@given(contents=st.lists(_CONTENTS, min_size=3, max_size=3))
def test_whatever_the_files_hold_a_scan_never_raises(contents: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        roots = Roots(Path(tmp))
        for folder, name, data in zip(
            (roots.own, roots.root, roots.doc),
            (GUIDANCE_REQUEST_FILE, IMPLEMENTATION_COMPLETE_FILE, VALIDATION_RESULT_FILE),
            contents,
            strict=True,
        ):
            write(folder, name, data)

        findings = anyio.run(roots.scan)

        assert len(findings) == 3
        for finding in findings:
            assert finding.kind in ("guidance", "complete", "validate", "rejected", "problem")
            assert (finding.signal is None) == (finding.kind == "problem")
            assert (finding.detail == "") == (finding.kind not in ("rejected", "problem"))
        assert anyio.run(roots.scan) == []


class SwappingHost(LocalHost):
    """Replaces a file with a named pipe right after the lstat: the race an agent (or anyone
    who can write the folder) wins by swapping the file between the look and the read."""

    def __init__(self, victim: Path) -> None:
        super().__init__()
        self.victim = victim

    async def lstat_many(self, paths: Sequence[str]) -> list[FileStat | OSError | None]:
        found = await super().lstat_many(paths)
        if self.victim.exists() and not self.victim.is_fifo():
            self.victim.unlink()
            os.mkfifo(self.victim)
        return found


def _release_after(pipe: Path, seconds: float) -> threading.Timer:
    """Open ``pipe`` for writing after ``seconds``: frees a reader blocked in ``open()`` (the
    bug), so a regression fails the test by its bound instead of hanging it."""

    def release() -> None:
        with contextlib.suppress(OSError):
            os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))

    timer = threading.Timer(seconds, release)
    timer.start()
    return timer


async def test_a_file_swapped_for_a_pipe_after_the_look_is_refused_unblocked(
    tmp_path: Path,
) -> None:
    folder = tmp_path / ".metawsm"
    victim = write(folder, GUIDANCE_REQUEST_FILE, {"question": "q"})
    watcher = SignalWatcher(SwappingHost(victim), (str(folder),))
    timer = _release_after(victim, SCAN_LIMIT)
    try:
        started = time.monotonic()
        findings = await watcher.scan(run_id=RUN, agent=AGENT, generation=1)
        took = time.monotonic() - started
    finally:
        timer.cancel()
        _release_after(victim, 0).join()
    assert took < SCAN_LIMIT, "the read blocked on the pipe until it was released"
    assert [(f.kind, f.detail) for f in findings] == [
        ("problem", "unreadable: a named pipe, not a regular file")
    ]


async def test_a_link_to_a_regular_file_is_not_followed(roots: Roots, tmp_path: Path) -> None:
    elsewhere = write(tmp_path / "elsewhere", IMPLEMENTATION_COMPLETE_FILE, stamped(summary="s"))
    roots.own.mkdir(parents=True)
    (roots.own / IMPLEMENTATION_COMPLETE_FILE).symlink_to(elsewhere)
    findings = await roots.scan()
    assert [(f.kind, f.detail) for f in findings] == [
        ("problem", "unreadable: a symbolic link (links are not followed)")
    ]
    assert await roots.scan() == []


class StuckHost(LocalHost):
    """A host whose file look-ups stop answering (a wedged network file system)."""

    def __init__(self) -> None:
        super().__init__()
        self.stuck = True

    async def lstat_many(self, paths: Sequence[str]) -> list[FileStat | OSError | None]:
        if self.stuck:
            await anyio.sleep_forever()
        return await super().lstat_many(paths)


async def test_a_scan_is_bounded_when_the_file_system_stops_answering(tmp_path: Path) -> None:
    folder = tmp_path / ".metawsm"
    write(folder, IMPLEMENTATION_COMPLETE_FILE, stamped(summary="s"))
    host = StuckHost()
    watcher = SignalWatcher(host, (str(folder),))

    async def scan() -> list[Finding]:
        with anyio.fail_after(SCAN_LIMIT):
            return await watcher.scan(run_id=RUN, agent=AGENT, generation=GENERATION, timeout=0.2)

    stuck = await scan()
    assert [f.kind for f in stuck] == ["problem"]
    assert "took over 0.2s" in stuck[0].detail
    assert await scan() == []  # reported once while it stays stuck
    host.stuck = False
    assert [f.kind for f in await scan()] == ["complete"]  # read once it answers again
