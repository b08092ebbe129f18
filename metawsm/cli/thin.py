"""The CLI's thin path: answers that need neither cyclopts nor pydantic.

Loading the full CLI (cyclopts, rich, pydantic, anyio, the command modules) costs several
times the start of Python itself. Two kinds of invocation do not need it:

* ``metawsm``, ``metawsm --help`` and ``metawsm --version``: the top-level help is the app's own
  rendering, stored in :mod:`metawsm.cli.help_text` (``python -m metawsm.cli.helpgen``
  regenerates it; a test fails when it drifts from the app).
* ``metawsm status --json`` and ``metawsm runs --json`` when the root's supervisor is up: one
  JSON-RPC line over the control socket, the result printed as the full path prints it.

Anything else, or anything unexpected on the way (a flag the thin parser does not know, a name
the name rule refuses, no supervisor, an error answer, a socket fault), returns ``None`` and the
full CLI runs the command from the start, so its errors and messages stay the only ones. The
environment variable ``METAWSM_NO_THIN=1`` turns the thin path off (benchmarks, debugging).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

#: The longest answer line read (the same bound as ``metawsm.control.protocol.MAX_LINE_BYTES``).
MAX_LINE_BYTES = 1024 * 1024
#: How long a thin call may wait for the supervisor (the full path's bound is longer; a
#: status that takes this long is re-asked there).
CALL_TIMEOUT = 120.0

#: Per command: its flags without a value, its flags with a value (and their param keys).
_COMMANDS: dict[str, tuple[frozenset[str], dict[str, str]]] = {
    "status": (frozenset({"--json", "--no-diffs"}), {"--run-id": "run_id", "--ticket": "ticket"}),
    "runs": (frozenset({"--json", "--all"}), {}),
}


def run_thin(tokens: list[str]) -> int | None:
    """Answer ``tokens`` on the thin path; the exit code, or None for the full CLI."""
    if os.environ.get("METAWSM_NO_THIN"):
        return None
    if tokens in ([], ["--help"], ["-h"]):
        from metawsm.cli.help_text import TOP_HELP

        sys.stdout.write(TOP_HELP)
        return 0
    if tokens == ["--version"]:
        from metawsm import __version__

        sys.stdout.write(f"{__version__}\n")
        return 0
    if tokens and tokens[0] in _COMMANDS:
        return _supervisor_read(tokens[0], tokens[1:])
    return None


def parse(command: str, args: list[str]) -> dict[str, Any] | None:
    """The params of ``command`` from its arguments, or None when the thin path does not take
    them (only ``--json`` output is served here)."""
    switches, valued = _COMMANDS[command]
    seen: set[str] = set()
    values: dict[str, str] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        name, eq, value = arg.partition("=")
        if name in seen:
            return None
        seen.add(name)
        if name in switches and not eq:
            index += 1
        elif name in valued:
            if not eq:
                if index + 1 >= len(args) or args[index + 1].startswith("-"):
                    return None
                value = args[index + 1]
                index += 1
            values[valued[name]] = value
            index += 1
        else:
            return None
    if "--json" not in seen:
        return None
    if command == "status":
        return {
            "run_id": values.get("run_id", ""),
            "ticket": values.get("ticket", ""),
            "diffs": "--no-diffs" not in seen,
        }
    return {"all": "--all" in seen}


def _supervisor_read(command: str, args: list[str]) -> int | None:
    params = parse(command, args)
    if params is None or not _names_ok(params):
        return None
    from metawsm.supervisor.lock import lock_is_held
    from metawsm.supervisor.rootdir import STATE_DIR, announce_root, find_root

    root = find_root()
    state = root / STATE_DIR
    if not lock_is_held(state / "serve.lock"):
        return None  # offline reads need the store: the full path
    answer = call(state / "control.sock", command, params)
    if answer is None:
        return None
    announce_root(root)
    result = answer["result"]
    if command == "status" and not params["run_id"] and not params["ticket"]:
        # Every active run: the full path prints the list itself (metawsm.cli.run_cmds).
        if not isinstance(result, dict) or not isinstance(result.get("runs"), list):
            return None
        result = result["runs"]
    sys.stdout.write(json.dumps(result, indent=2, sort_keys=False) + "\n")
    return 0


def _names_ok(params: dict[str, Any]) -> bool:
    from metawsm.errors import UsageError
    from metawsm.naming import validate_name

    try:
        for key, kind in (("run_id", "run id"), ("ticket", "ticket")):
            if params.get(key):
                validate_name(kind, params[key])
    except UsageError:
        return False
    return True


def call(path: Path, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """One JSON-RPC call over the control socket; the response when it carries a result."""
    request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(CALL_TIMEOUT)
            sock.connect(str(path))
            sock.sendall(json.dumps(request).encode() + b"\n")
            buffer = bytearray()
            while b"\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk or len(buffer) + len(chunk) > MAX_LINE_BYTES:
                    return None
                buffer += chunk
    except OSError:  # includes the timeout
        return None
    try:
        response = json.loads(buffer[: buffer.index(b"\n")])
    except ValueError:
        return None
    if not isinstance(response, dict) or response.get("id") != 1:
        return None
    if response.get("error") is not None or "result" not in response:
        return None
    return response
