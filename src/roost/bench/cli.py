"""`roost bench`: seed a graph, drive a workload, compare fan-out strategies, run microbenchmarks."""

from __future__ import annotations

import asyncio
import platform
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from roost.core.settings import FanoutStrategy, Settings

# The heavy modules (numpy, the driver, matplotlib) are imported inside the commands: this module
# is imported by every `roost` invocation, `roost serve` included.

bench_app = typer.Typer(help="Benchmarks: seed, run, compare, micro, standard.", no_args_is_help=True)
console = Console()

PresetOpt = typer.Option("small", help="tiny | small | medium | celebrity")
DataOpt = typer.Option(None, help="embedded data dir (default ./bench-data/<preset>)")
OutOpt = typer.Option(Path("bench-results"), help="directory for JSON results, plots and server logs")


def bench_settings(preset: str, data_dir: Path | None, strategy: FanoutStrategy = "hybrid") -> Settings:
    """Settings of the server under test: ROOST_* from the environment, tiers from the preset."""
    from roost.bench.graph import PRESETS

    if preset not in PRESETS:
        raise typer.BadParameter(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return Settings(
        data_dir=data_dir or Path("bench-data") / preset,
        celebrity_threshold=PRESETS[preset].celebrity_threshold,
        fanout_strategy=strategy,
        # Production profile: the bench's own Redis keys, never the deployment's (ROOST_DATABASE_URL
        # must likewise name a database of its own, e.g. .../roost_bench: seeding replaces it).
        redis_prefix="roostbench",
    )


def machine() -> dict[str, Any]:
    import os

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "os": platform.platform(),
    }


@bench_app.command()
def seed(preset: str = PresetOpt, seed: int = typer.Option(1), data_dir: Path | None = DataOpt) -> None:
    """Generate the preset's graph (deterministic from --seed) and bulk-load it, replacing the bench data."""
    from roost.bench.graph import PRESETS, generate, skew_summary
    from roost.bench.load import load_production, load_sqlite

    settings = bench_settings(preset, data_dir)
    started = time.perf_counter()
    graph = generate(PRESETS[preset], seed=seed)
    console.print(f"generated in {time.perf_counter() - started:.1f}s: {skew_summary(graph)}")
    started = time.perf_counter()
    if settings.is_sqlite:
        asyncio.run(load_sqlite(graph, settings))
    else:
        asyncio.run(load_production(graph, settings))
    console.print(f"loaded in {time.perf_counter() - started:.1f}s")


@bench_app.command()
def run(
    preset: str = PresetOpt,
    data_dir: Path | None = DataOpt,
    strategy: str = typer.Option("hybrid", help="hybrid | push | pull"),
    duration: float = typer.Option(10.0, min=1, max=600),
    concurrency: int = typer.Option(16, min=1, max=512),
    processes: int = typer.Option(1, min=1, max=8),
    read_ratio: float = typer.Option(100.0, min=0, help="feed reads per post"),
    rate: float = typer.Option(0.0, min=0, help="target ops/s (0: closed loop)"),
    max_ops: int = typer.Option(1_000_000, min=1),
    wrk: bool = typer.Option(False, help="read-only load with wrk instead of the Python driver"),
    warmup: int = typer.Option(5, min=0, max=120, help="wrk: seconds of unmeasured reads first"),
    wrk_posts: bool = typer.Option(False, help="wrk: also post, one request in read-ratio + 1"),
    api_processes: int = typer.Option(1, min=1, max=8, help="API processes (production profile)"),
    workers: int = typer.Option(1, min=1, max=8, help="`roost worker` processes (production profile)"),
    out: Path = OutOpt,
) -> None:
    """Drive a mixed workload against a fresh `roost serve` on the seeded data and report."""
    from roost.bench.driver import Workload
    from roost.bench.manifest import build_manifest
    from roost.bench.report import print_result, write_json
    from roost.bench.run import run_once, wrk_reads

    settings = bench_settings(preset, data_dir, _strategy(strategy))
    manifest = asyncio.run(build_manifest(settings))
    if wrk:
        result = wrk_reads(
            settings,
            manifest,
            duration=int(duration),
            connections=concurrency,
            log_dir=out,
            warmup=warmup,
            rate=rate,
            api_processes=api_processes,
            workers=workers,
            read_ratio=read_ratio if wrk_posts else None,
        )
        console.print(result)
        name = f"wrk-{preset}" + ("-posts" if wrk_posts else "")
    else:
        work = Workload(
            base_url="http://127.0.0.1", duration=duration, concurrency=concurrency, processes=processes,
            read_ratio=read_ratio, rate=rate, max_ops=max_ops,
        )  # fmt: skip
        result = run_once(
            settings, work, log_dir=out, manifest=manifest, api_processes=api_processes, workers=workers
        )
        print_result(f"roost bench run ({preset}, {strategy})", result, console)
        result.pop("raw")
        name = f"run-{preset}-{strategy}"
    result["machine"] = machine()
    write_json(out / f"{name}.json", result)


def _strategy(value: str) -> FanoutStrategy:
    if value not in ("hybrid", "push", "pull"):
        raise typer.BadParameter("strategy must be hybrid, push or pull")
    return value  # type: ignore[return-value]


@bench_app.command()
def compare(
    preset: str = PresetOpt,
    data_dir: Path | None = DataOpt,
    duration: float = typer.Option(10.0, min=1, max=600),
    concurrency: int = typer.Option(16, min=1, max=512),
    read_ratio: float = typer.Option(20.0, min=0),
    rate: float = typer.Option(0.0, min=0),
    out: Path = OutOpt,
) -> None:
    """The same workload under push, pull and hybrid, each on a fresh copy of the seeded data."""
    from roost.bench.compare import compare_strategies
    from roost.bench.driver import Workload

    settings = bench_settings(preset, data_dir)
    work = Workload(
        base_url="http://127.0.0.1",
        duration=duration,
        concurrency=concurrency,
        read_ratio=read_ratio,
        rate=rate,
    )
    compare_strategies(
        settings,
        work,
        out=out,
        console=console,
        reseed=lambda: seed(preset=preset, seed=1, data_dir=data_dir),
    )


@bench_app.command()
def micro(preset: str = typer.Option("tiny"), out: Path = OutOpt) -> None:
    """Microbenchmarks in process: fan-out rate, 10K fan-out, celebrity writes, celebrity reads, cold rebuild."""
    from roost.bench.micro import run_micro
    from roost.bench.report import write_json

    result = asyncio.run(run_micro(Path("bench-data") / "micro", console=console))
    result["machine"] = machine()
    write_json(out / "micro.json", result)


@bench_app.command()
def standard(preset: str = PresetOpt, out: Path = OutOpt) -> None:
    """The standard set (`make bench`): seed, mixed run, wrk reads, strategy comparison, micro."""
    seed(preset=preset, seed=1, data_dir=None)
    run(preset=preset, data_dir=None, strategy="hybrid", duration=15, concurrency=16, processes=1,
        read_ratio=100, rate=0, max_ops=1_000_000, wrk=False, warmup=5, wrk_posts=False, api_processes=1, out=out)  # fmt: skip
    run(preset=preset, data_dir=None, strategy="hybrid", duration=15, concurrency=32, processes=1,
        read_ratio=100, rate=0, max_ops=1_000_000, wrk=True, warmup=5, wrk_posts=False, api_processes=1, out=out)  # fmt: skip
    compare(preset=preset, data_dir=None, duration=10, concurrency=16, read_ratio=20, rate=0, out=out)
    micro(preset="tiny", out=out)
