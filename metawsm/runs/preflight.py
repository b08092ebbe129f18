"""Preflight: every agent's program exists on the host it will run on, checked at plan time,
before any workspace is made.

An agent's program is the first word of its argv (``codex``, ``claude``, the Python of a
``scripted`` agent, ``bash`` for a ``shell`` one). For a ``shell`` agent the first word of its
command is checked too (by ``sh``, then by the login shell that runs it), when that word is a plain
program name or path (not an assignment, a quote, a ``$`` or other shell syntax, which only the
shell can judge). A relative path with a ``/`` is left alone: it is relative to the agent's
working folder, which does not exist yet.
"""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from metawsm.errors import UsageError
from metawsm.hosts.base import Host
from metawsm.hosts.errors import CommandTimeout
from metawsm.hosts.programs import missing_programs
from metawsm.policy.model import quote
from metawsm.runs.profiles import AgentSpec

log = logging.getLogger("metawsm.preflight")

#: Bound on the login-shell lookup of a shell command's first word.
LOGIN_CHECK_TIMEOUT = 10.0
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_.+/-]+")


@dataclass(frozen=True)
class MissingProgram:
    """An agent whose program is not on its host."""

    agent: str
    program: str
    host: str

    def sentence(self) -> str:
        return (
            f"agent {quote(self.agent)}: program {quote(self.program)} "
            f"not found on host {self.host}"
        )

    def as_dict(self) -> dict[str, str]:
        return {"agent": self.agent, "program": self.program, "host": self.host}


def _checkable(program: str) -> bool:
    if not program or not _PLAIN_WORD.fullmatch(program):
        return False
    return "/" not in program or program.startswith("/")


def shell_command_word(agent: AgentSpec) -> str:
    """The first word of a ``shell`` agent's command when it is checkable, else ''."""
    if agent.runner != "shell" or len(agent.argv) < 3:
        return ""
    try:
        words = shlex.split(agent.argv[2])
    except ValueError:
        return ""
    first = words[0] if words else ""
    return first if _checkable(first) else ""


async def find_missing(host: Host, agents: Sequence[AgentSpec]) -> list[MissingProgram]:
    """Every agent whose program (or shell command's first word) the host cannot find, in
    agent order: one ``sh`` process for all agents, and one login ``bash`` only for the shell
    words ``sh`` did not find (a login shell can be slow: profiles, version managers). When
    the login shell does not answer within :data:`LOGIN_CHECK_TIMEOUT`, those words count as
    unverified, not missing: a slow profile must not refuse a run."""
    direct = {a.name: a.argv[0] for a in agents if a.argv and _checkable(a.argv[0])}
    in_shell = {a.name: w for a in agents if (w := shell_command_word(a))}
    gone_plain = await missing_programs(host, {*direct.values(), *in_shell.values()})
    gone = gone_plain & set(direct.values())
    gone_in_shell: set[str] = set()
    unsure = gone_plain & set(in_shell.values())
    if unsure:
        try:
            gone_in_shell = await missing_programs(
                host, unsure, login_shell=True, timeout=LOGIN_CHECK_TIMEOUT
            )
        except CommandTimeout:
            log.warning(
                "preflight: the login shell on host %s did not answer within %ss; not verified: %s",
                host.name,
                LOGIN_CHECK_TIMEOUT,
                ", ".join(sorted(unsure)),
            )
    missing: list[MissingProgram] = []
    for agent in agents:
        if agent.name in direct and direct[agent.name] in gone:
            missing.append(MissingProgram(agent.name, direct[agent.name], host.name))
        elif agent.name in in_shell and in_shell[agent.name] in gone_in_shell:
            missing.append(MissingProgram(agent.name, in_shell[agent.name], host.name))
    return missing


def preflight_error(missing: Sequence[MissingProgram]) -> UsageError:
    """One error for every agent whose program is missing."""
    return UsageError(
        "; ".join(m.sentence() for m in missing),
        hint="install it there or fix the agent's profile in the policy "
        "(`metawsm policy validate` warns about it)",
    )


async def preflight(host: Host, agents: Sequence[AgentSpec]) -> None:
    """Raise :func:`preflight_error` when an agent's program is not on ``host``."""
    missing = await find_missing(host, agents)
    if missing:
        raise preflight_error(missing)
