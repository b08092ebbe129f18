"""A run placed on an SSH host goes from provision to close, every step over the one connection."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from tests.helpers.sshd import Sshd
from tests.remote.remote_kit import remote_sessions, remote_tmux_socket, remote_world
from tests.supervisor.test_loop_e2e import BRIEF, CODER
from tests.supervisor.world import HOLD, World, wait_until


def test_a_run_on_an_ssh_host_from_provision_to_close(
    make_world: Callable[..., World], sshd: Sshd
) -> None:
    with remote_tmux_socket() as socket:
        world = remote_world(make_world, {"coder": CODER}, {"box": (sshd, socket)})
        world.serve()
        out = world.json(
            "bootstrap", "--ticket", "T-2", "--repos", "api,web", *BRIEF, "--host", "box",
            "--detach",
        )  # fmt: skip
        run_id = out["run_id"]
        status = wait_until(
            lambda: (
                (s := world.json("status", "--run-id", run_id, "--no-diffs"))["status"]
                == "awaiting_guidance"
                and s
            ),
            timeout=60,
            what="the guidance request",
        )
        assert status["agents"][0]["host"] == "box"
        # the agent runs in the host's tmux server, not in the local one
        assert remote_sessions(socket) == [status["agents"][0]["session"]]
        assert world.sessions() == []
        workspaces = list((world.root / "remote-ws").iterdir())
        assert len(workspaces) == 1
        assert not (world.root / ".metawsm" / "workspaces").exists()
        world.json("guide", "--run-id", run_id, "--answer", "SQLite")
        # completion comes from the agent's signals; its exit follows a moment later
        done = wait_until(
            lambda: (
                (s := world.json("status", "--run-id", run_id))["status"] == "completed"
                and s["agents"][0]["exit_status"] == 0
                and s
            ),
            timeout=90,
            what="completion and the agent's exit 0",
        )
        diffs = done.get("diffs") or {}
        assert diffs, done  # status diffs are taken by git on the host
        briefs = list(workspaces[0].glob("api/ttmp/**/reference/*bootstrap-brief*"))
        assert briefs, "the docs were not seeded into the remote workspace"
        closed = world.json("close", "--run-id", run_id)
        assert closed["status"] == "closed"
        log = subprocess.run(
            ["git", "log", "--oneline", "main"],
            cwd=world.root / "repos" / "api",
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "T-2: cache" in log
        # everything went over one SSH connection, counted by sshd
        assert sshd.accepted_logins() == 1


def test_stop_and_cleanup_on_an_ssh_host(make_world: Callable[..., World], sshd: Sshd) -> None:
    with remote_tmux_socket() as socket:
        world = remote_world(make_world, {"a": HOLD}, {"box": (sshd, socket)})
        world.serve()
        run_id = world.json(
            "run", "--ticket", "T-1", "--repos", "api", "--host", "box", "--detach"
        )["run_id"]
        wait_until(lambda: remote_sessions(socket), timeout=30, what="the remote session")
        world.cli("stop", "--run-id", run_id)
        wait_until(lambda: not remote_sessions(socket), timeout=30, what="the session's end")
        world.cli("cleanup", "--run-id", run_id)
        assert list((world.root / "remote-ws").iterdir()) == []


def test_an_unknown_host_is_one_clear_error(make_world: Callable[..., World]) -> None:
    world = make_world({"a": HOLD})
    proc = world.cli("run", "--ticket", "T-1", "--repos", "api", "--host", "nowhere", check=False)
    assert proc.returncode == 2
    assert 'host "nowhere" is not in the policy' in proc.stderr
    assert "Traceback" not in proc.stderr
