"""``gate_report`` lists every gate (for ``close --dry-run`` and ``--json``), and the close
context is read from a real store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from metawsm.errors import NotFoundError
from metawsm.loop.gates import (
    GateError,
    RunBrief,
    check_close_gates,
    gate_report,
    load_close_context,
    read_run_brief,
)
from metawsm.store import ops
from metawsm.store.client import DirectStore
from metawsm.store.db import connect
from metawsm.store.reader import Reader
from metawsm.store.records import DocSyncRecord
from tests.gates.conftest import DOC_HOME, DONE, GateWorld, write_validation

pytestmark = pytest.mark.anyio


async def test_a_passing_run_reports_every_gate_passed_in_order(world: GateWorld) -> None:
    report = await gate_report(world.ctx())
    assert all(r.passed for r in report)
    ws = world.ws()
    assert [r.gate for r in report] == [
        "run_status",
        "doc_sync",
        "ticket_docs",
        "doc_home_clean",
        "repo_clean",
        "repo_clean",
        "run_brief",
        "done_criteria",
        "pending_guidance",
        "validation_result",
        "validation_run_id",
        "validation_status",
        "validation_done_criteria",
    ]
    assert {r.workspace for r in report[1:6]} == {ws.name}
    assert report[2].message.startswith(f"workspace {ws.name} ticket METAWSM-1 docs present at ")


async def test_the_report_lists_every_failure_and_the_first_is_what_close_raises(
    world: GateWorld,
) -> None:
    ws = world.ws()
    world.status = "running"
    world.doc_sync.clear()
    (Path(ws.repos["lib"]) / "wip.txt").write_text("wip\n")
    world.pending_guidance = 3
    write_validation(ws.root, run_id=world.run_id, status="failed", done_criteria=DONE)
    report = await gate_report(world.ctx())
    failed = [(r.gate, r.message) for r in report if not r.passed]
    assert failed == [
        (
            "run_status",
            f"run {world.run_id} must be in completed state before close (current: running)",
        ),
        ("doc_sync_state", f"workspace {ws.name} ticket METAWSM-1 missing doc sync state; "
                           "close blocked"),
        ("repo_clean", f"workspace {ws.name} repo {ws.repos['lib']} has uncommitted changes; "
                       "close blocked"),
        ("pending_guidance", f"bootstrap run {world.run_id} has 3 pending guidance request(s); "
                             "close blocked"),
        ("validation_status", f'workspace {ws.name} validation status="failed"; close blocked'),
    ]  # fmt: skip
    with pytest.raises(GateError) as caught:
        await check_close_gates(world.ctx())
    assert caught.value.message == failed[0][1]


async def test_a_report_leaves_out_gates_that_depend_on_a_failed_one(world: GateWorld) -> None:
    world.brief = None
    (Path(world.ws().root) / ".metawsm" / "validation-result.json").unlink()
    gates = [r.gate for r in await gate_report(world.ctx())]
    assert "done_criteria" not in gates
    assert gates[-1] == "validation_result"


async def test_a_missing_workspace_is_reported_once(world: GateWorld) -> None:
    report = await gate_report(world.ctx(workspaces={}))
    assert [r.gate for r in report if not r.passed] == ["workspace"]


async def test_a_closed_run_reports_only_its_status(world: GateWorld) -> None:
    world.status = "closed"
    report = await gate_report(world.ctx(workspaces={}))
    assert [(r.gate, r.passed) for r in report] == [("run_status", True)]


# -- reading the context from the store ----------------------------------------------------------


def insert_brief(db: Path, brief: RunBrief) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "INSERT INTO run_briefs (run_id, ticket, goal, scope, done_criteria,"
            " constraints_text, merge_intent, qa_json, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                brief.run_id, brief.ticket, brief.goal, brief.scope, brief.done_criteria,
                brief.constraints_text, brief.merge_intent, brief.qa_json, brief.created_at,
                brief.updated_at,
            ),
        )  # fmt: skip
    conn.close()


async def test_the_context_is_loaded_from_the_store_and_the_provider(
    world: GateWorld, tmp_path: Path
) -> None:
    db = tmp_path / "store" / "metawsm.db"
    spec = world.spec()
    ws = world.ws()
    with DirectStore(db) as store:
        store.write_sync(
            *ops.create_run(
                world.run_id,
                spec_json=spec.to_json(),
                policy_json="{}",
                tickets=spec.tickets,
                status="completed",
            )
        )
        store.write_sync(
            ops.upsert_doc_sync_state(
                DocSyncRecord(world.run_id, "METAWSM-1", ws.name, "synced", DOC_HOME, revision="r1")
            )
        )
        store.write_sync(*ops.add_guidance_request(world.run_id, ws.name, "agent", "Which API?"))
    assert world.brief is not None
    insert_brief(db, world.brief)
    with Reader(db) as reader:
        ctx = await load_close_context(reader, world.run_id, world.provider)
        with pytest.raises(NotFoundError):
            await load_close_context(reader, "run-nope", world.provider)
    assert (ctx.run.run_id, ctx.run.status, ctx.spec) == (world.run_id, "completed", spec)
    assert ctx.workspaces == {ws.name: ws}
    assert [(s.ticket, s.status, s.revision) for s in ctx.doc_sync] == [
        ("METAWSM-1", "synced", "r1")
    ]
    assert ctx.brief == world.brief
    assert ctx.pending_guidance == 1
    assert ctx.host is world.host
    with pytest.raises(GateError) as caught:
        await check_close_gates(ctx)
    assert caught.value.gate == "pending_guidance"


async def test_read_run_brief_reads_through_a_read_only_connection(
    world: GateWorld, tmp_path: Path
) -> None:
    db = tmp_path / "store" / "metawsm.db"
    DirectStore(db).close()  # creates and migrates it
    assert world.brief is not None
    insert_brief(db, world.brief)
    conn = connect(db, readonly=True)
    try:
        assert read_run_brief(conn, world.run_id) == world.brief
        assert read_run_brief(conn, "run-other") is None
    finally:
        conn.close()
