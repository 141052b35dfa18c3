"""Password hashing (argon2id) and signed, expiring access tokens (JWT, HS256)."""

from __future__ import annotations

import time

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from roost.core.errors import Unauthorized
from roost.core.ids import parse_id

_ALGORITHM = "HS256"


class Passwords:
    """argon2id with the library's recommended parameters."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False


class Tokens:
    """Issues and checks access tokens carrying the user id as `sub`."""

    # Verified tokens remembered per process (token -> user id, expiry): a client sends the same
    # token with every request, and checking its signature again costs more than the feed query.
    CACHE_SIZE = 50_000

    def __init__(self, secret: str, *, ttl_seconds: int) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds
        self._verified: dict[str, tuple[int, int]] = {}

    def issue(self, user_id: int) -> str:
        now = int(time.time())
        claims = {"sub": str(user_id), "iat": now, "exp": now + self.ttl_seconds, "typ": "access"}
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def user_id(self, token: str) -> int:
        """The user id of a valid, unexpired token; Unauthorized otherwise."""
        known = self._verified.get(token)
        if known is not None:
            if time.time() >= known[1]:
                del self._verified[token]
                raise Unauthorized("access token has expired")
            return known[0]
        user_id, expires = self._verify(token)
        if len(self._verified) >= self.CACHE_SIZE:
            self._verified.clear()  # cheaper than LRU bookkeeping on every request; refills as used
        self._verified[token] = (user_id, expires)
        return user_id

    def _verify(self, token: str) -> tuple[int, int]:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sub"]}
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("access token has expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("access token is not valid") from None
        sub = claims.get("sub")
        user_id = parse_id(sub) if isinstance(sub, str) else None
        exp = claims.get("exp")
        if claims.get("typ") != "access" or user_id is None or not isinstance(exp, int):
            raise Unauthorized("access token is not valid")
        return user_id, exp
