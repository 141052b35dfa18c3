"""The `roost` command line: serve, and the operational commands around it."""

from __future__ import annotations

import typer
import uvicorn

from roost.core.settings import Settings

app = typer.Typer(help="roost: a social feed server.", no_args_is_help=True, add_completion=False)


@app.callback()
def _root() -> None:
    """roost: a social feed server."""


@app.command()
def serve(
    host: str | None = typer.Option(None, help="interface to bind (default ROOST_HOST or 127.0.0.1)"),
    port: int | None = typer.Option(None, help="port to bind (default ROOST_PORT or 8000)"),
    workers: int = typer.Option(1, min=1, help="API processes (production profile)"),
) -> None:
    """Run the HTTP API (embedded profile: also the background workers, in process)."""
    settings = Settings()
    if workers > 1 and settings.is_embedded:
        raise typer.BadParameter("--workers > 1 needs the production profile (ROOST_REDIS_URL)")
    uvicorn.run(
        "roost.api.asgi:app",
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level="info",
        access_log=False,
    )


def main() -> None:
    app()
