"""Opaque pagination cursors: a list kind and a position, base64url-encoded and checked on the way in.

A cursor names the last item a page showed, so new inserts above it never shift later pages.
A cursor minted by one list and sent to another is refused, not silently misread.
"""

from __future__ import annotations

import base64
import binascii
import zlib

from roost.core.errors import InvalidRequest

_VERSION = "1"


def encode_cursor(kind: str, *values: int) -> str:
    body = ":".join([_VERSION, kind, *(str(v) for v in values)])
    check = zlib.crc32(body.encode()) & 0xFFFF
    raw = f"{body}:{check:x}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, *, arity: int = 1) -> tuple[int, ...]:
    """The integers a cursor of `kind` carries; InvalidRequest for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidRequest("cursor is not valid") from None
    parts = text.split(":")
    if len(parts) != arity + 3 or parts[0] != _VERSION:
        raise InvalidRequest("cursor is not valid")
    body, check = ":".join(parts[:-1]), parts[-1]
    if f"{zlib.crc32(body.encode()) & 0xFFFF:x}" != check:
        raise InvalidRequest("cursor is not valid")
    if parts[1] != kind:
        raise InvalidRequest("cursor belongs to another list")
    values = parts[2:-1]
    if not all(v.isdigit() and len(v) <= 19 for v in values):
        raise InvalidRequest("cursor is not valid")
    return tuple(int(v) for v in values)
