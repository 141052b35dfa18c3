"""The viewer's liked / bookmarked / reposted flags as columns of a posts query."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, literal, select

from roost.adapters.sql.tables import bookmarks, likes, posts


def viewer_flag(with_viewer: bool, table: Any, *conditions: Any) -> Any:
    """EXISTS over `table` for a viewer, constant false for anonymous readers."""
    return select(literal(1)).select_from(table).where(*conditions).exists() if with_viewer else false()


def viewer_flag_columns(viewer: Any, *, with_viewer: bool) -> tuple[Any, Any, Any]:
    """The liked / bookmarked / reposted columns of a posts query, for the `viewer` bind parameter."""
    reposts = posts.alias("viewer_reposts")
    return (
        viewer_flag(with_viewer, likes, likes.c.user_id == viewer, likes.c.post_id == posts.c.id).label(
            "liked"
        ),
        viewer_flag(
            with_viewer, bookmarks, bookmarks.c.user_id == viewer, bookmarks.c.post_id == posts.c.id
        ).label("bookmarked"),
        viewer_flag(
            with_viewer,
            reposts,
            reposts.c.author_id == viewer,
            reposts.c.repost_of_id == posts.c.id,
            reposts.c.deleted_at.is_(None),
        ).label("reposted"),
    )
