"""Dynamic children: start_child / terminate_child, at scale, and under rest_for_one."""

from __future__ import annotations

import anyio
import pytest
from actors_kit import Ending, Puppet, Stage, generations, kinds, launch, puppets, settle, states

from actors import (
    ActorStopped,
    Backoff,
    FakeClock,
    Restart,
    Strategy,
    Supervisor,
    UnknownChild,
    worker,
)

pytestmark = pytest.mark.anyio

NO_DELAY = Backoff(initial=0.0, cap=0.0)


async def test_start_child_adds_a_running_dynamic_child_after_the_static_ones(
    clock: FakeClock,
) -> None:
    stage = Stage()
    kids = puppets(stage, "ab")
    sup = Supervisor("sup", [kids["a"].spec], clock=clock)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        info = await sup.start_child(kids["b"].spec)
        assert (info.id, info.state, info.dynamic, info.generation) == ("b", "running", True, 1)
        assert [(c.id, c.dynamic) for c in sup.which_children()] == [("a", False), ("b", True)]
        await sup.stop()
    assert stage.ends() == ["b", "a"]  # dynamic children stop first: they started last


async def test_terminate_child_stops_and_removes_it(clock: FakeClock) -> None:
    stage = Stage()
    kids = puppets(stage, "ab")
    sup = Supervisor("sup", [kids["a"].spec], clock=clock)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        await sup.start_child(kids["b"].spec)
        info = await sup.terminate_child("b")
        assert (info.id, info.state) == ("b", "stopped")
        assert stage.ends() == ["b"]
        assert ("b", "stopped") in kinds(sup.events)
        # A static child can be terminated too.
        await sup.terminate_child("a")
        assert sup.count_children() == {"total": 0}
        await sup.stop()


async def test_duplicate_child_id_is_rejected(clock: FakeClock) -> None:
    stage = Stage()
    a = Puppet("a", stage)
    sup = Supervisor("sup", [a.spec], clock=clock)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        with pytest.raises(ValueError, match="already has a child 'a'"):
            await sup.start_child(Puppet("a", stage).spec)
        assert a.incarnations == 1
        await sup.stop()


def test_duplicate_static_ids_are_rejected() -> None:
    async def body() -> None:
        await anyio.sleep_forever()

    with pytest.raises(ValueError, match="duplicate child ids"):
        Supervisor("sup", [worker("x", body), worker("x", body)])


async def test_terminating_an_unknown_child_raises_unknown_child(clock: FakeClock) -> None:
    sup = Supervisor("sup", [], clock=clock)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        with pytest.raises(UnknownChild):
            await sup.terminate_child("ghost")
        with pytest.raises(KeyError):  # UnknownChild is a KeyError too
            await sup.terminate_child("ghost")
        await sup.stop()


async def test_start_child_on_a_supervisor_not_running_raises_actor_stopped(
    clock: FakeClock,
) -> None:
    sup = Supervisor("sup", [], clock=clock)
    stage = Stage()
    with pytest.raises(ActorStopped, match="idle"):
        await sup.start_child(Puppet("a", stage).spec)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        await sup.stop()
    with pytest.raises(ActorStopped, match="stopped"):
        await sup.start_child(Puppet("a", stage).spec)


async def test_a_thousand_dynamic_children_come_and_go(clock: FakeClock) -> None:
    """OTP simple_one_for_one_scale_many_temporary_children: 1,000 temporary children; half
    end by themselves (and are forgotten), half are terminated; none is left running."""
    alive = 0
    quit_now = anyio.Event()

    async def body(n: int) -> None:
        nonlocal alive
        alive += 1
        try:
            if n % 2:
                await quit_now.wait()
            else:
                await anyio.sleep_forever()
        finally:
            alive -= 1

    def spec(n: int) -> object:
        async def run() -> None:
            await body(n)

        return worker(f"w{n}", run, restart=Restart.TEMPORARY)

    sup = Supervisor("sup", [], clock=clock, history=16)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        for n in range(1000):
            await sup.start_child(spec(n))  # type: ignore[arg-type]
        assert alive == 1000
        assert sup.count_children() == {"total": 1000, "running": 1000}

        quit_now.set()  # the odd ones return: temporary, so forgotten
        await settle()
        assert sup.count_children() == {"total": 500, "running": 500}
        for child in sup.which_children():
            await sup.terminate_child(child.id)
        assert sup.count_children() == {"total": 0}
        assert alive == 0
        assert len(sup.events) == 16  # the history is bounded
        await sup.stop()


async def test_dynamic_children_restart_with_those_before_them_under_rest_for_one(
    clock: FakeClock,
) -> None:
    stage = Stage()
    kids = puppets(stage, ["a", "b", "d1", "d2"])
    sup = Supervisor(
        "sup",
        [kids["a"].spec, kids["b"].spec],
        strategy=Strategy.REST_FOR_ONE,
        clock=clock,
        backoff=NO_DELAY,
    )
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        await sup.start_child(kids["d1"].spec)
        await sup.start_child(kids["d2"].spec)
        stage.clear()

        kids["b"].crash()
        await settle()
        assert generations(sup) == {"a": 1, "b": 2, "d1": 2, "d2": 2}
        assert stage.ends() == ["b", "d2", "d1"]
        assert stage.starts() == ["b", "d1", "d2"]
        stage.clear()

        kids["d1"].crash()
        await settle()
        assert generations(sup) == {"a": 1, "b": 2, "d1": 3, "d2": 3}
        assert stage.ends() == ["d1", "d2"]
        await sup.stop()


async def test_temporary_dynamic_child_in_a_restart_group_is_dropped(clock: FakeClock) -> None:
    """OTP temporary_bystander: a temporary child stopped by a group restart is not restarted,
    and is forgotten."""
    stage = Stage()
    a = Puppet("a", stage)
    tmp = Puppet("tmp", stage, restart=Restart.TEMPORARY)
    sup = Supervisor("sup", [a.spec], strategy=Strategy.ONE_FOR_ALL, clock=clock, backoff=NO_DELAY)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        await sup.start_child(tmp.spec)
        a.crash()
        await settle()
        assert states(sup) == {"a": "running"}
        assert tmp.incarnations == 1
        await sup.stop()


async def test_dynamic_transient_child_ending_normally_stays_listed_as_exited(
    clock: FakeClock,
) -> None:
    stage = Stage()
    t = Puppet("t", stage, restart=Restart.TRANSIENT)
    sup = Supervisor("sup", [], clock=clock)
    async with anyio.create_task_group() as tg:
        await launch(tg, sup)
        await sup.start_child(t.spec)
        t.end(Ending.RETURN)
        await settle()
        assert states(sup) == {"t": "exited"}
        await sup.terminate_child("t")  # an exited child can still be removed
        assert sup.which_children() == []
        await sup.stop()
