"""Post text rules: trimming, length in code points, hashtag and mention extraction."""

from __future__ import annotations

import re
import unicodedata

MAX_POST_CHARS = 280
USERNAME_RE = re.compile(r"^[A-Za-z0-9_]{1,30}$")
MAX_HASHTAG_CHARS = 100
# A tag or mention starts at the beginning or after a character that cannot be part of a word,
# so "a#b" and "mail@example.com" extract nothing.
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
    at = text.find("#")
    while at != -1:
        end = at + 1
        while end < len(text) and _is_word_char(text[end]):
            end += 1
        word = text[at + 1 : end]
        starts_word = at == 0 or not (_is_word_char(text[at - 1]) or text[at - 1] in "#&")
        # A word begins with a letter, digit or _; an over-long run is not cut into a shorter tag.
        if starts_word and word and _is_word_start(word[0]) and len(word) <= MAX_HASHTAG_CHARS:
            tag = word.casefold()
            if not tag.isdigit():
                seen.setdefault(tag, None)
        at = text.find("#", max(end, at + 1))
    return list(seen)


def _is_word_start(char: str) -> bool:
    return char == "_" or char.isalnum()


def _is_word_char(char: str) -> bool:
    """Letters, digits, _ and combining marks: regex \\w misses the marks, which cuts most Indic words."""
    return _is_word_start(char) or unicodedata.category(char).startswith("M")


def extract_mentions(text: str) -> list[str]:
    """Distinct mentioned usernames (lower case) in order of first use."""
    seen: dict[str, None] = {}
    for match in _MENTION_RE.finditer(text):
        seen.setdefault(match.group(1).lower(), None)
    return list(seen)


def is_valid_username(name: str) -> bool:
    return bool(USERNAME_RE.fullmatch(name))
