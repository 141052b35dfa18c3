"""The celebrity pull path on Redis: authors' recent-post lists, with the database behind them.

An author whose list cannot answer a range exactly (missing after a flush or an eviction, still
filling, trimmed above the range) is read from the database in the same query as the others, and
on a first page its list is refilled so the next reader is served from Redis. While Redis is
unreachable every author is read from the database. On a standalone Redis, a warm page's first pull
goes in one round trip with its timeline window (`RedisPageReads`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.redis import idsets
from roost.adapters.redis.client import is_cluster
from roost.adapters.redis.recent import RECENT_LUA, RedisRecentPosts
from roost.adapters.redis.resilient import REDIS_ERRORS, RedisHealth, ResilientTimelineStore
from roost.adapters.redis.timelines import WINDOW_LUA, RedisTimelineStore, window_of
from roost.ports import PENDING_FLOOR, TimelineWindow
from roost.queries.feed import Pulled, recent_post_ids

# Lists refilled per feed read at most, so a viewer following many cold celebrities pays a bounded cost.
REFILLS_PER_READ = 4


class RedisPull:
    """PullSource on RedisRecentPosts, exact whatever the state of the lists."""

    def __init__(self, recent: RedisRecentPosts, health: RedisHealth, *, cap: int) -> None:
        self._recent = recent
        self._health = health
        self._cap = cap

    async def pull(
        self, conn: AsyncConnection, author_ids: Sequence[int], *, before: int | None, floor: int, limit: int
    ) -> list[int]:
        if not author_ids:
            return []
        newest = await self._newest(author_ids, before=before, floor=floor, limit=limit)
        if newest is None:
            return await recent_post_ids(conn, author_ids, before=before, floor=floor, limit=limit)
        return await self.complete(conn, *newest, before=before, floor=floor, limit=limit)

    async def complete(
        self,
        conn: AsyncConnection,
        listed: list[int],
        missing: list[int],
        *,
        before: int | None,
        floor: int,
        limit: int,
    ) -> list[int]:
        """The pull from what the lists answered (`RedisRecentPosts.newest`): the authors they could
        not answer for are read from the database, and on a first page their lists refilled."""
        found = set(listed)
        if missing:
            found.update(await recent_post_ids(conn, missing, before=before, floor=floor, limit=limit))
            if before is None:
                await self._refill(conn, missing[:REFILLS_PER_READ])
        # Each source gave its `limit` newest in range, so the `limit` newest of the union are exact.
        return sorted(found, reverse=True)[:limit]

    async def _newest(
        self, author_ids: Sequence[int], *, before: int | None, floor: int, limit: int
    ) -> tuple[list[int], list[int]] | None:
        """What the lists can answer and who they cannot answer for; None while Redis is down."""
        if not self._health.available:
            return None
        try:
            newest = await self._recent.newest(author_ids, before=before, floor=floor, limit=limit)
        except REDIS_ERRORS as e:
            self._health.failed(e)
            return None
        self._health.succeeded()
        return newest

    async def _refill(self, conn: AsyncConnection, author_ids: Sequence[int]) -> None:
        """Load the newest posts of each author into their list; posts added meanwhile are merged."""
        for author_id in author_ids:
            ids = await recent_post_ids(conn, [author_id], before=None, floor=0, limit=self._cap)
            try:
                await self._recent.fill(author_id, ids, complete=len(ids) < self._cap)
            except REDIS_ERRORS as e:
                self._health.failed(e)
                return


# KEYS: the owner's timeline list and meta, then each pulled author's recent set and meta, in pairs.
# ARGV: the window's `before` ('' for none), its limit, the pull's upper BYLEX bound, its limit.
# Returns false without a timeline, else {window, {each author's answer}}: the pull from where the
# page needs it (see `_assemble`): the window's floor, raised to its oldest id when it came back
# full.
_PAGE = (
    WINDOW_LUA
    + RECENT_LUA
    + r"""
local w = window(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
if not w then return false end
local floor, bound, pending = read_meta(w[1])
local pulled = {}
-- Nothing to pull for a pending timeline, or for a page below the window's floor (the caller
-- reads the database range then).
if not pending and (ARGV[1] == '' or less(floor, ARGV[1])) then
  local ids, low = w[2], floor
  if #ids > 0 and #ids >= tonumber(ARGV[2]) and less(low, ids[1]) then low = ids[1] end
  for i = 3, #KEYS, 2 do
    pulled[#pulled + 1] = recent(KEYS[i], KEYS[i + 1], ARGV[3], low, ARGV[4])
  end
end
return {w, pulled}
"""
)


class RedisPageReads:
    """PageReads on a standalone Redis: a page's timeline window and its pull in one script, one
    round trip instead of two, the pull bounded by the window as if read after it. On a Cluster
    the keys live in different slots: the window alone, and the page pulls after it.

    `resilient` wraps `timelines`, `recent` is on `timelines`' client, and `pull` shares
    `resilient`'s health."""

    def __init__(
        self,
        timelines: RedisTimelineStore,
        resilient: ResilientTimelineStore,
        recent: RedisRecentPosts,
        pull: RedisPull,
    ) -> None:
        self._timelines = timelines
        self._resilient = resilient
        self._recent = recent
        self._pull = pull
        self._health = resilient.health
        self._redis = timelines.client
        self._page = idsets.register(self._redis, _PAGE)

    async def window_and_pull(
        self,
        conn: AsyncConnection,
        owner_id: int,
        author_ids: Sequence[int],
        *,
        before: int | None,
        window_limit: int,
        pull_limit: int,
    ) -> tuple[TimelineWindow | None, Pulled | None]:
        if is_cluster(self._redis):
            return await self._resilient.window(owner_id, before=before, limit=window_limit), None
        authors = list(dict.fromkeys(author_ids))
        # A pending window (also while Redis is down) sends the page down the feed's database path,
        # and nothing lies above its floor to pull.
        nothing = Pulled([], floor=PENDING_FLOOR, limit=pull_limit)
        if not await self._resilient.settle(owner_id):
            return TimelineWindow([], PENDING_FLOOR), nothing
        _, window_keys, window_args = self._timelines.window_call(owner_id, before=before, limit=window_limit)
        keys = [*window_keys, *self._recent.keys_of(authors)]
        args = [*window_args, idsets.below(before), max(pull_limit, 0)]
        try:
            (reply,) = await idsets.run_scripts(self._redis, [(self._page, keys, args)])
        except REDIS_ERRORS as e:
            self._health.failed(e)
            return TimelineWindow([], PENDING_FLOOR), nothing
        self._health.succeeded()
        if reply is None:
            return None, None  # not materialized: the page is read another way
        window = window_of(reply[0])
        assert window is not None
        if window.floor == PENDING_FLOOR:
            return window, nothing
        if before is not None and before <= window.floor:
            return window, None  # no cached range to merge a pull into
        # As the script bounded the pull (and `_assemble` bounds a page).
        full = len(window.post_ids) >= window_limit
        floor = max(window.floor, window.post_ids[-1]) if full else window.floor
        listed, missing = self._recent.newest_of(authors, reply[1], pull_limit)
        pulled = await self._pull.complete(
            conn, listed, missing, before=before, floor=floor, limit=pull_limit
        )
        return window, Pulled(pulled, floor=floor, limit=pull_limit)
