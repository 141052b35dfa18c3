"""Buffered post counters in Redis (production profile), implementing the Counters port.

Likes and reposts of a hot post would make its database row a lock hot spot, so the action commits
the like row and adds +1 to a Redis delta instead; `workers/counters` moves the deltas to the
posts table in batches. The exact value is always column + pending + in flight.

Keys, all under a shard's hash tag so each script touches one Redis Cluster slot:

    <prefix>:cnt:{c<shard>}:<post>    hash counter name -> pending delta
    <prefix>:cntd:{c<shard>}          set of posts with a pending delta (what the flusher takes)
    <prefix>:cntf:{c<shard>}:<post>   hash of the deltas being flushed (still counted by reads)
    <prefix>:cntfs:{c<shard>}         set of posts in flight
    <prefix>:cntft:{c<shard>}         the in-flight batch's token (applied at most once)
    <prefix>:cntl:{c<shard>}          the flusher's lock: one flusher per shard at a time

Scripts build the per-post key names from the shard's base name (same slot by construction).
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from roost.adapters.redis.client import RedisClient, is_cluster
from roost.adapters.redis.idsets import pipeline, run_batch, run_script
from roost.adapters.redis.keys import Keys
from roost.adapters.redis.resilient import REDIS_ERRORS
from roost.core.errors import Unavailable

SHARDS = 64
LOCK_MS = 30_000

# KEYS: pending hash, dirty set, in-flight hash. ARGV: counter name, delta, post id.
# Returns the counter's whole unflushed delta (pending + in flight).
_ADD = r"""
local v = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return v + tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
"""

# KEYS: dirty set, in-flight set, batch token. ARGV: pending base, in-flight base, limit, new token.
# A batch already in flight (a flush that failed or died before `done`) is returned again whole,
# with its token and nothing added to it; else up to `limit` pending posts move into flight under
# the new token. Returns {token, post, {name, value, ...}, ...}. The token lets the database
# refuse a batch it has already applied, so a retried batch is counted once.
_TAKE = r"""
if redis.call('SCARD', KEYS[2]) == 0 then
  for _, id in ipairs(redis.call('SPOP', KEYS[1], ARGV[3])) do
    local pending_key = ARGV[1] .. id
    local vals = redis.call('HGETALL', pending_key)
    if #vals > 0 then
      redis.call('DEL', pending_key)
      for i = 1, #vals, 2 do
        redis.call('HINCRBY', ARGV[2] .. id, vals[i], vals[i + 1])
      end
      redis.call('SADD', KEYS[2], id)
    end
  end
  if redis.call('SCARD', KEYS[2]) > 0 then
    redis.call('SET', KEYS[3], ARGV[4])
  end
end
local out = {redis.call('GET', KEYS[3]) or ''}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGETALL', ARGV[2] .. id)
end
return out
"""

# KEYS: in-flight set, batch token. ARGV: in-flight base, post ids now in the database.
_DONE = r"""
for i = 2, #ARGV do
  redis.call('DEL', ARGV[1] .. ARGV[i])
  redis.call('SREM', KEYS[1], ARGV[i])
end
if redis.call('SCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
end
return #ARGV - 1
"""

# Sums the pending and in-flight hashes of one post into {name, value, ...}.
_SUM = r"""
local function sum(pending_key, flight_key)
  local sums = {}
  local names = {}
  for _, key in ipairs({pending_key, flight_key}) do
    local vals = redis.call('HGETALL', key)
    for j = 1, #vals, 2 do
      if sums[vals[j]] == nil then
        sums[vals[j]] = 0
        names[#names + 1] = vals[j]
      end
      sums[vals[j]] = sums[vals[j]] + tonumber(vals[j + 1])
    end
  end
  local flat = {}
  for _, name in ipairs(names) do
    flat[#flat + 1] = name
    flat[#flat + 1] = sums[name]
  end
  return flat
end
"""
# Most posts of a page have no delta: the reads answer only for those that do, as
# {position of the post from 1, {name, pending + in flight, ...}, ...}, read atomically against a
# running take.
# KEYS: dirty set (routes to the shard's slot). ARGV: pending base, in-flight base, post ids.
_READ = (
    _SUM
    + r"""
local out = {}
for i = 3, #ARGV do
  local flat = sum(ARGV[1] .. ARGV[i], ARGV[2] .. ARGV[i])
  if #flat > 0 then
    out[#out + 1] = i - 2
    out[#out + 1] = flat
  end
end
return out
"""
)
# Standalone Redis: every post of a page in one call. KEYS: each post's pending and in-flight
# hashes, in pairs.
_READ_KEYS = (
    _SUM
    + r"""
local out = {}
for i = 1, #KEYS, 2 do
  local flat = sum(KEYS[i], KEYS[i + 1])
  if #flat > 0 then
    out[#out + 1] = (i + 1) / 2
    out[#out + 1] = flat
  end
end
return out
"""
)
_UNLOCK = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class FlushBatch:
    """Deltas in flight to the database, and the token that makes applying them idempotent."""

    token: str
    deltas: dict[int, dict[str, int]]


def shard_of(post_id: int) -> int:
    # Snowflake low bits are a per-millisecond sequence, mostly 0: hash instead of a modulo.
    return zlib.crc32(post_id.to_bytes(8, "big")) % SHARDS


class RedisCounters:
    """Counters port on Redis; `take` / `done` are the flusher's side."""

    def __init__(self, client: RedisClient, *, prefix: str, shards: int = SHARDS) -> None:
        self._redis = client
        self._prefix = Keys(prefix).prefix  # validates the prefix (no braces)
        self.shards = shards
        self._add = client.register_script(_ADD)
        self._take = client.register_script(_TAKE)
        self._done = client.register_script(_DONE)
        self._read = client.register_script(_READ)
        self._read_keys = client.register_script(_READ_KEYS)
        self._unlock = client.register_script(_UNLOCK)
        # Each shard's pending and in-flight key bases (a page's read builds two keys a post).
        self._bases = [(self._pending_base(shard), self._flight_base(shard)) for shard in range(shards)]

    def _tag(self, shard: int) -> str:
        return f"{{c{shard}}}"

    def _shard(self, post_id: int) -> int:
        return shard_of(post_id) % self.shards

    def _pending_base(self, shard: int) -> str:
        return f"{self._prefix}:cnt:{self._tag(shard)}:"

    def _flight_base(self, shard: int) -> str:
        return f"{self._prefix}:cntf:{self._tag(shard)}:"

    def _dirty(self, shard: int) -> str:
        return f"{self._prefix}:cntd:{self._tag(shard)}"

    def _flying(self, shard: int) -> str:
        return f"{self._prefix}:cntfs:{self._tag(shard)}"

    def _token(self, shard: int) -> str:
        return f"{self._prefix}:cntft:{self._tag(shard)}"

    async def add(self, post_id: int, name: str, delta: int) -> int:
        try:
            return await self._add_delta(post_id, name, delta)
        except REDIS_ERRORS as e:
            raise Unavailable("the counter store is unavailable") from e

    async def pending(self, post_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        try:
            return await self._read_pending(post_ids)
        except REDIS_ERRORS as e:
            raise Unavailable("the counter store is unavailable") from e

    async def _add_delta(self, post_id: int, name: str, delta: int) -> int:
        shard = self._shard(post_id)
        keys = [
            self._pending_base(shard) + str(post_id),
            self._dirty(shard),
            self._flight_base(shard) + str(post_id),
        ]
        return int(await self._add(keys=keys, args=[name, delta, post_id]))

    async def _read_pending(self, post_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        """Pending plus in-flight deltas in one round trip: one script call on a standalone Redis,
        one per shard (each in its own slot) on a Cluster."""
        by_shard: dict[int, list[int]] = {}
        for post_id in dict.fromkeys(post_ids):
            by_shard.setdefault(self._shard(post_id), []).append(post_id)
        if not by_shard:
            return {}
        answers: list[tuple[list[int], list[Any]]]
        if is_cluster(self._redis):
            # run_batch, not a redis-py pipeline: a cluster pipeline does not load scripts first.
            replies = await run_batch(
                self._redis,
                self._read,
                [
                    ([self._dirty(shard)], [self._pending_base(shard), self._flight_base(shard), *ids])
                    for shard, ids in by_shard.items()
                ],
            )
            answers = list(zip(by_shard.values(), replies, strict=True))
        else:
            ordered: list[int] = []
            keys: list[str] = []
            for shard, ids in by_shard.items():
                pending, flight = self._bases[shard]
                for post_id in ids:
                    ordered.append(post_id)
                    number = str(post_id)
                    keys += (pending + number, flight + number)
            answers = [(ordered, await run_script(self._redis, self._read_keys, keys, []))]
        result: dict[int, dict[str, int]] = {}
        for ids, reply in answers:
            for i in range(0, len(reply), 2):
                flat = reply[i + 1]
                deltas = {_text(flat[j]): int(flat[j + 1]) for j in range(0, len(flat), 2)}
                if any(deltas.values()):
                    result[ids[reply[i] - 1]] = deltas
        return result

    async def busy_shards(self) -> list[int]:
        """The shards with deltas pending or in flight, in one round trip: a flush round skips the
        rest (every process runs one each second; three calls per idle shard were 576 Redis
        commands a second per process)."""
        commands = [
            (b"SCARD", key)
            for shard in range(self.shards)
            for key in (self._dirty(shard), self._flying(shard))
        ]
        replies = await pipeline(self._redis, commands)
        for reply in replies:
            if isinstance(reply, BaseException):
                raise reply
        return [shard for shard in range(self.shards) if replies[2 * shard] or replies[2 * shard + 1]]

    @asynccontextmanager
    async def flushing(self, shard: int) -> AsyncIterator[bool]:
        """Hold the shard's flush lock for the block; yields False when another flusher has it."""
        lock = f"{self._prefix}:cntl:{self._tag(shard)}"
        token = uuid.uuid4().hex
        acquired = bool(await self._redis.set(lock, token, nx=True, px=LOCK_MS))
        try:
            yield acquired
        finally:
            if acquired:
                await self._unlock(keys=[lock], args=[token])

    async def take(self, shard: int, *, limit: int) -> FlushBatch:
        """The shard's batch in flight: a retried one whole, else up to `limit` posts' pending deltas."""
        raw = await self._take(
            keys=[self._dirty(shard), self._flying(shard), self._token(shard)],
            args=[self._pending_base(shard), self._flight_base(shard), limit, uuid.uuid4().hex],
        )
        deltas: dict[int, dict[str, int]] = {}
        for i in range(1, len(raw), 2):
            fields = raw[i + 1]
            deltas[int(raw[i])] = {_text(fields[j]): int(fields[j + 1]) for j in range(0, len(fields), 2)}
        return FlushBatch(token=_text(raw[0]), deltas=deltas)

    async def done(self, shard: int, post_ids: Sequence[int]) -> None:
        """The in-flight deltas of these posts are in the database now."""
        if post_ids:
            await self._done(
                keys=[self._flying(shard), self._token(shard)], args=[self._flight_base(shard), *post_ids]
            )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
