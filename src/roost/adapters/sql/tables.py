"""The schema, in SQLAlchemy Core, shared by SQLite and PostgreSQL (Alembic migrations mirror it).

Every id is a 64-bit time-ordered integer made by the application, never by the database, so that
ids double as chronological cursors and the schema can be sharded by user id.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)

from roost.adapters.sql.types import UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

users = Table(
    "users",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("username", String(30), nullable=False),
    # Lower-cased username: the unique key, so names are unique case-insensitively.
    Column("username_key", String(30), nullable=False, unique=True),
    Column("email", String(254), nullable=True),
    Column("password_hash", Text, nullable=False),
    Column("display_name", String(50), nullable=False, server_default=""),
    Column("bio", String(160), nullable=False, server_default=""),
    Column("avatar_url", Text, nullable=True),
    Column("is_private", Boolean, nullable=False, server_default=text("false")),
    Column("is_verified", Boolean, nullable=False, server_default=text("false")),
    Column("follower_count", BigInteger, nullable=False, server_default="0"),
    Column("following_count", BigInteger, nullable=False, server_default="0"),
    Column("post_count", BigInteger, nullable=False, server_default="0"),
    # Fan-out tier: celebrities are pulled at read time, everyone else is pushed.
    Column("is_celebrity", Boolean, nullable=False, server_default=text("false")),
    # Posts with ids below this were not pushed (the author was a celebrity until then).
    Column("push_from_id", BigInteger, nullable=False, server_default="0"),
    # Changes (to a fresh id) with every follow, block or mute that changes this account's feed
    # sources or hidden accounts: the key of its cached viewer graph.
    Column("graph_version", BigInteger, nullable=False, server_default="0"),
    Column("last_active_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)
Index("ix_users_celebrity", users.c.is_celebrity)

posts = Table(
    "posts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("author_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("content", Text, nullable=False),
    Column("hashtags", JSON, nullable=False),
    # Mentions resolved at write time: [{"id": "...", "username": "..."}].
    Column("mentions", JSON, nullable=False),
    Column("media", JSON, nullable=False),
    Column("reply_to_id", BigInteger, nullable=True),
    Column("quote_of_id", BigInteger, nullable=True),
    # A repost is a row of its own (authored by the reposter) pointing at the original.
    Column("repost_of_id", BigInteger, nullable=True),
    Column("like_count", BigInteger, nullable=False, server_default="0"),
    Column("reply_count", BigInteger, nullable=False, server_default="0"),
    Column("repost_count", BigInteger, nullable=False, server_default="0"),
    Column("quote_count", BigInteger, nullable=False, server_default="0"),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("deleted_at", UtcDateTime(), nullable=True),
)
# A user's posts newest first, and the feed's pull and fallback queries over followees.
Index("ix_posts_author_id_id", posts.c.author_id, posts.c.id)
Index("ix_posts_reply_to_id_id", posts.c.reply_to_id, posts.c.id)
Index("ix_posts_repost_of_id_author_id", posts.c.repost_of_id, posts.c.author_id)

follows = Table(
    "follows",
    metadata,
    Column("follower_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("followee_id", BigInteger, ForeignKey("users.id"), nullable=False),
    # Time-ordered id of the follow itself: the cursor of follower / following lists.
    Column("id", BigInteger, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("follower_id", "followee_id"),
)
# Stored twice in effect (by follower via the key, by followee here), as sharding wants.
Index("ix_follows_followee_id_follower_id", follows.c.followee_id, follows.c.follower_id)
Index("ix_follows_followee_id_id", follows.c.followee_id, follows.c.id)
Index("ix_follows_follower_id_id", follows.c.follower_id, follows.c.id)

follow_requests = Table(
    "follow_requests",
    metadata,
    Column("follower_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("followee_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("id", BigInteger, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("follower_id", "followee_id"),
)
Index("ix_follow_requests_followee_id_id", follow_requests.c.followee_id, follow_requests.c.id)

blocks = Table(
    "blocks",
    metadata,
    Column("blocker_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("blocked_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("blocker_id", "blocked_id"),
)
Index("ix_blocks_blocked_id", blocks.c.blocked_id)

mutes = Table(
    "mutes",
    metadata,
    Column("muter_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("muted_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("muter_id", "muted_id"),
)

likes = Table(
    "likes",
    metadata,
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("post_id", BigInteger, ForeignKey("posts.id"), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("user_id", "post_id"),
)
Index("ix_likes_post_id", likes.c.post_id)

bookmarks = Table(
    "bookmarks",
    metadata,
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("post_id", BigInteger, ForeignKey("posts.id"), nullable=False),
    Column("id", BigInteger, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("user_id", "post_id"),
)
Index("ix_bookmarks_user_id_id", bookmarks.c.user_id, bookmarks.c.id)

# A notification's id is made when it is written or regrouped (newest first = most recently
# changed); the key (user_id, id) also serves the newest-first listing.
notifications = Table(
    "notifications",
    metadata,
    Column("id", BigInteger, nullable=False, autoincrement=False),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("type", String(20), nullable=False),
    Column("post_id", BigInteger, nullable=True),
    # Likes and reposts of one post share a group key; other types have none.
    Column("group_key", String(80), nullable=True),
    # Newest first; actor_marks holds the id of the event that added each actor (NULL on rows
    # written before revision 0004).
    Column("actor_ids", JSON, nullable=False),
    Column("actor_marks", JSON, nullable=True),
    Column("actor_count", Integer, nullable=False, server_default="1"),
    Column("read", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("user_id", "id"),
)
Index("ix_notifications_user_id_group_key", notifications.c.user_id, notifications.c.group_key)

media = Table(
    "media",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("owner_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("type", String(10), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("status", String(12), nullable=False),
    Column("path", Text, nullable=True),
    Column("thumbnails", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

# Tokens of counter batches flushed from Redis: a batch retried after a crash is applied once.
# Process-wide values kept in the database. `tier_epoch` changes with every tier change, so
# cached viewer graphs (which hold their sources' tiers) are all read again.
roost_state = Table(
    "roost_state",
    metadata,
    Column("key", String(40), primary_key=True),
    Column("value", BigInteger, nullable=False),
)
TIER_EPOCH = "tier_epoch"

counter_flushes = Table(
    "counter_flushes",
    metadata,
    Column("token", String(40), primary_key=True),
    Column("applied_at", UtcDateTime(), nullable=False),
)
Index("ix_counter_flushes_applied_at", counter_flushes.c.applied_at)

# The transactional outbox: events written in the same transaction as the change they describe.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("topic", String(40), nullable=False),
    # Partition key (a user id): events of one key are delivered in order.
    Column("partition_key", BigInteger, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=True),
)
Index("ix_outbox_unsent", outbox.c.sent_at, outbox.c.id)

# Embedded profile: materialized home timelines (post ids per owner) and their window.
timeline_entries = Table(
    "timeline_entries",
    metadata,
    Column("owner_id", BigInteger, nullable=False),
    Column("post_id", BigInteger, nullable=False),
    PrimaryKeyConstraint("owner_id", "post_id"),
    sqlite_with_rowid=False,
)

timeline_meta = Table(
    "timeline_meta",
    metadata,
    Column("owner_id", BigInteger, primary_key=True, autoincrement=False),
    # The timeline holds every pushed post with id >= floor; older pages come from the database.
    Column("floor", BigInteger, nullable=False),
    Column("size", Integer, nullable=False, server_default="0"),
)
