"""The viewer's side of the social graph as the feed needs it, in two queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, case, false, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.adapters.sql.tables import blocks, follows, mutes, users


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
        last_active_at=_utc(me.last_active_at),
        sources=frozenset(r.id for r in rows if not r.hidden),
        tiers={
            r.id: Tier(bool(r.is_celebrity), r.push_from_id)
            for r in rows
            if not r.hidden and (r.is_celebrity or r.push_from_id)
        },
        hidden=frozenset(r.id for r in rows if r.hidden),
    )


def _utc(value: Any) -> datetime:
    """A UNION loses the column type, so SQLite's naive text or datetime comes back as is."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
