"""Host commands: ``metawsm hosts`` and ``metawsm hosts check NAME``.

``hosts`` lists this machine and the policy's SSH hosts with their connection state, load and
last observation (from the running supervisor, else by connecting to each once); ``hosts check``
connects to one host and checks what a run there needs, one line per check, exit 1 if any fails.
"""

from __future__ import annotations

from typing import Any

import anyio
from cyclopts import App

from metawsm.cli import app
from metawsm.cli.common import call, print_json
from metawsm.cli.params import JsonFlag, Root
from metawsm.naming import validate_name

ROOT = Root()

hosts_app = App(
    name="hosts",
    help="The hosts runs are placed on: state, load, checks.",
    help_epilogue="Example: metawsm hosts --json; metawsm hosts check gpu1",
)
app.command(hosts_app)


@hosts_app.default
def hosts(*, json_output: JsonFlag = False, root: Root = ROOT) -> int:
    """List the hosts: address, state (connected, connecting, unreachable) and since when, round
    trip, agents and max_agents, last observation, last error.

    Example: metawsm hosts --json

    Parameters
    ----------
    json_output
        Print {"hosts": [...]} as JSON.
    """
    from metawsm.status.hosts import render_hosts

    env = root.env()
    result: dict[str, Any] = call(env, "hosts", {})
    if json_output:
        print_json(result)
    else:
        print(render_hosts(result))
    return 0


@hosts_app.command
def check(name: str, /, *, json_output: JsonFlag = False, root: Root = ROOT) -> int:
    """Connect to a host and check tmux, git, the repos' clones, a writable workspaces root and
    the agent programs there; one line each, exit 1 if any check fails.

    Example: metawsm hosts check gpu1

    Parameters
    ----------
    name
        The host (a hosts key of the policy, or local).
    json_output
        Print {"host", "ok", "checks": [{name, ok, detail}]} as JSON.
    """
    from metawsm.status.hosts import check_host, render_check

    validate_name("host", name)
    env = root.env()
    result = anyio.run(check_host, env, name, backend="asyncio")
    if json_output:
        print_json(result)
    else:
        print(render_check(result))
    return 0 if result["ok"] else 1
