"""Small git helpers over a :class:`~metawsm.hosts.base.Host`.

Every call is ``git -C <repo> ...`` as argv (never a shell string), with an environment that
makes the output parseable and the command unable to hang or to fight an agent for a lock:

- ``LC_ALL=C``: messages we match on are in English;
- ``GIT_TERMINAL_PROMPT=0``: a fetch that needs credentials fails instead of prompting;
- ``GIT_OPTIONAL_LOCKS=0``: ``git status`` does not take ``index.lock`` to refresh the index,
  so a supervisor polling a worktree never makes the agent's own ``git add`` fail;
- ``-c core.quotepath=off``: paths in human-readable output are not octal-escaped. Parsers
  below use ``-z`` output anyway, which is never quoted.

Refs that come from input are passed after ``--end-of-options`` or as full ``refs/...`` names,
so a value starting with ``-`` can never be read as an option.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from metawsm.hosts.base import CommandResult, Host
from metawsm.hosts.errors import CommandFailed, CommandTimeout

__all__ = [
    "CHECKOUT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "FETCH_TIMEOUT",
    "GIT_ENV",
    "CommitLine",
    "DiffStat",
    "FileChange",
    "InProgress",
    "MergeTreeResult",
    "StatusEntry",
    "WorktreeInfo",
    "add_exclude",
    "branch_delete",
    "checked_out_at",
    "commit_tree",
    "commits_between",
    "config_get",
    "current_branch",
    "diff_files",
    "diff_stat",
    "fetch",
    "git",
    "git_path",
    "has_remote",
    "is_ancestor",
    "is_dirty",
    "is_repo",
    "merge_ff_only",
    "merge_tree",
    "newest_change_mtime",
    "operation_in_progress",
    "ref_exists",
    "rev_parse",
    "status_short",
    "update_ref",
    "worktree_add",
    "worktree_list",
    "worktree_prune",
    "worktree_remove",
]

GIT_ENV: Mapping[str, str] = {
    "LC_ALL": "C",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_OPTIONAL_LOCKS": "0",
}
DEFAULT_TIMEOUT = 60.0
"""Seconds a local git command may take (status of a big worktree included)."""
FETCH_TIMEOUT = 120.0
"""Seconds a fetch may take before it is abandoned (fetch errors are not fatal to callers)."""
CHECKOUT_TIMEOUT = 600.0
"""Seconds adding or removing a worktree may take: it writes every file of a big repository."""


@dataclass(frozen=True, slots=True)
class StatusEntry:
    """One line of ``git status --porcelain``: the two-letter code and the repo-relative path.

    ``orig_path`` is the source of a rename or copy. Untracked files have code ``??``.
    """

    code: str
    path: str
    orig_path: str | None = None


@dataclass(frozen=True, slots=True)
class DiffStat:
    """How far a worktree is from its base: tracked changes since the merge base, plus new files.

    ``files``, ``insertions`` and ``deletions`` count committed and uncommitted changes to
    tracked files (binary files count as a file with no lines); ``untracked`` counts files git
    does not track yet and does not ignore.
    """

    files: int
    insertions: int
    deletions: int
    untracked: int


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file of ``git diff --numstat``; a binary file has no line counts (``None``)."""

    path: str
    insertions: int | None
    deletions: int | None


@dataclass(frozen=True, slots=True)
class CommitLine:
    """One commit as ``git log --oneline`` shows it: abbreviated id and subject."""

    sha: str
    subject: str


@dataclass(frozen=True, slots=True)
class WorktreeInfo:
    """One entry of ``git worktree list --porcelain``."""

    path: str
    head: str | None
    branch: str | None  # full ref name, e.g. refs/heads/task/x; None when detached or bare
    bare: bool = False
    prunable: bool = False


@dataclass(frozen=True, slots=True)
class InProgress:
    """A merge, rebase, cherry-pick or revert a repository is in the middle of.

    ``branch`` is the short name of the branch being changed (for a rebase, the branch being
    rebased), or ``None`` when HEAD is detached.
    """

    operation: str
    branch: str | None


async def git(
    host: Host,
    repo: str,
    *args: str,
    check: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    stdin: bytes | None = None,
) -> CommandResult:
    """Run ``git -C <repo> <args>`` on ``host``; raise ``CommandFailed`` on failure if ``check``."""
    argv = ["git", "-C", repo, "-c", "core.quotepath=off", *args]
    return await host.run(argv, env=GIT_ENV, timeout=timeout, check=check, stdin=stdin)


async def is_repo(host: Host, path: str) -> bool:
    """Whether ``path`` is the top of a git work tree, or a bare repository.

    A folder *inside* a repository is not one: a clone path that points into another repo's
    subfolder would otherwise put worktrees of the wrong repository in a workspace.
    """
    result = await git(
        host,
        path,
        "rev-parse",
        "--is-bare-repository",
        "--is-inside-work-tree",
        "--show-cdup",
        check=False,
    )
    if not result.ok:
        return False
    lines = result.stdout.split("\n")
    if lines[0] == "true":
        return True
    return len(lines) >= 3 and lines[1] == "true" and lines[2] == ""


async def current_branch(host: Host, repo: str) -> str | None:
    """The short name of the checked-out branch, or ``None`` when HEAD is detached."""
    result = await git(host, repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    name = result.stdout.strip()
    return name if result.ok and name else None


async def rev_parse(host: Host, repo: str, rev: str) -> str | None:
    """The commit id ``rev`` names, or ``None`` if it names no commit."""
    result = await git(
        host, repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}",
        check=False,
    )  # fmt: skip
    sha = result.stdout.strip()
    return sha if result.ok and sha else None


async def ref_exists(host: Host, repo: str, ref: str) -> bool:
    """Whether ``ref``, a full ref name (``refs/heads/main``, ``refs/remotes/origin/x``), exists."""
    if not ref.startswith("refs/"):
        raise ValueError(f"ref_exists needs a full ref name (refs/...), got {ref!r}")
    result = await git(host, repo, "show-ref", "--verify", "--quiet", ref, check=False)
    return result.ok


async def has_remote(host: Host, repo: str, name: str) -> bool:
    """Whether the repository has a remote called ``name``."""
    result = await git(host, repo, "remote", check=False)
    return result.ok and name in result.stdout.split()


async def fetch(
    host: Host, repo: str, remote: str, ref: str, *, timeout: float = FETCH_TIMEOUT
) -> bool:
    """``git fetch <remote> <ref>``; ``False`` (not an error) if it fails or times out.

    With the default refspec this also moves ``refs/remotes/<remote>/<ref>``.
    """
    try:
        result = await git(
            host, repo, "fetch", "--quiet", "--no-tags", remote, "--end-of-options", ref,
            check=False, timeout=timeout,
        )  # fmt: skip
    except CommandTimeout:
        return False
    return result.ok


def _parse_porcelain_z(output: str) -> list[StatusEntry]:
    entries: list[StatusEntry] = []
    fields = output.split("\0")
    i = 0
    while i < len(fields):
        field = fields[i]
        i += 1
        if len(field) < 4:
            continue
        code, path = field[:2], field[3:]
        if code[0] in "RC" or code[1] in "RC":
            orig = fields[i] if i < len(fields) else None
            i += 1
            entries.append(StatusEntry(code, path, orig))
        else:
            entries.append(StatusEntry(code, path))
    return entries


async def status_short(host: Host, repo: str, *, untracked: str = "normal") -> list[StatusEntry]:
    """Changed, staged and untracked paths (``git status --porcelain``); ignored files excluded.

    ``untracked`` is git's ``--untracked-files`` mode: ``normal`` lists a new folder once,
    ``all`` lists every file in it, ``no`` leaves untracked files out.
    """
    result = await git(
        host, repo, "status", "--porcelain=v1", "-z", f"--untracked-files={untracked}"
    )
    return _parse_porcelain_z(result.stdout)


async def is_dirty(host: Host, repo: str) -> bool:
    """Whether the work tree has any change: modified, staged, deleted or untracked files.

    Ignored files (``.gitignore``, ``info/exclude``, so ``.metawsm/``) do not count.
    """
    result = await git(host, repo, "status", "--porcelain=v1", "-z", "--untracked-files=normal")
    return result.stdout != ""


async def diff_stat(host: Host, repo: str, base: str) -> DiffStat:
    """Changes in the work tree since it forked from ``base`` (see :class:`DiffStat`).

    The comparison point is the merge base of ``base`` and HEAD, so commits that landed on the
    base branch after the fork are not counted as (reversed) changes of this worktree.
    """
    base_sha = await rev_parse(host, repo, base)
    if base_sha is None:
        raise ValueError(f"diff_stat: {base!r} names no commit in {repo}")
    merge_base = await git(host, repo, "merge-base", base_sha, "HEAD")
    numstat = await git(host, repo, "diff", "--numstat", "-z", merge_base.stdout.strip(), "--")
    changes = _parse_numstat_z(numstat.stdout)
    files = len(changes)
    insertions = sum(c.insertions or 0 for c in changes)
    deletions = sum(c.deletions or 0 for c in changes)
    untracked = sum(1 for e in await status_short(host, repo, untracked="all") if e.code == "??")
    return DiffStat(files, insertions, deletions, untracked)


def _parse_numstat_z(output: str) -> list[FileChange]:
    changes: list[FileChange] = []
    fields = output.split("\0")
    i = 0
    while i < len(fields):
        field = fields[i]
        i += 1
        if not field:
            continue
        added, deleted, path = field.split("\t", 2)
        if path == "":  # a rename or copy: the source and destination paths follow
            path = fields[i + 1] if i + 1 < len(fields) else ""
            i += 2
        changes.append(
            FileChange(
                path,
                int(added) if added != "-" else None,
                int(deleted) if deleted != "-" else None,
            )
        )
    return changes


async def commits_between(
    host: Host, repo: str, base: str, head: str = "HEAD", *, limit: int = 20
) -> tuple[int, list[CommitLine]]:
    """The commits of ``head`` that ``base`` lacks (``base..head``): how many, and the newest
    ``limit`` of them (newest first). Pass commit ids or full ref names."""
    result = await git(
        host, repo, "log", f"--max-count={max(1, limit)}", "--format=%h%x1f%s",
        "--end-of-options", f"{base}..{head}", "--",
    )  # fmt: skip
    commits = []
    for line in result.stdout.splitlines():
        sha, _, subject = line.partition("\x1f")
        if sha:
            commits.append(CommitLine(sha, subject))
    if len(commits) < limit:
        return len(commits), commits
    counted = await git(
        host, repo, "rev-list", "--count", "--end-of-options", f"{base}..{head}", "--"
    )
    return int(counted.stdout.strip() or 0), commits


async def diff_files(host: Host, repo: str, base: str, head: str = "HEAD") -> list[FileChange]:
    """The committed changes of ``head`` since it forked from ``base`` (``base...head``, from
    their merge base): one entry per file. Pass commit ids or full ref names."""
    result = await git(
        host, repo, "diff", "--numstat", "-z", "--end-of-options", f"{base}...{head}", "--"
    )
    return _parse_numstat_z(result.stdout)


async def worktree_add(
    host: Host, repo: str, path: str, *, branch: str, start_point: str | None = None
) -> None:
    """Add a worktree of ``repo`` at ``path`` on ``branch``.

    With ``start_point``, ``branch`` is created there (``-b``; fails if it exists) without an
    upstream; without it, the existing ``branch`` is checked out. Raises ``CommandFailed``.
    """
    if start_point is None:
        # The short name, so git attaches HEAD and refuses a branch checked out elsewhere.
        await git(host, repo, "worktree", "add", "--", path, branch, timeout=CHECKOUT_TIMEOUT)
        return
    await git(
        host, repo, "worktree", "add", "--no-track", "-b", branch, "--", path, start_point,
        timeout=CHECKOUT_TIMEOUT,
    )  # fmt: skip


async def worktree_remove(host: Host, repo: str, path: str, *, force: bool = False) -> bool:
    """Remove the worktree at ``path``; ``False`` if ``repo`` has no worktree there.

    Without ``force`` git refuses a worktree with modified or untracked files (``CommandFailed``);
    with it, they are discarded.
    """
    args = ["worktree", "remove", *(["--force"] if force else []), "--", path]
    result = await git(host, repo, *args, check=False, timeout=CHECKOUT_TIMEOUT)
    if result.ok:
        return True
    if "is not a working tree" in result.stderr:
        return False
    raise CommandFailed(host.name, result.argv, result.returncode, result.stderr)


async def worktree_prune(host: Host, repo: str) -> None:
    """Forget worktrees whose folders are gone."""
    await git(host, repo, "worktree", "prune")


async def worktree_list(host: Host, repo: str) -> list[WorktreeInfo]:
    """Every worktree of ``repo``, the main one first."""
    result = await git(host, repo, "worktree", "list", "--porcelain")
    worktrees: list[WorktreeInfo] = []
    for block in result.stdout.strip("\n").split("\n\n"):
        facts: dict[str, str] = {}
        for line in block.split("\n"):
            key, _, value = line.partition(" ")
            facts[key] = value
        if "worktree" not in facts:
            continue
        worktrees.append(
            WorktreeInfo(
                path=facts["worktree"],
                head=facts.get("HEAD"),
                branch=facts.get("branch"),
                bare="bare" in facts,
                prunable="prunable" in facts,
            )
        )
    return worktrees


async def branch_delete(host: Host, repo: str, branch: str, *, force: bool = False) -> bool:
    """Delete a local branch; ``False`` if it does not exist.

    Without ``force`` git refuses a branch not merged into HEAD (``CommandFailed``).
    """
    if not await ref_exists(host, repo, f"refs/heads/{branch}"):
        return False
    await git(host, repo, "branch", "-D" if force else "-d", "--", branch)
    return True


async def git_path(host: Host, repo: str, name: str) -> str:
    """The absolute path of ``$GIT_DIR/<name>`` as git resolves it (``git rev-parse --git-path``).

    In a linked worktree, shared files (``info/exclude``, ``config``) resolve to the main
    repository's git dir and per-worktree files (``HEAD``, ``MERGE_HEAD``) to the worktree's.
    """
    result = await git(host, repo, "rev-parse", "--git-path", name)
    path = result.stdout.strip()
    return posixpath.normpath(posixpath.join(repo, path))


async def operation_in_progress(host: Host, repo: str) -> InProgress | None:
    """The merge, rebase, cherry-pick or revert ``repo``'s work tree is in the middle of, if any."""
    markers = ("rebase-merge", "rebase-apply", "MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD")
    args: list[str] = []
    for marker in markers:
        args += ["--git-path", marker]
    result = await git(host, repo, "rev-parse", *args)
    paths = [posixpath.join(repo, line) for line in result.stdout.strip("\n").split("\n")]
    for marker, path in zip(markers, paths, strict=True):
        if await host.stat(path) is None:
            continue
        if marker.startswith("rebase"):
            try:
                head_name = (await host.read_bytes(posixpath.join(path, "head-name"))).decode()
            except FileNotFoundError:
                head_name = ""
            head_name = head_name.strip()
            branch = (
                head_name.removeprefix("refs/heads/") if head_name.startswith("refs/") else None
            )
            return InProgress("rebase", branch)
        operation = {"MERGE_HEAD": "merge", "CHERRY_PICK_HEAD": "cherry-pick"}.get(marker, "revert")
        return InProgress(operation, await current_branch(host, repo))
    return None


async def add_exclude(host: Host, repo: str, pattern: str = ".metawsm/") -> bool:
    """Make git ignore ``pattern`` in ``repo`` through ``info/exclude``; ``True`` if it was added.

    For a linked worktree this is the main repository's ``info/exclude`` (git keeps one per
    repository, shared by all worktrees), so one line covers every workspace of that clone and
    nothing is written into the tracked tree.
    """
    path = await git_path(host, repo, "info/exclude")
    try:
        content = (await host.read_bytes(path)).decode("utf-8", "replace")
    except FileNotFoundError:
        content = ""
    if pattern in (line.strip() for line in content.splitlines()):
        return False
    if content and not content.endswith("\n"):
        content += "\n"
    await host.write_bytes_atomic(path, (content + pattern + "\n").encode())
    return True


async def newest_change_mtime(host: Host, repo: str, *, limit: int = 500) -> float | None:
    """The newest modification time among the files ``git status`` reports, or ``None``.

    This is the "progress" signal: an agent editing files moves it even before it commits.
    Deleted files have no time and are skipped; at most ``limit`` files are looked at, so a
    worktree with thousands of untracked files cannot make one observation slow.
    """
    entries = await status_short(host, repo, untracked="all")
    newest: float | None = None
    for entry in entries[:limit]:
        stat = await host.stat(posixpath.join(repo, entry.path))
        if stat is not None and (newest is None or stat.mtime > newest):
            newest = stat.mtime
    return newest


# -- merging (used by metawsm.workspaces.merge) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class MergeTreeResult:
    """What ``git merge-tree --write-tree`` found, without touching any work tree or ref.

    ``tree`` is the id of the merged tree git wrote to the object store; when ``conflicts`` is
    not empty it holds conflict markers and must not be committed.
    """

    tree: str
    conflicts: tuple[str, ...]

    @property
    def clean(self) -> bool:
        """Whether the two sides merge without a conflict."""
        return not self.conflicts


async def is_ancestor(host: Host, repo: str, ancestor: str, descendant: str) -> bool:
    """Whether commit ``ancestor`` is reachable from ``descendant`` (or is it).

    Raises ``CommandFailed`` when either does not name a commit.
    """
    result = await git(
        host, repo, "merge-base", "--is-ancestor", "--end-of-options", ancestor, descendant,
        check=False,
    )  # fmt: skip
    if result.returncode in (0, 1):
        return result.returncode == 0
    raise CommandFailed(host.name, result.argv, result.returncode, result.stderr)


async def merge_tree(host: Host, repo: str, ours: str, theirs: str) -> MergeTreeResult:
    """Merge ``theirs`` into ``ours`` in the object store only (git >= 2.38).

    Nothing is checked out, no ref moves and no index is written: the merge is computed by
    the same algorithm ``git merge`` uses (ort), so a clean result here is a clean merge
    there. Pass commit ids or full ref names. Raises ``CommandFailed`` for anything but a
    clean merge (exit 0) or conflicts (exit 1), e.g. an unknown commit or a git too old to
    know ``--write-tree``.
    """
    result = await git(
        host, repo, "merge-tree", "--write-tree", "--name-only", "-z", "--no-messages",
        "--end-of-options", ours, theirs,
        check=False, timeout=CHECKOUT_TIMEOUT,
    )  # fmt: skip
    if result.returncode not in (0, 1):
        raise CommandFailed(host.name, result.argv, result.returncode, result.stderr)
    fields = result.stdout.split("\0")
    tree = fields[0].strip()
    if not tree:
        raise CommandFailed(host.name, result.argv, result.returncode, "merge-tree wrote no tree")
    conflicts = tuple(dict.fromkeys(f for f in fields[1:] if f))
    if result.returncode == 1 and not conflicts:
        raise CommandFailed(
            host.name, result.argv, 1, "merge-tree reported conflicts without naming a file"
        )
    return MergeTreeResult(tree, conflicts if result.returncode == 1 else ())


async def config_get(host: Host, repo: str, key: str) -> str | None:
    """The value of git config ``key`` as ``repo`` sees it (all levels), or ``None``."""
    result = await git(host, repo, "config", "--get", "--end-of-options", key, check=False)
    value = result.stdout.rstrip("\n")
    return value if result.ok and value else None


async def commit_tree(
    host: Host,
    repo: str,
    tree: str,
    parents: Sequence[str],
    message: str,
    *,
    config: Sequence[str] = (),
) -> str:
    """Write a commit of ``tree`` with ``parents`` and ``message``; return its id.

    No ref moves. ``config`` holds ``key=value`` settings passed as ``-c`` (an identity for a
    clone that has none). Raises ``CommandFailed`` (e.g. no committer identity).
    """
    overrides = [arg for setting in config for arg in ("-c", setting)]
    parent_args = [arg for parent in parents for arg in ("-p", parent)]
    result = await git(
        host, repo, *overrides, "commit-tree", *parent_args, "-F", "-", tree,
        stdin=message.encode(),
    )  # fmt: skip
    return result.stdout.strip()


async def update_ref(
    host: Host, repo: str, ref: str, new: str, old: str, *, reason: str = ""
) -> bool:
    """Move full ref ``ref`` to ``new`` only if it still points at ``old`` (compare and swap).

    ``False`` when the ref moved meanwhile (nothing changed); ``CommandFailed`` otherwise.
    """
    if not ref.startswith("refs/"):
        raise ValueError(f"update_ref needs a full ref name (refs/...), got {ref!r}")
    args = ["update-ref", *(["-m", reason] if reason else []), ref, new, old]
    result = await git(host, repo, *args, check=False)
    if result.ok:
        return True
    if await rev_parse(host, repo, ref) != old:
        return False
    raise CommandFailed(host.name, result.argv, result.returncode, result.stderr)


async def checked_out_at(host: Host, repo: str, branch: str) -> list[str]:
    """Paths of the worktrees of ``repo`` (the main one included) that have ``branch`` checked
    out; a worktree whose folder is gone (prunable) is left out."""
    ref = f"refs/heads/{branch}"
    return [
        w.path
        for w in await worktree_list(host, repo)
        if w.branch == ref and not w.bare and not w.prunable
    ]


async def merge_ff_only(host: Host, repo: str, commit: str) -> bool:
    """Fast-forward the branch checked out in ``repo`` to ``commit``, updating its files.

    ``False`` (nothing changed) when it cannot be a fast-forward or a local file would be
    overwritten; ``CommandFailed`` for other failures.
    """
    result = await git(
        host, repo, "merge", "--ff-only", "--quiet", "--end-of-options", commit,
        check=False, timeout=CHECKOUT_TIMEOUT,
    )  # fmt: skip
    if result.ok:
        return True
    text = result.stderr + result.stdout
    if "Not possible to fast-forward" in text or "would be overwritten" in text:
        return False
    raise CommandFailed(host.name, result.argv, result.returncode, result.stderr)
