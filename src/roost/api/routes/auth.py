"""Registration, login and the viewer's own profile."""

from __future__ import annotations

from fastapi import APIRouter

from roost.actions import accounts
from roost.api.deps import RuntimeDep, Viewer
from roost.api.schemas import AuthAnswer, LoginBody, ProfilePatch, RegisterBody
from roost.core.errors import NotFound, Unauthorized, ValidationFailed
from roost.queries.users import profile_by_id
from roost.runtime import Runtime, utcnow
from roost.views import Profile

router = APIRouter(prefix="/api", tags=["accounts"])


async def _auth_answer(runtime: Runtime, user_id: int) -> AuthAnswer:
    async with runtime.db.read() as conn:
        profile = await profile_by_id(conn, user_id, viewer_id=None, include_email=True)
    return AuthAnswer(
        user=profile, access_token=runtime.tokens.issue(user_id), expires_in=runtime.tokens.ttl_seconds
    )


@router.post("/auth/register", status_code=201, response_model=AuthAnswer, response_model_by_alias=True)
async def register(body: RegisterBody, runtime: RuntimeDep) -> AuthAnswer:
    user_id = await accounts.register(
        runtime.db,
        runtime.ids,
        runtime.passwords,
        username=body.username,
        password=body.password,
        email=body.email,
        display_name=body.display_name,
        now=utcnow(),
    )
    return await _auth_answer(runtime, user_id)


@router.post("/auth/login", response_model=AuthAnswer, response_model_by_alias=True)
async def login(body: LoginBody, runtime: RuntimeDep) -> AuthAnswer:
    user_id = await accounts.authenticate(
        runtime.db, runtime.passwords, username=body.username, password=body.password
    )
    return await _auth_answer(runtime, user_id)


@router.get("/me", response_model=Profile, response_model_by_alias=True, response_model_exclude_none=False)
async def me(viewer: Viewer, runtime: RuntimeDep) -> Profile:
    return await _own_profile(runtime, viewer)


@router.patch("/me", response_model=Profile, response_model_by_alias=True)
async def update_me(body: ProfilePatch, viewer: Viewer, runtime: RuntimeDep) -> Profile:
    if body.avatar_media_id is not None:
        raise ValidationFailed("avatarMediaId: this server does not accept media uploads yet")
    changes = accounts.ProfileChanges(
        display_name=body.display_name, bio=body.bio, is_private=body.is_private
    )
    await accounts.update_profile(
        runtime.db,
        runtime.ids,
        runtime.settings,
        user_id=viewer,
        changes=changes,
        now=utcnow(),
    )
    return await _own_profile(runtime, viewer)


async def _own_profile(runtime: Runtime, viewer: int) -> Profile:
    try:
        async with runtime.db.read() as conn:
            return await profile_by_id(conn, viewer, viewer_id=viewer, include_email=True)
    except NotFound:
        raise Unauthorized("the account of this token no longer exists") from None
