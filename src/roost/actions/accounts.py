"""Registering, logging in and editing one's own profile."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from roost.actions.requests import approve_all_pending
from roost.adapters.sql.database import Database
from roost.adapters.sql.tables import users
from roost.core.errors import Conflict, Unauthorized, ValidationFailed
from roost.core.ids import IdGenerator
from roost.core.security import Passwords
from roost.core.settings import Settings
from roost.core.text import is_valid_username

MIN_PASSWORD, MAX_PASSWORD = 8, 128
MAX_DISPLAY_NAME, MAX_BIO = 50, 160


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """Fields of PATCH /api/me; None means unchanged."""

    display_name: str | None = None
    bio: str | None = None
    avatar_url: str | None = None
    is_private: bool | None = None


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationFailed(f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def _check_display_name(name: str) -> str:
    name = name.strip()
    if len(name) > MAX_DISPLAY_NAME:
        raise ValidationFailed(f"displayName must be at most {MAX_DISPLAY_NAME} characters")
    return name


async def register(
    db: Database,
    ids: IdGenerator,
    passwords: Passwords,
    *,
    username: str,
    password: str,
    now: datetime,
    email: str | None = None,
    display_name: str | None = None,
) -> int:
    """Create an account and return its id; 409 username_taken if the name is in use in any case."""
    if not is_valid_username(username):
        raise ValidationFailed("username must be 1-30 characters of letters, digits and _")
    _check_password(password)
    shown = _check_display_name(display_name) if display_name is not None else ""
    if email is not None and (len(email) > 254 or "@" not in email):
        raise ValidationFailed("email is not a valid address")
    password_hash = await asyncio.to_thread(passwords.hash, password)
    user_id = ids.next_id()
    try:
        async with db.transaction() as conn:
            taken = await conn.scalar(select(users.c.id).where(users.c.username_key == username.lower()))
            if taken is not None:
                raise Conflict("that username is taken", code="username_taken")
            await conn.execute(
                users.insert().values(
                    id=user_id,
                    username=username,
                    username_key=username.lower(),
                    email=email,
                    password_hash=password_hash,
                    display_name=shown or username,
                    last_active_at=now,
                    created_at=now,
                )
            )
    except IntegrityError:
        raise Conflict("that username is taken", code="username_taken") from None
    return user_id


async def authenticate(db: Database, passwords: Passwords, *, username: str, password: str) -> int:
    """The id of the account these credentials open; 401 for any mismatch, without saying which."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(users.c.id, users.c.password_hash).where(users.c.username_key == username.lower())
            )
        ).first()
    if row is None:
        # Hash anyway, so the answer takes as long as for a real name: timing does not reveal accounts.
        await asyncio.to_thread(passwords.hash, password)
        raise Unauthorized("invalid username or password")
    if not await asyncio.to_thread(passwords.verify, row.password_hash, password):
        raise Unauthorized("invalid username or password")
    return int(row.id)


async def update_profile(
    db: Database,
    ids: IdGenerator,
    settings: Settings,
    *,
    user_id: int,
    changes: ProfileChanges,
    now: datetime,
) -> None:
    """Apply the changes; an account going public approves its pending follow requests with it."""
    values: dict[str, object] = {}
    if changes.display_name is not None:
        values["display_name"] = _check_display_name(changes.display_name)
    if changes.bio is not None:
        if len(changes.bio) > MAX_BIO:
            raise ValidationFailed(f"bio must be at most {MAX_BIO} characters")
        values["bio"] = changes.bio
    if changes.avatar_url is not None:
        values["avatar_url"] = changes.avatar_url
    if changes.is_private is not None:
        values["is_private"] = changes.is_private
    if values:
        async with db.transaction() as conn:
            await conn.execute(update(users).where(users.c.id == user_id).values(**values))
            if changes.is_private is False:
                await approve_all_pending(conn, ids, settings, owner_id=user_id, now=now)
