"""Request bodies of API.md, camelCase on the wire; type errors become 400 validation_failed."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from roost.views import Id, Profile


class Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", strict=True)

    @model_validator(mode="after")
    def _no_nul_characters(self) -> Self:
        """PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database."""
        for name, value in self:
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, str) and "\x00" in v for v in values):
                raise ValueError(f"{to_camel(name)} must not contain NUL characters")
        return self


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
