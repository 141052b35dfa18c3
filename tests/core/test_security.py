"""Passwords and access tokens: what verifies, and every way a token is refused."""

from __future__ import annotations

import time

import jwt
import pytest
from argon2 import PasswordHasher

from roost.core.errors import Unauthorized
from roost.core.security import Passwords, Tokens

SECRET = "unit-test-secret-" + "s" * 32


@pytest.fixture
def passwords() -> Passwords:
    return Passwords(PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


def test_password_verifies_only_itself(passwords: Passwords) -> None:
    stored = passwords.hash("correct horse")
    assert stored != "correct horse"
    assert passwords.verify(stored, "correct horse")
    assert not passwords.verify(stored, "correct horsE")
    assert not passwords.verify(stored, "")


def test_a_corrupt_stored_hash_is_a_mismatch_not_a_crash(passwords: Passwords) -> None:
    assert not passwords.verify("not-a-hash", "correct horse")


def test_token_round_trip() -> None:
    tokens = Tokens(SECRET, ttl_seconds=3600)
    assert tokens.user_id(tokens.issue(1839203948203012096)) == 1839203948203012096


def test_expired_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = Tokens(SECRET, ttl_seconds=60)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now - 3600)
    old = tokens.issue(42)
    monkeypatch.undo()
    with pytest.raises(Unauthorized, match="expired"):
        tokens.user_id(old)


def _claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {"sub": "42", "iat": now, "exp": now + 600, "typ": "access"}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode(_claims(), "another-secret-" + "o" * 32, algorithm="HS256"),
        jwt.encode(_claims(), None, algorithm="none"),
        jwt.encode(_claims(exp=None), SECRET, algorithm="HS256"),
        jwt.encode(_claims(sub=None), SECRET, algorithm="HS256"),
        jwt.encode(_claims(typ="refresh"), SECRET, algorithm="HS256"),
        jwt.encode(_claims(sub="alice"), SECRET, algorithm="HS256"),
        jwt.encode(_claims(sub="²"), SECRET, algorithm="HS256"),
        jwt.encode(_claims(sub="0"), SECRET, algorithm="HS256"),
        jwt.encode(_claims(sub="9" * 30), SECRET, algorithm="HS256"),
        jwt.encode(_claims(), SECRET + "x" * 64, algorithm="HS512"),
        "not.a.token",
        "",
        "é",
    ],
)
def test_forged_or_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(Unauthorized):
        Tokens(SECRET, ttl_seconds=3600).user_id(token)


def test_a_tampered_payload_is_refused() -> None:
    tokens = Tokens(SECRET, ttl_seconds=3600)
    header, _payload, signature = tokens.issue(42).split(".")
    other_payload = tokens.issue(43).split(".")[1]
    with pytest.raises(Unauthorized):
        tokens.user_id(f"{header}.{other_payload}.{signature}")


def test_a_remembered_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    """Verified tokens are remembered, but never past their expiry."""
    tokens = Tokens(SECRET, ttl_seconds=60)
    token = tokens.issue(42)
    assert tokens.user_id(token) == 42
    assert tokens.user_id(token) == 42  # remembered
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 120)
    with pytest.raises(Unauthorized, match="expired"):
        tokens.user_id(token)


def test_a_refused_token_is_not_remembered() -> None:
    tokens = Tokens(SECRET, ttl_seconds=60)
    forged = jwt.encode(_claims(), "another-secret-" + "o" * 32, algorithm="HS256")
    for _ in range(2):
        with pytest.raises(Unauthorized):
            tokens.user_id(forged)
