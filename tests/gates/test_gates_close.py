"""Every close gate trips with the original's message, in the original's order
(original-metawsm.md §8), against real workspaces made by the ``git`` provider."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from metawsm.hosts import git as gitops
from metawsm.loop.gates import GateError, check_close_gates
from metawsm.workspaces import Workspace
from tests.gates.conftest import DOC_HOME, DONE, GateWorld, commit_all, write_validation
from tests.helpers.docs import TicketSpec, write_ticket
from tests.helpers.git import git_out

pytestmark = pytest.mark.anyio

T1 = "METAWSM-1"


async def blocked(world: GateWorld, workspaces: Mapping[str, Workspace] | None = None) -> GateError:
    """The gate error closing ``world`` now raises."""
    with pytest.raises(GateError) as caught:
        await check_close_gates(world.ctx(workspaces=workspaces))
    return caught.value


# -- the passing baseline ----------------------------------------------------------------------


async def test_a_run_that_meets_every_gate_can_close(world: GateWorld) -> None:
    await check_close_gates(world.ctx())


async def test_a_standard_run_needs_no_brief_and_no_validation_file(world: GateWorld) -> None:
    world.mode = "run"
    world.brief = None
    (Path(world.ws().root) / ".metawsm" / "validation-result.json").unlink()
    await check_close_gates(world.ctx())


async def test_each_workspace_is_checked_for_its_own_tickets_only(world: GateWorld) -> None:
    # The original checked every ticket in every workspace: two tickets could never close.
    await world.add_ticket("METAWSM-2", "Second")
    await check_close_gates(world.ctx())


# -- 1. run status -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["created", "running", "awaiting_guidance", "failed", "stopped"])
async def test_a_run_that_is_not_completed_cannot_close(world: GateWorld, status: str) -> None:
    world.status = status
    error = await blocked(world)
    assert error.gate == "run_status"
    assert error.message == (
        f"run {world.run_id} must be in completed state before close (current: {status})"
    )


async def test_the_status_gate_comes_before_every_other(world: GateWorld) -> None:
    world.status = "running"
    world.doc_sync.clear()
    world.brief = None
    (Path(world.ws().repos["lib"]) / "scratch.txt").write_text("wip\n")
    assert (await blocked(world)).gate == "run_status"


async def test_a_closed_run_passes_without_looking_at_its_workspaces(world: GateWorld) -> None:
    world.status = "closed"
    world.doc_sync.clear()
    await check_close_gates(world.ctx(workspaces={}))


# -- 2. docs seeded into the workspace ---------------------------------------------------------


async def test_a_missing_doc_sync_state_blocks_close(world: GateWorld) -> None:
    world.doc_sync.clear()
    error = await blocked(world)
    assert error.gate == "doc_sync_state"
    assert error.message == (
        f"workspace {world.ws().name} ticket {T1} missing doc sync state; close blocked"
    )


@pytest.mark.parametrize("status", ["failed", "pending"])
async def test_an_unsynced_doc_state_blocks_close(world: GateWorld, status: str) -> None:
    key = (T1, world.ws().name)
    world.doc_sync[key] = replace(world.doc_sync[key], status=status, error_text="boom")
    error = await blocked(world)
    assert error.gate == "doc_sync_status"
    assert error.message == (
        f"workspace {world.ws().name} ticket {T1} doc sync status={status}; close blocked"
    )
    if status == "failed":
        assert error.hint == "boom"


@pytest.mark.parametrize("revision", ["", "   "])
async def test_a_sync_without_revision_blocks_close(world: GateWorld, revision: str) -> None:
    key = (T1, world.ws().name)
    world.doc_sync[key] = replace(world.doc_sync[key], revision=revision)
    error = await blocked(world)
    assert error.gate == "doc_sync_revision"
    assert error.message == (
        f"workspace {world.ws().name} ticket {T1} missing doc sync revision; close blocked"
    )


async def test_ticket_docs_gone_from_the_workspace_block_close(world: GateWorld) -> None:
    doc_repo = Path(world.ws().repos[DOC_HOME])
    git_out(doc_repo, "rm", "-r", "--quiet", "ttmp")
    commit_all(doc_repo, "drop docs")
    error = await blocked(world)
    assert error.gate == "ticket_docs"
    assert error.message == (
        f"workspace {world.ws().name} ticket {T1} docs missing under {doc_repo}/ttmp; close blocked"
    )


async def test_a_folder_named_like_the_ticket_is_not_its_docs(world: GateWorld) -> None:
    # The original accepted any `<ticket>--*` folder: METAWSM-1 was "found" by METAWSM-10's.
    doc_repo = Path(world.ws().repos[DOC_HOME])
    git_out(doc_repo, "rm", "-r", "--quiet", "ttmp")
    impostor = TicketSpec("METAWSM-10", "Tenth", dirname="METAWSM-1--first-bootstrap-flow")
    write_ticket(doc_repo / "ttmp", impostor)
    commit_all(doc_repo, "only METAWSM-10")
    assert (doc_repo / "ttmp" / impostor.rel_path).is_dir()
    assert (await blocked(world)).gate == "ticket_docs"


async def test_ticket_docs_are_found_by_frontmatter_wherever_they_sit(world: GateWorld) -> None:
    doc_repo = Path(world.ws().repos[DOC_HOME])
    git_out(doc_repo, "mv", "ttmp/2026", "ttmp/moved")
    commit_all(doc_repo, "moved by docmgr")
    await check_close_gates(world.ctx())


async def test_the_docs_root_of_the_repos_ttmp_yaml_is_the_one_checked(world: GateWorld) -> None:
    doc_repo = Path(world.ws().repos[DOC_HOME])
    git_out(doc_repo, "mv", "ttmp", "docs")
    (doc_repo / ".ttmp.yaml").write_text("root: docs\n")
    commit_all(doc_repo, "docs live in docs/")
    await check_close_gates(world.ctx())
    git_out(doc_repo, "rm", "-r", "--quiet", "docs")
    commit_all(doc_repo, "drop docs")
    error = await blocked(world)
    assert error.message.endswith(f"docs missing under {doc_repo}/docs; close blocked")


async def test_a_dirty_doc_home_repo_blocks_close(world: GateWorld) -> None:
    doc_repo = world.ws().repos[DOC_HOME]
    (Path(doc_repo) / "notes.md").write_text("draft\n")
    error = await blocked(world)
    assert error.gate == "doc_home_clean"
    assert error.message == (
        f"workspace {world.ws().name} doc home repo {doc_repo} has uncommitted changes; "
        "close blocked"
    )


async def test_sync_state_errors_win_over_a_dirty_doc_home_repo(world: GateWorld) -> None:
    (Path(world.ws().repos[DOC_HOME]) / "notes.md").write_text("draft\n")
    world.doc_sync.clear()
    assert (await blocked(world)).gate == "doc_sync_state"


async def test_without_seeding_the_doc_gates_are_skipped(world: GateWorld) -> None:
    world.seed_mode = "none"
    world.doc_sync.clear()
    doc_repo = Path(world.ws().repos[DOC_HOME])
    git_out(doc_repo, "rm", "-r", "--quiet", "ttmp")
    commit_all(doc_repo, "drop docs")
    await check_close_gates(world.ctx())
    # The doc home repo is still one of the repos that must be clean.
    (doc_repo / "notes.md").write_text("draft\n")
    error = await blocked(world)
    assert (error.gate, error.message) == (
        "repo_clean",
        f"workspace {world.ws().name} repo {doc_repo} has uncommitted changes; close blocked",
    )


async def test_workspaces_are_checked_in_sorted_order(world: GateWorld) -> None:
    await world.add_ticket("METAWSM-0", "Zeroth")  # sorts first
    world.doc_sync.clear()
    error = await blocked(world)
    assert error.message.startswith(f"workspace {world.ws('METAWSM-0').name} ticket METAWSM-0 ")


# -- 3. clean repos ----------------------------------------------------------------------------


@pytest.mark.parametrize("change", ["untracked", "modified", "staged"])
async def test_uncommitted_work_in_any_repo_blocks_close(world: GateWorld, change: str) -> None:
    lib = Path(world.ws().repos["lib"])
    if change == "untracked":
        (lib / "new.txt").write_text("new\n")
    else:
        (lib / "README.md").write_text("changed\n")
        if change == "staged":
            git_out(lib, "add", "README.md")
    error = await blocked(world)
    assert error.gate == "repo_clean"
    assert error.message == (
        f"workspace {world.ws().name} repo {lib} has uncommitted changes; close blocked"
    )


async def test_signal_files_never_make_a_repo_dirty(world: GateWorld) -> None:
    # Agents write .metawsm/ files inside the repos (their cwd is the doc home repo); the git
    # provider excludes .metawsm/ in each clone's info/exclude, shared by every worktree.
    ws = world.ws()
    for path in ws.repos.values():
        write_validation(path, run_id=world.run_id, status="passed", done_criteria=DONE)
        (Path(path) / ".metawsm" / "implementation-complete.json").write_text("{}")
        assert not await gitops.is_dirty(world.host, path)
    await check_close_gates(world.ctx())


async def test_dirty_repos_come_before_the_bootstrap_checks(world: GateWorld) -> None:
    (Path(world.ws().repos["lib"]) / "wip.txt").write_text("wip\n")
    world.brief = None
    assert (await blocked(world)).gate == "repo_clean"


async def test_a_workspace_that_cannot_be_found_blocks_close(world: GateWorld) -> None:
    name = world.ws().name
    error = await blocked(world, workspaces={})
    assert error.gate == "workspace"
    assert error.message == f"workspace {name} of run {world.run_id} not found; close blocked"


# -- 4. bootstrap: brief, guidance, validation ---------------------------------------------------


async def test_a_bootstrap_run_without_a_brief_cannot_close(world: GateWorld) -> None:
    world.brief = None
    error = await blocked(world)
    assert (error.gate, error.message) == (
        "run_brief",
        f"bootstrap run {world.run_id} is missing run brief; close blocked",
    )


@pytest.mark.parametrize("criteria", ["", "  \n"])
async def test_a_brief_with_empty_done_criteria_blocks_close(
    world: GateWorld, criteria: str
) -> None:
    assert world.brief is not None
    world.brief = replace(world.brief, done_criteria=criteria)
    error = await blocked(world)
    assert (error.gate, error.message) == (
        "done_criteria",
        f"bootstrap run {world.run_id} has empty done criteria; close blocked",
    )


async def test_pending_guidance_blocks_a_bootstrap_run(world: GateWorld) -> None:
    world.pending_guidance = 2
    error = await blocked(world)
    assert (error.gate, error.message) == (
        "pending_guidance",
        f"bootstrap run {world.run_id} has 2 pending guidance request(s); close blocked",
    )


async def test_pending_guidance_blocks_a_standard_run_too(world: GateWorld) -> None:
    world.mode = "run"
    world.pending_guidance = 1
    error = await blocked(world)
    assert (error.gate, error.message) == (
        "pending_guidance",
        f"run {world.run_id} has 1 pending guidance request(s); close blocked",
    )


async def test_a_missing_validation_result_blocks_close(world: GateWorld) -> None:
    (Path(world.ws().root) / ".metawsm" / "validation-result.json").unlink()
    error = await blocked(world)
    assert (error.gate, error.message) == (
        "validation_result",
        f"workspace {world.ws().name} is missing .metawsm/validation-result.json; close blocked",
    )


async def test_validation_is_read_from_the_doc_home_repo_too(world: GateWorld) -> None:
    # The agent's cwd is the doc home repo, so a relative .metawsm/ lands there (§12.9).
    ws = world.ws()
    (Path(ws.root) / ".metawsm" / "validation-result.json").unlink()
    write_validation(ws.repos[DOC_HOME], run_id=world.run_id, status="passed", done_criteria=DONE)
    await check_close_gates(world.ctx())


async def test_the_workspace_root_file_is_read_first(world: GateWorld) -> None:
    ws = world.ws()
    write_validation(ws.root, run_id=world.run_id, status="failed", done_criteria=DONE)
    write_validation(ws.repos[DOC_HOME], run_id=world.run_id, status="passed", done_criteria=DONE)
    assert (await blocked(world)).gate == "validation_status"


async def test_an_unparsable_file_gives_way_to_the_next_root(world: GateWorld) -> None:
    ws = world.ws()
    (Path(ws.root) / ".metawsm" / "validation-result.json").write_text('{"status": "pa')
    write_validation(ws.repos[DOC_HOME], run_id=world.run_id, status="passed", done_criteria=DONE)
    await check_close_gates(world.ctx())


async def test_an_unparsable_file_alone_counts_as_missing_and_says_why(world: GateWorld) -> None:
    (Path(world.ws().root) / ".metawsm" / "validation-result.json").write_text("not json")
    error = await blocked(world)
    assert error.gate == "validation_result"
    assert error.hint is not None and "malformed" in error.hint


async def test_a_validation_result_of_another_run_blocks_close(world: GateWorld) -> None:
    write_validation(world.ws().root, run_id="run-other", status="passed", done_criteria=DONE)
    error = await blocked(world)
    assert (error.gate, error.message) == (
        "validation_run_id",
        f"workspace {world.ws().name} validation result run_id mismatch (run-other)",
    )


async def test_a_validation_result_without_run_id_is_accepted(world: GateWorld) -> None:
    write_validation(world.ws().root, status="passed", done_criteria=DONE)
    await check_close_gates(world.ctx())


@pytest.mark.parametrize("status", ["failed", "", "pass"])
async def test_a_validation_that_did_not_pass_blocks_close(world: GateWorld, status: str) -> None:
    write_validation(world.ws().root, run_id=world.run_id, status=status, done_criteria=DONE)
    error = await blocked(world)
    assert (error.gate, error.message) == (
        "validation_status",
        f'workspace {world.ws().name} validation status="{status}"; close blocked',
    )


@pytest.mark.parametrize("status", ["passed", "PASSED", "  Passed\n"])
async def test_passed_is_compared_trimmed_and_in_any_case(world: GateWorld, status: str) -> None:
    write_validation(world.ws().root, run_id=world.run_id, status=status, done_criteria=DONE)
    await check_close_gates(world.ctx())


async def test_other_done_criteria_block_close(world: GateWorld) -> None:
    write_validation(
        world.ws().root, run_id=world.run_id, status="passed", done_criteria=DONE + " mostly"
    )
    error = await blocked(world)
    assert (error.gate, error.message) == (
        "validation_done_criteria",
        f"workspace {world.ws().name} validation done_criteria mismatch; close blocked",
    )


async def test_done_criteria_are_compared_trimmed(world: GateWorld) -> None:
    assert world.brief is not None
    world.brief = replace(world.brief, done_criteria=f"\n{DONE}  ")
    write_validation(world.ws().root, run_id=world.run_id, status="passed", done_criteria=DONE)
    await check_close_gates(world.ctx())


async def test_every_workspace_needs_its_own_validation_result(world: GateWorld) -> None:
    ws2 = await world.add_ticket("METAWSM-2", "Second")
    (Path(ws2.root) / ".metawsm" / "validation-result.json").unlink()
    error = await blocked(world)
    assert error.message == (
        f"workspace {ws2.name} is missing .metawsm/validation-result.json; close blocked"
    )
