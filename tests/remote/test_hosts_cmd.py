"""``metawsm hosts`` and ``metawsm hosts check NAME`` against a private sshd."""

from __future__ import annotations

import json
from collections.abc import Callable

import asyncssh

from tests.helpers.sshd import Sshd
from tests.remote.remote_kit import remote_tmux_socket, remote_world
from tests.supervisor.world import HOLD, World


def test_hosts_without_a_supervisor_connects_to_each_once(
    make_world: Callable[..., World], sshd: Sshd
) -> None:
    with remote_tmux_socket() as socket:
        world = remote_world(make_world, {"a": HOLD}, {"box": (sshd, socket)})
        world.edit_policy(
            lambda d: d["hosts"].update({"gone": {"address": "127.0.0.1", "port": 1}})
        )
        data = world.json("hosts")
        rows = {r["name"]: r for r in data["hosts"]}
        assert list(rows) == ["local", "box", "gone"]
        assert rows["local"]["state"] == "connected"
        assert rows["box"]["state"] == "connected" and rows["box"]["round_trip_ms"] is not None
        assert rows["box"]["address"] == f"{sshd.user}@{sshd.address}:{sshd.port}"
        assert rows["gone"]["state"] == "unreachable" and rows["gone"]["error"]
        assert rows["gone"]["since"]
        text = world.cli("hosts").stdout
        assert "box" in text and "unreachable" in text


def test_hosts_check_reports_each_need_on_its_line(
    make_world: Callable[..., World], sshd: Sshd
) -> None:
    with remote_tmux_socket() as socket:
        world = remote_world(make_world, {"a": HOLD}, {"box": (sshd, socket)})
        ok = world.cli("hosts", "check", "box")
        assert ok.returncode == 0, ok.stdout + ok.stderr
        lines = ok.stdout.splitlines()
        for need in ("connect", "tmux", "git", "repo api", "repo web", "workspaces root"):
            assert any(line.startswith("ok") and f" {need}:" in line for line in lines), need
        assert any("agent program" in line for line in lines)
        assert lines[-1] == "host box is ready for runs"

        def break_repo(data: dict[str, object]) -> None:
            hosts = data["hosts"]
            assert isinstance(hosts, dict)
            hosts["box"]["repos"]["web"] = str(world.root / "nowhere")

        world.edit_policy(break_repo)
        bad = world.cli("hosts", "check", "box", "--json", check=False)
        assert bad.returncode == 1
        result = json.loads(bad.stdout)
        failed = [c["name"] for c in result["checks"] if not c["ok"]]
        assert failed == ["repo web"]


def test_hosts_check_of_a_host_with_a_wrong_key_fails_at_connect(
    make_world: Callable[..., World], sshd: Sshd
) -> None:
    with remote_tmux_socket() as socket:
        world = remote_world(make_world, {"a": HOLD}, {"box": (sshd, socket)})
        other = world.root / "other_known_hosts"
        key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
        other.write_text(f"[{sshd.address}]:{sshd.port} {key}\n")
        world.edit_policy(lambda d: d["hosts"]["box"].update({"known_hosts": str(other)}))
        bad = world.cli("hosts", "check", "box", check=False)
        assert bad.returncode == 1
        assert bad.stdout.startswith(
            "FAIL  connect: host box is unreachable: host key not verified"
        )
        assert sshd.accepted_logins() == 0
