"""The one settings class: every knob of the server, read from `ROOST_*` environment variables."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

FanoutStrategy = Literal["hybrid", "push", "pull"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROOST_", extra="ignore")

    # Where the embedded profile keeps its SQLite database, secret key and media.
    data_dir: Path = Path("./roost-data")
    # SQLAlchemy URL of the database; unset means a SQLite file in data_dir (embedded profile).
    database_url: str | None = None
    # Redis URL; unset means timelines, caches and events live in-process (embedded profile).
    redis_url: str | None = None
    # Prefix of every Redis key, so several deployments (or test runs) can share one Redis.
    redis_prefix: str = "roost"
    # Redis is a Cluster (redis_url names one node): a cluster client, one fan-out script call per
    # follower and one stream read per partition (their keys live in many slots).
    redis_cluster: bool = False
    # Secret for signing tokens; embedded: generated once into data_dir, production: required.
    secret_key: str | None = None
    # Authors with at least this many followers are pulled at read time instead of pushed.
    celebrity_threshold: int = Field(default=10_000, ge=1)
    # A celebrity falls back to push only below threshold * (1 - hysteresis), so tiers do not flap.
    celebrity_hysteresis: float = Field(default=0.1, ge=0.0, lt=1.0)
    # How many post ids a materialized home timeline keeps; older pages come from the database.
    timeline_cap: int = Field(default=800, ge=1)
    # Followers not seen for this many days get no pushes; their timeline is rebuilt when they return.
    inactive_days: int = Field(default=30, ge=1)
    # Fan-out strategy: hybrid (threshold), push (everyone pushed) or pull (nobody pushed); for benchmarks.
    fanout_strategy: FanoutStrategy = "hybrid"
    # Viewer graphs (followees, tiers, hidden accounts) each process keeps for feed reads, reused
    # until the viewer follows, blocks or mutes, or a tier changes; 0 reads them on every page.
    graph_cache_size: int = Field(default=10_000, ge=0)
    # Posts whose immutable fields (content, media, links) each process keeps for hydration.
    post_cache_size: int = Field(default=100_000, ge=0)
    # Followers handled per fan-out batch (one page query and one Redis round trip per batch).
    fanout_batch_size: int = Field(default=5000, ge=1)
    # Lifetime of access tokens, in seconds.
    access_token_ttl: int = Field(default=7 * 24 * 3600, ge=60)
    # Interface and port `roost serve` binds to.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Connections each of a process's two database pools keeps open once opened (production
    # profile); they are opened as concurrent requests need them.
    db_pool_size: int = Field(default=20, ge=1)
    # Extra connections a pool may open under bursts, closed as soon as they are returned: each
    # costs PostgreSQL a new backend and the process its statements prepared again, so the default
    # is none (at 10 + 10, one API process under load opened 8 connections a second).
    db_max_overflow: int = Field(default=0, ge=0)
    # Number of the worker in the id layout (0-1023); give each process its own in production.
    worker_id: int | None = Field(default=None, ge=0, le=1023)
    # Redis streams the event stream is split into (by user id); fixed once events flow.
    stream_partitions: int = Field(default=16, ge=1, le=1024)
    # Approximate entries kept per partition stream; must exceed the worst consumer lag.
    stream_maxlen: int = Field(default=100_000, ge=1000)
    # Milliseconds a delivered event may stay unacknowledged before another worker claims it.
    claim_idle_ms: int = Field(default=30_000, ge=1)
    # Deliveries of a failing event before it moves to the dead-letter stream.
    max_delivery_attempts: int = Field(default=5, ge=1)

    @property
    def is_embedded(self) -> bool:
        return self.redis_url is None

    @property
    def sqlalchemy_url(self) -> str:
        """The async driver URL for the configured database."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'roost.db').resolve()}"
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
        if url.startswith(("postgresql://", "postgres://")):
            return "postgresql+asyncpg://" + url.split("://", 1)[1]
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    def resolved_secret_key(self) -> str:
        """The signing secret; embedded profile generates and keeps one, production must set it."""
        if self.secret_key:
            return self.secret_key
        if not self.is_embedded or not self.is_sqlite:
            raise RuntimeError("ROOST_SECRET_KEY must be set outside the embedded profile")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        self.secret_key = path.read_text().strip()
        return self.secret_key

    @property
    def demotion_threshold(self) -> int:
        """Follower count below which a celebrity goes back to push."""
        return int(self.celebrity_threshold * (1.0 - self.celebrity_hysteresis))
