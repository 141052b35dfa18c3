"""The hydration cache on Redis (production profile), implementing the PostCache port.

Keys (Keys.post / Keys.user, each under its own id's hash tag, so batches go through a pipeline of
single-key commands, which a Cluster client splits by node):

    <prefix>:post:{<post id>}   JSON of a post's immutable fields
    <prefix>:user:{<user id>}   JSON of a user's author fields

Fills use SET NX, and an invalidation writes a short-lived tombstone instead of deleting: a reader
that loaded a row just before a profile change commits cannot put the old row back afterwards.
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

    async def get(
        self, post_ids: Sequence[int], user_ids: Sequence[int]
    ) -> tuple[dict[int, Mapping[str, Any]], dict[int, Mapping[str, Any]]]:
        posts = list(dict.fromkeys(post_ids))
        users = list(dict.fromkeys(user_ids))
        if not (posts or users) or not self._health.available:
            return {}, {}
        keys = [self._keys.post(i) for i in posts] + [self._keys.user(i) for i in users]
        pipe, sent = self._pipeline()
        for key in keys:
            pipe.get(key)
        try:
            values = (await pipe.execute())[-len(keys) :]
        except REDIS_ERRORS as e:
            self._health.failed(e)
            return {}, {}
        self._succeeded(sent)
        return _decoded(posts, values[: len(posts)]), _decoded(users, values[len(posts) :])

    async def put(
        self, posts: Mapping[int, Mapping[str, Any]], users: Mapping[int, Mapping[str, Any]]
    ) -> None:
        if not (posts or users) or not self._health.available:
            return
        pipe, sent = self._pipeline()
        for post_id, entry in posts.items():
            pipe.set(self._keys.post(post_id), orjson.dumps(entry), ex=self._ttl, nx=True)
        for user_id, entry in users.items():
            pipe.set(self._keys.user(user_id), orjson.dumps(entry), ex=self._ttl, nx=True)
        try:
            await pipe.execute()
        except REDIS_ERRORS as e:
            self._health.failed(e)
            return
        self._succeeded(sent)

    async def forget_posts(self, post_ids: Sequence[int]) -> None:
        await self._forget([self._keys.post(i) for i in post_ids])

    async def forget_users(self, user_ids: Sequence[int]) -> None:
        await self._forget([self._keys.user(i) for i in user_ids])

    async def _forget(self, keys: list[str]) -> None:
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
