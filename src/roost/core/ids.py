"""64-bit time-ordered ids (Snowflake layout), so a newer object always has a larger id.

Layout, most significant bit first:

    | 1 bit: 0 | 41 bits: milliseconds since EPOCH | 10 bits: worker | 12 bits: sequence |

41 bits of milliseconds last 69 years from 2024-01-01. The worker field keeps ids unique across
processes; the sequence allows 4096 ids per millisecond per worker, after which the generator waits
for the next millisecond. A clock that steps back is absorbed by never going below the last timestamp.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
TIMESTAMP_BITS = 41
WORKER_BITS = 10
SEQUENCE_BITS = 12
MAX_WORKER = (1 << WORKER_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
MAX_ID = (1 << 63) - 1


class IdGenerator:
    """Thread-safe Snowflake-style generator for one worker number."""

    def __init__(self, worker_id: int | None = None) -> None:
        if worker_id is None:
            worker_id = os.getpid() & MAX_WORKER
        if not 0 <= worker_id <= MAX_WORKER:
            raise ValueError(f"worker_id must be in 0..{MAX_WORKER}")
        self._worker = worker_id
        self._last_ms = 0
        self._sequence = 0
        self._lock = threading.Lock()

    def next_id(self) -> int:
        with self._lock:
            now = max(int(time.time() * 1000), self._last_ms)
            if now == self._last_ms:
                self._sequence = (self._sequence + 1) & MAX_SEQUENCE
                if self._sequence == 0:
                    while now <= self._last_ms:
                        now = int(time.time() * 1000)
            else:
                self._sequence = 0
            self._last_ms = now
            return compose_id(now, self._worker, self._sequence)


def compose_id(unix_ms: int, worker: int, sequence: int) -> int:
    return ((unix_ms - EPOCH_MS) << (WORKER_BITS + SEQUENCE_BITS)) | (worker << SEQUENCE_BITS) | sequence


def id_floor_for(moment: datetime) -> int:
    """The smallest id that could have been made at `moment`: a cursor boundary for time ranges."""
    return compose_id(int(moment.timestamp() * 1000), 0, 0)


def id_to_datetime(snowflake: int) -> datetime:
    unix_ms = (snowflake >> (WORKER_BITS + SEQUENCE_BITS)) + EPOCH_MS
    return datetime.fromtimestamp(unix_ms / 1000, tz=UTC)


def parse_id(raw: str) -> int | None:
    """Decimal string to id, or None when it is not a valid positive 63-bit number."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None
