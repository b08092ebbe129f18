"""Real git repositories for tests: a clone with ``main`` and commits, a bare ``origin``, an
origin that moved ahead, all in a temp dir and independent of the machine's git config.

Setup is synchronous (``subprocess``): it runs before the code under test and reads best as a
plain script. Use :func:`isolate_git` (or the ``git_env`` fixture built on it) so that git
commands run by the code under test see the same identity and no user or system config.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from metawsm.hosts import LocalHost

__all__ = [
    "GIT_TEST_ENV",
    "RepoFactory",
    "factory",
    "git_env",
    "git_out",
    "host",
    "isolate_git",
]

GIT_TEST_ENV: Mapping[str, str] = {
    "GIT_AUTHOR_NAME": "Metawsm Test",
    "GIT_AUTHOR_EMAIL": "test@metawsm.invalid",
    "GIT_COMMITTER_NAME": "Metawsm Test",
    "GIT_COMMITTER_EMAIL": "test@metawsm.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
}
"""Environment for every git command of a test: fixed identity, no user or system config."""


def isolate_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every git the test (or the code under test) runs use :data:`GIT_TEST_ENV`."""
    for key, value in GIT_TEST_ENV.items():
        monkeypatch.setenv(key, value)
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_CEILING_DIRECTORIES"):
        monkeypatch.delenv(key, raising=False)


def git_out(cwd: Path | str, *args: str) -> str:
    """Run ``git -C cwd args`` and return its stripped stdout; raise with stderr on failure."""
    env = {**os.environ, **GIT_TEST_ENV}
    proc = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} in {cwd} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


class RepoFactory:
    """Makes repositories under one folder (usually ``tmp_path``)."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def repo(
        self, name: str, *, files: Mapping[str, str] | None = None, branch: str = "main"
    ) -> Path:
        """A non-bare repo ``<base>/<name>`` on ``branch`` with one commit of ``files``."""
        path = self.base / name
        path.mkdir(parents=True)
        git_out(path, "-c", f"init.defaultBranch={branch}", "init", "--quiet")
        self.commit(path, "initial commit", files or {"README.md": f"# {name}\n"})
        return path

    def commit(self, repo: Path, message: str, files: Mapping[str, str]) -> str:
        """Write ``files`` (relative path -> content), commit them all, return the commit id."""
        for rel, content in files.items():
            target = repo / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        git_out(repo, "add", "--all")
        git_out(repo, "commit", "--quiet", "-m", message)
        return self.head(repo)

    @staticmethod
    def head(repo: Path, rev: str = "HEAD") -> str:
        """The commit id ``rev`` names in ``repo``."""
        return git_out(repo, "rev-parse", "--verify", f"{rev}^{{commit}}")

    def origin(self, repo: Path) -> Path:
        """A bare ``<base>/<name>.git`` cloned from ``repo``, set as its ``origin`` and fetched."""
        bare = self.base / f"{repo.name}.git"
        git_out(self.base, "clone", "--quiet", "--bare", str(repo), str(bare))
        git_out(repo, "remote", "add", "origin", str(bare))
        git_out(repo, "fetch", "--quiet", "origin")
        return bare

    def advance_origin(
        self, bare: Path, branch: str = "main", *, message: str = "upstream work"
    ) -> str:
        """Push a new commit to ``branch`` of ``bare`` from another clone; return its id.

        The repo that has ``bare`` as origin does not see it until it fetches.
        """
        other = self.base / f"{bare.stem}-other-{len(list(self.base.iterdir()))}"
        git_out(self.base, "clone", "--quiet", "--branch", branch, str(bare), str(other))
        sha = self.commit(other, message, {f"upstream-{other.name}.txt": message + "\n"})
        git_out(other, "push", "--quiet", "origin", f"HEAD:refs/heads/{branch}")
        return sha


# -- fixtures: import them into a test package's conftest.py ---------------------------------


@pytest.fixture(autouse=True)
def git_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every git command of the test, its own and the code's, runs isolated."""
    isolate_git(monkeypatch)


@pytest.fixture
def factory(tmp_path: Path) -> RepoFactory:
    """Makes clones (and their bare origins) under ``<tmp>/src``."""
    base = tmp_path / "src"
    base.mkdir()
    return RepoFactory(base)


@pytest.fixture
def host() -> LocalHost:
    """This machine, as the code under test sees it."""
    return LocalHost()
