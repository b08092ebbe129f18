"""Restart delays: exponential, jittered, capped, and forgiven after a stable run."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delay before the n-th consecutive restart of one child.

    ``delay(n) = min(cap, initial * factor**(n-1))``, then scaled by a random factor in
    ``[1 - jitter, 1 + jitter]`` (so children failing together do not restart in lockstep) and
    capped again. A child whose incarnation ran ``stable_after`` seconds starts over at n = 1.
    """

    initial: float = 0.05
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 0.2
    stable_after: float = 30.0

    def __post_init__(self) -> None:
        if self.initial < 0 or self.factor < 1 or self.cap < self.initial:
            raise ValueError("backoff needs initial >= 0, factor >= 1 and cap >= initial")
        if not 0 <= self.jitter < 1 or self.stable_after <= 0:
            raise ValueError("backoff needs 0 <= jitter < 1 and stable_after > 0")

    def delay(self, consecutive: int, rng: random.Random) -> float:
        """Seconds to wait before restart number ``consecutive`` (1-based)."""
        if consecutive < 1 or self.initial == 0:
            return 0.0
        base = min(self.cap, self.initial * self.factor ** min(consecutive - 1, 64))
        if self.jitter:
            base *= rng.uniform(1 - self.jitter, 1 + self.jitter)
        return min(self.cap, base)
