"""Times in API objects: ISO 8601 in UTC with a Z, to the millisecond, whatever zone they came in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from roost.views import FollowUser


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
