"""What a supervisor tells about itself: info() as a recursive tree, count_children(), and the
event sequence of a crash and restart (supervisord-style transition assertions)."""

from __future__ import annotations

import dataclasses
import json

import anyio
import pytest
from actors_kit import Ending, Puppet, Stage, launch, settle

from actors import (
    Actor,
    Backoff,
    FakeClock,
    Restart,
    Strategy,
    Supervisor,
    SupervisorEvent,
)

pytestmark = pytest.mark.anyio


class Sink(Actor[str]):
    async def handle(self, message: str) -> None:
        await anyio.sleep_forever()


async def test_info_is_a_recursive_tree_of_supervisors_and_children(clock: FakeClock) -> None:
    stage = Stage()
    inner = Supervisor(
        "inner",
        [Puppet("x", stage).spec, Puppet("y", stage).spec],
        strategy=Strategy.REST_FOR_ONE,
        intensity=2,
        period=10.0,
        clock=clock,
    )
    sink = Sink.spec("sink", clock=clock)
    root = Supervisor("root", [Puppet("w", stage).spec, inner.spec(), sink], clock=clock)
    async with anyio.create_task_group() as tg:
        await launch(tg, root)
        assert sink.mailbox is not None
        sink.mailbox.ref.send_nowait("first")  # taken, then blocks the actor
        await settle()
        sink.mailbox.ref.send_nowait("second")

        info = root.info()
        assert (info.name, info.strategy, info.state, info.reason) == (
            "root",
            "one_for_one",
            "running",
            None,
        )
        assert (info.intensity, info.period, info.recent_restarts) == (3, 5.0, 0)
        assert [(c.id, c.state, c.generation) for c in info.children] == [
            ("w", "running", 1),
            ("inner", "running", 1),
            ("sink", "running", 1),
        ]
        w, inner_child, sink_child = info.children
        assert w.supervisor is None and w.queued is None
        assert sink_child.queued == 1
        assert inner_child.restart == "permanent"
        sub = inner_child.supervisor
        assert sub is not None
        assert (sub.name, sub.strategy, sub.intensity, sub.period) == (
            "inner",
            "rest_for_one",
            2,
            10.0,
        )
        assert [(c.id, c.state, c.dynamic) for c in sub.children] == [
            ("x", "running", False),
            ("y", "running", False),
        ]
        # JSON-friendly all the way down.
        tree = json.loads(json.dumps(dataclasses.asdict(info)))
        assert tree["children"][1]["supervisor"]["children"][0]["id"] == "x"
        await root.stop()
    assert root.info().state == "stopped"
    assert inner.info().state == "stopped"


async def test_count_children_counts_by_state(clock: FakeClock) -> None:
    stage = Stage()
    a = Puppet("a", stage)
    b = Puppet("b", stage, restart=Restart.TRANSIENT)
    c = Puppet("c", stage)
    sup = Supervisor(
        "sup",
        [a.spec, b.spec, c.spec],
        clock=clock,
        backoff=Backoff(initial=1.0, jitter=0.0),
    )
    assert sup.count_children() == {"total": 0}  # nothing before run()
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        assert sup.count_children() == {"total": 3, "running": 3}
        b.end(Ending.RETURN)
        c.crash()
        await settle()
        assert sup.count_children() == {"total": 3, "running": 1, "exited": 1, "restarting": 1}
        await clock.advance(1.0)
        assert sup.count_children() == {"total": 3, "running": 2, "exited": 1}
        await sup.stop()
    assert sup.count_children() == {"total": 3, "exited": 1, "stopped": 2}


async def test_a_crash_and_restart_emit_the_expected_event_sequence(clock: FakeClock) -> None:
    stage = Stage()
    a = Puppet("a", stage)
    b = Puppet("b", stage)
    seen: list[SupervisorEvent] = []
    sup = Supervisor(
        "sup",
        [a.spec, b.spec],
        clock=clock,
        backoff=Backoff(initial=1.5, jitter=0.0),
        on_event=seen.append,
    )
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        await clock.advance(10.0)
        b.crash()
        await settle()
        await clock.advance(1.5)
        await sup.stop()
    rows = [(e.child, e.kind, e.generation, e.at, e.detail) for e in sup.events]
    assert rows == [
        ("a", "started", 1, 0.0, ""),
        ("b", "started", 1, 0.0, ""),
        ("supervisor", "started", 0, 0.0, ""),
        ("b", "exited", 1, 10.0, "abnormal: RuntimeError: b crashed"),
        ("b", "restarting", 1, 10.0, "in 1.500s"),
        ("b", "started", 2, 11.5, ""),
        ("b", "stopped", 2, 11.5, "stopped"),
        ("a", "stopped", 1, 11.5, "stopped"),
        ("supervisor", "stopped", 0, 11.5, "stopped"),
    ]
    assert {e.supervisor for e in sup.events} == {"sup"}
    assert seen == list(sup.events)  # on_event sees every event, in order


async def test_child_info_tracks_restarts_failures_and_start_time(clock: FakeClock) -> None:
    stage = Stage()
    a = Puppet("a", stage)
    sup = Supervisor("sup", [a.spec], clock=clock, backoff=Backoff(initial=0.0, cap=0.0))
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        [info] = sup.which_children()
        assert (info.restarts, info.last_exit, info.last_failure, info.started_at) == (
            0,
            None,
            None,
            0.0,
        )
        await clock.advance(7.0)
        a.crash()
        await settle()
        [info] = sup.which_children()
        assert (info.generation, info.restarts, info.started_at) == (2, 1, 7.0)
        assert info.last_exit == info.last_failure == "abnormal: RuntimeError: a crashed"
        a.end(Ending.RETURN)
        await settle()
        [info] = sup.which_children()
        assert info.last_exit == "normal"
        assert info.last_failure == "abnormal: RuntimeError: a crashed"  # kept
        await sup.stop()
