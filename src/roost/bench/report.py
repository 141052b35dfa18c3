"""Turning raw samples into the numbers BENCHMARKS.md reports: percentiles, rates, tables, JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from roost.bench.driver import Samples

FRESHNESS_BUCKETS = (0, 100, 1_000, 10_000, 100_000)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_summary(values: Sequence[float]) -> dict[str, float]:
    """Milliseconds."""
    return {
        "count": float(len(values)),
        "p50_ms": percentile(values, 50) * 1000,
        "p90_ms": percentile(values, 90) * 1000,
        "p99_ms": percentile(values, 99) * 1000,
        "max_ms": max(values) * 1000 if values else math.nan,
    }


def _bucket(followers: int) -> str:
    low = max(b for b in FRESHNESS_BUCKETS if followers >= b)
    index = FRESHNESS_BUCKETS.index(low)
    high = FRESHNESS_BUCKETS[index + 1] if index + 1 < len(FRESHNESS_BUCKETS) else None
    return f"{low}-{high - 1}" if high else f">={low}"


def freshness_summary(samples: Sequence[tuple[float, int]]) -> dict[str, Any]:
    buckets: dict[str, list[float]] = {}
    missed = 0
    for seconds, followers in samples:
        if seconds < 0:
            missed += 1
            continue
        buckets.setdefault(_bucket(followers), []).append(seconds)
    every = [s for s, _ in samples if s >= 0]
    out: dict[str, Any] = {
        "probes": len(samples),
        "not_visible_within_timeout": missed,
        "p50_ms": percentile(every, 50) * 1000,
        "p99_ms": percentile(every, 99) * 1000,
        "by_author_followers": {
            k: {"count": len(v), "p50_ms": percentile(v, 50) * 1000, "p99_ms": percentile(v, 99) * 1000}
            for k, v in sorted(buckets.items(), key=lambda kv: int(kv[0].strip(">=").split("-")[0]))
        },
    }
    return out


def summarize(samples: Samples, *, server: dict[str, float], extra: dict[str, Any]) -> dict[str, Any]:
    wall = max(samples.wall_seconds, 1e-9)
    ops = len(samples.reads) + len(samples.writes)
    result: dict[str, Any] = {
        "wall_seconds": wall,
        "feed_reads_per_second": len(samples.reads) / wall,
        "posts_per_second": len(samples.writes) / wall,
        "feed_read": latency_summary(samples.reads),
        "post_create": latency_summary(samples.writes),
        "freshness": freshness_summary(samples.freshness),
        "errors": samples.errors,
        # Feed reads made by freshness probes: extra load, not counted in the read numbers.
        "probe_reads": samples.probe_reads,
        "cpu_seconds": {"driver": samples.cpu_seconds, **server},
        "cpu_seconds_per_1k_ops": {
            k: v * 1000 / max(ops, 1) for k, v in {"driver": samples.cpu_seconds, **server}.items()
        },
        "driver_cpu_share_of_one_core": samples.cpu_seconds / wall,
    }
    result.update(extra)
    return result


def print_result(title: str, result: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    read, write, fresh = result["feed_read"], result["post_create"], result["freshness"]
    rows = [
        ("feed reads/s", f"{result['feed_reads_per_second']:.0f}"),
        ("feed p50 / p90 / p99 / max ms", _quad(read)),
        ("posts/s", f"{result['posts_per_second']:.1f}"),
        ("post create p50 / p90 / p99 / max ms", _quad(write)),
        ("freshness p50 / p99 ms", f"{fresh['p50_ms']:.1f} / {fresh['p99_ms']:.1f}"),
        ("timeline inserts/s", f"{result.get('timeline_inserts_per_second', math.nan):.0f}"),
        ("db queries per feed read", f"{result.get('db_queries_per_feed_read', math.nan):.1f}"),
        ("redis bytes per timeline entry", f"{result.get('redis_bytes_per_entry') or math.nan:.1f}"),
        (
            "cpu s (" + " / ".join(result["cpu_seconds"]) + ")",
            " / ".join(f"{v:.1f}" for v in result["cpu_seconds"].values()),
        ),
        ("errors", json.dumps(result["errors"])),
    ]
    for bucket, v in fresh["by_author_followers"].items():
        rows.append((f"freshness followers {bucket} p50/p99 ms", f"{v['p50_ms']:.1f} / {v['p99_ms']:.1f}"))
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def _quad(s: dict[str, float]) -> str:
    return " / ".join(f"{s[k]:.1f}" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms"))


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
