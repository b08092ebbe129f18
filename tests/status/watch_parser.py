"""The original ``watch`` command's status-text parser (original-metawsm.md §7), for tests.

It lives in the tests, not in metawsm: it is the contract an external script written against
the original's text relies on, and our text must keep satisfying it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class WatchSnapshot:
    run_id: str = ""
    status: str = ""
    tickets: str = ""
    has_guidance: bool = False
    guidance_items: list[str] = field(default_factory=list)
    has_dirty_diffs: bool = False
    draft_or_open_prs: int = 0
    review_feedback_queued: int = 0
    review_feedback_new: int = 0
    agents: list[dict[str, str]] = field(default_factory=list)
    """One dict per agent line: ``agent`` (the ``name@ws`` token) and every ``key=value``."""


def _count(line: str) -> int:
    for token in line.split():
        if token.startswith("count="):
            return int(token.removeprefix("count="))
    return 0


def parse_watch_snapshot(text: str) -> WatchSnapshot:
    """Parse a status text the way the original's ``parseWatchSnapshot`` did."""
    snap = WatchSnapshot()
    section = ""
    for raw in text.splitlines():
        if raw and not raw[0].isspace():
            section = ""
            if raw.startswith("Run:"):
                snap.run_id = raw.removeprefix("Run:").strip()
            elif raw.startswith("Status:"):
                snap.status = raw.removeprefix("Status:").strip()
            elif raw.startswith("Tickets:"):
                snap.tickets = raw.removeprefix("Tickets:").strip()
            elif raw.startswith("Guidance:"):
                section = "guidance"
                snap.has_guidance = True
            elif raw.startswith("Diffs:"):
                section = "diffs"
            elif raw.startswith("Pull Requests:"):
                section = "prs"
            elif raw.startswith("Review Feedback:"):
                section = "feedback"
            elif raw.startswith("Agents:"):
                section = "agents"
            continue
        line = raw.strip()
        if not line:
            continue
        if section == "guidance" and line.startswith("- "):
            snap.guidance_items.append(line.removeprefix("- "))
        elif section == "diffs" and " dirty files=" in raw:
            snap.has_dirty_diffs = True
        elif section == "prs" and ("state=draft" in line or "state=open" in line):
            snap.draft_or_open_prs += 1
        elif section == "feedback":
            if "status=queued" in line:
                snap.review_feedback_queued += _count(line)
            elif "status=new" in line:
                snap.review_feedback_new += _count(line)
        elif section == "agents" and line.startswith("- "):
            tokens = line.removeprefix("- ").split()
            if not tokens or "@" not in tokens[0]:
                continue
            agent = {"agent": tokens[0]}
            for token in tokens[1:]:
                key, sep, value = token.partition("=")
                if sep:
                    agent[key] = value
            snap.agents.append(agent)
    if snap.status == "awaiting_guidance":
        snap.has_guidance = True
    return snap
