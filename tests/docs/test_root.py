"""Docs root resolution: docmgr's rules applied to an explicit start folder (contract §A.1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from metawsm.docs import resolve_docs_location, resolve_docs_root
from metawsm.hosts import LocalHost

pytestmark = pytest.mark.anyio


async def test_an_explicit_absolute_root_wins(host: LocalHost, tmp_path: Path) -> None:
    (tmp_path / ".ttmp.yaml").write_text("root: elsewhere\n")
    assert await resolve_docs_root(host, str(tmp_path), "/abs/docs") == "/abs/docs"


async def test_an_explicit_relative_root_is_joined_onto_the_start(
    host: LocalHost, tmp_path: Path
) -> None:
    assert await resolve_docs_root(host, str(tmp_path), "docs/tickets") == (
        f"{tmp_path}/docs/tickets"
    )


async def test_the_nearest_ttmp_yaml_names_the_root_relative_to_itself(
    host: LocalHost, tmp_path: Path
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".ttmp.yaml").write_text(
        "root: documentation/ttmp\n"
        "defaults:\n    owners: [alice, bob]\n    intent: short-term\n"
        'filenamePrefixPolicy: ""\n'
    )
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    location = await resolve_docs_location(host, str(deep), "ttmp")
    assert location.root == f"{tmp_path}/documentation/ttmp"
    assert location.default_owners == ("alice", "bob")
    assert location.default_intent == "short-term"


async def test_a_malformed_config_falls_through_to_the_git_root(
    host: LocalHost, tmp_path: Path
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".ttmp.yaml").write_text("root: [unclosed\n")
    location = await resolve_docs_location(host, str(tmp_path / ""), None)
    assert location.root == f"{tmp_path}/ttmp"
    assert location.config is None
    assert location.default_intent == "long-term"


async def test_a_config_without_root_falls_through_but_keeps_its_defaults(
    host: LocalHost, tmp_path: Path
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".ttmp.yaml").write_text("defaults:\n    intent: short-term\n")
    location = await resolve_docs_location(host, str(tmp_path), None)
    assert location.root == f"{tmp_path}/ttmp"
    assert location.default_intent == "short-term"


async def test_a_worktree_git_file_marks_the_git_root(host: LocalHost, tmp_path: Path) -> None:
    worktree = tmp_path / "ws" / "repo"
    (worktree / "src").mkdir(parents=True)
    (worktree / ".git").write_text("gitdir: /somewhere/.git/worktrees/repo\n")
    assert await resolve_docs_root(host, str(worktree / "src")) == f"{worktree}/ttmp"


async def test_a_git_file_without_gitdir_is_not_a_git_root(host: LocalHost, tmp_path: Path) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / ".git").write_text("not a pointer\n")
    (tmp_path / ".git").mkdir()
    assert await resolve_docs_root(host, str(inner)) == f"{tmp_path}/ttmp"


async def test_without_config_or_git_the_start_folder_holds_ttmp(
    host: LocalHost, tmp_path: Path
) -> None:
    # tmp dirs are never inside a git repository or under a .ttmp.yaml on the test machine.
    assert await resolve_docs_root(host, str(tmp_path)) == f"{tmp_path}/ttmp"


async def test_a_docmgr_config_path_is_used_before_walking_up(
    host: LocalHost, tmp_path: Path
) -> None:
    (tmp_path / ".ttmp.yaml").write_text("root: walked\n")
    (tmp_path / "special.yaml").write_text("root: chosen\n")
    root = await resolve_docs_root(host, str(tmp_path), None, docmgr_config="special.yaml")
    assert root == f"{tmp_path}/chosen"


async def test_the_start_folder_must_be_absolute(host: LocalHost) -> None:
    with pytest.raises(ValueError, match="absolute"):
        await resolve_docs_root(host, "relative/dir")
