"""The Redis client type of the production profile: one server, or a Redis Cluster (ROOST_REDIS_CLUSTER)."""

from __future__ import annotations

from typing import TypeAlias

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from typing_extensions import TypeIs

# Every adapter takes either; multi-key commands and scripts only ever touch keys of one hash slot,
# and cross-slot batches go through pipelines, which the cluster client splits by node.
RedisClient: TypeAlias = Redis | RedisCluster


def decodes_responses(client: RedisClient) -> bool:
    """Whether the client decodes replies to str (the adapters need bytes: members are binary)."""
    return bool(client.get_connection_kwargs().get("decode_responses"))


def is_cluster(client: RedisClient) -> TypeIs[RedisCluster]:
    return isinstance(client, RedisCluster)
