"""Capped sorted sets of post ids with a floor, shared by Redis timelines and recent-post lists.

Encoding. A post id (0 <= id < 2**63) is stored as the member `id.to_bytes(8, "big")` with score 0.
Equal scores make Redis order members by memcmp, and fixed-width big-endian bytes sort exactly like
the integers, so `ZRANGE ... BYLEX REV LIMIT` pages through ids with no float rounding (a double
holds only 53 bits). In a listpack an entry costs 12 bytes: 10 for the member (header, 8 bytes,
back-length) and 2 for the small-integer score.

Meta. Each set has a meta string key in the same hash slot:
- 8 bytes: the floor F of a trusted set; the set holds every inserted id >= F and nothing below.
- 16 bytes: PENDING_FLOOR followed by a bound T: the set is being (re)built and holds nothing
  trusted yet; ids below T were trimmed away while pending (T is 0 until a trim happens).
- missing: nothing is materialized; a set without its meta is garbage.
Every write keeps `cap` as a hard limit: an id enters a full set only by evicting the smallest,
and any eviction raises the floor (or T) to the smallest id kept, so the floor never drops.

Server setting. A set stays in the compact listpack encoding only while it has at most
`zset-max-listpack-entries` members (default 128), and it never converts back once it grows past
it. The setting must be >= cap, e.g. `CONFIG SET zset-max-listpack-entries 1024` (also put it in
redis.conf: CONFIG SET does not survive a restart); `ensure_server_config` tries to raise it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT, KeyT

from roost.adapters.redis.client import RedisClient, is_cluster
from roost.adapters.redis.lane import LaneRedis
from roost.ports import PENDING_FLOOR

log = logging.getLogger(__name__)

MAX_ID = PENDING_FLOOR
# The 16-byte meta of a freshly opened pending set: nothing trimmed yet.
PENDING_META = PENDING_FLOOR.to_bytes(8, "big") + bytes(8)


def pack(post_id: int) -> bytes:
    """The member encoding of a post id."""
    if not 0 <= post_id <= MAX_ID:
        raise ValueError(f"post id out of range: {post_id}")
    return post_id.to_bytes(8, "big")


def unpack(member: bytes) -> int:
    return int.from_bytes(member, "big")


def pack_sorted(post_ids: Iterable[int], cap: int) -> list[bytes]:
    """Distinct members, largest first (the order the Lua `insert` relies on to stop early).

    Only the cap + 1 largest can matter: at most cap are kept, and one more is enough for the
    script to see that something was trimmed and raise the floor.
    """
    return [pack(p) for p in sorted(set(post_ids), reverse=True)[: cap + 1]]


def below(before: int | None) -> bytes:
    """The exclusive upper BYLEX bound for ids < before."""
    if before is None or before > MAX_ID:
        return b"+"
    return b"(" + max(before, 0).to_bytes(8, "big")


def floor_of(meta: bytes) -> int:
    """The floor recorded in a meta value (PENDING_FLOOR while pending)."""
    return unpack(meta[:8])


# Lua helpers prepended to every script. Lua's `<` on strings uses strcoll, which Redis sets from
# the locale, so ids are compared byte by byte instead.
LUA_LIB = r"""
local PENDING = '\127\255\255\255\255\255\255\255'

-- All eight bytes of each in one call: a string.byte call per byte cost 1.1 us a comparison,
-- this 0.3 us, and fan-out compares two or three times per follower.
local byte = string.byte
local function less(a, b)
  local a1, a2, a3, a4, a5, a6, a7, a8 = byte(a, 1, 8)
  local b1, b2, b3, b4, b5, b6, b7, b8 = byte(b, 1, 8)
  if a1 ~= b1 then return a1 < b1 end
  if a2 ~= b2 then return a2 < b2 end
  if a3 ~= b3 then return a3 < b3 end
  if a4 ~= b4 then return a4 < b4 end
  if a5 ~= b5 then return a5 < b5 end
  if a6 ~= b6 then return a6 < b6 end
  if a7 ~= b7 then return a7 < b7 end
  return a8 < b8
end

-- floor, bound (nothing in the set is below it), pending
local function read_meta(meta)
  if #meta > 8 then return PENDING, string.sub(meta, 9, 16), true end
  return meta, meta, false
end

local function write_meta(key, bound, pending)
  if pending then bound = PENDING .. bound end
  redis.call('SET', key, bound)
end

local function touch_pair(ttl, set, meta)
  ttl = tonumber(ttl)
  if ttl > 0 then
    redis.call('EXPIRE', set, ttl)
    redis.call('EXPIRE', meta, ttl)
  end
end

local function touch(ttl)
  touch_pair(ttl, KEYS[1], KEYS[2])
end

-- Adds ARGV[first..] (distinct members, largest first) to `set` without ever holding more than
-- cap members, so a listpack never converts to a skiplist. Members below `bound` are skipped.
-- Returns the number added, whether anything was trimmed, and the new bound: the smallest member
-- kept if anything was trimmed (everything trimmed is below it).
local function insert_into(set, cap, bound, first)
  local card = redis.call('ZCARD', set)
  local trimmed = false
  if card > cap then
    -- Only after the cap was lowered.
    redis.call('ZREMRANGEBYRANK', set, 0, card - cap - 1)
    card = cap
    trimmed = true
  end
  local added = 0
  local smallest = nil
  for i = first, #ARGV do
    local m = ARGV[i]
    if less(m, bound) then break end
    if card < cap then
      if redis.call('ZADD', set, 0, m) == 1 then
        card = card + 1
        added = added + 1
      end
      smallest = nil
    else
      if smallest == nil then smallest = redis.call('ZRANGE', set, 0, 0)[1] end
      if less(m, smallest) then
        -- It and every later (smaller) member would be trimmed at once.
        trimmed = true
        break
      end
      if m ~= smallest and not redis.call('ZSCORE', set, m) then
        redis.call('ZPOPMIN', set)
        redis.call('ZADD', set, 0, m)
        added = added + 1
        trimmed = true
        smallest = nil
      end
    end
  end
  if trimmed then bound = redis.call('ZRANGE', set, 0, 0)[1] end
  return added, trimmed, bound
end

local function insert(cap, bound, first)
  return insert_into(KEYS[1], cap, bound, first)
end
"""


def over_key_pairs(function: str) -> str:
    """Lua that calls `function(KEYS[i], KEYS[i + 1])` for each pair of keys and returns the answers
    in order: one script call for a batch on a standalone Redis (a Cluster needs a call per slot)."""
    return f"""
local out = {{}}
for i = 1, #KEYS, 2 do
  out[#out + 1] = {function}(KEYS[i], KEYS[i + 1])
end
return out
"""


def register(client: RedisClient, body: str) -> AsyncScript:
    return client.register_script(LUA_LIB + body)


async def run_script(
    client: RedisClient, script: AsyncScript, keys: Sequence[str], args: Sequence[EncodableT]
) -> Any:
    """One EVALSHA, packed by hiredis (redis-py packs each argument in Python: about 20 us per key
    for a page's hundred keys); loads the script on NOSCRIPT. Must be safe to run twice (a dropped
    connection retries it once)."""
    return (await run_batch(client, script, [(keys, args)]))[0]


Calls = Sequence[tuple[Sequence[KeyT], Sequence[EncodableT]]]
# A script with the keys and arguments of one call of it.
ScriptCall = tuple[AsyncScript, Sequence[KeyT], Sequence[EncodableT]]


async def run_batch(
    client: RedisClient,
    script: AsyncScript,
    calls: Calls,
    *,
    resent: Callable[[], Calls] | None = None,
) -> list[Any]:
    """Runs `script` once per call, pipelined on one connection: one round trip (see `run_scripts`)."""

    def with_script(batch: Calls) -> list[ScriptCall]:
        return [(script, keys, args) for keys, args in batch]

    return await run_scripts(
        client, with_script(calls), resent=None if resent is None else lambda: with_script(resent())
    )


async def run_scripts(
    client: RedisClient,
    calls: Sequence[ScriptCall],
    *,
    resent: Callable[[], Sequence[ScriptCall]] | None = None,
) -> list[Any]:
    """Runs each call's script, pipelined on one connection: one round trip.

    A dropped connection sends the batch once more, and calls may have run before it dropped:
    they must be safe to run twice, or `resent` gives the calls to send instead (the same
    number, each safe after its original). This sends bare EVALSHAs and loads a script only
    when the server answers NOSCRIPT (after a restart or SCRIPT FLUSH), retrying just the calls
    that did not run.
    """
    results: list[Any] = [None] * len(calls)
    todo = list(range(len(calls)))

    def evalshas(batch: Sequence[ScriptCall]) -> list[tuple[EncodableT, ...]]:
        return [(b"EVALSHA", batch[i][0].sha, len(batch[i][1]), *batch[i][1], *batch[i][2]) for i in todo]

    def resend() -> list[tuple[EncodableT, ...]]:
        # The calls sent again replace the originals, also for what follows a NOSCRIPT.
        nonlocal calls
        assert resent is not None
        calls = resent()
        return evalshas(calls)

    for _attempt in range(2):
        replies = await pipeline(client, evalshas(calls), resent=None if resent is None else resend)
        missing: list[int] = []
        for i, reply in zip(todo, replies, strict=True):
            if isinstance(reply, NoScriptError):
                missing.append(i)
            elif isinstance(reply, Exception):
                raise reply
            else:
                results[i] = reply
        if not missing:
            return results
        for script in {id(calls[i][0]): calls[i][0] for i in missing}.values():
            script.sha = await client.script_load(script.script)
        todo = missing
    raise NoScriptError("script vanished from the server twice in a row")


async def pipeline(
    client: RedisClient,
    commands: Sequence[tuple[EncodableT, ...]],
    *,
    resent: Callable[[], Sequence[tuple[EncodableT, ...]]] | None = None,
) -> list[Any]:
    """Sends commands in one write and returns their replies, error replies as exceptions.

    A redis-py pipeline packs arguments in Python (about 1.5 us each); fan-out sends tens of
    thousands of keys per post, so this packs them in C and reads the replies off one pooled
    connection: the client's lane when it has one (`lane.py`), else one of redis-py's.
    A connection error retries the whole batch once on a fresh connection (a pooled one may
    have died with a Redis restart), as `resent()` when given: commands may have run before the
    connection dropped.
    """
    if not commands:
        return []
    if is_cluster(client):
        # The cluster client routes each command by its keys and splits the batch by node (a
        # command whose keys span slots is refused before anything is sent).
        async with client.pipeline(transaction=False) as pipe:
            for name, *args in commands:
                # The cluster client looks its command names up as str.
                pipe.execute_command(name.decode() if isinstance(name, bytes) else name, *args)
            return list(await pipe.execute(raise_on_error=False))
    send = client.lane.pipeline if isinstance(client, LaneRedis) and client.lane is not None else None
    for attempt in range(2):
        try:
            return await (send(commands) if send is not None else _pooled(client, commands))
        except (RedisConnectionError, RedisTimeoutError, OSError):
            if attempt:
                raise
            if resent is not None:
                commands = resent()
    raise AssertionError("unreachable")


async def _pooled(client: Redis, commands: Sequence[tuple[EncodableT, ...]]) -> list[Any]:
    """`pipeline` on one of redis-py's pooled connections (a client without a lane)."""
    # hiredis (installed by redis[hiredis]) packs in C; its stub wrongly declares a 1-tuple.
    packed = b"".join([hiredis.pack_command(c) for c in commands])  # type: ignore[arg-type]
    pool = client.connection_pool
    conn = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        await conn.send_packed_command(packed)
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(await conn.read_response())
            except ResponseError as e:
                replies.append(e)
        return replies
    except BaseException:
        # Replies may be left unread (or the connection is dead): it must not serve anyone else.
        await conn.disconnect()
        raise
    finally:
        await pool.release(conn)


async def ensure_listpack_entries(client: RedisClient, cap: int) -> bool:
    """Raises zset-max-listpack-entries to at least cap; False (and a warning) if it cannot.

    Only a refusal (CONFIG disabled or not permitted, as on managed services) is absorbed; an
    unreachable server raises, so the caller does not report a misleading cause.
    """
    name = "zset-max-listpack-entries"
    try:
        if is_cluster(client):
            # A cluster client sends CONFIG to one node: every node holds some of the sets.
            for node in client.get_nodes():
                current = (await client.config_get(name, target_nodes=node)).get(name)
                if current is None or int(current) < cap:
                    await client.config_set(name, cap, target_nodes=node)
            return True
        current = (await client.config_get(name)).get(name)
        if current is not None and int(current) >= cap:
            return True
        await client.config_set(name, cap)
    except ResponseError as e:
        log.warning(
            "cannot raise %s to %d (%s): sets of more than the current limit will use the skiplist "
            "encoding, several times larger; set it in the server configuration",
            name,
            cap,
            e,
        )
        return False
    return True
