"""Request bodies of API.md, camelCase on the wire; type errors become 400 validation_failed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from roost.views import Id, Profile


class Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", strict=True)


class RegisterBody(Body):
    username: str = Field(max_length=100)
    password: str = Field(max_length=1000)
    email: str | None = Field(default=None, max_length=1000)
    display_name: str | None = Field(default=None, max_length=1000)


class LoginBody(Body):
    username: str = Field(max_length=100)
    password: str = Field(max_length=1000)


class ProfilePatch(Body):
    display_name: str | None = Field(default=None, max_length=1000)
    bio: str | None = Field(default=None, max_length=1000)
    avatar_media_id: str | None = Field(default=None, max_length=30)
    is_private: bool | None = None


class PostBody(Body):
    content: str = Field(default="", max_length=20_000)
    media_ids: list[str] = Field(default_factory=list, max_length=10)
    media_urls: list[str] = Field(default_factory=list, max_length=10)
    reply_to_id: str | None = Field(default=None, max_length=30)
    quote_of_id: str | None = Field(default=None, max_length=30)


class AuthAnswer(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    user: Profile
    access_token: str
    token_type: str = "Bearer"
    expires_in: int


class DeletedAnswer(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    post_id: Id
    status: str = "deleted"


class FollowAnswer(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    following: bool
    followee_id: Id
    requested: bool | None = None
