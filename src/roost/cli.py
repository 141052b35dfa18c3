"""The `roost` command line: serve, and the operational commands around it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import prometheus_client
import redis.asyncio
import typer
import uvicorn
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from roost.adapters.redis.client import RedisClient
from roost.adapters.redis.retired import remove_retired_keys
from roost.adapters.sql import migrate as migrations
from roost.adapters.sql.database import Database
from roost.api.processes import serve_processes
from roost.bench.cli import bench_app
from roost.core.errors import Unavailable
from roost.core.settings import Settings
from roost.runtime import Runtime, connect_redis
from roost.workers.consumer import default_consumer_name, run_worker
from roost.workers.stream_relay import stream_relay

app = typer.Typer(help="roost: a social feed server.", no_args_is_help=True, add_completion=False)
app.add_typer(bench_app, name="bench")
ASGI_APP = "roost.api.asgi:app"


@app.callback()
def _root() -> None:
    """roost: a social feed server."""


@app.command()
def serve(
    host: str | None = typer.Option(None, help="interface to bind (default ROOST_HOST or 127.0.0.1)"),
    port: int | None = typer.Option(None, help="port to bind (default ROOST_PORT or 8000)"),
    workers: int = typer.Option(
        1, min=1, help="API processes (production profile); each listens on the port with SO_REUSEPORT"
    ),
) -> None:
    """Run the HTTP API (embedded profile: also the background workers, in process)."""
    settings = Settings()
    if workers > 1 and settings.is_embedded:
        raise typer.BadParameter("--workers > 1 needs the production profile (ROOST_REDIS_URL)")
    if not settings.is_sqlite:
        problem = asyncio.run(_schema_problem(settings))
        if problem is not None:
            typer.echo(f"roost: {problem}", err=True)
            raise typer.Exit(1)
    host, port = host or settings.host, port or settings.port
    if workers == 1:
        uvicorn.run(ASGI_APP, host=host, port=port, log_level="info", access_log=False)
        return
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    try:
        code = serve_processes(ASGI_APP, host=host, port=port, processes=workers)
    except OSError as e:
        typer.echo(f"roost: cannot listen on {host}:{port} ({e.strerror or e})", err=True)
        raise typer.Exit(1) from e
    if code:
        raise typer.Exit(code)


async def _schema_problem(settings: Settings) -> str | None:
    """Why serving must not start (unreachable, unmigrated or outdated database), or None."""
    db = Database(settings.sqlalchemy_url, pool_size=1, max_overflow=0)
    try:
        await migrations.require_current(db)
    except Unavailable as e:
        return f"{e.message}; check ROOST_DATABASE_URL"
    except migrations.SchemaNotCurrent as e:
        return str(e)
    finally:
        await db.dispose()
    return None


@app.command()
def migrate() -> None:
    """Apply pending database migrations (the embedded profile also migrates itself on start), and
    remove Redis keys of formats no version reads any more."""
    settings = Settings()
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        status = asyncio.run(_migrate(settings))
    except Unavailable as e:
        typer.echo(f"roost: {e.message}; check ROOST_DATABASE_URL", err=True)
        raise typer.Exit(1) from e
    typer.echo(status.describe())
    if settings.redis_url is not None:
        try:
            removed = asyncio.run(_remove_retired_keys(settings))
        except (RedisError, OSError) as e:
            typer.echo(f"roost: Redis unreachable ({e}); check ROOST_REDIS_URL", err=True)
            raise typer.Exit(1) from e
        typer.echo(f"Redis: removed {removed} keys of retired formats under {settings.redis_prefix}:")


async def _migrate(settings: Settings) -> migrations.SchemaStatus:
    db = Database(settings.sqlalchemy_url, pool_size=1, max_overflow=0)
    try:
        return await migrations.upgrade(db)
    finally:
        await db.dispose()


async def _remove_retired_keys(settings: Settings) -> int:
    client = connect_redis(settings.redis_url or "", cluster=settings.redis_cluster)
    try:
        return await remove_retired_keys(client, settings.redis_prefix)
    finally:
        await client.aclose()


@app.command()
def worker(
    name: str | None = typer.Option(None, help="consumer name, unique per process (default host-pid)"),
    relay: bool = typer.Option(True, help="also relay the outbox to the event stream"),
    metrics_port: int = typer.Option(
        0, min=0, max=65535, help="serve Prometheus /metrics (fan-out freshness, inserts) on this port"
    ),
) -> None:
    """Consume the event stream: fan-out and the other consumers (production profile)."""
    settings = Settings()
    if settings.is_embedded:
        raise typer.BadParameter("roost worker needs ROOST_REDIS_URL; `roost serve` runs embedded workers")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if metrics_port:
        prometheus_client.start_http_server(metrics_port, addr=settings.host)
    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        runner.run(_work(settings, name or default_consumer_name(), relay=relay))


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (uvicorn[standard] brings it, and `roost serve`
    runs on it), else asyncio's. A worker spends most of its CPU handling socket I/O and its loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        return None
    return uvloop.new_event_loop


async def _work(settings: Settings, name: str, *, relay: bool) -> None:
    runtime = Runtime.build(settings, relay_factory=stream_relay)
    await runtime.start(background=False)
    # The consumer's own client: no socket timeout, its reads block (members are binary, not decoded).
    # On a cluster the reads do not block, but the client must route by slot.
    url = settings.redis_url or ""
    client: RedisClient = (
        RedisCluster.from_url(url) if settings.redis_cluster else redis.asyncio.Redis.from_url(url)
    )
    try:
        await run_worker(
            client, runtime.workers, settings, consumer_name=name, relay=runtime.relay if relay else None
        )
    finally:
        await client.aclose()
        await runtime.stop()


def main() -> None:
    app()
