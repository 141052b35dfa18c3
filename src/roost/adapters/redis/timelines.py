"""Materialized home timelines in Redis (production profile), implementing the TimelineStore port.

Per owner: a list of post ids `<prefix>:tl3:{owner}`, oldest first, and a meta key
`<prefix>:tlm3:{owner}` holding the floor, both under the owner's hash tag so each Lua script
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

Fan-out on standalone Redis (the default) pushes a post to a batch of owners in one script call,
naming the owners by id; with `cluster=True` it sends one call per owner over its two keys instead.
Clients must be created with decode_responses=False: members are binary.

The ceiling (standalone only). Checking that a new id is the newest of each list (the LINDEX and
compare above) took half of Redis's time per owner. One key `<prefix>:tlceil` holds an id C,
optionally followed by a run: no list holds an id above C, and with a run, the lists holding C
are ones that run appended C to. A push of an id above C (a new post: the common case) raises C to
it, names its run, and appends to every list without looking; the run's later pushes (the next
batches of followers, each owner once per run) find their own run in the ceiling and do the same.
Everything else that puts ids into lists (merges, rebuilds, pushes below the ceiling) raises C to
cover them and clears the run, so a redelivered post, or one a rebuild read from the database first,
takes the checked path and is never held twice. A missing ceiling (a new keyspace, or the key lost
while lists stayed) starts CEILING_MARGIN ahead of the time-ordered id of now: above every id in
any list, as ids are made by clocks that agree to within the margin. Every writer of these lists
keeps the ceiling; lists of versions that did not (`tl2`) are not read.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from redis.commands.core import AsyncScript
from redis.typing import EncodableT
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.redis import idsets
from roost.adapters.redis.client import RedisClient, decodes_responses
from roost.adapters.redis.keys import Keys
from roost.core.ids import EPOCH_MS, SEQUENCE_BITS, WORKER_BITS
from roost.metrics import TIMELINE_PUSH_CALLS
from roost.ports import TimelineWindow, trim_slack

# Owners per script call of a standalone push: a few milliseconds of server time each, so a big
# batch does not block other clients for its whole length.
PUSH_CHUNK = 1000

# A missing ceiling starts at the id of this far ahead: above every id made so far, also by a
# process whose clock runs ahead of ours (NTP keeps hosts within milliseconds).
CEILING_MARGIN = timedelta(seconds=2)


# Helpers over an owner's list (on top of idsets.LUA_LIB: less, read_meta, write_meta, touch).
_ID_SHIFT = WORKER_BITS + SEQUENCE_BITS  # the milliseconds' place in an id
assert _ID_SHIFT >= 16, "id_of_now leaves an id's two low bytes zero"
_LIST_LIB = (
    f"local ID_EPOCH_MS, ID_MS_SCALE = {EPOCH_MS}, {1 << (_ID_SHIFT - 16)}\n"
    + r"""
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

-- Appends `member` to an owner's list if it is the newest id there: two calls in the common case.
-- RPUSHX appends only to a list that exists (a materialized timeline with at least one id; a list is
-- never kept without its meta key), and the id before it shows the order held (so the new id is
-- above the floor too). Returns the new length, or 0 with nothing changed: the owner then takes
-- `push_merging`.
local function append_newest(list, member)
  local length = redis.call('RPUSHX', list, member)
  if length == 0 then return 0 end
  if less(redis.call('LINDEX', list, -2), member) then return length end
  redis.call('RPOP', list)
  return 0
end

-- After an append: past `limit` entries keep the newest `cap` and raise the floor; refresh the TTL.
local function settle(list, meta_key, length, cap, limit, ttl)
  if length > limit then
    local meta = redis.call('GET', meta_key)
    if meta then
      local floor, bound, pending = read_meta(meta)
      redis.call('LTRIM', list, length - cap, -1)
      write_meta(meta_key, redis.call('LINDEX', list, 0), pending)
    end
  end
  touch_pair(ttl, list, meta_key)
end

-- One new id into one owner's timeline where it is not the newest (posts fanned out concurrently
-- reach an owner out of id order), meta key first; 1 if added. As `merge_into` with one member,
-- without reading or rewriting the list: a binary search finds its place. Skipped below the bound,
-- not added twice; past `limit` entries the newest `cap` are kept and the bound raised.
local function push_merging(list, meta_key, cap, limit, member, ttl)
  local meta = redis.call('GET', meta_key)
  if not meta then return 0 end
  local floor, bound, pending = read_meta(meta)
  local added, length = 0, redis.call('LLEN', list)
  local at = length
  if not less(member, bound) then
    at = position(list, member)
    if at == length then
      length, added = redis.call('RPUSH', list, member), 1
    else
      local next = redis.call('LINDEX', list, at)
      if next ~= member then
        length, added = redis.call('LINSERT', list, 'BEFORE', next, member), 1
      end
    end
  end
  if length > limit then
    local from = length - cap
    redis.call('LTRIM', list, from, -1)
    if at < from then added = 0 end
    write_meta(meta_key, redis.call('LINDEX', list, 0), pending)
  end
  touch_pair(ttl, list, meta_key)
  return added
end

-- One new id into one owner's timeline; 1 if added.
local function push_one(list, meta_key, cap, limit, member, ttl)
  local length = append_newest(list, member)
  if length == 0 then return push_merging(list, meta_key, cap, limit, member, ttl) end
  settle(list, meta_key, length, cap, limit, ttl)
  return 1
end

-- The time-ordered id (roost.core.ids) of the server's clock plus `margin_ms`, as 8 bytes: its
-- top six bytes are the milliseconds since the id epoch times ID_MS_SCALE (exact in a double),
-- the low two are zero.
local function id_of_now(margin_ms)
  local now = redis.call('TIME')
  local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(margin_ms)
  local top, out = (ms - ID_EPOCH_MS) * ID_MS_SCALE, {}
  for i = 6, 1, -1 do
    out[i] = string.char(top % 256)
    top = math.floor(top / 256)
  end
  return table.concat(out) .. '\0\0'
end

-- The ceiling (standalone Redis only; see the module docstring): raises it to cover `top`, the
-- largest id about to go into some list other than by a run's append. A ceiling at `top` itself
-- names no run any more: lists the run did not append to may now hold `top`. A missing ceiling
-- starts `margin_ms` ahead of the server's clock. No-op when `key` is empty (Cluster).
local function cover(key, margin_ms, top)
  if key == '' then return end
  local value = redis.call('GET', key)
  local ceiling
  if value then ceiling = string.sub(value, 1, 8) else ceiling = id_of_now(margin_ms) end
  if less(top, ceiling) then
    if not value then redis.call('SET', key, ceiling) end
  else
    redis.call('SET', key, top)
  end
end

local function argv_members(first)
  local members = {}
  for i = first, #ARGV do members[#members + 1] = ARGV[i] end
  return members
end
"""
)

# before: 8 bytes, or empty for none. Returns false, or {meta, ids oldest first}: the newest
# `limit` below `before`.
_WINDOW_OF = r"""
local function window(list, meta_key, before, limit)
  local meta = redis.call('GET', meta_key)
  if not meta then return false end
  local floor, bound, pending = read_meta(meta)
  limit = tonumber(limit)
  if pending or limit <= 0 then return {meta, {}} end
  local stop
  if before == '' then stop = redis.call('LLEN', list) else stop = position(list, before) end
  if stop == 0 then return {meta, {}} end
  return {meta, redis.call('LRANGE', list, math.max(stop - limit, 0), stop - 1)}
end
"""
# The window as a Lua function `window(list, meta_key, before, limit)`, for scripts that read a
# timeline's window with other keys (the feed's page reads).
WINDOW_LUA = _LIST_LIB + _WINDOW_OF
# KEYS: list, meta. ARGV: before, limit.
_WINDOW = _WINDOW_OF + "return window(KEYS[1], KEYS[2], ARGV[1], ARGV[2])"

# KEYS: list, meta. ARGV: cap, limit, ttl, ceiling key ('' on Cluster), its margin in milliseconds,
# members largest first. Returns how many were added.
_INSERT = r"""
local meta = redis.call('GET', KEYS[2])
if not meta then return 0 end
local floor, bound, pending = read_meta(meta)
local cap, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if ARGV[6] then cover(ARGV[4], ARGV[5], ARGV[6]) end
local added, trimmed, new_bound = merge_into(KEYS[1], cap, limit, bound, argv_members(6))
if trimmed then write_meta(KEYS[2], new_bound, pending) end
touch(ARGV[3])
return added
"""

# KEYS: list and meta of each owner, in pairs. ARGV: cap, limit, ttl, member. One new id for the
# owners named (Cluster: one owner per call, as each owner's keys share a slot and different owners'
# do not), each checked; returns how many were added.
_PUSH_MANY = r"""
local cap, limit, added = tonumber(ARGV[1]), tonumber(ARGV[2]), 0
for i = 1, #KEYS, 2 do
  added = added + push_one(KEYS[i], KEYS[i + 1], cap, limit, ARGV[4], ARGV[3])
end
return added
"""

# KEYS: none. ARGV: cap, limit, ttl, member, list key prefix, meta key prefix, owner ids as decimal
# digits separated by commas (distinct), ceiling key, its margin in milliseconds, run. Standalone
# only: the script builds each owner's keys itself (`<prefix>{<owner>}`), which Redis Cluster
# forbids. Sending owners this way costs Redis about as much as declared keys do and the worker a
# fraction: no key to format or pack per owner. Above the ceiling, or within the run that raised it
# to this member, the member is appended without looking at the list (see the module docstring).
# Returns {added, 1 if appended so}.
_PUSH_OWNERS = r"""
local cap, limit, ttl, member = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local list_prefix, meta_prefix, owners = ARGV[5], ARGV[6], ARGV[7]
local ceiling_key, margin_ms, run = ARGV[8], ARGV[9], ARGV[10]
local expiring, added = tonumber(ttl) > 0, 0
local ceiling = redis.call('GET', ceiling_key)
local append, appending = append_newest, 0
if ceiling and (ceiling == member .. run or less(string.sub(ceiling, 1, 8), member)) then
  redis.call('SET', ceiling_key, member .. run)
  append, appending = function(list) return redis.call('RPUSHX', list, member) end, 1
else
  cover(ceiling_key, margin_ms, member)
end
for owner in string.gmatch(owners, '%d+') do
  local list = list_prefix .. owner .. '}'
  local length = append(list, member)
  if length == 0 then
    added = added + push_merging(list, meta_prefix .. owner .. '}', cap, limit, member, ttl)
  else
    -- The meta key's name is built only when the append needs it.
    if expiring or length > limit then
      settle(list, meta_prefix .. owner .. '}', length, cap, limit, ttl)
    end
    added = added + 1
  end
end
return {added, appending}
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

# KEYS: list, meta. ARGV: cap, limit, ttl, floor, ceiling key ('' on Cluster), its margin in
# milliseconds, members largest first. A dropped timeline stays dropped: the rebuild it finishes is obsolete.
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
if ARGV[7] then cover(ARGV[5], ARGV[6], ARGV[7]) end
local added, trimmed, new_bound = merge_into(KEYS[1], cap, limit, new_floor, argv_members(7))
write_meta(KEYS[2], new_bound, false)
touch(ARGV[3])
return 1
"""


def _register(redis: RedisClient, body: str) -> AsyncScript:
    return idsets.register(redis, _LIST_LIB + body)


class RedisTimelineStore:
    """TimelineStore on Redis lists; every method is one round trip."""

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
        # On Cluster a script may only touch one slot, so pushes run one script call per owner
        # and there is no ceiling.
        self._cluster = cluster
        self._ceiling = "" if cluster else self._keys.timeline_ceiling()
        self._margin_ms = int(CEILING_MARGIN.total_seconds() * 1000)
        self._window = _register(redis, _WINDOW)
        self._insert = _register(redis, _INSERT)
        self._push_many = _register(redis, _PUSH_MANY)
        self._push_owners = _register(redis, _PUSH_OWNERS)
        self._remove = _register(redis, _REMOVE)
        # What precedes the owner id in each key, for scripts that build the keys of many owners.
        self._timeline_prefix = _tag_prefix(self._keys.timeline)
        self._meta_prefix = _tag_prefix(self._keys.timeline_meta)
        self._begin = _register(redis, _BEGIN_REBUILD)
        self._finish = _register(redis, _FINISH_REBUILD)

    @property
    def client(self) -> RedisClient:
        return self._redis

    def _pair(self, owner_id: int) -> list[str]:
        return [self._keys.timeline(owner_id), self._keys.timeline_meta(owner_id)]

    async def window(
        self, owner_id: int, *, before: int | None, limit: int, conn: AsyncConnection | None = None
    ) -> TimelineWindow | None:
        reply = await idsets.run_scripts(
            self._redis, [self.window_call(owner_id, before=before, limit=limit)]
        )
        return window_of(reply[0])

    def window_call(self, owner_id: int, *, before: int | None, limit: int) -> idsets.ScriptCall:
        """The script call of `window`: its keys and arguments are those of WINDOW_LUA's `window`,
        and its reply goes to `window_of`."""
        bound = b"" if before is None or before > idsets.MAX_ID else idsets.pack(max(before, 0))
        return self._window, self._pair(owner_id), [bound, max(limit, 0)]

    async def push(self, post_id: int, owner_ids: Sequence[int], *, run: int | None = None) -> int:
        if not owner_ids:
            return 0
        args: list[EncodableT] = [self._cap, self._limit, self._ttl, idsets.pack(post_id)]
        if self._cluster:
            calls = [(self._pair(o), args) for o in owner_ids]
            return sum(await idsets.run_batch(self._redis, self._push_many, calls))
        # Appends above the ceiling do not look at the lists: an owner named twice would get the
        # post twice.
        owners = list(dict.fromkeys(owner_ids))
        # A few script calls of a bounded size in one pipeline: one round trip, and no single
        # call blocks the server for long. The member and arguments are sent once per call.
        ids = [",".join(map(str, owners[i : i + PUSH_CHUNK])) for i in range(0, len(owners), PUSH_CHUNK)]
        args += [self._timeline_prefix, self._meta_prefix]

        def chunks(run: int) -> list[tuple[list[str], list[EncodableT]]]:
            return [([], [*args, chunk, self._ceiling, self._margin_ms, str(run)]) for chunk in ids]

        # Calls sent again after a dropped connection may have run already: as a run of their
        # own they take the checked path, which adds nothing twice.
        replies = await idsets.run_batch(
            self._redis,
            self._push_owners,
            chunks(secrets.randbits(63) if run is None else run),
            resent=lambda: chunks(secrets.randbits(63)),
        )
        appended = sum(reply[1] for reply in replies)
        if appended:
            TIMELINE_PUSH_CALLS.labels(path="appended").inc(appended)
        if appended < len(replies):
            TIMELINE_PUSH_CALLS.labels(path="checked").inc(len(replies) - appended)
        return sum(reply[0] for reply in replies)

    async def merge(self, owner_id: int, post_ids: Sequence[int]) -> None:
        if not post_ids:
            return
        args: list[EncodableT] = [
            self._cap,
            self._limit,
            self._ttl,
            self._ceiling,
            self._margin_ms,
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
            self._ceiling,
            self._margin_ms,
            *idsets.pack_sorted(post_ids, self._limit),
        ]
        await idsets.run_script(self._redis, self._finish, self._pair(owner_id), args)

    async def drop(self, owner_id: int) -> None:
        # One DEL of both keys: atomic, and legal on Cluster because they share a slot.
        await self._redis.delete(*self._pair(owner_id))


def window_of(reply: Any) -> TimelineWindow | None:
    """The window a `window_call` answered."""
    if reply is None:
        return None
    meta, members = reply
    return TimelineWindow([idsets.unpack(m) for m in reversed(members)], idsets.floor_of(meta))


def _tag_prefix(name: Callable[[int], str]) -> str:
    """The part of the keys `name` builds before the owner id: up to and with the hash tag's brace
    (the prefix is brace-free, so the first brace opens the tag)."""
    key = name(0)
    return key[: key.index("{") + 1]
