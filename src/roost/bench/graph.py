"""Deterministic synthetic social graphs with a realistic skew, for benchmarks and their tests.

Shape: a few planted celebrities followed by a large share of everyone, and a Zipf-like
popularity law over everyone else (truncated below the celebrity threshold, so the tiers are what
the preset says). Active users follow ~`mean_following_active` accounts (log-normal), inactive ones
fewer. Posts are spread over the last two weeks. Everything is a pure function of (preset, seed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from roost.core.ids import EPOCH_MS, SEQUENCE_BITS, WORKER_BITS

I64 = npt.NDArray[np.int64]
# Worker number of every generated id: the server's ids (pid-derived, and made "now") never collide.
BENCH_WORKER = 1023
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    users: int
    active_fraction: float
    mean_following_active: float
    mean_following_inactive: float
    # Share of all users following the first planted celebrity; the j-th gets share / sqrt(j + 1).
    celebrity_share: float
    celebrities: int
    # The server's ROOST_CELEBRITY_THRESHOLD for this preset: tiers are derived from it.
    celebrity_threshold: int
    mean_posts: float
    zipf_exponent: float = 1.0


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("tiny", 1_000, 0.6, 40, 10, 0.6, 3, 150, 4),
        Preset("small", 10_000, 0.5, 200, 50, 0.8, 5, 1_000, 5),
        Preset("medium", 100_000, 0.4, 200, 35, 0.8, 10, 10_000, 5),
        # One author followed by everyone else (1M followers); the rest barely follow each other.
        Preset("celebrity", 1_000_001, 0.2, 3, 1, 1.0, 1, 10_000, 1),
    )
}


@dataclass(frozen=True, slots=True)
class Graph:
    preset: Preset
    seed: int
    now_ms: int
    user_ids: I64  # index -> user id (a Snowflake id made at the user's creation time)
    created_ms: I64
    active: npt.NDArray[np.bool_]
    last_active_ms: I64
    follower_idx: I64  # follow edges as user indexes, sorted by (follower, followee)
    followee_idx: I64
    follow_ids: I64
    post_ids: I64  # sorted ascending
    post_author_idx: I64

    @property
    def follower_counts(self) -> I64:
        return np.bincount(self.followee_idx, minlength=len(self.user_ids)).astype(np.int64)

    @property
    def following_counts(self) -> I64:
        return np.bincount(self.follower_idx, minlength=len(self.user_ids)).astype(np.int64)

    @property
    def post_counts(self) -> I64:
        return np.bincount(self.post_author_idx, minlength=len(self.user_ids)).astype(np.int64)

    def is_celebrity(self) -> npt.NDArray[np.bool_]:
        return self.follower_counts >= self.preset.celebrity_threshold


def username(index: int) -> str:
    return f"b{index}"


def snowflakes(ms: I64) -> I64:
    """Unique ids for the given times, in input order: equal milliseconds get increasing sequences."""
    order = np.argsort(ms, kind="stable")
    sorted_ms = ms[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_ms)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(sorted_ms)]))
    seq = np.arange(len(sorted_ms)) - run_start
    if len(seq) and seq.max() >= 1 << SEQUENCE_BITS:
        raise ValueError("too many ids in one millisecond")
    ids = ((sorted_ms - EPOCH_MS) << (WORKER_BITS + SEQUENCE_BITS)) | (BENCH_WORKER << SEQUENCE_BITS) | seq
    out: I64 = np.empty(len(ids), dtype=np.int64)
    out[order] = ids
    return out


def _lognormal_counts(rng: np.random.Generator, mean: float, size: int, high: int) -> I64:
    sigma = 1.0
    mu = np.log(max(mean, 1e-9)) - sigma * sigma / 2
    drawn = np.rint(rng.lognormal(mu, sigma, size)).astype(np.int64)
    return np.clip(drawn, 0, high)


def generate(preset: Preset, *, seed: int = 1, now: datetime | None = None) -> Graph:
    rng = np.random.default_rng(seed)
    n = preset.users
    now_ms = int((now or datetime.now(UTC)).timestamp() * 1000)
    created_ms = now_ms - rng.integers(30 * DAY_MS, 365 * DAY_MS, n)
    user_ids = snowflakes(created_ms)
    active = rng.random(n) < preset.active_fraction
    last_active_ms = np.where(
        active, now_ms - rng.integers(0, 30 * 60_000, n), now_ms - rng.integers(40 * DAY_MS, 200 * DAY_MS, n)
    )
    celebs = preset.celebrities

    # Planted celebrities: each user follows celebrity j with probability share / sqrt(j + 1).
    share = preset.celebrity_share / np.sqrt(np.arange(1, celebs + 1))
    hits = rng.random((n, celebs)) < share
    celeb_follower, celeb_followee = np.nonzero(hits)

    # Everyone else: Zipf-like popularity over the non-celebrities, truncated so that nobody
    # crosses the threshold by accident.
    wanted = np.where(
        active,
        _lognormal_counts(rng, preset.mean_following_active, n, n // 2),
        _lognormal_counts(rng, preset.mean_following_inactive, n, n // 2),
    )
    others = n - celebs
    weights = (rng.permutation(others) + 1.0) ** -preset.zipf_exponent
    total = float(wanted.sum())
    for _ in range(3):
        p = weights / weights.sum()
        weights = np.minimum(p, 0.5 * preset.celebrity_threshold / max(total, 1.0))
    cdf = np.cumsum(weights / weights.sum())
    follower = np.repeat(np.arange(n, dtype=np.int64), wanted)
    followee = celebs + np.minimum(np.searchsorted(cdf, rng.random(len(follower))), others - 1)

    follower = np.concatenate([follower, celeb_follower.astype(np.int64)])
    followee = np.concatenate([followee.astype(np.int64), celeb_followee.astype(np.int64)])
    keep = follower != followee
    pairs = np.unique(follower[keep] * n + followee[keep])  # dedupe, sorted by (follower, followee)
    follower_idx, followee_idx = pairs // n, pairs % n
    # Followed some time between both accounts existing and the start of the post window.
    start = np.maximum(created_ms[follower_idx], created_ms[followee_idx])
    follow_ms = start + (rng.random(len(pairs)) * (now_ms - 15 * DAY_MS - start)).astype(np.int64)
    follow_ids = snowflakes(follow_ms)

    per_user = _lognormal_counts(rng, preset.mean_posts, n, 10_000)
    per_user[:celebs] = np.maximum(per_user[:celebs], 50)
    post_author = np.repeat(np.arange(n, dtype=np.int64), per_user)
    post_ms = now_ms - rng.integers(60_000, 14 * DAY_MS, len(post_author))
    post_ids = snowflakes(post_ms)
    order = np.argsort(post_ids)
    return Graph(
        preset=preset,
        seed=seed,
        now_ms=now_ms,
        user_ids=user_ids,
        created_ms=created_ms,
        active=active,
        last_active_ms=last_active_ms,
        follower_idx=follower_idx,
        followee_idx=followee_idx,
        follow_ids=follow_ids,
        post_ids=post_ids[order],
        post_author_idx=post_author[order],
    )


def skew_summary(graph: Graph) -> dict[str, float]:
    """Numbers that say whether the graph looks like a social network."""
    followers = np.sort(graph.follower_counts)[::-1]
    following = graph.following_counts
    top1 = max(1, len(followers) // 100)
    return {
        "users": float(len(graph.user_ids)),
        "follows": float(len(graph.follower_idx)),
        "posts": float(len(graph.post_ids)),
        "mean_following_active": float(following[graph.active].mean()) if graph.active.any() else 0.0,
        "median_followers": float(np.median(followers)),
        "max_followers": float(followers[0]),
        "top1pct_follower_share": float(followers[:top1].sum() / max(1, followers.sum())),
        "celebrities": float(graph.is_celebrity().sum()),
    }
