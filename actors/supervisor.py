"""The supervisor: starts children in order, restarts them by OTP rules, stops them in reverse.

Invariants (each pinned by a test in ``tests/actors/``):

- Children start one at a time in spec order; a child counts as started when it calls
  ``task_status.started()`` within its ``start_timeout``. A failure while the supervisor itself
  starts stops the children already started (reverse order) and raises :class:`StartFailed`.
- When a child ends, its restart type (permanent / transient / temporary) decides whether it
  restarts; the strategy decides which siblings restart with it. Siblings are stopped in
  reverse start order, then everything restarts in start order.
- Every restart is counted in one window per supervisor (``intensity`` restarts within
  ``period`` seconds). One more stops all children and raises :class:`SupervisorGaveUp`, which the
  parent sees as one abnormal exit of one child: escalation goes up exactly one level.
- Restart delays grow exponentially with jitter up to a cap (:class:`Backoff`), per child, and
  reset once an incarnation has run for ``stable_after`` seconds. One child's delay does not
  hold up the supervisor: other exits, ``start_child`` and ``terminate_child`` go on meanwhile.
- Only the supervisor cancels its children (their scopes are shielded from the scope running
  the supervisor), so cancelling that scope still stops them one at a time, in reverse order.
- Stopping a child is a ladder: cancel, wait up to its ``shutdown`` grace, then abandon it
  with a recorded reason. Python cannot kill a task: an abandoned child no longer holds up the
  ladder, its slot moves on, and the task group that owns it ends when the task finally does.
- Every wait is bounded by the injected :class:`~actors.clock.Clock`, so tests run in virtual
  time.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus
from anyio.lowlevel import checkpoint

from actors.backoff import Backoff
from actors.clock import SYSTEM_CLOCK, Clock
from actors.errors import ActorStopped, Shutdown, StartFailed, SupervisorGaveUp, UnknownChild
from actors.introspect import ChildInfo, SupervisorEvent, SupervisorInfo
from actors.spec import BRUTAL_KILL, INFINITY, ChildSpec, Restart, Strategy


class ChildState(enum.Enum):
    """Where one child slot stands."""

    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"  #: waiting out its restart delay
    STOPPING = "stopping"
    STOPPED = "stopped"  #: stopped by the supervisor
    EXITED = "exited"  #: ended and, by its restart type, not restarted


class SupervisorState(enum.Enum):
    """Where the supervisor itself stands."""

    IDLE = "idle"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    GIVEN_UP = "given_up"


class ExitKind(enum.Enum):
    """How an incarnation ended, in OTP's terms."""

    NORMAL = "normal"  #: returned
    SHUTDOWN = "shutdown"  #: raised :class:`~actors.errors.Shutdown`
    KILLED = "killed"  #: cancelled by its supervisor
    ABNORMAL = "abnormal"  #: raised any other exception


@dataclass(frozen=True, slots=True)
class Exit:
    kind: ExitKind
    error: BaseException | None = None

    def describe(self) -> str:
        if self.error is None:
            return self.kind.value
        return f"{self.kind.value}: {type(self.error).__name__}: {self.error}"


@dataclass(eq=False)
class _Incarnation:
    """One run of a child; doubles as the ``task_status`` handed to it."""

    slot: _Slot
    generation: int
    started_at: float
    # Shielded: only the supervisor's ladder (``scope.cancel()``) stops a child. Without the
    # shield a cancellation of the scope running the supervisor reached every child at once,
    # so children were not stopped one at a time in reverse start order, nor with their grace.
    scope: anyio.CancelScope = field(default_factory=lambda: anyio.CancelScope(shield=True))
    ready: anyio.Event = field(default_factory=anyio.Event)
    done: anyio.Event = field(default_factory=anyio.Event)
    is_started: bool = False
    outcome: Exit | None = None
    ended_at: float | None = None

    def started(self, value: Any = None) -> None:
        self.is_started = True
        self.ready.set()


@dataclass(eq=False)
class _Slot:
    spec: ChildSpec
    dynamic: bool
    state: ChildState = ChildState.STOPPED
    current: _Incarnation | None = None
    generation: int = 0
    restarts: int = 0
    consecutive_failures: int = 0
    abandoned: int = 0
    last_exit: str | None = None
    last_failure: str | None = None
    next_restart_at: float | None = None


@dataclass(eq=False)
class _Deferred:
    """A restart waiting out its backoff delay: ``members[0]`` is the child being delayed, the
    rest of its restart group follows it in start order. The main loop starts them at ``due``;
    meanwhile it keeps handling other exits, start_child and terminate_child."""

    due: float
    members: list[_Slot]


class _GiveUp(Exception):
    pass


class Supervisor:
    """An OTP-style supervisor over anyio tasks.

    Run it with ``await sup.run()`` (or as a child of another supervisor through
    :meth:`spec`), add and remove children at run time with :meth:`start_child` and
    :meth:`terminate_child`, read its state with :meth:`info`, and end it with :meth:`stop` or
    by cancelling the scope it runs in. ``on_event`` is called (synchronously, it must not block)
    for every lifecycle event; the last ``history`` events are kept in :attr:`events`.
    """

    def __init__(
        self,
        name: str,
        children: Iterable[ChildSpec] = (),
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        intensity: int = 3,
        period: float = 5.0,
        backoff: Backoff | None = None,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        on_event: Callable[[SupervisorEvent], None] | None = None,
        history: int = 256,
    ) -> None:
        if intensity < 0 or period <= 0:
            raise ValueError("intensity must be >= 0 and period > 0")
        self.name = name
        self.strategy = strategy
        self.intensity = intensity
        self.period = period
        self.backoff = backoff if backoff is not None else Backoff()
        self.clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._on_event = on_event
        self.events: deque[SupervisorEvent] = deque(maxlen=history)
        self._static = list(children)
        ids = [spec.id for spec in self._static]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate child ids in supervisor {name!r}: {ids}")
        self._state = SupervisorState.IDLE
        self._reason: str | None = None
        self._slots: dict[str, _Slot] = {}
        self._restart_times: deque[float] = deque()
        self._exited: deque[_Incarnation] = deque()
        self._wake = anyio.Event()
        self._stopped = anyio.Event()
        self._lock = anyio.Lock()
        self._stop_requested = False
        self._deferred: list[_Deferred] = []
        self._tg: TaskGroup | None = None
        #: Incarnations whose task has not ended, slot or no slot (cancelled by run()'s exit).
        self._live: set[_Incarnation] = set()

    # -- public API -------------------------------------------------------------------------

    @property
    def state(self) -> SupervisorState:
        return self._state

    @property
    def reason(self) -> str | None:
        """Why the supervisor gave up or stopped, when it did."""
        return self._reason

    def spec(
        self,
        id: str | None = None,
        *,
        restart: Restart = Restart.PERMANENT,
        shutdown: float = INFINITY,
        start_timeout: float = 60.0,
    ) -> ChildSpec:
        """A child spec that runs this supervisor under another one."""
        return ChildSpec(
            id=id or self.name,
            run=self.run,
            restart=restart,
            shutdown=shutdown,
            start_timeout=start_timeout,
            supervisor=self,
        )

    async def run(self, *, task_status: TaskStatus[Any] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start the children, supervise them until stopped; raise :class:`SupervisorGaveUp`
        past the restart intensity, :class:`StartFailed` when a child cannot start."""
        if self._state in (
            SupervisorState.STARTING,
            SupervisorState.RUNNING,
            SupervisorState.STOPPING,
        ):
            raise RuntimeError(f"supervisor {self.name!r} is already running")
        self._reset()
        error: BaseException | None = None
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                await self._main(task_status)
            except (SupervisorGaveUp, StartFailed) as exc:
                error = exc
            except anyio.get_cancelled_exc_class():
                with anyio.CancelScope(shield=True):
                    await self._shutdown("cancelled")
                raise
            finally:
                self._close_mailboxes()
                self._stopped.set()
                tg.cancel_scope.cancel()
                # Children are shielded from tg's scope: cancel whatever still runs (a child
                # abandoned by its ladder, or all of them if _main ended by a bug), or the task
                # group would wait for them forever.
                for inc in list(self._live):
                    inc.scope.cancel()
        if error is not None:
            raise error

    async def stop(self) -> None:
        """Stop every child (reverse order, each by its ladder) and end :meth:`run`."""
        if self._state in (SupervisorState.IDLE, SupervisorState.STOPPED, SupervisorState.GIVEN_UP):
            return
        self._stop_requested = True
        self._wake.set()
        await self._stopped.wait()

    async def start_child(self, spec: ChildSpec) -> ChildInfo:
        """Add a dynamic child and start it; raises :class:`StartFailed` if it cannot start."""
        async with self._lock:
            self._require_running()
            if spec.id in self._slots:
                raise ValueError(f"supervisor {self.name!r} already has a child {spec.id!r}")
            slot = _Slot(spec, dynamic=True)
            self._slots[spec.id] = slot
            try:
                await self._start_slot(slot)
            except BaseException:
                # The caller was cancelled mid-start: without this the half-started child kept
                # running with no slot (invisible, never stopped until run() ended).
                if slot.current is not None:
                    slot.current.scope.cancel()
                self._forget(slot)
                raise
            return self._child_info(slot)

    async def terminate_child(self, id: str) -> ChildInfo:
        """Stop a child by its ladder and remove it; raises :class:`UnknownChild`."""
        async with self._lock:
            slot = self._slots.get(id)
            if slot is None:
                raise UnknownChild(f"supervisor {self.name!r} has no child {id!r}")
            await self._stop_slot(slot, "terminated")
            self._forget(slot)
            return self._child_info(slot)

    def child_spec(self, id: str) -> ChildSpec | None:
        """The spec of child ``id`` (its ``mailbox.ref`` reaches an actor child), if present."""
        slot = self._slots.get(id)
        return slot.spec if slot is not None else None

    def which_children(self) -> list[ChildInfo]:
        """Every child in start order, with its state, generation and restart count."""
        return [self._child_info(slot) for slot in self._slots.values()]

    def count_children(self) -> dict[str, int]:
        """How many children there are, by state."""
        counts: dict[str, int] = {"total": len(self._slots)}
        for slot in self._slots.values():
            counts[slot.state.value] = counts.get(slot.state.value, 0) + 1
        return counts

    def info(self) -> SupervisorInfo:
        """The supervisor's state and, recursively, its children's."""
        return SupervisorInfo(
            name=self.name,
            strategy=self.strategy.value,
            state=self._state.value,
            reason=self._reason,
            intensity=self.intensity,
            period=self.period,
            recent_restarts=len(self._recent_restarts()),
            children=tuple(self.which_children()),
        )

    # -- the main loop ----------------------------------------------------------------------

    def _reset(self) -> None:
        self._state = SupervisorState.STARTING
        self._reason = None
        self._slots = {spec.id: _Slot(spec, dynamic=False) for spec in self._static}
        self._restart_times.clear()
        self._exited.clear()
        self._wake = anyio.Event()
        self._stopped = anyio.Event()
        self._stop_requested = False
        self._deferred.clear()

    async def _main(self, task_status: TaskStatus[Any]) -> None:
        try:
            for slot in list(self._slots.values()):
                await self._start_slot(slot)
        except StartFailed as exc:
            await self._shutdown(f"start failed: {exc}")
            raise
        self._state = SupervisorState.RUNNING
        self._emit("supervisor", "started")
        task_status.started()
        while True:
            with self._until_next_restart():
                await self._wake.wait()
            self._wake = anyio.Event()
            if self._stop_requested:
                break
            async with self._lock:
                try:
                    while self._exited and not self._stop_requested:
                        await self._on_exit(self._exited.popleft())
                    while not self._stop_requested and (entry := self._pop_due()) is not None:
                        await self._restart_members(entry.members, delayed=None)
                except _GiveUp as exc:
                    reason = str(exc)
                    await self._shutdown(reason, final=SupervisorState.GIVEN_UP)
                    self._emit("supervisor", "gave_up", reason)
                    raise SupervisorGaveUp(self.name, reason) from None
            if self._stop_requested:
                break
        await self._shutdown("stopped")

    async def _shutdown(
        self, reason: str, final: SupervisorState = SupervisorState.STOPPED
    ) -> None:
        self._state = SupervisorState.STOPPING
        self._deferred.clear()
        for slot in reversed(list(self._slots.values())):
            await self._stop_slot(slot, reason)
        self._state = final
        self._reason = reason
        self._emit("supervisor", final.value, reason)

    # -- one child --------------------------------------------------------------------------

    async def _start_slot(self, slot: _Slot) -> None:
        assert self._tg is not None
        if slot.spec.mailbox is not None:
            slot.spec.mailbox.reopen()
        slot.generation += 1
        inc = _Incarnation(slot, slot.generation, self.clock.now())
        slot.current = inc
        slot.state = ChildState.STARTING
        slot.next_restart_at = None
        self._live.add(inc)
        self._tg.start_soon(self._child_main, inc, name=f"{self.name}/{slot.spec.id}")
        with self.clock.move_on_after(slot.spec.start_timeout):
            await inc.ready.wait()
        if inc.is_started:
            slot.state = ChildState.RUNNING
            self._emit(slot.spec.id, "started", generation=inc.generation)
            return
        if inc.done.is_set():
            assert inc.outcome is not None
            why = inc.outcome.describe()
            if inc.outcome.kind is ExitKind.NORMAL:
                why = "returned before reporting started"
            cause = inc.outcome.error
        else:
            await self._stop_incarnation(inc, "start timed out")
            why = f"did not report started within {slot.spec.start_timeout:g}s"
            cause = None
        slot.state = ChildState.STOPPED
        slot.last_failure = f"start failed: {why}"
        self._emit(slot.spec.id, "start_failed", why, generation=inc.generation)
        raise StartFailed(f"child {slot.spec.id!r} of {self.name!r}: {why}") from cause

    async def _child_main(self, inc: _Incarnation) -> None:
        try:
            try:
                with inc.scope:
                    await inc.slot.spec.run(task_status=inc)
            except Shutdown:
                inc.outcome = Exit(ExitKind.SHUTDOWN)
            except Exception as exc:
                inc.outcome = Exit(ExitKind.ABNORMAL, exc)
            else:
                cancelled = inc.scope.cancel_called
                inc.outcome = Exit(ExitKind.KILLED if cancelled else ExitKind.NORMAL)
        finally:
            if inc.outcome is None:  # cancelled from outside, or a BaseException
                inc.outcome = Exit(ExitKind.KILLED)
            inc.ended_at = self.clock.now()
            self._live.discard(inc)
            inc.done.set()
            inc.ready.set()
        if inc.is_started:
            self._exited.append(inc)
            self._wake.set()

    async def _stop_slot(self, slot: _Slot, reason: str) -> None:
        inc = slot.current
        if inc is not None and not inc.done.is_set():
            slot.state = ChildState.STOPPING
            await self._stop_incarnation(inc, reason)
        if slot.state is not ChildState.EXITED:
            slot.state = ChildState.STOPPED
        slot.next_restart_at = None

    async def _stop_incarnation(self, inc: _Incarnation, reason: str) -> None:
        """The shutdown ladder: cancel, wait up to the grace, then abandon."""
        slot = inc.slot
        grace = slot.spec.shutdown
        inc.scope.cancel()
        if grace == BRUTAL_KILL:
            await checkpoint()
        else:
            with self.clock.move_on_after(grace):
                await inc.done.wait()
        if inc.done.is_set():
            self._emit(slot.spec.id, "stopped", reason, generation=inc.generation)
        elif grace == BRUTAL_KILL:
            self._emit(slot.spec.id, "killed", reason, generation=inc.generation)
        else:
            slot.abandoned += 1
            slot.last_failure = f"ignored cancellation for {grace:g}s; abandoned ({reason})"
            self._emit(slot.spec.id, "abandoned", slot.last_failure, generation=inc.generation)

    # -- restarts ---------------------------------------------------------------------------

    async def _on_exit(self, inc: _Incarnation) -> None:
        slot = inc.slot
        if slot.current is not inc or slot.state in (ChildState.STOPPING, ChildState.STOPPED):
            return  # stopped on purpose, or an incarnation already replaced
        assert inc.outcome is not None
        outcome = inc.outcome
        slot.last_exit = outcome.describe()
        if outcome.kind is ExitKind.ABNORMAL:
            slot.last_failure = slot.last_exit
        self._emit(slot.spec.id, "exited", slot.last_exit, generation=inc.generation)
        if not _should_restart(slot.spec.restart, outcome.kind):
            slot.state = ChildState.EXITED
            slot.current = None
            if slot.spec.mailbox is not None:
                slot.spec.mailbox.close()
            if slot.spec.restart is Restart.TEMPORARY:
                self._forget(slot)
            return
        self._count_restart(slot, outcome)
        group = self._restart_group(slot)
        for other in reversed(group):
            if other is not slot:
                await self._stop_slot(other, f"restart: sibling {slot.spec.id!r} ended")
        for member in group:
            if member.spec.restart is Restart.TEMPORARY and member is not slot:
                self._forget(member)
        assert inc.ended_at is not None
        if inc.ended_at - inc.started_at >= self.backoff.stable_after:
            slot.consecutive_failures = 0
        members = [m for m in group if m is slot or m.spec.restart is not Restart.TEMPORARY]
        await self._restart_members(members, delayed=slot)

    # The backoff delay used to be waited out here, inside the main loop and under the lock:
    # for up to ``backoff.cap`` seconds no other exit was handled and start_child and
    # terminate_child blocked. A delay now defers the restart (_Deferred) and returns at once.
    async def _restart_members(self, members: list[_Slot], *, delayed: _Slot | None) -> None:
        """Start ``members`` again in order. ``delayed`` (the child that ended) first gets its
        backoff delay: it and the members after it are then deferred to the main loop. A member
        that fails to start is counted against the intensity and retried after its own delay,
        the members after it waiting for it."""
        i = 0
        while i < len(members):
            member = members[i]
            if member is delayed and self._backoff(member) > 0:
                self._defer(members[i:])
                return
            member.restarts += 1
            try:
                await self._start_slot(member)
            except StartFailed as exc:
                self._count_restart(member, Exit(ExitKind.ABNORMAL, exc))
                delayed = member
                continue
            i += 1

    def _backoff(self, slot: _Slot) -> float:
        """Pick the delay before the next restart of ``slot`` and show it (restarting)."""
        slot.consecutive_failures += 1
        seconds = self.backoff.delay(slot.consecutive_failures, self._rng)
        slot.state = ChildState.RESTARTING
        slot.next_restart_at = self.clock.now() + seconds
        self._emit(slot.spec.id, "restarting", f"in {seconds:.3f}s", generation=slot.generation)
        return seconds

    def _defer(self, members: list[_Slot]) -> None:
        first = members[0]
        assert first.next_restart_at is not None
        for entry in self._deferred:  # a newer group restart supersedes older ones
            entry.members = [m for m in entry.members if m not in members]
        self._deferred = [entry for entry in self._deferred if entry.members]
        self._deferred.append(_Deferred(first.next_restart_at, list(members)))

    def _until_next_restart(self) -> anyio.CancelScope:
        """A scope that ends the main loop's wait when the next deferred restart is due."""
        if not self._deferred:
            return anyio.CancelScope()
        due = min(entry.due for entry in self._deferred)
        return self.clock.move_on_after(due - self.clock.now())

    def _pop_due(self) -> _Deferred | None:
        now = self.clock.now()
        for entry in sorted(self._deferred, key=lambda e: e.due):
            if entry.due <= now:
                self._deferred.remove(entry)
                # Skip members terminated (or restarted by another group) meanwhile.
                entry.members = [
                    m
                    for m in entry.members
                    if self._slots.get(m.spec.id) is m
                    and (m.current is None or m.current.done.is_set())
                ]
                return entry
        return None

    def _count_restart(self, slot: _Slot, outcome: Exit) -> None:
        now = self.clock.now()
        self._restart_times.append(now)
        recent = self._recent_restarts()
        if len(recent) > self.intensity:
            raise _GiveUp(
                f"{len(recent)} restarts within {self.period:g}s exceed intensity "
                f"{self.intensity}; last: child {slot.spec.id!r} {outcome.describe()}"
            )

    def _recent_restarts(self) -> deque[float]:
        cutoff = self.clock.now() - self.period
        while self._restart_times and self._restart_times[0] <= cutoff:
            self._restart_times.popleft()
        return self._restart_times

    def _restart_group(self, slot: _Slot) -> list[_Slot]:
        slots = list(self._slots.values())
        if self.strategy is Strategy.ONE_FOR_ALL:
            return slots
        if self.strategy is Strategy.REST_FOR_ONE:
            return slots[slots.index(slot) :]
        return [slot]

    # -- bookkeeping ------------------------------------------------------------------------

    def _require_running(self) -> None:
        if self._state is not SupervisorState.RUNNING or self._stop_requested:
            raise ActorStopped(f"supervisor {self.name!r} is {self._state.value}")

    def _forget(self, slot: _Slot) -> None:
        if self._slots.get(slot.spec.id) is slot:
            del self._slots[slot.spec.id]
        if slot.spec.mailbox is not None:
            slot.spec.mailbox.close()

    def _close_mailboxes(self) -> None:
        for slot in self._slots.values():
            if slot.spec.mailbox is not None:
                slot.spec.mailbox.close()

    def _child_info(self, slot: _Slot) -> ChildInfo:
        nested = slot.spec.supervisor
        return ChildInfo(
            id=slot.spec.id,
            state=slot.state.value,
            restart=slot.spec.restart.value,
            dynamic=slot.dynamic,
            generation=slot.generation,
            restarts=slot.restarts,
            abandoned=slot.abandoned,
            last_exit=slot.last_exit,
            last_failure=slot.last_failure,
            started_at=slot.current.started_at if slot.current is not None else None,
            next_restart_at=slot.next_restart_at,
            queued=slot.spec.mailbox.queued() if slot.spec.mailbox is not None else None,
            supervisor=nested.info() if nested is not None else None,
        )

    def _emit(self, child: str, kind: str, detail: str = "", *, generation: int = 0) -> None:
        event = SupervisorEvent(self.name, child, kind, detail, generation, self.clock.now())
        self.events.append(event)
        if self._on_event is not None:
            self._on_event(event)


def _should_restart(restart: Restart, kind: ExitKind) -> bool:
    if restart is Restart.PERMANENT:
        return True
    if restart is Restart.TRANSIENT:
        return kind is ExitKind.ABNORMAL
    return False
