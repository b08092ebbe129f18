"""``make demo``: the end-to-end demonstration of metawsm.

The supervisor that runs real agents arrives with the next capability (serve, runs, agent
actors). Until then this prints what the demo will do and what works today, and runs nothing
it would have to fake.
"""

from __future__ import annotations

import sys

PLAN = """\
metawsm demo — not available yet.

When the supervisor lands, `make demo` will, for real and on embedded defaults:
  1. make a throwaway folder with two git repositories and a ticket in the docmgr layout;
  2. write a policy with two scripted agents on a private tmux server;
  3. start `metawsm serve`, run the ticket, and show `metawsm status` while the agents
     edit, commit and signal completion;
  4. end with the agents done and print the folder so you can look around.

What works today (try them):
  metawsm policy-init --path /tmp/metawsm-try/policy.json
  metawsm policy validate --path /tmp/metawsm-try/policy.json
  metawsm db migrate --db /tmp/metawsm-try/metawsm.db
  metawsm db status --db /tmp/metawsm-try/metawsm.db
"""


def main() -> int:
    """Print the plan; exit 0 because nothing failed, nothing was pretended."""
    sys.stdout.write(PLAN)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
