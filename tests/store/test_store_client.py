"""One write interface, two paths (through the writer, or direct), and the reader that sees
what both committed."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from actors import Mailbox
from metawsm.errors import StoreClosedError, StoreError, TransitionError
from metawsm.hsm import EntityKind
from metawsm.store import ops
from metawsm.store.client import DirectStore, StoreClient, StoreWrites
from metawsm.store.db import connect
from metawsm.store.reader import Reader
from metawsm.store.records import AgentRecord, NewEvent, StepRecord
from metawsm.store.schema import LATEST_VERSION, migrate
from metawsm.store.writer import StoreWriter, Write

pytestmark = pytest.mark.anyio

HOSTILE = "O'Brien said \"hi\"; '); DROP TABLE runs; --"


@pytest.fixture(params=["writer", "direct"])
async def store(request: pytest.FixtureRequest, db_path: Path) -> AsyncIterator[StoreWrites]:
    """The same tests through the store writer and through a direct connection."""
    if request.param == "direct":
        async with DirectStore(db_path) as direct:
            yield direct
        return
    mailbox: Mailbox[Write] = Mailbox("store-writer", 256)
    async with anyio.create_task_group() as tg:
        await tg.start(StoreWriter(db_path).run, mailbox)
        yield StoreClient(mailbox.ref)
        mailbox.close()


async def seed(store: StoreWrites) -> None:
    await store.write(*ops.create_run("r1", spec_json="{}", policy_json="{}", tickets=["T-1"]))
    await store.write(*ops.create_run("r2", spec_json="{}", policy_json="{}", tickets=["T-2"]))
    await store.transition(EntityKind.RUN, "r1", "created", "planning", "planning run", run_id="r1")
    await store.write(
        ops.upsert_steps(
            StepRecord("r1", i, f"step {i}", "shell", "true", i == 0, "pending") for i in range(3)
        ),
        ops.upsert_agent(AgentRecord("r1", "coder", "ws-1", "coder-ws-1", "running", "healthy")),
    )


async def test_event_ids_are_one_increasing_sequence(store: StoreWrites) -> None:
    first = await store.append_event(NewEvent("r1", "run", "r1", "note"))
    second = await store.append_event(NewEvent("r2", "run", "r2", "note"))
    third = await store.append_event(NewEvent("r1", "run", "r1", "note"))
    assert first < second < third


async def test_a_transition_returns_its_event_id(store: StoreWrites, db_path: Path) -> None:
    await seed(store)
    event_id = await store.transition(
        EntityKind.RUN, "r1", "planning", "running", "executing plan", run_id="r1"
    )
    with Reader(db_path) as reader:
        (event,) = reader.list_events("r1", after_id=event_id - 1)
        assert (event.id, event.from_state, event.to_state) == (event_id, "planning", "running")
        run = reader.get_run("r1")
        assert run is not None
        assert (run.status, run.error_text) == ("running", "executing plan")


async def test_a_lost_transition_raises_on_both_paths(store: StoreWrites) -> None:
    await seed(store)
    with pytest.raises(TransitionError, match="changed concurrently"):
        await store.transition(EntityKind.RUN, "r2", "planning", "running", run_id="r2")


async def test_a_constraint_failure_is_a_store_error(store: StoreWrites) -> None:
    await seed(store)
    with pytest.raises(StoreError, match="UNIQUE constraint failed"):
        await store.write(*ops.create_run("r1", spec_json="{}", policy_json="{}"))


async def test_hostile_values_round_trip_on_both_paths(store: StoreWrites, db_path: Path) -> None:
    await store.write(*ops.create_run(HOSTILE, spec_json=HOSTILE, policy_json="{}"))
    await store.append_event(NewEvent(HOSTILE, "run", HOSTILE, "note", message=HOSTILE))
    with Reader(db_path) as reader:
        run = reader.get_run(HOSTILE)
        assert run is not None and run.spec_json == HOSTILE
        assert [e.message for e in reader.list_events(HOSTILE)] == [HOSTILE]
        assert reader.counts()["runs"] == 1


async def test_guidance_ids_come_back_from_the_write(store: StoreWrites) -> None:
    assert isinstance(store, DirectStore | StoreClient)
    guidance_id = await store.add_guidance_request("r1", "ws-1", "coder", "which db?")
    answered = await store.answer_guidance(guidance_id, "sqlite")
    assert answered > guidance_id
    with pytest.raises(TransitionError, match="not pending"):
        await store.answer_guidance(guidance_id, "postgres")


async def test_the_reader_lists_what_was_written(store: StoreWrites, db_path: Path) -> None:
    await seed(store)
    with Reader(db_path) as reader:
        assert reader.schema_version() == LATEST_VERSION
        assert reader.get_run("nope") is None
        assert {r.run_id for r in reader.list_runs()} == {"r1", "r2"}
        assert [r.run_id for r in reader.list_runs(active_only=True)] == ["r1"]
        r1 = reader.get_run("r1")
        assert r1 is not None and r1.tickets == ("T-1",)
        steps = reader.list_steps("r1")
        assert [(s.step_index, s.blocking) for s in steps] == [(0, True), (1, False), (2, False)]
        (agent,) = reader.list_agents("r1")
        assert (agent.generation, agent.host, agent.last_exit_status) == (1, "local", None)
        assert reader.list_agents("r2") == []
        assert len(reader.list_events()) == 1
        assert reader.list_events(after_id=1) == []
        assert reader.counts() == {"runs": 2, "agents": 1, "events": 1}
        assert await reader.run(reader.list_steps, "r1") == steps


async def test_a_closed_direct_store_refuses_writes(db_path: Path) -> None:
    direct = DirectStore(db_path)
    await direct.aclose()
    with pytest.raises(StoreClosedError):
        await direct.append_event(NewEvent("r1", "run", "r1", "note"))


def test_the_reader_refuses_a_database_that_needs_migrating(db_path: Path) -> None:
    conn = connect(db_path)
    migrate(conn, target=1)
    conn.close()
    with pytest.raises(StoreError) as caught:
        Reader(db_path)
    assert f"this metawsm reads version {LATEST_VERSION}" in caught.value.message
    assert caught.value.hint and "db migrate" in caught.value.hint


def test_the_reader_cannot_write(db_path: Path) -> None:
    DirectStore(db_path).close()
    with Reader(db_path) as reader, pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.conn.execute("DELETE FROM runs")
