"""Initial schema: users, posts, the social graph, likes, bookmarks, notifications, media, outbox, timelines.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out by hand (no application imports): the same DDL on SQLite and PostgreSQL.
FALSE = sa.text("false")


def _id(name: str = "id") -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=False, autoincrement=False)


def _user_ref(name: str, table: str) -> sa.Column[int]:
    return sa.Column(
        name, sa.BigInteger(), sa.ForeignKey("users.id", name=f"fk_{table}_{name}_users"), nullable=False
    )


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")


def upgrade() -> None:
    op.create_table(
        "users",
        _id(),
        sa.Column("username", sa.String(30), nullable=False),
        sa.Column("username_key", sa.String(30), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("display_name", sa.String(50), nullable=False, server_default=""),
        sa.Column("bio", sa.String(160), nullable=False, server_default=""),
        sa.Column("avatar_url", sa.Text(), nullable=True),
        sa.Column("is_private", sa.Boolean(), nullable=False, server_default=FALSE),
        sa.Column("is_verified", sa.Boolean(), nullable=False, server_default=FALSE),
        _count("follower_count"),
        _count("following_count"),
        _count("post_count"),
        sa.Column("is_celebrity", sa.Boolean(), nullable=False, server_default=FALSE),
        sa.Column("push_from_id", sa.BigInteger(), nullable=False, server_default="0"),
        _time("last_active_at"),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username_key", name="uq_users_username_key"),
    )
    op.create_index("ix_users_celebrity", "users", ["is_celebrity"])

    op.create_table(
        "posts",
        _id(),
        _user_ref("author_id", "posts"),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("hashtags", sa.JSON(), nullable=False),
        sa.Column("mentions", sa.JSON(), nullable=False),
        sa.Column("media", sa.JSON(), nullable=False),
        sa.Column("reply_to_id", sa.BigInteger(), nullable=True),
        sa.Column("quote_of_id", sa.BigInteger(), nullable=True),
        sa.Column("repost_of_id", sa.BigInteger(), nullable=True),
        _count("like_count"),
        _count("reply_count"),
        _count("repost_count"),
        _count("quote_count"),
        _time("created_at"),
        _time("deleted_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_posts"),
    )
    op.create_index("ix_posts_author_id_id", "posts", ["author_id", "id"])
    op.create_index("ix_posts_reply_to_id_id", "posts", ["reply_to_id", "id"])
    op.create_index("ix_posts_repost_of_id_author_id", "posts", ["repost_of_id", "author_id"])

    op.create_table(
        "follows",
        _user_ref("follower_id", "follows"),
        _user_ref("followee_id", "follows"),
        sa.Column("id", sa.BigInteger(), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("follower_id", "followee_id", name="pk_follows"),
    )
    op.create_index("ix_follows_followee_id_follower_id", "follows", ["followee_id", "follower_id"])
    op.create_index("ix_follows_followee_id_id", "follows", ["followee_id", "id"])
    op.create_index("ix_follows_follower_id_id", "follows", ["follower_id", "id"])

    op.create_table(
        "follow_requests",
        _user_ref("follower_id", "follow_requests"),
        _user_ref("followee_id", "follow_requests"),
        sa.Column("id", sa.BigInteger(), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("follower_id", "followee_id", name="pk_follow_requests"),
    )
    op.create_index("ix_follow_requests_followee_id_id", "follow_requests", ["followee_id", "id"])

    op.create_table(
        "blocks",
        _user_ref("blocker_id", "blocks"),
        _user_ref("blocked_id", "blocks"),
        _time("created_at"),
        sa.PrimaryKeyConstraint("blocker_id", "blocked_id", name="pk_blocks"),
    )
    op.create_index("ix_blocks_blocked_id", "blocks", ["blocked_id"])

    op.create_table(
        "mutes",
        _user_ref("muter_id", "mutes"),
        _user_ref("muted_id", "mutes"),
        _time("created_at"),
        sa.PrimaryKeyConstraint("muter_id", "muted_id", name="pk_mutes"),
    )

    op.create_table(
        "likes",
        _user_ref("user_id", "likes"),
        sa.Column(
            "post_id",
            sa.BigInteger(),
            sa.ForeignKey("posts.id", name="fk_likes_post_id_posts"),
            nullable=False,
        ),
        _time("created_at"),
        sa.PrimaryKeyConstraint("user_id", "post_id", name="pk_likes"),
    )
    op.create_index("ix_likes_post_id", "likes", ["post_id"])

    op.create_table(
        "bookmarks",
        _user_ref("user_id", "bookmarks"),
        sa.Column(
            "post_id",
            sa.BigInteger(),
            sa.ForeignKey("posts.id", name="fk_bookmarks_post_id_posts"),
            nullable=False,
        ),
        sa.Column("id", sa.BigInteger(), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("user_id", "post_id", name="pk_bookmarks"),
    )
    op.create_index("ix_bookmarks_user_id_id", "bookmarks", ["user_id", "id"])

    op.create_table(
        "notifications",
        _id(),
        _user_ref("user_id", "notifications"),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=True),
        sa.Column("group_key", sa.String(80), nullable=True),
        sa.Column("actor_ids", sa.JSON(), nullable=False),
        sa.Column("actor_count", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("read", sa.Boolean(), nullable=False, server_default=FALSE),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
    )
    op.create_index("ix_notifications_user_id_id", "notifications", ["user_id", "id"])
    op.create_index("ix_notifications_user_id_group_key", "notifications", ["user_id", "group_key"])

    op.create_table(
        "media",
        _id(),
        _user_ref("owner_id", "media"),
        sa.Column("type", sa.String(10), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("thumbnails", sa.JSON(), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_media"),
    )

    op.create_table(
        "outbox",
        _id(),
        sa.Column("topic", sa.String(40), nullable=False),
        sa.Column("partition_key", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        _time("created_at"),
        _time("sent_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_unsent", "outbox", ["sent_at", "id"])

    op.create_table(
        "timeline_entries",
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", "post_id", name="pk_timeline_entries"),
        sqlite_with_rowid=False,
    )

    op.create_table(
        "timeline_meta",
        _id("owner_id"),
        sa.Column("floor", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("owner_id", name="pk_timeline_meta"),
    )


def downgrade() -> None:
    for table in (
        "timeline_meta",
        "timeline_entries",
        "outbox",
        "media",
        "notifications",
        "bookmarks",
        "likes",
        "mutes",
        "blocks",
        "follow_requests",
        "follows",
        "posts",
        "users",
    ):
        op.drop_table(table)
