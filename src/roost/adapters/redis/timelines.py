"""Materialized home timelines in Redis (production profile), implementing the TimelineStore port.

Per owner: a sorted set of post ids `<prefix>:tl:{owner}` and a meta key `<prefix>:tlm:{owner}`
holding the floor, both under the owner's hash tag so each Lua script touches one Cluster slot.
Fan-out on standalone Redis (the default) pushes a post to a batch of owners in one script call
over all their keys; with `cluster=True` it sends one call per owner instead. The encoding (8-byte big-endian members, score 0, about 12 bytes per entry as a listpack), the meta
format and the exact cap are described in `idsets`.

The server must keep capped sets as listpacks: `zset-max-listpack-entries` >= cap, e.g.
`CONFIG SET zset-max-listpack-entries 1024` for the default cap of 800 (and in redis.conf);
`ensure_server_config()` tries that and logs a warning if the server refuses. Clients must be
created with decode_responses=False: members are binary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from redis.typing import EncodableT
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.redis import idsets
from roost.adapters.redis.client import RedisClient, decodes_responses
from roost.adapters.redis.keys import Keys
from roost.ports import TimelineWindow

# Owners per script call of a standalone push: a few milliseconds of server time each, so a big
# batch does not block other clients for its whole length.
PUSH_CHUNK = 1000

# KEYS: set, meta. ARGV: upper BYLEX bound, limit. Returns false, or {meta, ids newest first}.
_WINDOW = r"""
local meta = redis.call('GET', KEYS[2])
if not meta then return false end
local floor, bound, pending = read_meta(meta)
if pending then return {meta, {}} end
return {meta, redis.call('ZRANGE', KEYS[1], ARGV[1], '[' .. floor, 'BYLEX', 'REV', 'LIMIT', 0, ARGV[2])}
"""

# KEYS: set, meta. ARGV: cap, ttl, members largest first. Returns how many were added.
_INSERT = r"""
local meta = redis.call('GET', KEYS[2])
if not meta then return 0 end
local floor, bound, pending = read_meta(meta)
local added, trimmed, new_bound = insert(tonumber(ARGV[1]), bound, 3)
if trimmed then write_meta(KEYS[2], new_bound, pending) end
touch(ARGV[2])
return added
"""

# KEYS: set and meta of each owner, in pairs. ARGV: cap, ttl, member. _INSERT of one member for a
# whole batch of owners in one call; returns how many were added. Standalone Redis only: different
# owners' keys live in different Cluster slots.
_PUSH_MANY = r"""
local cap, member, added = tonumber(ARGV[1]), ARGV[3], 0
for i = 1, #KEYS, 2 do
  local set, meta_key = KEYS[i], KEYS[i + 1]
  local meta = redis.call('GET', meta_key)
  if meta then
    local floor, bound, pending = read_meta(meta)
    -- The common case (below the cap, not below the floor) inline: this runs 10,000 times a post.
    if less(member, bound) then
      -- Below the floor: invisible, so not stored.
    elseif redis.call('ZCARD', set) < cap then
      added = added + redis.call('ZADD', set, 0, member)
    else
      local n, trimmed, new_bound = insert_into(set, cap, bound, 3)
      if trimmed then write_meta(meta_key, new_bound, pending) end
      added = added + n
    end
    touch_pair(ARGV[2], set, meta_key)
  end
end
return added
"""

# KEYS: set, meta. ARGV: ttl.
_BEGIN_REBUILD = r"""
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], PENDING .. string.rep('\0', 8))
touch(ARGV[1])
return 1
"""

# KEYS: set, meta. ARGV: cap, ttl, floor, members largest first. A dropped timeline stays dropped:
# the rebuild it finishes is obsolete.
_FINISH_REBUILD = r"""
local meta = redis.call('GET', KEYS[2])
if not meta then return 0 end
local floor, bound, pending = read_meta(meta)
-- Ids below the bound were trimmed while pending, so the floor cannot go lower.
local new_floor = ARGV[3]
if less(new_floor, bound) then new_floor = bound end
redis.call('ZREMRANGEBYLEX', KEYS[1], '-', '(' .. new_floor)
local added, trimmed, new_bound = insert(tonumber(ARGV[1]), new_floor, 4)
write_meta(KEYS[2], new_bound, false)
touch(ARGV[2])
return 1
"""


class RedisTimelineStore:
    """TimelineStore on Redis sorted sets; every method is one round trip."""

    def __init__(
        self,
        redis: RedisClient,
        *,
        prefix: str,
        cap: int,
        ttl_seconds: int | None = None,
        cluster: bool = False,
    ) -> None:
        if cap < 1:
            raise ValueError("cap must be at least 1")
        if decodes_responses(redis):
            raise ValueError("RedisTimelineStore needs a client with decode_responses=False")
        self._redis = redis
        self._keys = Keys(prefix)
        self._cap = cap
        # 0 means no expiry. With a TTL every write refreshes both keys together, so a set and
        # its meta expire at the same moment.
        self._ttl = ttl_seconds or 0
        # On Cluster a script may only touch one slot, so pushes run one script call per owner.
        self._cluster = cluster
        self._window = idsets.register(redis, _WINDOW)
        self._insert = idsets.register(redis, _INSERT)
        self._push_many = idsets.register(redis, _PUSH_MANY)
        # `Keys` names as bytes formats: a batch of 5,000 owners builds 10,000 keys.
        self._timeline_format = _key_format(self._keys.timeline)
        self._meta_format = _key_format(self._keys.timeline_meta)
        self._begin = idsets.register(redis, _BEGIN_REBUILD)
        self._finish = idsets.register(redis, _FINISH_REBUILD)

    async def ensure_server_config(self) -> bool:
        """Raises zset-max-listpack-entries to the cap if allowed; warns and returns False if not."""
        return await idsets.ensure_listpack_entries(self._redis, self._cap)

    def _pair(self, owner_id: int) -> list[str]:
        return [self._keys.timeline(owner_id), self._keys.timeline_meta(owner_id)]

    async def window(
        self, owner_id: int, *, before: int | None, limit: int, conn: AsyncConnection | None = None
    ) -> TimelineWindow | None:
        reply = await idsets.run_script(
            self._redis, self._window, self._pair(owner_id), [idsets.below(before), max(limit, 0)]
        )
        if reply is None:
            return None
        meta, members = reply
        return TimelineWindow([idsets.unpack(m) for m in members], idsets.floor_of(meta))

    async def push(self, post_id: int, owner_ids: Sequence[int]) -> int:
        if not owner_ids:
            return 0
        args: list[EncodableT] = [self._cap, self._ttl, idsets.pack(post_id)]
        if self._cluster:
            calls = [(self._pair(o), args) for o in owner_ids]
            return sum(await idsets.run_batch(self._redis, self._insert, calls))
        # A few script calls of a bounded size in one pipeline: one round trip, and no single
        # call blocks the server for long. The member and arguments are sent once per call.
        timeline, meta = self._timeline_format, self._meta_format
        chunks = [
            ([k for o in owner_ids[i : i + PUSH_CHUNK] for k in (timeline % o, meta % o)], args)
            for i in range(0, len(owner_ids), PUSH_CHUNK)
        ]
        return sum(await idsets.run_batch(self._redis, self._push_many, chunks))

    async def merge(self, owner_id: int, post_ids: Sequence[int]) -> None:
        if not post_ids:
            return
        args: list[EncodableT] = [self._cap, self._ttl, *idsets.pack_sorted(post_ids, self._cap)]
        await idsets.run_script(self._redis, self._insert, self._pair(owner_id), args)

    async def remove(self, owner_id: int, post_ids: Sequence[int]) -> None:
        if post_ids:
            await self._redis.zrem(self._keys.timeline(owner_id), *map(idsets.pack, post_ids))

    async def remove_from_many(self, post_id: int, owner_ids: Sequence[int]) -> None:
        if not owner_ids:
            return
        member = idsets.pack(post_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            for owner_id in owner_ids:
                pipe.zrem(self._keys.timeline(owner_id), member)
            await pipe.execute()

    async def begin_rebuild(self, owner_id: int) -> None:
        await idsets.run_script(self._redis, self._begin, self._pair(owner_id), [self._ttl])

    async def finish_rebuild(self, owner_id: int, post_ids: Sequence[int], floor: int) -> None:
        args: list[EncodableT] = [
            self._cap,
            self._ttl,
            idsets.pack(max(floor, 0)),
            *idsets.pack_sorted(post_ids, self._cap),
        ]
        await idsets.run_script(self._redis, self._finish, self._pair(owner_id), args)

    async def drop(self, owner_id: int) -> None:
        # One DEL of both keys: atomic, and legal on Cluster because they share a slot.
        await self._redis.delete(*self._pair(owner_id))


def _key_format(name: Callable[[int], str]) -> bytes:
    """A `%d` format of the keys `name` builds (the prefix is brace-free, so `{0}` is the tag)."""
    return name(0).replace("%", "%%").replace("{0}", "{%d}").encode()
