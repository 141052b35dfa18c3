"""Materialized home timelines in Redis (production profile), implementing the TimelineStore port.

Per owner: a list of post ids `<prefix>:tl2:{owner}`, oldest first, and a meta key
`<prefix>:tlm2:{owner}` holding the floor, both under the owner's hash tag so each Lua script
touches one Cluster slot. Ids are 8-byte big-endian strings and the meta format and floor are
those of `idsets`; the list holds every pushed id >= the floor, distinct, in order. It holds at most
cap + slack ids (slack = cap / 8): one insert past that trims it to the newest cap and raises the
floor, so trimming costs one LTRIM per slack inserts instead of one per insert.

Why a list: a new post is nearly always the newest id of every timeline it enters, so it goes at
the tail (RPUSH), and evicting the oldest takes the head (LTRIM): both touch only the list's
ends. Sorted sets in the compact listpack encoding (`tl`, before) scanned the whole set twice
on every ZADD (for the member, then for its place): about 37 us of Redis time per insert into a
full timeline of 800, against ~7 us into a near-empty one. A list stays a compact quicklist
(10-11 bytes per entry) at any length. An id that is not the newest (a redelivered or late event)
is merged by rewriting the list, which is rare. Keys of the sorted-set encoding (`tl`, `tlm`) are
not read: their owners' timelines are rebuilt on their next read.

Fan-out on standalone Redis (the default) pushes a post to a batch of owners in one script call
over all their keys; with `cluster=True` it sends one call per owner instead. Clients must be
created with decode_responses=False: members are binary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from redis.commands.core import AsyncScript
from redis.typing import EncodableT
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.redis import idsets
from roost.adapters.redis.client import RedisClient, decodes_responses
from roost.adapters.redis.keys import Keys
from roost.ports import TimelineWindow, trim_slack

# Owners per script call of a standalone push: a few milliseconds of server time each, so a big
# batch does not block other clients for its whole length.
PUSH_CHUNK = 1000


# Helpers over an owner's list (on top of idsets.LUA_LIB: less, read_meta, write_meta, touch).
_LIST_LIB = r"""
-- The 0-based index of the first entry >= m (the list's length when there is none).
local function position(list, m)
  local lo, hi = 0, redis.call('LLEN', list)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if less(redis.call('LINDEX', list, mid), m) then lo = mid + 1 else hi = mid end
  end
  return lo
end

local function rewrite(list, entries, from)
  redis.call('DEL', list)
  for i = from, #entries, 1000 do
    redis.call('RPUSH', list, unpack(entries, i, math.min(i + 999, #entries)))
  end
end

-- Adds `members` (distinct, largest first) to `list`, skipping those below `bound`; past `limit`
-- entries, keeps the newest `cap`. Returns the number added and kept, whether anything was
-- evicted, and the new bound (the oldest entry kept, when anything was evicted).
local function merge_into(list, cap, limit, bound, members)
  local old = redis.call('LRANGE', list, 0, -1)
  local merged, fresh = {}, {}
  local i, j, n = 1, #members, 0
  while i <= #old or j >= 1 do
    local take_old
    if j < 1 then take_old = true
    elseif i > #old then take_old = false
    elseif old[i] == members[j] then j = j - 1; take_old = true
    else take_old = less(old[i], members[j]) end
    if take_old then
      n = n + 1; merged[n] = old[i]; fresh[n] = false; i = i + 1
    else
      if not less(members[j], bound) then n = n + 1; merged[n] = members[j]; fresh[n] = true end
      j = j - 1
    end
  end
  local from = 1
  if n > limit then from = n - cap + 1 end
  local added = 0
  for k = from, n do if fresh[k] then added = added + 1 end end
  local trimmed = from > 1
  if added > 0 or trimmed then rewrite(list, merged, from) end
  if trimmed then bound = merged[from] end
  return added, trimmed, bound
end

-- One new id into one owner's timeline; 1 if added. The common case takes two calls: RPUSHX
-- appends only to a list that exists (a materialized timeline with at least one id; a list is never
-- kept without its meta key), and the id before it shows the order held (so the new id is above the
-- floor too). Otherwise the append is undone and the owner takes the general merge, meta key first.
local function push_one(list, meta_key, cap, limit, member, ttl)
  local length = redis.call('RPUSHX', list, member)
  if length > 0 then
    if less(redis.call('LINDEX', list, -2), member) then
      if length > limit then
        local meta = redis.call('GET', meta_key)
        if meta then
          local floor, bound, pending = read_meta(meta)
          redis.call('LTRIM', list, length - cap, -1)
          write_meta(meta_key, redis.call('LINDEX', list, 0), pending)
        end
      end
      touch_pair(ttl, list, meta_key)
      return 1
    end
    redis.call('RPOP', list)
  end
  local meta = redis.call('GET', meta_key)
  if not meta then return 0 end
  local floor, bound, pending = read_meta(meta)
  local added, trimmed, new_bound = merge_into(list, cap, limit, bound, {member})
  if trimmed then write_meta(meta_key, new_bound, pending) end
  touch_pair(ttl, list, meta_key)
  return added
end

local function argv_members(first)
  local members = {}
  for i = first, #ARGV do members[#members + 1] = ARGV[i] end
  return members
end
"""

# KEYS: list, meta. ARGV: before (8 bytes, or empty for none), limit. Returns false, or
# {meta, ids oldest first}: the newest `limit` below `before`.
_WINDOW = r"""
local meta = redis.call('GET', KEYS[2])
if not meta then return false end
local floor, bound, pending = read_meta(meta)
local limit = tonumber(ARGV[2])
if pending or limit <= 0 then return {meta, {}} end
local stop
if ARGV[1] == '' then stop = redis.call('LLEN', KEYS[1]) else stop = position(KEYS[1], ARGV[1]) end
if stop == 0 then return {meta, {}} end
return {meta, redis.call('LRANGE', KEYS[1], math.max(stop - limit, 0), stop - 1)}
"""

# KEYS: list, meta. ARGV: cap, limit, ttl, members largest first. Returns how many were added.
_INSERT = r"""
local meta = redis.call('GET', KEYS[2])
if not meta then return 0 end
local floor, bound, pending = read_meta(meta)
local cap, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local added, trimmed, new_bound = merge_into(KEYS[1], cap, limit, bound, argv_members(4))
if trimmed then write_meta(KEYS[2], new_bound, pending) end
touch(ARGV[3])
return added
"""

# KEYS: list and meta of each owner, in pairs. ARGV: cap, limit, ttl, member. One new id for a
# batch of owners in one call (one owner per call on Cluster: each owner's keys share a slot, different
# owners' do not); returns how many were added.
_PUSH_MANY = r"""
local cap, limit, added = tonumber(ARGV[1]), tonumber(ARGV[2]), 0
for i = 1, #KEYS, 2 do
  added = added + push_one(KEYS[i], KEYS[i + 1], cap, limit, ARGV[4], ARGV[3])
end
return added
"""

# KEYS: list, meta. ARGV: ttl. Removing ids never lowers the floor.
_REMOVE = r"""
local drop = {}
for i = 2, #ARGV do drop[ARGV[i]] = true end
local kept = {}
for _, m in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if not drop[m] then kept[#kept + 1] = m end
end
rewrite(KEYS[1], kept, 1)
if redis.call('EXISTS', KEYS[2]) == 1 then touch(ARGV[1]) end
return 1
"""

# KEYS: list, meta. ARGV: ttl.
_BEGIN_REBUILD = r"""
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], PENDING .. string.rep('\0', 8))
touch(ARGV[1])
return 1
"""

# KEYS: list, meta. ARGV: cap, limit, ttl, floor, members largest first. A dropped timeline stays dropped:
# the rebuild it finishes is obsolete.
_FINISH_REBUILD = r"""
local meta = redis.call('GET', KEYS[2])
if not meta then return 0 end
local floor, bound, pending = read_meta(meta)
-- Ids below the bound were trimmed while pending, so the floor cannot go lower.
local new_floor = ARGV[4]
if less(new_floor, bound) then new_floor = bound end
local below = position(KEYS[1], new_floor)
if below > 0 then redis.call('LTRIM', KEYS[1], below, -1) end
local cap, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local added, trimmed, new_bound = merge_into(KEYS[1], cap, limit, new_floor, argv_members(5))
write_meta(KEYS[2], new_bound, false)
touch(ARGV[3])
return 1
"""


def _register(redis: RedisClient, body: str) -> AsyncScript:
    return idsets.register(redis, _LIST_LIB + body)


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
        self._limit = cap + trim_slack(cap)
        # 0 means no expiry. With a TTL every write refreshes both keys together, so a set and
        # its meta expire at the same moment.
        self._ttl = ttl_seconds or 0
        # On Cluster a script may only touch one slot, so pushes run one script call per owner.
        self._cluster = cluster
        self._window = _register(redis, _WINDOW)
        self._insert = _register(redis, _INSERT)
        self._push_many = _register(redis, _PUSH_MANY)
        self._remove = _register(redis, _REMOVE)
        # `Keys` names as bytes formats: a batch of 5,000 owners builds 10,000 keys.
        self._timeline_format = _key_format(self._keys.timeline)
        self._meta_format = _key_format(self._keys.timeline_meta)
        self._begin = _register(redis, _BEGIN_REBUILD)
        self._finish = _register(redis, _FINISH_REBUILD)

    def _pair(self, owner_id: int) -> list[str]:
        return [self._keys.timeline(owner_id), self._keys.timeline_meta(owner_id)]

    async def window(
        self, owner_id: int, *, before: int | None, limit: int, conn: AsyncConnection | None = None
    ) -> TimelineWindow | None:
        bound = b"" if before is None or before > idsets.MAX_ID else idsets.pack(max(before, 0))
        reply = await idsets.run_script(
            self._redis, self._window, self._pair(owner_id), [bound, max(limit, 0)]
        )
        if reply is None:
            return None
        meta, members = reply
        return TimelineWindow([idsets.unpack(m) for m in reversed(members)], idsets.floor_of(meta))

    async def push(self, post_id: int, owner_ids: Sequence[int]) -> int:
        if not owner_ids:
            return 0
        args: list[EncodableT] = [self._cap, self._limit, self._ttl, idsets.pack(post_id)]
        if self._cluster:
            calls = [(self._pair(o), args) for o in owner_ids]
            return sum(await idsets.run_batch(self._redis, self._push_many, calls))
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
        args: list[EncodableT] = [
            self._cap,
            self._limit,
            self._ttl,
            *idsets.pack_sorted(post_ids, self._limit),
        ]
        await idsets.run_script(self._redis, self._insert, self._pair(owner_id), args)

    async def remove(self, owner_id: int, post_ids: Sequence[int]) -> None:
        if post_ids:
            args: list[EncodableT] = [self._ttl, *map(idsets.pack, set(post_ids))]
            await idsets.run_script(self._redis, self._remove, self._pair(owner_id), args)

    async def remove_from_many(self, post_id: int, owner_ids: Sequence[int]) -> None:
        if not owner_ids:
            return
        member = idsets.pack(post_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            for owner_id in owner_ids:
                # A deleted post: rare, and LREM scans only this one list.
                pipe.execute_command("LREM", self._keys.timeline(owner_id), 1, member)
            await pipe.execute()

    async def begin_rebuild(self, owner_id: int) -> None:
        await idsets.run_script(self._redis, self._begin, self._pair(owner_id), [self._ttl])

    async def finish_rebuild(self, owner_id: int, post_ids: Sequence[int], floor: int) -> None:
        args: list[EncodableT] = [
            self._cap,
            self._limit,
            self._ttl,
            idsets.pack(max(floor, 0)),
            *idsets.pack_sorted(post_ids, self._limit),
        ]
        await idsets.run_script(self._redis, self._finish, self._pair(owner_id), args)

    async def drop(self, owner_id: int) -> None:
        # One DEL of both keys: atomic, and legal on Cluster because they share a slot.
        await self._redis.delete(*self._pair(owner_id))


def _key_format(name: Callable[[int], str]) -> bytes:
    """A `%d` format of the keys `name` builds (the prefix is brace-free, so `{0}` is the tag)."""
    return name(0).replace("%", "%%").replace("{0}", "{%d}").encode()
