"""The benchmark tooling on the tiny preset: a deterministic, skewed graph that loads into the real schema
and a short, bounded HTTP run against a server in this process that reports sane numbers."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import uvicorn

from roost.api.app import create_app
from roost.bench.driver import Workload, drive
from roost.bench.graph import PRESETS, Graph, generate, skew_summary
from roost.bench.load import load_sqlite
from roost.bench.manifest import build_manifest
from roost.bench.report import freshness_summary, latency_summary, percentile
from roost.bench.run import wrk_reads
from roost.bench.server import free_port
from roost.core.settings import Settings
from roost.queries.feed import home_feed
from roost.runtime import Runtime

TINY = PRESETS["tiny"]
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir, celebrity_threshold=TINY.celebrity_threshold, secret_key="bench-test-" + "k" * 40
    )


@pytest.fixture(scope="module")
def graph() -> Graph:
    return generate(TINY, seed=7)


@pytest.fixture(scope="module")
def loaded(graph: Graph, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = _settings(tmp_path_factory.mktemp("bench") / "data")
    asyncio.run(load_sqlite(graph, settings, show_progress=False))
    return settings


def test_same_seed_same_graph_other_seed_other_graph() -> None:
    a, b, c = (generate(TINY, seed=s, now=NOW) for s in (3, 3, 4))
    for field in ("user_ids", "follower_idx", "followee_idx", "follow_ids", "post_ids", "post_author_idx"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert not np.array_equal(a.followee_idx[: len(c.followee_idx)], c.followee_idx[: len(a.followee_idx)])


def test_graph_is_skewed_like_a_social_network(graph: Graph) -> None:
    summary = skew_summary(graph)
    followers = graph.follower_counts
    # A few planted celebrities, far above the threshold; everybody else below it.
    assert summary["celebrities"] == TINY.celebrities
    assert summary["max_followers"] >= 3 * TINY.celebrity_threshold
    assert summary["median_followers"] * 10 < summary["max_followers"]
    assert np.sort(followers)[-TINY.celebrities - 1] < TINY.celebrity_threshold
    assert (
        abs(summary["mean_following_active"] - TINY.mean_following_active) < 0.3 * TINY.mean_following_active
    )
    # No self-follows, no duplicate edges, unique ids.
    assert not np.any(graph.follower_idx == graph.followee_idx)
    pairs = graph.follower_idx * len(graph.user_ids) + graph.followee_idx
    assert len(np.unique(pairs)) == len(pairs)
    assert len(np.unique(graph.post_ids)) == len(graph.post_ids)
    assert len(np.unique(graph.user_ids)) == len(graph.user_ids)


def test_loaded_counts_and_tiers_match_the_rows(graph: Graph, loaded: Settings) -> None:
    db = sqlite3.connect(loaded.data_dir / "roost.db")
    try:
        assert db.execute("SELECT count(*) FROM users").fetchone()[0] == len(graph.user_ids)
        assert db.execute("SELECT count(*) FROM follows").fetchone()[0] == len(graph.follow_ids)
        assert db.execute("SELECT count(*) FROM posts").fetchone()[0] == len(graph.post_ids)
        wrong = db.execute(
            """SELECT count(*) FROM users u WHERE
                 follower_count != (SELECT count(*) FROM follows WHERE followee_id = u.id)
              OR following_count != (SELECT count(*) FROM follows WHERE follower_id = u.id)
              OR post_count != (SELECT count(*) FROM posts WHERE author_id = u.id)
              OR is_celebrity != (follower_count >= ?)""",
            (TINY.celebrity_threshold,),
        ).fetchone()[0]
        assert wrong == 0
        assert db.execute("SELECT count(*) FROM users WHERE is_celebrity").fetchone()[0] == TINY.celebrities
    finally:
        db.close()


async def test_loaded_feed_equals_brute_force_reference(loaded: Settings) -> None:
    runtime = Runtime.build(loaded)
    await runtime.start(background=False)
    db = sqlite3.connect(loaded.data_dir / "roost.db")
    try:
        readers = [r[0] for r in db.execute("SELECT owner_id FROM timeline_meta ORDER BY owner_id LIMIT 5")]
        assert readers
        for viewer in readers:
            expected = [
                r[0]
                for r in db.execute(
                    """SELECT id FROM posts WHERE author_id = ? OR author_id IN
                       (SELECT followee_id FROM follows WHERE follower_id = ?) ORDER BY id DESC LIMIT 20""",
                    (viewer, viewer),
                )
            ]
            page = await home_feed(
                runtime.feed, viewer_id=viewer, cursor=None, limit=20, now=datetime.now(UTC)
            )
            assert [p.post_id for p in page.posts] == expected
    finally:
        db.close()
        await runtime.stop()


@pytest.fixture
def server(loaded: Settings) -> Iterator[str]:
    """`roost serve`'s app on a loopback port, in a thread of this process."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings=loaded), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=15)


def test_short_run_reports_sane_numbers(loaded: Settings, server: str) -> None:
    manifest = asyncio.run(build_manifest(loaded, readers=100, writers=20))
    work = Workload(base_url=server, duration=3.0, concurrency=4, read_ratio=5.0, max_ops=300, probe_every=1)
    started = time.monotonic()
    samples = drive(work, manifest)
    assert time.monotonic() - started < 60  # bounded in time as well as count
    assert samples.errors == {}
    assert 0 < len(samples.reads) + len(samples.writes) <= 300
    assert samples.reads
    assert samples.writes
    read = latency_summary(samples.reads)
    assert 0 < read["p50_ms"] <= read["p90_ms"] <= read["p99_ms"] <= read["max_ms"]
    fresh = freshness_summary(samples.freshness)
    assert fresh["probes"] > 0
    assert fresh["not_visible_within_timeout"] == 0
    assert samples.cpu_seconds > 0


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
def test_wrk_run_with_posts_reports_reads_posts_and_fanout_freshness(
    loaded: Settings, tmp_path: Path
) -> None:
    manifest = asyncio.run(build_manifest(loaded, readers=50, writers=10))
    result = wrk_reads(loaded, manifest, duration=2, connections=4, log_dir=tmp_path, warmup=0, read_ratio=2)
    assert result["errors"] == 0
    assert result["posts_per_second"] > 0
    assert result["feed_reads_per_second"] > 0
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    fresh = result["fanout_freshness"]
    assert fresh["pushed_posts"] > 0  # read off the server's own metrics
    assert 0 < fresh["p50_ms"] <= fresh["p99_ms"]
    assert result["server_cpu_seconds"] > 0


def test_driver_refuses_non_loopback_targets() -> None:
    with pytest.raises(ValueError, match="loopback"):
        Workload(base_url="http://example.com")


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
