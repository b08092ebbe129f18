"""Whether programs exist on a host: ``command -v`` run through the :class:`Host` seam, so a
remote host answers the same way as this machine.

All names are checked in one process per shell (the names are arguments of a fixed script,
never part of it): ``sh`` for programs started directly, and a login ``bash`` for the first word
of a ``shell`` runner's command, since that is how the agent's command is run (a login shell
sees the operator's ``PATH`` additions).
"""

from __future__ import annotations

from collections.abc import Iterable

from metawsm.hosts.base import Host
from metawsm.hosts.errors import HostError

#: Prints each argument that is not a command the shell can run (builtins and functions count).
_MISSING_SCRIPT = 'for p do command -v -- "$p" >/dev/null 2>&1 || printf "%s\\n" "$p"; done; exit 0'
CHECK_TIMEOUT = 20.0


async def missing_programs(
    host: Host,
    programs: Iterable[str],
    *,
    login_shell: bool = False,
    timeout: float = CHECK_TIMEOUT,
) -> set[str]:
    """The ``programs`` that the host's shell cannot find (empty when every one is there).

    ``login_shell`` looks them up as ``bash -lc`` sees them. Raises
    :class:`~metawsm.hosts.errors.HostError` when the host cannot run the check at all
    (:class:`~metawsm.hosts.errors.CommandTimeout` past ``timeout``).
    """
    names = sorted({p for p in programs if p})
    if not names:
        return set()
    shell = ["bash", "-lc"] if login_shell else ["sh", "-c"]
    result = await host.run([*shell, _MISSING_SCRIPT, "metawsm-preflight", *names], timeout=timeout)
    if result.returncode != 0:
        raise HostError(
            f"could not check programs on host {host.name}: "
            f"{shell[0]} exited {result.returncode}: {result.stderr.strip()[:200]}"
        )
    found_missing = {line for line in result.stdout.splitlines() if line}
    return found_missing & set(names)
