"""The home feed: materialized timeline + celebrity pull, merged by id, filtered, hydrated.

Reading a page below cursor `before` walks two ranges of ids, newest first:

* the cached range [floor, before): the viewer's materialized timeline (pushed posts) merged with
  the posts of pulled authors (celebrities, and authors demoted after the floor was set);
* the database range [0, floor): one query over every source's posts, so pages deeper than the
  cached window never end early.

Each candidate is checked against the viewer's graph at read time (still followed, not muted or
blocked, not deleted, visible), so unfollows, blocks, mutes and deletes show at once even before the
asynchronous clean-up of timelines has run. A post appears once: a repost is shown only when neither
the original (by a followed account) nor an earlier repost of it is in the feed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from sqlalchemy import BigInteger, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.sql.database import Database
from roost.adapters.sql.hot import HotQuery, IdList
from roost.adapters.sql.tables import posts, users
from roost.core.cursor import decode_cursor, encode_cursor
from roost.core.errors import NotFound
from roost.core.settings import Settings
from roost.ports import PENDING_FLOOR, Counters, PostCache, TimelineStore, TimelineWindow
from roost.queries.graph import GraphCache, GraphProbe, ViewerGraph
from roost.queries.hydrate import hydrate
from roost.views import FeedItem, FeedPage

CURSOR_KIND = "home"
# Activity is recorded at most this often, so reads do not turn into writes.
ACTIVITY_RESOLUTION = timedelta(hours=1)


class PullSource(Protocol):
    """Recent post ids of pulled authors (celebrities) in an id range, newest first."""

    async def pull(
        self, conn: AsyncConnection, author_ids: Sequence[int], *, before: int | None, floor: int, limit: int
    ) -> list[int]: ...


class DatabasePull:
    """Pull straight from the posts table (embedded profile, and the fallback of cached pulls)."""

    async def pull(
        self, conn: AsyncConnection, author_ids: Sequence[int], *, before: int | None, floor: int, limit: int
    ) -> list[int]:
        return await recent_post_ids(conn, author_ids, before=before, floor=floor, limit=limit)


async def recent_post_ids(
    conn: AsyncConnection, author_ids: Sequence[int], *, before: int | None, floor: int, limit: int
) -> list[int]:
    """Live posts of these authors with floor <= id < before, newest first."""
    if not author_ids:
        return []
    params = {"authors": list(author_ids), "before": before, "floor": floor, "limit": limit}
    statement = _RECENT_POSTS[(before is not None, floor > 0)]
    return [row[0] for row in await statement.fetch(conn, params)]


def _recent_posts(id_list: IdList, *, below: bool, above: bool) -> Any:
    """The statement with only the bounds it is given: a bound that is always true would still
    steer PostgreSQL's generic plan (prepared statements) away from the author index."""
    query = select(posts.c.id).where(id_list(posts.c.author_id, "authors"), posts.c.deleted_at.is_(None))
    if below:
        query = query.where(posts.c.id < bindparam("before", type_=BigInteger))
    if above:
        query = query.where(posts.c.id >= bindparam("floor", type_=BigInteger))
    return query.order_by(posts.c.id.desc()).limit(bindparam("limit"))


# Read with most pages: run on the driver's connection (see `hot`).
_RECENT_POSTS: dict[tuple[bool, bool], HotQuery] = {
    (below, above): HotQuery(partial(_recent_posts, below=below, above=above), lists=["authors"])
    for below in (False, True)
    for above in (False, True)
}


@dataclass(frozen=True, slots=True)
class Pulled:
    """A page's first pull, read with its window: up to `limit` ids below the page's `before`,
    newest first, complete for the pulled authors from `floor` up."""

    ids: list[int]
    floor: int
    limit: int


class PageReads(Protocol):
    """A page's timeline window and its first pull read together (production on a standalone
    Redis: one round trip). The pull is None when it was not read (no timeline, `before` at or
    below the window's floor, a Redis Cluster): the page then reads what it needs itself."""

    async def window_and_pull(
        self,
        conn: AsyncConnection,
        owner_id: int,
        author_ids: Sequence[int],
        *,
        before: int | None,
        window_limit: int,
        pull_limit: int,
    ) -> tuple[TimelineWindow | None, Pulled | None]: ...


@dataclass(frozen=True, slots=True)
class FeedContext:
    db: Database
    timelines: TimelineStore
    pull: PullSource
    settings: Settings
    # Buffered like / repost deltas to show on top of the stored counts (production profile).
    counters: Counters | None = None
    # Post and user entries for hydration (production profile); None reads them from the database.
    cache: PostCache | None = None
    # Viewer graphs of this process (see roost.queries.graph).
    graphs: GraphCache = field(default_factory=lambda: GraphCache(0))
    # The window and the pull of a warm page read together (see PageReads); None reads them one
    # after the other.
    page_reads: PageReads | None = None


async def home_feed(
    ctx: FeedContext, *, viewer_id: int, cursor: str | None, limit: int, now: datetime
) -> FeedPage:
    before = decode_cursor(cursor, CURSOR_KIND)[0] if cursor else None
    # The usual page: one read transaction for the graph, the window and the posts.
    async with ctx.db.read() as conn:
        page = await _page_from_cached_graph(ctx, conn, viewer_id, before=before, limit=limit, now=now)
        if page is not None:
            return page
        graph = await ctx.graphs.get(conn, viewer_id)
        if graph is None:
            raise NotFound("user not found")
        if now - graph.last_active_at < ACTIVITY_RESOLUTION:
            window = await ctx.timelines.window(viewer_id, before=before, limit=limit + 1, conn=conn)
            if window is not None:
                return await _assemble(ctx, conn, graph, window, before=before, limit=limit)
    # The viewer's first page in a while (activity to record) or no materialized timeline. One
    # pooled connection at a time per request: holding one while the timeline store (or a
    # rebuild) takes another could exhaust the pool under load and deadlock every reader.
    await _record_activity(ctx, graph, now)
    window = await ctx.timelines.window(viewer_id, before=before, limit=limit + 1)
    if window is None:
        await rebuild_timeline(ctx, graph)
        window = await ctx.timelines.window(viewer_id, before=before, limit=limit + 1)
        window = window or TimelineWindow([], PENDING_FLOOR)
    async with ctx.db.read() as conn:
        return await _assemble(ctx, conn, graph, window, before=before, limit=limit)


async def _page_from_cached_graph(
    ctx: FeedContext, conn: AsyncConnection, viewer_id: int, *, before: int | None, limit: int, now: datetime
) -> FeedPage | None:
    """The page built from this process's cached graph of the viewer, checked afterwards by the
    page's own live-rows statement (production: a PostgreSQL round trip less than checking first).
    None when there is no such graph, the graph turned out stale, or the viewer is due an activity
    record (and perhaps a rebuild) by the cache's or the database's account: the caller then reads
    the page the checked way, which decides exactly as before."""
    if ctx.cache is None:
        return None
    cached = ctx.graphs.peek(viewer_id)
    if cached is None:
        return None
    key, graph = cached
    if now - graph.last_active_at >= ACTIVITY_RESOLUTION:
        return None
    pulled: Pulled | None = None
    if ctx.page_reads is None:
        window = await ctx.timelines.window(viewer_id, before=before, limit=limit + 1, conn=conn)
    else:
        # Before the window's floor is known, every author the page might pull: a superset, whose
        # extra authors are pushed ones (their posts are the viewer's anyway, and may show a moment
        # before fan-out has pushed them).
        authors = _pulled_authors(ctx.settings, graph, 0)
        window, pulled = await ctx.page_reads.window_and_pull(
            conn, viewer_id, authors, before=before, window_limit=limit + 1, pull_limit=_batch(limit + 1)
        )
    if window is None:
        return None
    probe = GraphProbe(viewer_id)
    page = await _assemble(ctx, conn, graph, window, before=before, limit=limit, probe=probe, pulled=pulled)
    # A page whose statements read no live row (an empty feed) checks on its own.
    seen = probe.seen if probe.seen is not None else await ctx.graphs.state_of(conn, viewer_id)
    if seen is None or seen.key != key or now - seen.last_active_at >= ACTIVITY_RESOLUTION:
        return None
    return page


async def rebuild_timeline(ctx: FeedContext, graph: ViewerGraph) -> None:
    """Materialize the viewer's timeline from the database (new, returning or cache-lost viewers).

    The timeline is opened (pending) before the database is read, so posts committed meanwhile are
    pushed into it by fan-out; everything committed earlier is in the query's result.
    """
    cap = ctx.settings.timeline_cap
    await ctx.timelines.begin_rebuild(graph.viewer_id)
    async with ctx.db.read() as conn:
        ids = await recent_post_ids(conn, list(graph.sources), before=None, floor=0, limit=cap)
    floor = ids[-1] if len(ids) >= cap else 0
    await ctx.timelines.finish_rebuild(graph.viewer_id, ids, floor)


async def _record_activity(ctx: FeedContext, graph: ViewerGraph, now: datetime) -> None:
    """Mark the viewer active; one who was inactive (not pushed to) gets a fresh timeline."""
    age = now - graph.last_active_at
    if age < ACTIVITY_RESOLUTION:
        return
    async with ctx.db.transaction() as conn:
        await conn.execute(update(users).where(users.c.id == graph.viewer_id).values(last_active_at=now))
    if age >= timedelta(days=ctx.settings.inactive_days):
        # Marked active first, then dropped: fan-outs from here on push to the viewer, and the
        # rebuild that follows reads every post committed before them.
        await ctx.timelines.drop(graph.viewer_id)


def _batch(missing: int) -> int:
    """How many ids a page reads from each range while it still misses `missing` items."""
    return max(2 * missing, 16)


def _pulled_authors(settings: Settings, graph: ViewerGraph, floor: int) -> list[int]:
    if settings.fanout_strategy == "push":
        return []
    if settings.fanout_strategy == "pull":
        return list(graph.sources)
    return [a for a, tier in graph.tiers.items() if tier.is_celebrity or tier.push_from_id > floor]


async def _assemble(
    ctx: FeedContext,
    conn: AsyncConnection,
    graph: ViewerGraph,
    window: TimelineWindow,
    *,
    before: int | None,
    limit: int,
    probe: GraphProbe | None = None,
    pulled: Pulled | None = None,
) -> FeedPage:
    """The page of up to `limit` feed items below `before`, newest first. `pulled` is the first
    pull when it was read with the window (`PageReads`)."""
    want = limit + 1
    floor = window.floor
    authors = _pulled_authors(ctx.settings, graph, floor)
    sources = list(graph.sources)
    picked: list[FeedItem] = []
    seen_originals: set[int] = set()
    position = before
    first_window: list[int] | None = window.post_ids
    while len(picked) < want:
        batch = _batch(want - len(picked))
        if position is None or position > floor:
            # Cached range [floor, position): timeline merged with pulled authors.
            if first_window is not None:
                cached, cached_limit = first_window, want
            else:
                page = await ctx.timelines.window(graph.viewer_id, before=position, limit=batch, conn=conn)
                cached, cached_limit = (page.post_ids if page else []), batch
            first_window = None
            cached_full = len(cached) >= cached_limit
            if pulled is not None:
                pulled_ids, pull_floor, pull_limit = pulled.ids, pulled.floor, pulled.limit
                pulled = None
            else:
                # Pulled ids below a full window's last id would fall below `bound` and be
                # dropped: not reading them spares the pull all older posts of the celebrities.
                pull_floor = max(floor, cached[-1]) if cached_full else floor
                pull_limit = batch
                pulled_ids = await ctx.pull.pull(
                    conn, authors, before=position, floor=pull_floor, limit=pull_limit
                )
            # Below the smallest id of a source that came back full, that source may have more,
            # and the pull is complete only down to its floor: only ids at or above that bound
            # are known to be complete.
            bound = max(
                cached[-1] if cached_full else floor,
                pulled_ids[-1] if len(pulled_ids) >= pull_limit else floor,
                pull_floor,
            )
            candidates = sorted({i for i in (*cached, *pulled_ids) if i >= bound}, reverse=True)
            done = bound == 0
            position = bound
        else:
            # Database range [0, position): below the cached window.
            candidates = await recent_post_ids(conn, sources, before=position, floor=0, limit=batch)
            done = len(candidates) < batch
            position = candidates[-1] if candidates else 0
        need = want - len(picked)
        if len(candidates) > need:
            # Hydrate only what the page can still take; the rest is read again from below the
            # last one taken, if the page comes up short (items filtered out).
            candidates = candidates[:need]
            position, done = candidates[-1], False
        if candidates:
            hydrated = await hydrate(
                conn, graph.viewer_id, candidates, counters=ctx.counters, cache=ctx.cache, probe=probe
            )
            fresh = [hydrated[i] for i in candidates if i in hydrated]
            picked.extend(await _admit(conn, graph, fresh, seen_originals))
        if done:
            break
    has_more = len(picked) > limit
    items = picked[:limit]
    next_cursor = encode_cursor(CURSOR_KIND, items[-1].position) if has_more else None
    return FeedPage.trusted(posts=items, next_cursor=next_cursor, has_more=has_more)


async def _admit(
    conn: AsyncConnection, graph: ViewerGraph, items: list[FeedItem], seen_originals: set[int]
) -> list[FeedItem]:
    """Items the viewer's graph lets through, each original post at most once across pages.

    Of all the ways a post reaches the feed (itself, by a followed author; reposts by followed
    accounts) only the oldest is shown, so the choice does not depend on page boundaries.
    """
    allowed = [
        item
        for item in items
        if _author_of(item) in graph.sources
        and _author_of(item) not in graph.hidden
        and item.author.id not in graph.hidden
    ]
    reposted = [item.post_id for item in allowed if item.repost_id is not None]
    first_repost = await _first_reposts(conn, graph, reposted) if reposted else {}
    admitted: list[FeedItem] = []
    for item in allowed:
        duplicate_repost = item.repost_id is not None and (
            item.author.id in graph.sources or first_repost.get(item.post_id) != item.repost_id
        )
        if duplicate_repost or item.post_id in seen_originals:
            continue
        seen_originals.add(item.post_id)
        admitted.append(item)
    return admitted


def _author_of(item: FeedItem) -> int:
    """Who put the item in the feed: the reposter for a repost, else the author."""
    return item.reposted_by.id if item.reposted_by is not None else item.author.id


async def _first_reposts(
    conn: AsyncConnection, graph: ViewerGraph, original_ids: list[int]
) -> dict[int, int]:
    """For each original, the id of its oldest live repost by an account the viewer sees."""
    eligible = [a for a in graph.sources if a not in graph.hidden]
    rows = await _FIRST_REPOSTS.fetch(conn, {"originals": original_ids, "authors": eligible})
    return {row[0]: row[1] for row in rows}


# Prepared once (see `hot`): a statement built per call left its objects to the cycle collector.
_FIRST_REPOSTS = HotQuery(
    lambda id_list: (
        select(posts.c.repost_of_id, func.min(posts.c.id))
        .where(
            id_list(posts.c.repost_of_id, "originals"),
            id_list(posts.c.author_id, "authors"),
            posts.c.deleted_at.is_(None),
        )
        .group_by(posts.c.repost_of_id)
    ),
    lists=["originals", "authors"],
)
