"""Times in API objects: ISO 8601 in UTC with a Z, to the millisecond, whatever zone they came in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from roost.queries.hydrate import feed_item
from roost.queries.hydrate_cached import CachedRow
from roost.views import FeedItem, FollowUser, UserSummary


def _rendered(moment: datetime) -> str:
    user = FollowUser.trusted(
        id=1, username="a", display_name="A", avatar_url=None, is_verified=False, followed_at=moment
    )
    return str(json.loads(user.model_dump_json(by_alias=True))["followedAt"])


def test_times_render_in_utc_to_the_millisecond() -> None:
    assert _rendered(datetime(2026, 1, 15, 10, 30, 0, 123_999, tzinfo=UTC)) == "2026-01-15T10:30:00.123Z"
    assert _rendered(datetime(2026, 1, 15, 10, 30, 0, tzinfo=UTC)) == "2026-01-15T10:30:00.000Z"
    # Naive times (none of ours should be) are taken as UTC, not as the machine's local time.
    assert _rendered(datetime(2026, 1, 15, 11, 0, 0, 5_000)) == "2026-01-15T11:00:00.005Z"


def test_the_same_instant_renders_alike_from_any_zone_in_any_order() -> None:
    in_utc = datetime(2026, 3, 1, 23, 59, 59, 500_000, tzinfo=UTC)
    east = in_utc.astimezone(timezone(timedelta(hours=2)))
    west = datetime(2026, 2, 28, 20, 0, 0, 1_000, tzinfo=timezone(timedelta(hours=-5)))
    assert _rendered(east) == _rendered(in_utc) == "2026-03-01T23:59:59.500Z"
    assert _rendered(west) == "2026-03-01T01:00:00.001Z"
    assert _rendered(west.astimezone(UTC)) == "2026-03-01T01:00:00.001Z"


def _row(**changes: object) -> CachedRow:
    values: dict[str, Any] = {
        "id": 7,
        "author_id": 3,
        "content": "hello #tag @b",
        "hashtags": ["tag"],
        "mentions": [{"id": "4", "username": "b"}],
        "media": [{"id": "9", "type": "image", "url": "/media/9.png", "thumbnails": {"small": "/m/9s.png"}}],
        "reply_to_id": 5,
        "quote_of_id": None,
        "repost_of_id": None,
        "created_at": datetime(2026, 1, 15, 10, 30, tzinfo=UTC),
        "like_count": 2,
        "reply_count": 1,
        "repost_count": 0,
        "quote_count": 0,
        "liked": True,
        "reposted": False,
        "bookmarked": True,
        "author_username": "a",
        "author_display_name": "A",
        "author_avatar_url": None,
        "author_is_verified": False,
    }
    return CachedRow(**{**values, **changes})


def test_a_feed_item_built_from_trusted_rows_is_the_validated_one() -> None:
    # Built without validation (`View.of`): every field given, of its type, as validation makes it.
    reposter = UserSummary.trusted(id=8, username="c", display_name="C", avatar_url=None, is_verified=True)
    built = feed_item(_row(), {"like": 3}, quote_of=None, reposted_by=reposter, repost_id=11)
    validated = FeedItem.model_validate(built.model_dump())
    assert built == validated
    assert built.model_dump_json(by_alias=True) == validated.model_dump_json(by_alias=True)
    assert json.loads(built.model_dump_json(by_alias=True))["likeCount"] == 5
