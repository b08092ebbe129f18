"""``metawsm docs``: the docs federation's view of every ticket (the original's command).

With a supervisor running, the answer comes from the federation's last poll in memory (the
endpoints of the policy and the docmgr servers of active workspaces); without one, the
policy's endpoints are polled once.
"""

from __future__ import annotations

import sys
from typing import Annotated

from cyclopts import Parameter

from metawsm.cli import app
from metawsm.cli.common import call, print_json
from metawsm.cli.params import JsonFlag, Root
from metawsm.docs.federation import render_text

ROOT = Root()


@app.command
def docs(
    *,
    ticket: str = "",
    refresh: Annotated[bool, Parameter(negative="")] = False,
    endpoint: Annotated[tuple[str, ...], Parameter(consume_multiple=False)] = (),
    json_output: JsonFlag = False,
    root: Root = ROOT,
) -> int:
    """Show the tickets of every docs API endpoint, merged workspace-first, with each endpoint's
    health and index time.

    Example: metawsm docs --refresh --endpoint ws-api --ticket T-1

    Parameters
    ----------
    ticket
        Only this ticket (any case).
    refresh
        Ask the endpoints to re-index first (POST /api/v1/index/refresh).
    endpoint
        With --refresh: only these endpoints (repeatable; default all).
    json_output
        Print {"endpoints": [...], "tickets": [...]} as JSON.
    """
    params = {"ticket": ticket.strip(), "refresh": refresh, "endpoints": list(endpoint)}
    data = call(root.env(), "docs", params)
    if json_output:
        print_json(data)
    else:
        sys.stdout.write(render_text(data) + "\n")
    return 0
