"""The viewer's side of the social graph as the feed needs it, in two queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, union
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.sql.tables import blocks, follows, mutes, users


@dataclass(frozen=True, slots=True)
class Source:
    """An account whose posts belong in the viewer's feed, with its fan-out tier."""

    is_celebrity: bool
    push_from_id: int


@dataclass(frozen=True, slots=True)
class ViewerGraph:
    viewer_id: int
    last_active_at: datetime
    # Followees and the viewer itself: every account whose posts the home feed shows.
    sources: dict[int, Source]
    # Muted accounts and blocks in either direction: never shown, not even as reposted originals.
    hidden: frozenset[int]


async def viewer_graph(conn: AsyncConnection, viewer_id: int) -> ViewerGraph | None:
    """None when the viewer does not exist."""
    rows = (
        await conn.execute(
            select(users.c.id, users.c.is_celebrity, users.c.push_from_id, users.c.last_active_at).where(
                (users.c.id == viewer_id)
                | users.c.id.in_(select(follows.c.followee_id).where(follows.c.follower_id == viewer_id))
            )
        )
    ).all()
    me = next((r for r in rows if r.id == viewer_id), None)
    if me is None:
        return None
    hidden_query = union(
        select(mutes.c.muted_id).where(mutes.c.muter_id == viewer_id),
        select(blocks.c.blocked_id).where(blocks.c.blocker_id == viewer_id),
        select(blocks.c.blocker_id).where(blocks.c.blocked_id == viewer_id),
    )
    hidden = frozenset((await conn.execute(hidden_query)).scalars())
    return ViewerGraph(
        viewer_id=viewer_id,
        last_active_at=me.last_active_at,
        sources={r.id: Source(r.is_celebrity, r.push_from_id) for r in rows},
        hidden=hidden,
    )
