"""Times and ages as status shows them."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from metawsm.store.db import format_utc

__all__ = [
    "age_seconds",
    "format_duration",
    "parse_stamp",
    "rfc3339",
    "short_stamp",
    "stamp_of_epoch",
]


def parse_stamp(text: str | None) -> datetime | None:
    """A stored UTC stamp as an aware datetime; ``None`` for ``""`` or anything unparsable.

    A stamp without a zone is read as UTC (the store only writes UTC).
    """
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def stamp_of_epoch(seconds: float | None) -> str | None:
    """Epoch seconds (tmux's clock) as a store stamp; ``None`` for none or zero."""
    if seconds is None or seconds <= 0:
        return None
    return format_utc(datetime.fromtimestamp(seconds, UTC))


def age_seconds(now: datetime, stamp: str | None) -> int | None:
    """Whole seconds from ``stamp`` to ``now`` (0 if the stamp is in the future)."""
    moment = parse_stamp(stamp)
    if moment is None:
        return None
    return max(0, math.floor((now - moment).total_seconds()))


def short_stamp(stamp: str | None) -> str:
    """A stamp to the second (RFC 3339, ``2026-02-08T00:00:00Z``), or ``-``."""
    moment = parse_stamp(stamp)
    return "-" if moment is None else rfc3339(moment)


def rfc3339(moment: datetime) -> str:
    """An aware datetime in UTC to the second: ``2026-02-08T00:00:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_duration(seconds: float) -> str:
    """A duration as Go prints one truncated to seconds: ``45s``, ``1m0s``, ``1h2m3s``.

    Negative durations print as ``0s``.
    """
    total = max(0, math.floor(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
