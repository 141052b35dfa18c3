"""Post text rules: trimming, length in code points, hashtag and mention extraction."""

from __future__ import annotations

import re
import unicodedata

MAX_POST_CHARS = 280
USERNAME_RE = re.compile(r"^[A-Za-z0-9_]{1,30}$")
# A tag or mention starts at the beginning or after a character that cannot be part of a word,
# so "a#b" and "mail@example.com" extract nothing.
_HASHTAG_RE = re.compile(r"(?<![\w#&])#(\w{1,100})", re.UNICODE)
_MENTION_RE = re.compile(r"(?<![\w@.])@([A-Za-z0-9_]{1,30})(?![A-Za-z0-9_@])")


def normalize_content(raw: str) -> str:
    """NFC-normalized text with surrounding white space trimmed."""
    return unicodedata.normalize("NFC", raw).strip()


def content_length(text: str) -> int:
    """Length as users count it for the 280 limit: Unicode code points."""
    return len(text)


def extract_hashtags(text: str) -> list[str]:
    """Distinct hashtags in order of first use, case-folded; a tag of digits only is not a tag."""
    seen: dict[str, None] = {}
    for match in _HASHTAG_RE.finditer(text):
        tag = match.group(1).casefold()
        if not tag.isdigit() and tag not in seen:
            seen[tag] = None
    return list(seen)


def extract_mentions(text: str) -> list[str]:
    """Distinct mentioned usernames (lower case) in order of first use."""
    seen: dict[str, None] = {}
    for match in _MENTION_RE.finditer(text):
        seen.setdefault(match.group(1).lower(), None)
    return list(seen)


def is_valid_username(name: str) -> bool:
    return bool(USERNAME_RE.fullmatch(name))
