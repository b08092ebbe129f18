"""A fake ``wsm`` (workspace-manager) for tests, built only from its recorded contract.

The real ``wsm`` cannot be installed here. This script reproduces the parts metawsm's ``wsm``
provider relies on, as recorded in ``the docmgr/wsm contracts reference (docmgr-wsm-contracts.md)``:

- §D.1 storage: ``<UserConfigDir>/workspace-manager/`` (``$XDG_CONFIG_HOME`` or ``~/.config``),
  ``registry.json`` (missing = empty), ``workspaces/<NAME>.json`` with every Workspace key,
  ``repositories[]`` copied from the registry;
- §D.2 layout: ``~/workspaces/<YYYY-MM-DD>/<NAME>/<repo>``, branch ``--branch`` or
  ``<--branch-prefix>/<NAME>``; branches are never deleted;
- §D.3 ``create NAME --repos a,b [--branch] [--branch-prefix] [--base-branch]``: missing repos,
  the branch-selection rules (a local branch means an interactive prompt), rollback of made
  worktrees on failure, a silent overwrite of an existing record;
- §D.4 ``fork NEW SOURCE [--branch] [--branch-prefix]``: source repos must share a branch, which
  becomes the new base (cwd detection of a missing SOURCE is not reproduced: it fails);
- §D.5 ``delete NAME [-f/--force] [--force-worktrees] [--remove-files]``: not-found message and
  exit 1, the confirmation prompt without ``--force``, untracked files refused without
  ``--force-worktrees`` and asked about on stdin with it, record kept on failure;
- §D.8 errors as ``✗ Error: <msg>`` on stderr with exit 1, informational lines on stdout, and
  prompts that open ``/dev/tty``: without a terminal they fail (``could not open a new TTY``),
  with one the real tool would block, so this one blocks too;
- §D.6 ``merge NAME [--dry-run] [--force] [--keep-workspace]``: a base branch is required
  (the recorded message), every repo must be clean unless ``--force`` and on the workspace
  branch, the confirmation prompt without ``--force``; then per repo, in the worktree,
  ``git fetch origin``, ``checkout <base>``, ``pull origin <base>``, ``merge <branch>``,
  ``push origin <base>``; a failure rolls earlier repos back with ``checkout <base>``,
  ``reset --hard origin/<base>``, ``checkout <branch>``; unless ``--keep-workspace`` the
  workspace is then deleted with files and forced worktrees. The wording of the clean and
  branch errors is not recorded; the fake's is its own.

Not reproduced: ``go.work``/``AGENT.md`` generation (§D.2), ``-o json``, ``merge --workspace``
and the read-only commands (§D.7). When ``FAKE_WSM_LOG`` is set, every call appends one JSON
line ``{"argv": [...], "session_leader": bool}`` to that file so tests can check how wsm was
run.

Run it as a script; :func:`install` puts an executable ``wsm`` wrapper in a folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NoReturn


class WsmError(Exception):
    """Printed as ``✗ Error: <message>``; exit 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # cobra: usage errors exit 1 too
        raise WsmError(message)


def _config_dir() -> Path:
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg else Path(os.environ["HOME"]) / ".config"
    return base / "workspace-manager"


def _record_path(name: str) -> Path:
    return _config_dir() / "workspaces" / f"{name}.json"


def _git(cwd: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=False
    )


def _ref_exists(repo: str, ref: str) -> bool:
    return _git(repo, "show-ref", "--verify", "--quiet", ref).returncode == 0


def _prompt(question: str) -> None:
    """A huh/bubbletea prompt: it needs a terminal (§D.8)."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR)
    except OSError as exc:
        raise WsmError(f"could not open a new TTY: open /dev/tty: {exc.strerror}") from None
    os.close(fd)
    print(f"fake wsm: {question} (blocking on the terminal, as the real prompt)", file=sys.stderr)
    time.sleep(3600)


def _load(name: str) -> dict[str, Any]:
    path = _record_path(name)
    if not path.exists():
        raise WsmError(f"workspace '{name}' not found")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _registry() -> dict[str, dict[str, Any]]:
    path = _config_dir() / "registry.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {repo["name"]: repo for repo in data.get("repositories") or []}


def create(name: str, repo_names: list[str], branch: str, base: str) -> None:
    registry = _registry()
    missing = [r for r in repo_names if r not in registry]
    if missing:
        raise WsmError(f"repositories not found: {', '.join(missing)}")
    root = Path(os.environ["HOME"]) / "workspaces" / dt.date.today().isoformat() / name
    root.mkdir(parents=True, exist_ok=True)
    made: list[tuple[str, Path]] = []
    try:
        for repo_name in repo_names:
            source = registry[repo_name]["path"]
            target = root / repo_name
            print(f"Branch status for {repo_name}:")
            if _ref_exists(source, f"refs/heads/{branch}"):
                _prompt(f"branch {branch} exists: overwrite, use or cancel?")
            if _ref_exists(source, f"refs/remotes/origin/{branch}"):
                args = ["worktree", "add", "-b", branch, str(target), f"origin/{branch}"]
            elif base:
                args = ["worktree", "add", "-b", branch, str(target), base]
            else:
                args = ["worktree", "add", "-b", branch, str(target)]
            print("Executing: git " + " ".join(args))
            proc = _git(source, *args)
            if proc.returncode != 0:
                raise WsmError(f"failed to create worktree for {repo_name}: {proc.stderr.strip()}")
            made.append((source, target))
    except WsmError:
        for source, target in made:
            _git(source, "worktree", "remove", "--force", str(target))
        leftovers = {p.name for p in root.iterdir()} - {"go.work", "AGENT.md", ".gitignore"}
        if not leftovers:
            shutil.rmtree(root)
        raise
    record = {
        "name": name,
        "path": str(root),
        "repositories": [registry[r] for r in repo_names],
        "branch": branch,
        "base_branch": base,
        "created": dt.datetime.now().astimezone().isoformat(),
        "go_workspace": False,
        "agent_md": "",
    }
    path = _record_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2))
    print(f"✓ Workspace '{name}' created successfully!")
    print(f"  Path: {root}")


def fork(name: str, source: str | None, branch: str) -> None:
    if source is None:
        raise WsmError("not in a workspace directory")
    src = _load(source)
    branches = set()
    for repo in src["repositories"]:
        head = _git(Path(src["path"]) / repo["name"], "symbolic-ref", "--short", "HEAD")
        branches.add(head.stdout.strip())
    if len(branches) != 1:
        raise WsmError(f"repositories are on different branches: {', '.join(sorted(branches))}")
    create(name, [r["name"] for r in src["repositories"]], branch, branches.pop())


def delete(name: str, *, force: bool, force_worktrees: bool, remove_files: bool) -> None:
    try:
        record = _load(name)
    except WsmError as exc:
        raise WsmError(f"{exc}: {exc}") from None
    print(f"Workspace: {name}")
    print(f"  Path: {record['path']}")
    if not force:
        try:
            _prompt(f"Delete workspace '{name}'?")
        except WsmError as exc:
            raise WsmError(f"confirmation failed: {exc}") from None
    errors: list[str] = []
    for repo in record["repositories"]:
        target = Path(record["path"]) / repo["name"]
        status = _git(target, "status", "--porcelain")
        if any(line.startswith("??") for line in status.stdout.splitlines()):
            if not force_worktrees:
                errors.append(f"{repo['name']}: worktree has untracked files")
                continue
            print(f"Do you want to proceed with {repo['name']}? (y/N): ", end="", flush=True)
            answer = sys.stdin.readline().strip().lower()
            if answer != "y":
                errors.append(f"{repo['name']}: cancelled")
                continue
        args = ["worktree", "remove", *(["--force"] if force_worktrees else []), str(target)]
        proc = _git(repo["path"], *args)
        if proc.returncode != 0:
            errors.append(f"{repo['name']}: {proc.stderr.strip()}")
    if errors:
        raise WsmError(
            "failed to delete workspace: failed to remove worktrees: failed to remove some "
            "worktrees: " + "; ".join(errors)
        )
    root = Path(record["path"])
    if remove_files:
        shutil.rmtree(root, ignore_errors=True)
    else:
        for leftover in ("go.work", "go.work.sum", "AGENT.md"):
            (root / leftover).unlink(missing_ok=True)
    _record_path(name).unlink()
    print(f"✓ Workspace '{name}' deleted successfully")


def merge(name: str, *, force: bool, keep_workspace: bool, dry_run: bool) -> None:
    record = _load(name)
    base = record.get("base_branch") or ""
    if not base:
        raise WsmError(
            "workspace is not a fork (no base branch specified). "
            "Only forked workspaces can be merged."
        )
    branch = record["branch"]
    targets = [
        (repo["name"], Path(record["path"]) / repo["name"]) for repo in record["repositories"]
    ]
    for repo_name, target in targets:
        if not force and _git(target, "status", "--porcelain").stdout.strip():
            raise WsmError(f"repository {repo_name} has uncommitted changes")
        current = _git(target, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
        if current != branch:
            raise WsmError(f"repository {repo_name} is on branch {current}, not {branch}")
    if not force:
        try:
            _prompt(f"Merge workspace '{name}' into {base}?")
        except WsmError as exc:
            raise WsmError(f"confirmation failed: {exc}") from None
    steps = [
        ("fetch", "origin"),
        ("checkout", base),
        ("pull", "origin", base),
        ("merge", branch),
        ("push", "origin", base),
    ]
    merged: list[Path] = []
    for repo_name, target in targets:
        for step in steps:
            if dry_run:
                print(f"[dry-run] git {' '.join(step)} in {target}")
                continue
            proc = _git(target, *step)
            if proc.returncode != 0:
                for done in [*merged, target]:
                    _git(done, "checkout", base)
                    _git(done, "reset", "--hard", f"origin/{base}")
                    _git(done, "checkout", branch)
                raise WsmError(
                    f"failed to merge {repo_name}: git {' '.join(step)}: {proc.stderr.strip()}"
                )
        merged.append(target)
    if dry_run:
        return
    print(f"✓ Workspace '{name}' merged into {base}")
    if not keep_workspace:
        delete(name, force=True, force_worktrees=True, remove_files=True)


def main(argv: list[str]) -> int:
    log = os.environ.get("FAKE_WSM_LOG")
    if log:
        with open(log, "a") as handle:
            entry = {"argv": argv, "session_leader": os.getsid(0) == os.getpid()}
            handle.write(json.dumps(entry) + "\n")
    parser = _Parser(prog="wsm")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p_create = commands.add_parser("create")
    p_create.add_argument("name")
    p_create.add_argument("--repos", action="append", default=[])
    p_create.add_argument("--branch", default="")
    p_create.add_argument("--branch-prefix", default="task")
    p_create.add_argument("--base-branch", default="")
    p_fork = commands.add_parser("fork")
    p_fork.add_argument("name")
    p_fork.add_argument("source", nargs="?")
    p_fork.add_argument("--branch", default="")
    p_fork.add_argument("--branch-prefix", default="task")
    p_delete = commands.add_parser("delete")
    p_delete.add_argument("name")
    p_delete.add_argument("-f", "--force", action="store_true")
    p_delete.add_argument("--force-worktrees", action="store_true")
    p_delete.add_argument("--remove-files", action="store_true")
    p_merge = commands.add_parser("merge")
    p_merge.add_argument("name")
    p_merge.add_argument("--dry-run", action="store_true")
    p_merge.add_argument("--force", action="store_true")
    p_merge.add_argument("--keep-workspace", action="store_true")
    try:
        args = parser.parse_args(argv)
        branch = (
            getattr(args, "branch", "") or f"{getattr(args, 'branch_prefix', 'task')}/{args.name}"
        )
        if args.command == "create":
            repos = [r.strip() for value in args.repos for r in value.split(",") if r.strip()]
            if not repos:
                raise WsmError('required flag(s) "repos" not set')
            create(args.name, repos, branch, args.base_branch)
        elif args.command == "fork":
            fork(args.name, args.source, branch)
        elif args.command == "merge":
            merge(
                args.name,
                force=args.force,
                keep_workspace=args.keep_workspace,
                dry_run=args.dry_run,
            )
        else:
            delete(
                args.name,
                force=args.force,
                force_worktrees=args.force_worktrees,
                remove_files=args.remove_files,
            )
    except WsmError as exc:
        print(f"✗ Error: {exc}", file=sys.stderr)
        return 1
    return 0


def install(bin_dir: Path) -> Path:
    """Write an executable ``wsm`` into ``bin_dir`` that runs this script; return its path."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    wrapper = bin_dir / "wsm"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
