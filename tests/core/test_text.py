"""Post text: length in code points after trimming, hashtag and mention extraction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roost.core.text import (
    MAX_POST_CHARS,
    content_length,
    extract_hashtags,
    extract_mentions,
    is_valid_username,
    normalize_content,
)

usernames = st.from_regex(r"[A-Za-z0-9_]{1,30}", fullmatch=True)
tag_words = st.from_regex(r"[A-Za-z0-9_]{1,40}", fullmatch=True).filter(lambda w: not w.isdigit())
separators = st.sampled_from([" ", "\n", ", ", " (", "! ", "\t"])


def test_trimming_and_nfc() -> None:
    assert normalize_content("  \n hi there \t ") == "hi there"
    assert normalize_content("\u3000x\u3000") == "x"  # ideographic space is white space too
    assert normalize_content("cafe\u0301") == "café"
    assert normalize_content(" \n\t ") == ""


def test_length_counts_code_points() -> None:
    assert content_length("😀" * MAX_POST_CHARS) == MAX_POST_CHARS
    assert content_length("👍🏽") == 2  # emoji plus skin tone modifier
    # A combining mark with no precomposed form stays a code point of its own after NFC.
    assert content_length(normalize_content("x\u0301")) == 2
    assert content_length(normalize_content("e\u0301")) == 1


@pytest.mark.parametrize(
    ("text", "tags"),
    [
        ("Shipped! #release #Release #RELEASE", ["release"]),
        ("#one,#two;#three.", ["one", "two", "three"]),
        ("a#b c&#39; ##double", []),
        ("#123 #2026goals #_", ["2026goals", "_"]),
        ("#café #日本語", ["café", "日本語"]),
        ("#नमस्ते दुनिया", ["नमस्ते"]),  # vowel signs are combining marks, part of the word
        ("(#paren) #end", ["paren", "end"]),
        ("नमस्ते#tag", []),  # preceded by a combining mark: inside a word
        ("#" + "a" * 100, ["a" * 100]),
        ("#" + "a" * 101, []),  # too long: not cut down to a different, shorter tag
        ("#\u0301x", []),
    ],
)
def test_hashtags(text: str, tags: list[str]) -> None:
    assert extract_hashtags(normalize_content(text)) == tags


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("hi @Alice and @bob, @alice again", ["alice", "bob"]),
        ("mail me at jane@example.com", []),
        ("@bob's post", ["bob"]),
        ("(@carol) @dave.", ["carol", "dave"]),
        ("@" + "a" * 31, []),  # too long to be a username, so not a mention of its prefix
        ("@a@b", []),
        ("x.@erin", []),
    ],
)
def test_mentions(text: str, names: list[str]) -> None:
    assert extract_mentions(text) == names


@pytest.mark.parametrize("name", ["a", "A_b_9", "_", "x" * 30])
def test_valid_usernames(name: str) -> None:
    assert is_valid_username(name)


@pytest.mark.parametrize("name", ["", "x" * 31, "a-b", "a b", "é", "ab\n", "a.b", "@ab", "ａ"])
def test_invalid_usernames(name: str) -> None:
    assert not is_valid_username(name)


@given(words=st.lists(tag_words, max_size=8), seps=st.lists(separators, min_size=8, max_size=8))
def test_written_hashtags_are_found_in_order_once_each(words: list[str], seps: list[str]) -> None:
    text = "".join(f"{sep}#{word}" for sep, word in zip(seps, words, strict=False))
    expected = list(dict.fromkeys(w.casefold() for w in words))
    assert extract_hashtags(text) == expected


@given(names=st.lists(usernames, max_size=8), seps=st.lists(separators, min_size=8, max_size=8))
def test_written_mentions_are_found_in_order_once_each(names: list[str], seps: list[str]) -> None:
    text = "".join(f"{sep}@{name}" for sep, name in zip(seps, names, strict=False))
    assert extract_mentions(text) == list(dict.fromkeys(n.lower() for n in names))


@given(st.text(max_size=400))
def test_extraction_of_any_text_is_well_formed(text: str) -> None:
    tags = extract_hashtags(text)
    assert len(tags) == len(set(tags))
    for tag in tags:
        assert tag
        assert not tag.isdigit()
        assert "#" not in tag
        assert not any(c.isspace() for c in tag)
        assert tag.casefold() == tag or tag.casefold().casefold() == tag.casefold()
    mentions = extract_mentions(text)
    assert len(mentions) == len(set(mentions))
    for name in mentions:
        assert is_valid_username(name)
        assert name == name.lower()
        assert f"@{name}" in text.lower()


@given(st.text(alphabet=st.characters(exclude_characters="#@"), max_size=200))
def test_text_without_markers_has_no_tags_or_mentions(text: str) -> None:
    assert extract_hashtags(text) == []
    assert extract_mentions(text) == []


@given(st.text(max_size=400))
def test_normalized_content_is_stable_and_trimmed(text: str) -> None:
    once = normalize_content(text)
    assert normalize_content(once) == once
    assert once == once.strip()
    assert content_length(once) == len(once)
