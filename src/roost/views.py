"""Read models: the JSON objects of API.md (camelCase, ids as decimal strings, UTC `Z` times)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

Id = Annotated[int, PlainSerializer(str, return_type=str, when_used="json")]


# Rendered times of recent posts: pages show the same posts over and over, and formatting an aware
# datetime (3-4 us) was, with pydantic's call into Python, half the time of serializing a feed page.
# A hit costs 0.3 us. Equal instants share an entry (equal aware datetimes hash alike), so it renders
# the instant in UTC whatever the zone it came in.
_RENDERED_TIMES = 16_384


@lru_cache(maxsize=_RENDERED_TIMES)
def _iso_z(moment: datetime) -> str:
    """2026-11-22T03:04:05.678Z: the time in UTC, to the millisecond (truncated); naive is UTC."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.isoformat(timespec="milliseconds")[:23] + "Z"


Timestamp = Annotated[datetime, PlainSerializer(_iso_z, return_type=str, when_used="json")]


class View(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def trusted(cls, **values: Any) -> Self:
        """An instance from values that are already of the declared types (our own rows), with
        every field given: what `model_construct` does, minus its per-field default handling,
        which dominates a feed page's CPU time."""
        return cls.of(values)

    @classmethod
    def of(cls, values: dict[str, Any]) -> Self:
        """`trusted` for the hottest paths: `values` (every field, of its declared type) becomes the
        instance's own dict, and one set of field names serves every instance of the class (pydantic
        copies it before changing it). Passing 19 keyword arguments to `trusted` cost a feed item
        3 us more, a tenth of a warm page (session 9)."""
        view = cls.__new__(cls)
        object.__setattr__(view, "__dict__", values)
        object.__setattr__(view, "__pydantic_fields_set__", _all_fields(cls))
        object.__setattr__(view, "__pydantic_extra__", None)
        object.__setattr__(view, "__pydantic_private__", None)
        return view


_FIELD_SETS: dict[type[View], set[str]] = {}


def _all_fields(cls: type[View]) -> set[str]:
    found = _FIELD_SETS.get(cls)
    if found is None:
        found = _FIELD_SETS[cls] = set(cls.model_fields)
    return found


class UserSummary(View):
    id: Id
    username: str
    display_name: str
    avatar_url: str | None
    is_verified: bool


class Relationship(View):
    following: bool = False
    followed_by: bool = False
    requested: bool = False
    blocking: bool = False
    muting: bool = False


def _is_none(value: object) -> bool:
    return value is None


# Relationship flags exist only for a viewer with a token, email only for oneself: absent otherwise.
_VIEWER_ONLY: Any = Field(default=None, exclude_if=_is_none)


class Profile(UserSummary):
    bio: str
    is_private: bool
    follower_count: int
    following_count: int
    post_count: int
    created_at: Timestamp
    following: bool | None = _VIEWER_ONLY
    followed_by: bool | None = _VIEWER_ONLY
    requested: bool | None = _VIEWER_ONLY
    blocking: bool | None = _VIEWER_ONLY
    muting: bool | None = _VIEWER_ONLY
    email: str | None = _VIEWER_ONLY


class Mention(View):
    id: Id
    username: str


class MediaItem(View):
    id: Id
    type: str
    url: str
    thumbnails: dict[str, str]


class Post(View):
    post_id: Id
    author: UserSummary
    content: str
    media_urls: list[str]
    media: list[MediaItem]
    hashtags: list[str]
    mentions: list[Mention]
    created_at: Timestamp
    reply_to_id: Id | None
    quote_of: Post | None
    like_count: int
    comment_count: int
    repost_count: int
    quote_count: int
    liked: bool
    reposted: bool
    bookmarked: bool


class FeedItem(Post):
    reposted_by: UserSummary | None = None
    repost_id: Id | None = None

    @property
    def position(self) -> int:
        """Where the item sits in a feed: the repost's id for a repost, else the post's."""
        return self.repost_id if self.repost_id is not None else self.post_id


class FollowUser(UserSummary):
    followed_at: Timestamp


class Page(View):
    next_cursor: str | None
    has_more: bool


class PostPage(Page):
    posts: list[Post]


class FeedPage(Page):
    posts: list[FeedItem]


class UserPage(Page):
    users: list[FollowUser]
