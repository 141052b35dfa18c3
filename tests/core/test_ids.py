"""Snowflake ids: time-ordered, unique, and strict about what a path or body may call an id."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from roost.core.ids import (
    EPOCH_MS,
    MAX_ID,
    MAX_SEQUENCE,
    IdGenerator,
    compose_id,
    id_floor_for,
    id_to_datetime,
    parse_id,
)


class FakeClock:
    """Seconds since the Unix epoch, moved by hand."""

    def __init__(self, unix_ms: int) -> None:
        self.unix_ms = unix_ms
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return self.unix_ms / 1000


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock(EPOCH_MS + 1_000_000)
    monkeypatch.setattr(time, "time", fake)
    return fake


def test_ids_strictly_increase_and_are_unique() -> None:
    gen = IdGenerator(5)
    made = [gen.next_id() for _ in range(10_000)]
    assert made == sorted(set(made))
    assert all(0 < i <= MAX_ID for i in made)


def test_generators_of_different_workers_never_collide(clock: FakeClock) -> None:
    a, b = IdGenerator(1), IdGenerator(2)
    assert {a.next_id() for _ in range(100)}.isdisjoint({b.next_id() for _ in range(100)})


def test_an_exhausted_millisecond_waits_for_the_next(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    gen = IdGenerator(3)
    same_ms = [gen.next_id() for _ in range(MAX_SEQUENCE + 1)]
    assert len({id_to_datetime(i) for i in same_ms}) == 1
    polls = 0

    # The clock stays on the exhausted millisecond for a few reads, then moves on by one.
    def slow_clock() -> float:
        nonlocal polls
        polls += 1
        return (clock.unix_ms + (1 if polls > 3 else 0)) / 1000

    monkeypatch.setattr(time, "time", slow_clock)
    after = gen.next_id()
    assert polls > 3  # it waited instead of reusing a sequence number
    assert after > same_ms[-1]
    assert after == compose_id(clock.unix_ms + 1, 3, 0)


def test_a_clock_stepping_back_never_makes_a_smaller_id(clock: FakeClock) -> None:
    gen = IdGenerator(7)
    before = gen.next_id()
    clock.unix_ms -= 5_000
    after = [gen.next_id() for _ in range(10)]
    assert all(i > before for i in after)
    assert after == sorted(set(after))


def test_ids_carry_their_creation_time(clock: FakeClock) -> None:
    made = IdGenerator(0).next_id()
    assert id_to_datetime(made) == datetime.fromtimestamp(clock.unix_ms / 1000, tz=UTC)


def test_floor_for_a_moment_bounds_every_id_made_at_or_after_it() -> None:
    moment = datetime(2026, 1, 15, 10, 30, tzinfo=UTC)
    unix_ms = int(moment.timestamp() * 1000)
    floor = id_floor_for(moment)
    assert compose_id(unix_ms, 0, 0) == floor
    assert compose_id(unix_ms, 1023, MAX_SEQUENCE) >= floor
    assert compose_id(unix_ms - 1, 1023, MAX_SEQUENCE) < floor


@pytest.mark.parametrize("worker", [-1, 1024])
def test_worker_number_out_of_range_is_refused(worker: int) -> None:
    with pytest.raises(ValueError, match="worker_id"):
        IdGenerator(worker)


@pytest.mark.parametrize(("raw", "expected"), [("1", 1), ("0042", 42), (str(MAX_ID), MAX_ID)])
def test_parse_id_accepts_positive_63_bit_decimals(raw: str, expected: int) -> None:
    assert parse_id(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "0",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1.0",
        "1e3",
        "abc",
        "0x1f",
        str(MAX_ID + 1),
        "9" * 20,
        "١٢٣",  # Arabic-Indic digits are digits to str.isdigit, not to us
        "²",
        "１２",  # full-width
    ],
)
def test_parse_id_refuses_anything_else(raw: str) -> None:
    assert parse_id(raw) is None
