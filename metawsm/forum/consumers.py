"""The forum actor's consumers, chosen by the policy: the docs-sync consumer
(``forum.docs_sync.enabled``) and the Redis Streams export (``forum.redis.enabled``)."""

from __future__ import annotations

from metawsm.forum.actor import Consumer
from metawsm.store.client import WriteHelpers
from metawsm.supervisor.environment import Environment


def forum_consumers(env: Environment, store: WriteHelpers) -> list[Consumer]:
    """The consumers the policy turns on."""
    found: list[Consumer] = []
    if env.policy.forum.docs_sync.enabled:
        from metawsm.forum.docs_sync import DocsSync

        found.append(DocsSync(env, store).run)
    if env.policy.forum.redis.enabled:
        from metawsm.forum.redis_export import RedisExport

        found.append(RedisExport(env, store).run)
    return found
