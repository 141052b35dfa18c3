"""The shared post cache on Redis (production profile), implementing the PostCache port.

Behind each API process's in-process cache (`roost.adapters.memory`): a process that has not seen a
post yet finds it here before it asks the database. Keys (Keys.post, each under its own id's hash
tag, so batches go through a pipeline of single-key commands, which a Cluster client splits by node):

    <prefix>:post:{<post id>}   JSON of a post's immutable fields

Fills use SET NX, and a delete writes a short-lived tombstone instead of deleting: a reader that
loaded the row just before the delete committed cannot put it back afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from roost.adapters.redis.client import RedisClient
from roost.adapters.redis.keys import Keys
from roost.adapters.redis.resilient import REDIS_ERRORS, RedisHealth

log = logging.getLogger(__name__)

ENTRY_SECONDS = 3600
# Longer than a reader takes between its database read and its fill.
TOMBSTONE_SECONDS = 30
TOMBSTONE = b"!"


class RedisPostCache:
    """PostCache on Redis: a failure is a miss; failed invalidations are retried before the next use."""

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str,
        health: RedisHealth | None = None,
        ttl: int = ENTRY_SECONDS,
    ) -> None:
        self._redis = client
        self._keys = Keys(prefix)
        self._health = health or RedisHealth()
        self._ttl = ttl
        # Keys whose invalidation failed: written (as tombstones) ahead of any other command.
        self._unforgotten: set[str] = set()

    async def get(self, post_ids: Sequence[int]) -> dict[int, Mapping[str, Any]]:
        posts = list(dict.fromkeys(post_ids))
        if not posts or not self._health.available:
            return {}
        pipe, sent = self._pipeline()
        for post_id in posts:
            pipe.get(self._keys.post(post_id))
        try:
            values = (await pipe.execute())[-len(posts) :]
        except REDIS_ERRORS as e:
            self._health.failed(e)
            return {}
        self._succeeded(sent)
        return _decoded(posts, values)

    def peek(self, post_ids: Sequence[int]) -> dict[int, Mapping[str, Any]]:
        return {}  # every entry is in Redis: none is known without a round trip

    async def put(self, posts: Mapping[int, Mapping[str, Any]]) -> None:
        if not posts or not self._health.available:
            return
        pipe, sent = self._pipeline()
        for post_id, entry in posts.items():
            pipe.set(self._keys.post(post_id), orjson.dumps(entry), ex=self._ttl, nx=True)
        try:
            await pipe.execute()
        except REDIS_ERRORS as e:
            self._health.failed(e)
            return
        self._succeeded(sent)

    async def forget_posts(self, post_ids: Sequence[int]) -> None:
        keys = [self._keys.post(i) for i in post_ids]
        # Kept in _unforgotten until a pipeline carrying them succeeds: during an outage this
        # process writes them first once Redis answers again.
        self._unforgotten.update(keys)
        if not self._health.available:
            return
        pipe, sent = self._pipeline()
        try:
            await pipe.execute()
        except REDIS_ERRORS as e:
            log.warning("cache invalidation failed, retried on the next cache use: %s", e)
            self._health.failed(e)
            return
        self._succeeded(sent)

    def _pipeline(self) -> tuple[Any, set[str]]:
        """A pipeline that starts with the pending invalidations, and those invalidations."""
        pipe = self._redis.pipeline(transaction=False)
        sent = set(self._unforgotten)
        for key in sent:
            pipe.set(key, TOMBSTONE, ex=TOMBSTONE_SECONDS)
        return pipe, sent

    def _succeeded(self, sent: set[str]) -> None:
        self._unforgotten -= sent
        self._health.succeeded()


def _decoded(ids: list[int], values: list[bytes | None]) -> dict[int, Mapping[str, Any]]:
    found: dict[int, Mapping[str, Any]] = {}
    for entry_id, raw in zip(ids, values, strict=True):
        if raw is not None and raw != TOMBSTONE:
            found[entry_id] = orjson.loads(raw)
    return found
