"""`roost bench compare`: one workload under push, pull and hybrid fan-out; a table, JSON and plots."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from rich.console import Console
from rich.table import Table

from roost.bench.driver import Workload
from roost.bench.load import sqlite_path
from roost.bench.report import write_json
from roost.bench.run import run_once
from roost.core.settings import FanoutStrategy, Settings

STRATEGIES: tuple[FanoutStrategy, ...] = ("push", "pull", "hybrid")


def _fresh_copy(settings: Settings, strategy: FanoutStrategy, out: Path) -> Settings:
    """Each strategy starts from the same seeded data: a copy of the SQLite files (embedded)."""
    target = out / f"data-{strategy}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    source = Path(sqlite_path(settings))
    for suffix in ("", "-wal", "-shm"):
        if Path(str(source) + suffix).exists():
            shutil.copy(str(source) + suffix, target / (source.name + suffix))
    shutil.copy(settings.data_dir / "secret_key", target / "secret_key")
    return settings.model_copy(update={"data_dir": target, "fanout_strategy": strategy})


def compare_strategies(
    settings: Settings,
    work: Workload,
    *,
    out: Path,
    console: Console,
    reseed: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Embedded: each strategy on a copy of the seeded files; production: `reseed` before each one."""
    settings.resolved_secret_key()
    results: dict[str, Any] = {}
    raws: dict[str, Any] = {}
    for strategy in STRATEGIES:
        if settings.is_sqlite:
            run_settings = _fresh_copy(settings, strategy, out)
        else:
            if reseed is None:
                raise RuntimeError("comparing on PostgreSQL needs a reseed before each strategy")
            reseed()
            run_settings = settings.model_copy(update={"fanout_strategy": strategy})
        result = run_once(run_settings, work, log_dir=out)
        raws[strategy] = result.pop("raw")
        results[strategy] = result
        if settings.is_sqlite:
            shutil.rmtree(run_settings.data_dir, ignore_errors=True)
    table = cost_table(results)
    console.print(table)
    write_json(out / "compare.json", results)
    plot(raws, out)
    return results


def cost_rows(results: dict[str, Any]) -> list[list[str]]:
    rows = []
    for strategy, r in results.items():
        ops = r["feed_read"]["count"] + r["post_create"]["count"]
        per_k = 1000 / max(ops, 1)
        cpu = r["cpu_seconds"]
        rows.append(
            [
                strategy,
                f"{r['timeline_inserts'] * per_k:.0f}",
                f"{r['db_queries_per_feed_read']:.1f}",
                f"{cpu['server'] * per_k:.2f}",
                f"{cpu['driver'] * per_k:.2f}",
                f"{r['feed_reads_per_second']:.0f}",
                f"{r['feed_read']['p50_ms']:.1f} / {r['feed_read']['p99_ms']:.1f}",
                f"{r['post_create']['p50_ms']:.1f} / {r['post_create']['p99_ms']:.1f}",
                f"{r['freshness']['p50_ms']:.0f} / {r['freshness']['p99_ms']:.0f}",
            ]
        )
    return rows


COLUMNS = (
    "strategy",
    "timeline writes / 1K ops",
    "DB queries / feed read",
    "server CPU s / 1K ops",
    "driver CPU s / 1K ops",
    "feed reads/s",
    "feed p50 / p99 ms",
    "post p50 / p99 ms",
    "freshness p50 / p99 ms",
)


def cost_table(results: dict[str, Any]) -> Table:
    table = Table(title="fan-out strategies: cost and latency")
    for column in COLUMNS:
        table.add_column(column, justify="right")
    for row in cost_rows(results):
        table.add_row(*row)
    return table


def markdown_table(results: dict[str, Any]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in cost_rows(results)]
    return "\n".join(lines)


def plot(raws: dict[str, Any], out: Path) -> None:
    """Empirical CDFs of feed-read latency and of freshness, one line per strategy."""
    for key, name, unit in (
        ("feed_read_seconds", "latency", "feed read latency (ms)"),
        ("freshness_seconds", "freshness", "post visible in a follower's feed after (ms)"),
    ):
        fig, ax = plt.subplots(figsize=(7, 4))
        for strategy, raw in raws.items():
            values = sorted(v * 1000 for v in raw[key])
            if values:
                ax.plot(values, [(i + 1) / len(values) for i in range(len(values))], label=strategy)
        ax.set_xscale("log")
        ax.set_xlabel(unit)
        ax.set_ylabel("fraction of requests")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / f"compare-{name}.png", dpi=100)
        plt.close(fig)
