"""Seeding a ticket folder into a workspace's doc-home repo, and its content revision."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from metawsm.docs import (
    SeedError,
    Ticket,
    UnsafePath,
    seed_ticket,
    tree_revision,
    verify_seeded,
    workspace_docs_root,
)
from metawsm.hosts import LocalHost
from tests.helpers.docs import TicketSpec, build_docs_root

pytestmark = pytest.mark.anyio

SPEC = TicketSpec(
    "METAWSM-002",
    "First bootstrap flow",
    files={
        "reference/01-diary.md": "# Diary\n",
        "design-doc/deep/nested/notes.md": "nested\n",
        "scripts/run.sh": "#!/bin/sh\necho hi\n",
    },
)


@pytest.fixture
def repo_root(tmp_path: Path) -> Path:
    """The repository's docs root with one ticket (plus links and an empty folder)."""
    root = build_docs_root(tmp_path / "repo" / "ttmp", SPEC)
    folder = root / SPEC.rel_path
    (folder / "scripts" / "run.sh").chmod(0o755)
    (folder / "latest-diary.md").symlink_to("reference/01-diary.md")
    (folder / "design-doc" / "up").symlink_to("../reference")
    (folder / "empty").mkdir()
    return root


@pytest.fixture
def ticket(repo_root: Path) -> Ticket:
    return Ticket(SPEC.ticket, SPEC.title, "active", str(repo_root), SPEC.rel_path)


@pytest.fixture
def workspace_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "ws" / "metawsm"
    repo.mkdir(parents=True)
    return repo


async def test_seeding_copies_the_whole_tree_with_links_as_links(
    host: LocalHost, ticket: Ticket, workspace_repo: Path
) -> None:
    result = await seed_ticket(host, ticket, str(workspace_repo))
    dest = workspace_repo / "ttmp" / SPEC.rel_path
    assert result.destination == str(dest)
    assert result.source == ticket.path
    assert (dest / "design-doc" / "deep" / "nested" / "notes.md").read_text() == "nested\n"
    assert (dest / "index.md").read_bytes() == await anyio.Path(ticket.index_path).read_bytes()
    assert (dest / "latest-diary.md").is_symlink()
    assert os.readlink(dest / "latest-diary.md") == "reference/01-diary.md"
    assert os.readlink(dest / "design-doc" / "up") == "../reference"
    assert (dest / "empty").is_dir()
    assert (dest / ".meta").is_dir()
    assert os.stat(dest / "scripts" / "run.sh").st_mode & 0o777 == 0o755
    assert (result.files, result.symlinks) == (7, 2)
    # os.walk does not follow links: the link to a folder is not counted as one.
    assert result.dirs == sum(len(dirs) for _, dirs, _ in os.walk(ticket.path)) - 1


async def test_reseeding_replaces_the_destination_and_drops_stale_files(
    host: LocalHost, ticket: Ticket, workspace_repo: Path
) -> None:
    await seed_ticket(host, ticket, str(workspace_repo))
    dest = workspace_repo / "ttmp" / SPEC.rel_path
    (dest / "agent-scratch.md").write_text("stale\n")
    (dest / "reference" / "01-diary.md").write_text("edited in the workspace\n")
    await seed_ticket(host, ticket, str(workspace_repo))
    assert not (dest / "agent-scratch.md").exists()
    assert (dest / "reference" / "01-diary.md").read_text() == "# Diary\n"


async def test_the_revision_is_the_content_hash_of_source_and_copy(
    host: LocalHost, ticket: Ticket, workspace_repo: Path
) -> None:
    result = await seed_ticket(host, ticket, str(workspace_repo))
    assert result.revision.startswith("sha256:")
    assert result.revision == await tree_revision(host, ticket.path)
    assert result.revision == await tree_revision(host, result.destination)


async def test_the_revision_changes_if_and_only_if_the_content_changes(
    host: LocalHost, ticket: Ticket, workspace_repo: Path
) -> None:
    folder = Path(ticket.path)
    first = (await seed_ticket(host, ticket, str(workspace_repo))).revision
    os.utime(folder / "index.md", (1, 1))  # a touch is not a change
    assert (await seed_ticket(host, ticket, str(workspace_repo))).revision == first

    revisions = {first}
    for change in (
        lambda: (folder / "tasks.md").write_text("# Tasks\n\n- [x] done\n"),
        lambda: (folder / "tasks.md").rename(folder / "tasks-renamed.md"),
        lambda: (folder / "another-empty-dir").mkdir(),
        lambda: (folder / "latest-diary.md").unlink(),
    ):
        change()
        revision = (await seed_ticket(host, ticket, str(workspace_repo))).revision
        assert revision not in revisions
        revisions.add(revision)


@pytest.mark.parametrize("rel_path", ["../outside", "2026/../../x", "/abs/path", "", "a//b"])
async def test_unsafe_ticket_paths_are_refused(
    host: LocalHost, ticket: Ticket, workspace_repo: Path, rel_path: str
) -> None:
    with pytest.raises(UnsafePath, match="unsafe ticket path"):
        await seed_ticket(host, replace(ticket, rel_path=rel_path), str(workspace_repo))
    assert not (workspace_repo / "ttmp").exists()


@pytest.mark.parametrize(
    ("target", "message"),
    [("/etc/passwd", "is absolute"), ("../../../../../secrets", "leaves the ticket folder")],
)
async def test_links_pointing_outside_the_ticket_are_refused_before_anything_is_removed(
    host: LocalHost, ticket: Ticket, workspace_repo: Path, target: str, message: str
) -> None:
    await seed_ticket(host, ticket, str(workspace_repo))
    previous = workspace_repo / "ttmp" / SPEC.rel_path / "index.md"
    (Path(ticket.path) / "reference" / "escape").symlink_to(target)
    with pytest.raises(UnsafePath, match=message) as caught:
        await seed_ticket(host, ticket, str(workspace_repo))
    assert "reference/escape" in str(caught.value)
    assert previous.exists()  # the earlier copy is left alone
    allowed = await seed_ticket(host, ticket, str(workspace_repo), allow_external_links=True)
    assert os.readlink(Path(allowed.destination) / "reference" / "escape") == target


async def test_special_files_cannot_be_seeded(
    host: LocalHost, ticket: Ticket, workspace_repo: Path
) -> None:
    os.mkfifo(Path(ticket.path) / "scripts" / "pipe")
    with pytest.raises(SeedError, match="scripts/pipe"):
        await seed_ticket(host, ticket, str(workspace_repo))


async def test_a_missing_source_folder_is_a_seed_error(
    host: LocalHost, ticket: Ticket, workspace_repo: Path
) -> None:
    with pytest.raises(SeedError, match="does not exist"):
        await seed_ticket(host, replace(ticket, rel_path="2026/01/01/GONE--x"), str(workspace_repo))


async def test_the_workspace_repos_own_ttmp_yaml_picks_the_destination(
    host: LocalHost, ticket: Ticket, workspace_repo: Path
) -> None:
    (workspace_repo / ".ttmp.yaml").write_text("root: docs/ttmp\n")
    result = await seed_ticket(host, ticket, str(workspace_repo))
    assert result.destination == f"{workspace_repo}/docs/ttmp/{SPEC.rel_path}"
    assert await verify_seeded(host, ticket, str(workspace_repo))


@pytest.mark.parametrize("root", ["/elsewhere/ttmp", "../../outside", "."])
async def test_a_workspace_docs_root_outside_the_repo_is_refused(
    host: LocalHost, workspace_repo: Path, root: str
) -> None:
    (workspace_repo / ".ttmp.yaml").write_text(f"root: {root}\n")
    with pytest.raises(UnsafePath, match="outside"):
        await workspace_docs_root(host, str(workspace_repo))


async def test_verify_seeded_finds_the_ticket_by_its_frontmatter(
    host: LocalHost, ticket: Ticket, workspace_repo: Path
) -> None:
    assert not await verify_seeded(host, ticket, str(workspace_repo))
    result = await seed_ticket(host, ticket, str(workspace_repo))
    assert await verify_seeded(host, ticket, str(workspace_repo))
    # A folder that only looks right by name does not count.
    index = Path(result.destination) / "index.md"
    index.write_text(index.read_text().replace("Ticket: METAWSM-002", "Ticket: METAWSM-0020"))
    assert not await verify_seeded(host, ticket, str(workspace_repo))


async def test_verify_seeded_fails_when_the_workspace_holds_the_ticket_twice(
    host: LocalHost, ticket: Ticket, workspace_repo: Path, tmp_path: Path
) -> None:
    result = await seed_ticket(host, ticket, str(workspace_repo))
    copy = workspace_repo / "ttmp" / "2026" / "03" / "01" / "METAWSM-002--copy"
    copy.mkdir(parents=True)
    (copy / "index.md").write_bytes((Path(result.destination) / "index.md").read_bytes())
    assert not await verify_seeded(host, ticket, str(workspace_repo))


async def test_a_linked_folder_on_the_way_to_the_destination_is_refused(
    host: LocalHost, ticket: Ticket, workspace_repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    victim = outside / "02" / "08" / SPEC.rel_path.rsplit("/", 1)[1]
    victim.mkdir(parents=True)
    (victim / "keep.md").write_text("not the workspace's\n")
    (workspace_repo / "ttmp").mkdir()
    (workspace_repo / "ttmp" / "2026").symlink_to(outside)
    with pytest.raises(UnsafePath, match="is a link"):
        await seed_ticket(host, ticket, str(workspace_repo))
    assert (victim / "keep.md").read_text() == "not the workspace's\n"
