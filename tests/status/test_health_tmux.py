"""Health from a real tmux snapshot on a private server: exit codes, missing, unreachable."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from metawsm.hosts import LocalHost
from metawsm.hosts.tmux import TmuxServer, TmuxUnavailable
from metawsm.hsm import AgentStatus, HealthState
from metawsm.supervisor.health import Observation, Thresholds, assess
from tests.helpers.tmux import sh, tmux_session, wait_for_pane

pytestmark = pytest.mark.anyio

LIMITS = Thresholds()


@pytest.fixture(autouse=True)
def utf8_tmux_client(monkeypatch: pytest.MonkeyPatch) -> None:
    # The git fixtures set LC_ALL=C, and a tmux 3.3a client in a non-UTF-8 locale prints the
    # snapshot's \x1f field separator as "_", so every row would read as unparsable (unknown).
    # metawsm.hosts.tmux should force UTF-8 itself (tmux -u); until then the test sets the locale.
    monkeypatch.setenv("LC_ALL", "C.UTF-8")


async def observe(server: TmuxServer, session: str) -> Observation:
    try:
        snapshot = await server.snapshot()
    except TmuxUnavailable:
        return Observation.unreachable()
    return Observation.from_snapshot(snapshot, session)


async def test_real_panes_assess_by_their_exit(tmux_server: TmuxServer, tmp_path: Path) -> None:
    cwd = str(tmp_path)
    async with (
        tmux_session(tmux_server, "live", cwd=cwd, argv=["sleep", "60"]),
        tmux_session(tmux_server, "done", cwd=cwd, argv=sh("exit 0")),
        tmux_session(tmux_server, "crashed", cwd=cwd, argv=sh("exit 3")),
    ):
        await wait_for_pane(tmux_server, "done", lambda p: p.exit_known)
        await wait_for_pane(tmux_server, "crashed", lambda p: p.exit_known)
        snapshot = await tmux_server.snapshot()
        now = snapshot.taken_at

        def verdict(session: str) -> tuple[AgentStatus | None, HealthState, int | None]:
            result = assess(
                Observation.from_snapshot(snapshot, session),
                last_activity=None,
                last_progress=now,
                thresholds=LIMITS,
                now=now,
            )
            return result.status, result.health, result.exit_status

        assert verdict("live") == (AgentStatus.RUNNING, HealthState.HEALTHY, None)
        assert verdict("done") == (AgentStatus.STOPPED, HealthState.IDLE, 0)
        assert verdict("crashed") == (AgentStatus.DEAD, HealthState.DEAD, 3)
        assert verdict("never-started") == (AgentStatus.DEAD, HealthState.DEAD, None)


async def test_unreachable_server_is_unknown_not_dead(tmux_tmpdir: str) -> None:
    # A socket path under a regular file: "error connecting to ... (Not a directory)".
    await anyio.Path(tmux_tmpdir, "plain-file").write_text("")
    server = TmuxServer(LocalHost(), f"{tmux_tmpdir}/plain-file/sock")
    result = assess(
        await observe(server, "coder-ws"),
        last_activity=None,
        last_progress=None,
        thresholds=LIMITS,
        now=0.0,
    )
    assert result.status is None
    assert result.health is HealthState.UNKNOWN
