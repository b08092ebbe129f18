"""The forum actor's consumers, chosen by the policy: the docs-sync consumer
(``forum.docs_sync.enabled``) and the Redis Streams export (``forum.redis.enabled``)."""

from __future__ import annotations

from metawsm.forum.actor import Consumer
from metawsm.store.client import WriteHelpers
from metawsm.supervisor.environment import Environment


def forum_consumers(env: Environment, store: WriteHelpers) -> list[Consumer]:
    """The consumers the policy turns on."""
    return []
