"""``make demo-ssh``: the demo's whole loop on a host reached over SSH, for real.

It builds the same throwaway world as ``make demo``, starts a private OpenSSH ``sshd`` on a free
loopback port (its own host key, pinned in its own known_hosts file; its own client key in its
own authorized_keys; nothing of the system's sshd is used or touched), names it ``box`` in the
policy with its own workspaces root and tmux server, and runs the loop with ``--host box``:
the workspaces, the agents and their signal files live "on" box, reached only through the one
SSH connection of the supervisor. The sshd is stopped at the end.

The helpers here (keys, config, argv) are also what the tests' sshd fixture starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def write_keys(folder: Path, address: str, port: int) -> tuple[Path, Path, str]:
    """A host key, a client key (with ``authorized_keys``) and a known_hosts file pinning the
    host key, in ``folder``: (client key, known_hosts, host public key)."""
    import asyncssh

    host_key = asyncssh.generate_private_key("ssh-ed25519")
    host_key.write_private_key(str(folder / "host_ed25519"))
    os.chmod(folder / "host_ed25519", 0o600)
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    client_path = folder / "client_ed25519"
    client_key.write_private_key(str(client_path))
    os.chmod(client_path, 0o600)
    (folder / "authorized_keys").write_bytes(client_key.export_public_key())
    public = host_key.export_public_key().decode().strip()
    pattern = address if port == 22 else f"[{address}]:{port}"
    known_hosts = folder / "known_hosts"
    known_hosts.write_text(f"{pattern} {public}\n")
    return client_path, known_hosts, public


def sshd_config(
    folder: Path, address: str, port: int, user: str, *, log_level: str = "INFO"
) -> str:
    """A private sshd_config: key auth only, this user only, files in ``folder``
    (``log_level`` DEBUG1 logs every channel request, which the benchmark counts)."""
    return "\n".join(
        [
            f"ListenAddress {address}:{port}",
            f"HostKey {folder / 'host_ed25519'}",
            f"AuthorizedKeysFile {folder / 'authorized_keys'}",
            f"PidFile {folder / 'sshd.pid'}",
            f"AllowUsers {user}",
            "StrictModes no",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "MaxSessions 1000",
            "MaxStartups 100:30:200",
            "Subsystem sftp internal-sftp",
            f"LogLevel {log_level}",
            "",
        ]
    )


def sshd_argv(config: Path, user: str) -> list[str]:
    """The argv of a foreground sshd with ``config``. As root, it runs in a private mount
    namespace where the user's ``~/.bashrc`` reads empty: bash sources it for every ssh
    command, and a heavy one (pyenv init) costs ~100 ms a command. Nothing outside sees it."""
    argv = [SSHD, "-D", "-e", "-f", str(config)]
    try:
        rc = os.path.join(pwd.getpwnam(user).pw_dir, ".bashrc")
    except KeyError:
        return argv
    if os.geteuid() == 0 and os.path.isfile(rc) and shutil.which("unshare"):
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # a root sshd needs it
        return [
            "unshare", "--mount", "--propagation", "private", "--",
            "/bin/sh", "-c", 'mount --bind /dev/null "$0" && exec "$@"', rc, *argv,
        ]  # fmt: skip
    return argv


def wait_for_banner(address: str, port: int, proc: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection((address, port), timeout=0.5) as probe:
                if probe.recv(64).startswith(b"SSH-"):
                    return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


def main() -> int:
    """Run the loop on ``box`` through a private sshd; non-zero if a step did not happen."""
    from metawsm.demo import _say, build_world, run_loop

    for need in ("tmux", "git"):
        if shutil.which(need) is None:
            print(f"the demo needs {need} (make demo-ssh installs it)", file=sys.stderr)
            return 1
    if not os.path.exists(SSHD):
        print("the demo needs openssh-server (make demo-ssh installs it)", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="metawsm-demo-ssh-"))
    keys = Path(tempfile.mkdtemp(prefix="metawsm-sshd-"))
    _say(f"building a throwaway world in {root}")
    build_world(root)
    user = pwd.getpwuid(os.geteuid()).pw_name
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    client_key, known_hosts, _ = write_keys(keys, "127.0.0.1", port)
    (keys / "sshd_config").write_text(sshd_config(keys, "127.0.0.1", port, user))
    tmux_socket = str(root / "box-tmux.sock")
    _say(f"a private sshd on 127.0.0.1:{port} (host key pinned in {known_hosts})")
    log = open(keys / "sshd.log", "wb")  # noqa: SIM115 - closed in finally
    sshd = subprocess.Popen(
        sshd_argv(keys / "sshd_config", user), stdout=log, stderr=log, start_new_session=True
    )
    try:
        if not wait_for_banner("127.0.0.1", port, sshd):
            print(f"sshd did not start; see {keys / 'sshd.log'}", file=sys.stderr)
            return 1
        path = root / ".metawsm" / "policy.json"
        policy = json.loads(path.read_text())
        policy["hosts"] = {
            "box": {
                "address": "127.0.0.1",
                "port": port,
                "user": user,
                "key_file": str(client_key),
                "known_hosts": str(known_hosts),
                "repos": {"api": str(root / "repos" / "api"), "web": str(root / "repos" / "web")},
                "workspaces_root": str(root / "box-workspaces"),
                "tmux_socket": tmux_socket,
            }
        }
        path.write_text(json.dumps(policy, indent=2))
        print("  .metawsm/policy.json   hosts.box: the sshd above, its own workspaces and tmux")
        _say("metawsm hosts check box")
        check = subprocess.run([sys.executable, "-m", "metawsm", "hosts", "check", "box"], cwd=root)
        if check.returncode != 0:
            return 1
        return run_loop(root, host="box", tmux_hint=f"tmux -S {tmux_socket}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sshd.pid, signal.SIGTERM)
        sshd.wait(timeout=10)
        log.close()
        logins = (keys / "sshd.log").read_text(errors="replace").count("Accepted publickey")
        print(f"  sshd accepted {logins} SSH connection(s); it is stopped now")
        shutil.rmtree(keys, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
