"""The viewer's side of the social graph as the feed needs it: one query, cached per viewer.

A viewer's graph is a few hundred rows and changes rarely, while its home feed is read often, so
each process keeps recent graphs keyed by the viewer's `graph_version` (changed by every follow,
unfollow, block, unblock, mute and unmute of the viewer) and the global tier epoch (changed by
every promotion to or demotion from the celebrity tier). A page checks both with one primary-key
query; the graph is read again only when one of them moved, so every change shows on the next page
of every process, with no invalidation messages to lose.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, case, false, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.sql.hot import HotQuery
from roost.adapters.sql.tables import TIER_EPOCH, blocks, follows, mutes, roost_state, users
from roost.adapters.sql.types import utc_from_driver


@dataclass(frozen=True, slots=True)
class Tier:
    """The fan-out tier of a source that is not plainly pushed."""

    is_celebrity: bool
    push_from_id: int


@dataclass(frozen=True, slots=True)
class ViewerGraph:
    viewer_id: int
    last_active_at: datetime
    # Followees and the viewer itself: every account whose posts the home feed shows.
    sources: frozenset[int]
    # The sources that are celebrities or were demoted from it (push_from_id > 0): few.
    tiers: dict[int, Tier]
    # Muted accounts and blocks in either direction: never shown, not even as reposted originals.
    hidden: frozenset[int]


def _graph_query() -> Any:
    viewer: Any = bindparam("viewer", type_=BigInteger)
    sources = select(
        users.c.id,
        users.c.is_celebrity,
        users.c.push_from_id,
        # Only the viewer's own: converting hundreds of unused timestamps is measurable.
        case((users.c.id == viewer, users.c.last_active_at), else_=None).label("last_active_at"),
        literal(False).label("hidden"),
    ).where(
        (users.c.id == viewer)
        | users.c.id.in_(select(follows.c.followee_id).where(follows.c.follower_id == viewer))
    )

    def hidden(account: Any, condition: Any) -> Any:
        return select(account, false(), literal(0), null(), literal(True)).where(condition)

    return union_all(
        sources,
        hidden(mutes.c.muted_id, mutes.c.muter_id == viewer),
        hidden(blocks.c.blocked_id, blocks.c.blocker_id == viewer),
        hidden(blocks.c.blocker_id, blocks.c.blocked_id == viewer),
    )


# Built once: constructing the statement costs more than SQLite takes to run it.
_GRAPH_QUERY = _graph_query()


async def viewer_graph(conn: AsyncConnection, viewer_id: int) -> ViewerGraph | None:
    """None when the viewer does not exist. One query: sources, then hidden accounts."""
    rows = (await conn.execute(_GRAPH_QUERY, {"viewer": viewer_id})).all()
    me = next((r for r in rows if r.id == viewer_id and not r.hidden), None)
    if me is None:
        return None
    return ViewerGraph(
        viewer_id=viewer_id,
        last_active_at=utc_from_driver(me.last_active_at),
        sources=frozenset(r.id for r in rows if not r.hidden),
        tiers={
            r.id: Tier(bool(r.is_celebrity), r.push_from_id)
            for r in rows
            if not r.hidden and (r.is_celebrity or r.push_from_id)
        },
        hidden=frozenset(r.id for r in rows if r.hidden),
    )


def _tier_epoch() -> Any:
    return select(roost_state.c.value).where(roost_state.c.key == TIER_EPOCH).scalar_subquery()


def graph_key_columns(viewer: Any) -> tuple[Any, Any, Any]:
    """The viewer's graph key (graph version, tier epoch) and last activity as columns of any
    statement: how a page's live-rows statement checks the cached graph it was built with (see
    `GraphProbe`)."""

    def of_viewer(column: Any) -> Any:
        return select(column).where(users.c.id == viewer).scalar_subquery().label(column.name)

    return (
        of_viewer(users.c.graph_version),
        _tier_epoch().label("tier_epoch"),
        of_viewer(users.c.last_active_at),
    )


_VERSION_QUERY = HotQuery(
    lambda _: select(users.c.last_active_at, users.c.graph_version, _tier_epoch()).where(
        users.c.id == bindparam("viewer", type_=BigInteger)
    )
)

GraphKey = tuple[int, int | None]


async def _versions(conn: AsyncConnection, viewer_id: int) -> tuple[GraphKey, Any] | None:
    """The viewer's graph key and last activity as the driver gives it; None for no such viewer."""
    rows = await _VERSION_QUERY.fetch(conn, {"viewer": viewer_id})
    if not rows:
        return None
    last_active_at, graph_version, tier_epoch = rows[0]
    return (graph_version, tier_epoch), last_active_at


@dataclass(frozen=True, slots=True)
class GraphState:
    """What decides whether a cached graph may serve a page: its key and the viewer's last activity."""

    key: GraphKey
    last_active_at: datetime


@dataclass(slots=True)
class GraphProbe:
    """The viewer's graph state as a statement of the page read it; None until one has."""

    viewer_id: int
    seen: GraphState | None = None

    def record(self, graph_version: int, tier_epoch: int | None, last_active_at: Any) -> None:
        self.seen = GraphState((graph_version, tier_epoch), utc_from_driver(last_active_at))


class GraphCache:
    """Recent viewer graphs of this process, each reused while its version key stands."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        # viewer -> (version key, last_active_at as the database gave it, graph)
        self._entries: OrderedDict[int, tuple[GraphKey, Any, ViewerGraph]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, viewer_id: int) -> tuple[GraphKey, ViewerGraph] | None:
        """The viewer's cached graph and the key it is stored under, unchecked: a page built from it
        must check the viewer's current state (a `GraphProbe`, or `state_of`) before it is shown."""
        entry = self._entries.get(viewer_id)
        if entry is None:
            return None
        self._entries.move_to_end(viewer_id)
        return entry[0], entry[2]

    async def state_of(self, conn: AsyncConnection, viewer_id: int) -> GraphState | None:
        """The viewer's current graph state (None when the viewer does not exist)."""
        found = await _versions(conn, viewer_id)
        return GraphState(found[0], utc_from_driver(found[1])) if found is not None else None

    async def get(self, conn: AsyncConnection, viewer_id: int) -> ViewerGraph | None:
        """The viewer's current graph (None when the viewer does not exist)."""
        if self._capacity == 0:
            return await viewer_graph(conn, viewer_id)
        found = await _versions(conn, viewer_id)
        if found is None:
            return None
        key, last_active_at = found
        entry = self._entries.get(viewer_id)
        if entry is not None and entry[0] == key:
            self._entries.move_to_end(viewer_id)
            if entry[1] == last_active_at:  # activity is recorded hourly: usually unchanged
                return entry[2]
            moved = replace(entry[2], last_active_at=utc_from_driver(last_active_at))
            self._entries[viewer_id] = (key, last_active_at, moved)
            return moved
        # Read after the versions: the graph is at least as new as the key it is stored under.
        graph = await viewer_graph(conn, viewer_id)
        if graph is None:
            return None
        self._entries[viewer_id] = (key, last_active_at, graph)
        self._entries.move_to_end(viewer_id)
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
        return graph
