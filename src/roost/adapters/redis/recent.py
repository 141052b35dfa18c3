"""Per-author lists of recent post ids in Redis, read by the celebrity pull path of the home feed.

Per author: a sorted set `<prefix>:rp:{author}` and a meta key `<prefix>:rpm:{author}` with the
floor down to which the list is complete, in the capped encoding of `idsets`. A list becomes
trusted only through `fill` from the database; `add` opens a pending list when there is none, so a
post created while a reader fills the list from the database is not lost: `fill` merges instead
of replacing. Needs `zset-max-listpack-entries` >= cap, like the timelines.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

from redis.typing import EncodableT

from roost.adapters.redis import idsets
from roost.adapters.redis.client import RedisClient, decodes_responses, is_cluster
from roost.adapters.redis.keys import Keys

# Ids of one list below `upper` (a BYLEX bound) and >= `low` (the floor wanted), newest first, at
# most `limit`, or false when the list cannot answer exactly.
RECENT_LUA = r"""
local function recent(set, meta_key, upper, low, limit)
  local meta = redis.call('GET', meta_key)
  if not meta then return false end
  local floor, bound, pending = read_meta(meta)
  local wanted = low
  if less(low, floor) then low = floor end
  local ids = redis.call('ZRANGE', set, upper, '[' .. low, 'BYLEX', 'REV', 'LIMIT', 0, limit)
  -- A full page above the list's floor is exact even if the caller wanted to go lower.
  if #ids >= tonumber(limit) or not less(wanted, floor) then return ids end
  return false
end
local function recent_of_argv(set, meta_key)
  return recent(set, meta_key, ARGV[1], ARGV[2], ARGV[3])
end
"""
# KEYS: set, meta (one author: a Cluster runs one call per author, each in its own slot).
# ARGV: upper BYLEX bound, floor wanted, limit.
_RECENT = RECENT_LUA + "return recent_of_argv(KEYS[1], KEYS[2])"
# KEYS: set, meta of every author, in pairs (standalone Redis: one call for all of a page's authors).
# Returns each author's answer, as _RECENT does. (Merging in Lua was tried: sorting a few thousand
# members with a byte-wise comparison in Lua cost Redis 8 ms a call; Python merges them in C.)
_RECENT_MANY = RECENT_LUA + idsets.over_key_pairs("recent_of_argv")


# KEYS: set, meta. ARGV: cap, ttl, member.
_ADD = r"""
local meta = redis.call('GET', KEYS[2])
if not meta then
  meta = PENDING .. string.rep('\0', 8)
  redis.call('SET', KEYS[2], meta)
end
local floor, bound, pending = read_meta(meta)
local added, trimmed, new_bound = insert(tonumber(ARGV[1]), bound, 3)
if trimmed then write_meta(KEYS[2], new_bound, pending) end
touch(ARGV[2])
return added
"""

# KEYS: set, meta. ARGV: cap, ttl, floor the given ids are complete down to, members largest first.
_FILL = r"""
local meta = redis.call('GET', KEYS[2])
local new_floor = ARGV[3]
if not meta then
  -- A set without meta is garbage (its meta expired or was evicted).
  redis.call('DEL', KEYS[1])
else
  local floor, bound, pending = read_meta(meta)
  if pending then
    -- Ids below the bound were trimmed while pending.
    if less(new_floor, bound) then new_floor = bound end
  elseif less(floor, new_floor) then
    -- Both the list and the given ids are complete down to their floors, so the union is
    -- complete down to the lower one.
    new_floor = floor
  end
end
redis.call('ZREMRANGEBYLEX', KEYS[1], '-', '(' .. new_floor)
local added, trimmed, new_bound = insert(tonumber(ARGV[1]), new_floor, 4)
write_meta(KEYS[2], new_bound, false)
touch(ARGV[2])
return added
"""


class RedisRecentPosts:
    """Capped, newest-first post ids per author with a completeness floor."""

    def __init__(
        self, redis: RedisClient, *, prefix: str, cap: int = 800, ttl_seconds: int | None = None
    ) -> None:
        if cap < 1:
            raise ValueError("cap must be at least 1")
        if decodes_responses(redis):
            raise ValueError("RedisRecentPosts needs a client with decode_responses=False")
        self._redis = redis
        self._keys = Keys(prefix)
        self._cap = cap
        self._ttl = ttl_seconds or 0
        self._recent = idsets.register(redis, _RECENT)
        self._recent_many = idsets.register(redis, _RECENT_MANY)
        self._add = idsets.register(redis, _ADD)
        self._fill = idsets.register(redis, _FILL)

    async def ensure_server_config(self) -> bool:
        """Raises zset-max-listpack-entries to the cap if allowed; warns and returns False if not."""
        return await idsets.ensure_listpack_entries(self._redis, self._cap)

    def _pair(self, author_id: int) -> list[str]:
        return [self._keys.recent(author_id), self._keys.recent_meta(author_id)]

    async def add(self, author_id: int, post_id: int) -> None:
        args: list[EncodableT] = [self._cap, self._ttl, idsets.pack(post_id)]
        await idsets.run_script(self._redis, self._add, self._pair(author_id), args)

    async def remove(self, author_id: int, post_id: int) -> None:
        await self._redis.zrem(self._keys.recent(author_id), idsets.pack(post_id))

    async def recent(
        self, author_ids: Sequence[int], *, before: int | None, floor: int, limit: int
    ) -> dict[int, list[int] | None]:
        """Per author, up to `limit` ids in [floor, before), newest first, in one round trip.

        None for an author whose list is not known to be complete down to `floor` (missing,
        pending, or trimmed above it) unless it holds a full page anyway: read the database then.
        """
        authors = list(dict.fromkeys(author_ids))
        if not authors:
            return {}
        args: list[EncodableT] = [idsets.below(before), idsets.pack(max(floor, 0)), max(limit, 0)]
        replies = await idsets.run_batch(self._redis, self._recent, [(self._pair(a), args) for a in authors])
        return {
            a: None if r is None else [idsets.unpack(m) for m in r]
            for a, r in zip(authors, replies, strict=True)
        }

    async def newest(
        self, author_ids: Sequence[int], *, before: int | None, floor: int, limit: int
    ) -> tuple[list[int], list[int]]:
        """The `limit` newest ids in [floor, before) over the authors whose lists can answer exactly,
        newest first, and the authors whose lists cannot (read the database for those)."""
        authors = list(dict.fromkeys(author_ids))
        if not authors:
            return [], []
        args: list[EncodableT] = [idsets.below(before), idsets.pack(max(floor, 0)), max(limit, 0)]
        if is_cluster(self._redis):
            # One script per author: their keys live in different slots.
            calls = [(self._pair(a), args) for a in authors]
            replies = await idsets.run_batch(self._redis, self._recent, calls)
        else:
            keys = [key for a in authors for key in self._pair(a)]
            replies = await idsets.run_script(self._redis, self._recent_many, keys, args)
        return self.newest_of(authors, replies, limit)

    def keys_of(self, authors: Sequence[int]) -> list[str]:
        """Each author's set and meta key, in pairs: the keys of RECENT_LUA's `recent`."""
        return [key for a in authors for key in self._pair(a)]

    @staticmethod
    def newest_of(authors: Sequence[int], replies: Sequence[Any], limit: int) -> tuple[list[int], list[int]]:
        """What `newest` returns, from each author's answer of RECENT_LUA's `recent`."""
        members = _newest_of(replies, limit)
        missing = [a for a, r in zip(authors, replies, strict=True) if r is None]
        return [idsets.unpack(m) for m in members], missing

    async def fill(self, author_id: int, post_ids: Sequence[int], complete: bool) -> None:
        """Merges ids read from the database: the author's newest posts, or all of them if complete.

        The list is then complete down to min(post_ids), or to 0 when `complete`.
        """
        if not complete and not post_ids:
            # Says nothing about completeness.
            return
        floor = 0 if complete else min(post_ids)
        args: list[EncodableT] = [
            self._cap,
            self._ttl,
            idsets.pack(floor),
            *idsets.pack_sorted(post_ids, self._cap),
        ]
        await idsets.run_script(self._redis, self._fill, self._pair(author_id), args)


def _newest_of(replies: Sequence[Sequence[bytes] | None], limit: int) -> list[bytes]:
    """The `limit` largest members of lists that are each newest first (packed members sort as
    their ids do), newest first. The lists share no member (a post has one author). A list is left at its first member too old for the heap: a reader
    following 50 celebrities gets up to 50 x `limit` members, and looking at each of them in Python
    was most of the pull's CPU."""
    heap: list[bytes] = []
    if limit <= 0:
        return heap
    for reply in replies:
        for member in reply or ():
            if len(heap) < limit:
                heapq.heappush(heap, member)
            elif member > heap[0]:
                heapq.heapreplace(heap, member)
            else:
                break
    return sorted(heap, reverse=True)
