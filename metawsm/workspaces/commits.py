"""metawsm's own commits: exactly the paths it wrote, on the checked-out branch of a worktree.

metawsm writes files into a workspace (seeded ticket docs, the run brief, iterate's feedback,
a closed ticket's status and changelog). Each such write is committed right away with
:func:`commit_paths`, so no repository is ever left dirty by metawsm and the operator's base
branch receives the files through the merge. The rules:

- **Only those paths.** The commit is ``HEAD`` plus the current content of the named paths
  (added, changed or removed), built in a temporary index: whatever an agent has staged or
  left unstaged elsewhere in the worktree is neither committed nor unstaged, and stays exactly
  as it was. Paths are literal (no glob magic) and must lie inside the worktree.
- **Git's own lock protocol.** The worktree's index is changed the way git changes it: holding
  ``index.lock`` (created exclusively, with a token that names this commit). While it is held,
  ``HEAD`` is checked, the branch is moved by compare-and-swap and the new index (the old one
  with just the committed paths' entries replaced) is put in place with one rename. An agent's
  git command that holds the lock makes this wait and retry with a bounded, jittered backoff;
  a ``HEAD`` that moved meanwhile (an agent committed) makes it rebuild on the new ``HEAD``.
- **Cleans up only what it made.** Temporary index files are removed, and the lock is removed
  only if it still holds this commit's token, also when the commit is cancelled or times out;
  the short section that moves the branch and installs the index is shielded from
  cancellation (bounded by its own timeout), so a cancelled commit never leaves the branch
  moved with a stale index.
- **metawsm's identity.** Author and committer are ``metawsm <metawsm@localhost>``, so its
  commits are told apart from an agent's in the log. Hooks do not run (``core.hooksPath`` is
  ``/dev/null``): a repository's pre-commit hook is the agents' business, not a seeding's.
- **Through the Host seam.** Every step is a command or a file call of a
  :class:`~metawsm.hosts.base.Host`, so the same code commits in a workspace over SSH.

An agent's ``git commit`` that read ``HEAD`` just before metawsm moved it fails its own
compare-and-swap ("cannot lock ref 'HEAD'") and can simply be run again; nothing is lost
either way. metawsm commits before agents start, between iterations and at close, so this
needs a writer that commits while agents run (docs sync) to happen at all.
"""

from __future__ import annotations

import contextlib
import posixpath
import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import anyio

from metawsm.errors import MetawsmError
from metawsm.hosts import git as gitops
from metawsm.hosts.base import CommandResult, Host
from metawsm.hosts.errors import CommandFailed, HostError

__all__ = [
    "COMMIT_TIMEOUT",
    "METAWSM_IDENTITY",
    "CommitError",
    "CommitLocked",
    "commit_paths",
]

COMMIT_TIMEOUT = 60.0
"""Seconds a whole :func:`commit_paths` may take, waiting for an agent's lock included."""

METAWSM_IDENTITY: Mapping[str, str] = {
    "GIT_AUTHOR_NAME": "metawsm",
    "GIT_AUTHOR_EMAIL": "metawsm@localhost",
    "GIT_COMMITTER_NAME": "metawsm",
    "GIT_COMMITTER_EMAIL": "metawsm@localhost",
}
"""Author and committer of every commit metawsm makes of its own files."""

_INSTALL_TIMEOUT = 30.0  # the shielded section: check HEAD, new index, move branch, rename
_MAX_REBUILDS = 20  # HEAD moved under us this many times in a row: give up
_OPTIMISTIC_TRIES = 2  # attempts that build the commit before taking the lock
_BACKOFF_FIRST = 0.02
_BACKOFF_CAP = 0.5
_NULL_SHA = "0" * 40


class CommitError(MetawsmError):
    """metawsm could not commit its own files; the worktree was left as it was."""


class CommitLocked(CommitError):
    """Another git process held the worktree's ``index.lock`` for the whole timeout."""


@dataclass(frozen=True, slots=True)
class _Built:
    """A commit of the paths on top of ``head``, not yet on any branch."""

    head: str
    commit: str
    index_info: bytes  # ``git update-index -z --index-info`` records for the changed paths


async def commit_paths(
    host: Host,
    repo_dir: str,
    paths: Sequence[str],
    message: str,
    *,
    timeout: float = COMMIT_TIMEOUT,
) -> str | None:
    """Commit exactly ``paths`` (relative to ``repo_dir``, or absolute inside it) as they are
    in the work tree now, on the branch checked out in ``repo_dir``; return the new commit id,
    or ``None`` when they hold nothing ``HEAD`` does not already have.

    A folder commits everything under it (new files included, ignored ones not); a path that
    is gone commits its removal; a path neither in the work tree nor in ``HEAD``, or one the
    repository ignores, is skipped.
    Raises :class:`CommitLocked` when another git process holds the index for ``timeout``
    seconds, :class:`CommitError` for anything else that went wrong (a detached ``HEAD``, a
    path outside the worktree, a git failure); in every case the worktree, its index and its
    branch are as they were.
    """
    repo = posixpath.normpath(repo_dir)
    rels = _relative_paths(repo, paths)
    if not message.strip():
        raise CommitError("a commit needs a message")
    if not rels:
        return None
    try:
        with anyio.fail_after(timeout):
            return await _commit(host, repo, rels, message)
    except TimeoutError:
        raise CommitLocked(
            f"could not commit {_names(rels)} in {repo} within {timeout:g}s: "
            "another git process holds its index.lock",
            hint="if no git command is running there, a crashed one left index.lock behind; "
            f"remove it (`git -C {repo} rev-parse --git-path index.lock`)",
        ) from None
    except HostError as exc:
        raise CommitError(
            f"could not commit {_names(rels)} in {repo}: {exc.message}",
            hint=exc.hint or "the worktree was left as it was",
        ) from exc


def _names(rels: Sequence[str]) -> str:
    shown = ", ".join(rels[:3])
    return shown + (f" and {len(rels) - 3} more" if len(rels) > 3 else "")


def _relative_paths(repo: str, paths: Sequence[str]) -> list[str]:
    """The paths relative to ``repo``, normalised, each refused if it leaves the worktree."""
    if not posixpath.isabs(repo):
        raise CommitError(f"worktree path {repo!r} must be absolute")
    rels: list[str] = []
    for raw in paths:
        if not raw or "\0" in raw or "\n" in raw:
            raise CommitError(f"cannot commit path {raw!r}: empty or has a NUL or newline")
        full = posixpath.normpath(raw if posixpath.isabs(raw) else posixpath.join(repo, raw))
        if not full.startswith(repo + "/"):
            raise CommitError(
                f"cannot commit {raw}: it is not inside {repo}",
                hint="metawsm commits only paths below the worktree, never the worktree itself",
            )
        rel = full[len(repo) + 1 :]
        if ".git" in rel.split("/"):
            raise CommitError(f"cannot commit {raw}: it is inside a .git folder")
        if rel not in rels:
            rels.append(rel)
    return rels


async def _git(
    host: Host,
    repo: str,
    *args: str,
    index: str | None = None,
    stdin: bytes | None = None,
    check: bool = True,
) -> CommandResult:
    env = {**gitops.GIT_ENV, **METAWSM_IDENTITY, "GIT_LITERAL_PATHSPECS": "1"}
    if index is not None:
        env["GIT_INDEX_FILE"] = index
    argv = ["git", "-C", repo, "-c", "core.quotepath=off", "-c", "core.hooksPath=/dev/null", *args]
    return await host.run(argv, env=env, stdin=stdin, check=check, timeout=gitops.DEFAULT_TIMEOUT)


async def _commit(host: Host, repo: str, rels: list[str], message: str) -> str | None:
    index = await gitops.git_path(host, repo, "index")
    lock = index + ".lock"
    token = f"metawsm commit {secrets.token_hex(8)}"
    token_file = f"{index}.metawsm-{secrets.token_hex(6)}.token"
    made: list[str] = [token_file]  # temporary files this call created, removed in every case
    try:
        await host.write_bytes_atomic(token_file, f"{token}\n".encode())
        for attempt in range(_MAX_REBUILDS):
            # Optimistic first: build without the lock, so an agent's git is held up only while
            # the branch moves. A HEAD that keeps moving is then beaten by building under it.
            locked = attempt >= _OPTIMISTIC_TRIES
            if locked:
                await _lock(host, lock, token_file)
            try:
                branch = await _branch(host, repo)
                built = await _build(host, repo, rels, message, index, made)
                if built is None:
                    return None
                if not locked:
                    await _lock(host, lock, token_file)
                with anyio.CancelScope(shield=True), anyio.fail_after(_INSTALL_TIMEOUT):
                    installed = await _install(host, repo, branch, built, index, message, made)
            except TimeoutError:
                raise CommitError(
                    f"moving the branch in {repo} took over {_INSTALL_TIMEOUT:g}s",
                    hint=f"check the host's disk; `git -C {repo} status` shows where it stands",
                ) from None
            finally:
                with anyio.CancelScope(shield=True), anyio.move_on_after(_INSTALL_TIMEOUT):
                    await _unlock(host, lock, token)
            if installed:
                return built.commit
        raise CommitError(
            f"the branch in {repo} kept moving; gave up committing {_names(rels)}",
            hint="another process commits there continuously; try again",
        )
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(_INSTALL_TIMEOUT):
            await _unlock(host, lock, token)
            for path in made:  # a git killed by the cancel leaves its temp index's lock too
                await host.remove(path)
                await host.remove(path + ".lock")


async def _branch(host: Host, repo: str) -> str:
    result = await _git(host, repo, "symbolic-ref", "--quiet", "HEAD", check=False)
    ref = result.stdout.strip()
    if not result.ok or not ref.startswith("refs/heads/"):
        raise CommitError(
            f"{repo} has no branch checked out (detached HEAD); metawsm commits only on a branch",
            hint=f"check the workspace branch out again: `git -C {repo} switch <branch>`",
        )
    return ref


async def _build(
    host: Host, repo: str, rels: list[str], message: str, index: str, made: list[str]
) -> _Built | None:
    """HEAD plus the paths, as a commit object; ``None`` when the paths match HEAD."""
    head = await gitops.rev_parse(host, repo, "HEAD")
    temp = f"{index}.metawsm-{secrets.token_hex(6)}"
    made.append(temp)
    if head is None:
        await _git(host, repo, "read-tree", "--empty", index=temp)
    else:
        await _git(host, repo, "read-tree", head, index=temp)
    present = await _present(host, repo, rels, temp)
    if present:
        added = await _git(host, repo, "add", "--all", "--", *present, index=temp, check=False)
        # A path the repo ignores is skipped (git adds the rest): it never makes a tree dirty.
        if not added.ok and "ignored by one of your .gitignore files" not in added.stderr:
            raise CommandFailed(host.name, added.argv, added.returncode, added.stderr)
    diff_args = ["diff-index", "--cached", "-z", "--no-renames", "--ignore-submodules=none"]
    if head is None:
        changes = await _git(host, repo, "ls-files", "-z", "--stage", index=temp)
        records = _records_from_stage(changes.stdout)
    else:
        changes = await _git(host, repo, *diff_args, head, "--", *rels, index=temp)
        records = _records_from_diff(changes.stdout)
    if not records:
        return None
    tree = (await _git(host, repo, "write-tree", index=temp)).stdout.strip()
    parents = ["-p", head] if head is not None else []
    created = await _git(
        host, repo, "commit-tree", *parents, "-F", "-", tree, stdin=message.encode()
    )
    return _Built(head or _NULL_SHA, created.stdout.strip(), b"".join(records))


async def _present(host: Host, repo: str, rels: list[str], temp: str) -> list[str]:
    """The paths ``git add`` can take: those in the work tree, or tracked (their removal)."""
    stats = await host.stat_many([posixpath.join(repo, rel) for rel in rels])
    present = [rel for rel, st in zip(rels, stats, strict=True) if st is not None]
    missing = [rel for rel in rels if rel not in present]
    if missing:
        listed = await _git(host, repo, "ls-files", "-z", "--", *missing, index=temp)
        tracked = [name for name in listed.stdout.split("\0") if name]
        present += [
            rel for rel in missing if any(t == rel or t.startswith(rel + "/") for t in tracked)
        ]
    return present


def _records_from_diff(output: str) -> list[bytes]:
    """``--index-info`` records from ``diff-index -z``: new entries, mode 0 for removals."""
    records: list[bytes] = []
    fields = output.split("\0")
    i = 0
    while i + 1 < len(fields):
        meta, path = fields[i], fields[i + 1]
        i += 2
        if not meta.startswith(":"):
            continue
        _old_mode, new_mode, _old_sha, new_sha, status = meta[1:].split(" ")
        if status.startswith("D"):
            records.append(f"0 {_NULL_SHA}\t{path}\0".encode())
        else:
            records.append(f"{new_mode} {new_sha}\t{path}\0".encode())
    return records


def _records_from_stage(output: str) -> list[bytes]:
    """``--index-info`` records from ``ls-files -z --stage`` (a branch with no commit yet)."""
    records: list[bytes] = []
    for entry in output.split("\0"):
        if not entry:
            continue
        meta, path = entry.split("\t", 1)
        mode, sha, _stage = meta.split(" ")
        records.append(f"{mode} {sha}\t{path}\0".encode())
    return records


async def _lock(host: Host, lock: str, token_file: str) -> None:
    """Wait (bounded by the caller's deadline) until ``index.lock`` is ours."""
    delay = _BACKOFF_FIRST
    while not await _try_lock(host, lock, token_file):
        await anyio.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, _BACKOFF_CAP)


async def _try_lock(host: Host, lock: str, token_file: str) -> bool:
    """Make ``index.lock`` a hard link of the token file; ``False`` if another process has it.

    ``link(2)`` fails when the name exists, as git's own ``O_CREAT|O_EXCL`` does, and the lock
    holds the token from the instant it exists: a lock this call made is always recognised as
    its own, even if the command was killed right after making it.
    """
    result = await host.run(["ln", "--", token_file, lock])
    if result.ok:
        return True
    if "exists" in result.stderr or await host.stat(lock) is not None:
        return False  # held (perhaps released already: the caller tries again)
    raise CommandFailed(host.name, ("create", lock), result.returncode, result.stderr)


async def _unlock(host: Host, lock: str, token: str) -> None:
    """Remove ``index.lock`` if it is this commit's (its token), never another process's."""
    try:
        content = await host.read_bytes(lock, limit=256)
    except FileNotFoundError:
        return
    if content.decode("utf-8", "replace").strip() == token:
        await host.remove(lock)


async def _install(
    host: Host,
    repo: str,
    branch: str,
    built: _Built,
    index: str,
    message: str,
    made: list[str],
) -> bool:
    """Holding the lock: move the branch to the commit and put the new index in place.

    ``False`` (nothing changed) when HEAD moved or switched branch since the commit was built.
    """
    if await _branch(host, repo) != branch:
        return False
    fresh = f"{index}.metawsm-{secrets.token_hex(6)}"
    made.append(fresh)
    with contextlib.suppress(FileNotFoundError):  # no index: git reads that as an empty one
        await host.write_bytes_atomic(fresh, await host.read_bytes(index))
    await _git(
        host, repo, "update-index", "-z", "--index-info", index=fresh, stdin=built.index_info
    )
    await _git(host, repo, "update-index", "-q", "--refresh", index=fresh, check=False)
    subject = message.strip().splitlines()[0]
    moved = await _git(
        host, repo, "update-ref", "-m", f"metawsm: {subject}", "HEAD", built.commit, built.head,
        check=False,
    )  # fmt: skip
    if not moved.ok:
        if "cannot lock ref" in moved.stderr:
            return False  # HEAD moved (compare-and-swap) or its ref lock is held: build again
        raise CommandFailed(host.name, moved.argv, moved.returncode, moved.stderr)
    try:
        await host.run(["mv", "-f", "--", fresh, index], check=True)
    except HostError:
        # The index could not be replaced: put the branch back, so the worktree is as it was.
        await _git(host, repo, "update-ref", "HEAD", built.head, built.commit, check=False)
        raise
    made.remove(fresh)
    return True
