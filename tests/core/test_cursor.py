"""Cursors: opaque, round-trip exactly, and refuse tampering or use on another list."""

from __future__ import annotations

import base64
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roost.core.cursor import decode_cursor, encode_cursor
from roost.core.errors import InvalidRequest
from roost.core.ids import MAX_ID

kinds = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_", min_size=1, max_size=20)
positions = st.integers(min_value=0, max_value=MAX_ID)


@given(kind=kinds, values=st.lists(positions, min_size=1, max_size=4))
def test_round_trip(kind: str, values: list[int]) -> None:
    cursor = encode_cursor(kind, *values)
    assert decode_cursor(cursor, kind, arity=len(values)) == tuple(values)


@given(kind=kinds, value=positions)
def test_cursors_are_url_safe_and_opaque(kind: str, value: int) -> None:
    cursor = encode_cursor(kind, value)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@given(kind=kinds, other=kinds, value=positions)
def test_a_cursor_of_another_list_is_refused(kind: str, other: str, value: int) -> None:
    if kind == other:
        return
    with pytest.raises(InvalidRequest, match="another list"):
        decode_cursor(encode_cursor(kind, value), other)


@given(value=positions, arity=st.integers(min_value=2, max_value=4))
def test_a_cursor_with_the_wrong_number_of_values_is_refused(value: int, arity: int) -> None:
    with pytest.raises(InvalidRequest):
        decode_cursor(encode_cursor("home", value), "home", arity=arity)


@given(value=positions, index=st.integers(min_value=0), replacement=st.sampled_from("AQgw-_09"))
def test_tampering_is_detected_or_harmless(value: int, index: int, replacement: str) -> None:
    cursor = encode_cursor("home", value)
    i = index % len(cursor)
    tampered = cursor[:i] + replacement + cursor[i + 1 :]
    try:
        decoded = decode_cursor(tampered, "home")
    except InvalidRequest:
        return
    # The 16-bit check lets through only edits that decode to the very same cursor text.
    assert tampered == cursor or decoded == (value,)


@given(st.text(max_size=300))
def test_arbitrary_text_is_either_refused_or_a_valid_position(text: str) -> None:
    try:
        decoded = decode_cursor(text, "home")
    except InvalidRequest:
        return
    assert len(decoded) == 1
    assert 0 <= decoded[0] < 10**19


def _forge(body: str) -> str:
    check = zlib.crc32(body.encode()) & 0xFFFF
    return base64.urlsafe_b64encode(f"{body}:{check:x}".encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "body",
    [
        "1:home:-5",  # negative position
        "1:home:1e9",
        "1:home:",
        "1:home:99999999999999999999",  # more than 19 digits
        "2:home:5",  # unknown version
        "1:home:5:6",  # too many values
    ],
)
def test_well_signed_but_malformed_cursors_are_refused(body: str) -> None:
    with pytest.raises(InvalidRequest):
        decode_cursor(_forge(body), "home")


@pytest.mark.parametrize("cursor", ["", "=", "!!!!", "é", "a" * 5, "\x00", "MTpob21lOjU"])
def test_garbage_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidRequest):
        decode_cursor(cursor, "home")
