"""The FastAPI application: routers, error handlers, and the runtime's lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from roost import __version__
from roost.api.errors import install_error_handlers
from roost.api.fast_lane import FeedFastLane
from roost.api.routes import auth, engagement, feed, health, notifications, posts, requests, stream, users
from roost.core.settings import Settings
from roost.runtime import Runtime


class RoostApp(FastAPI):
    """FastAPI with the home feed's fast lane in front of its middleware (see `api.fast_lane`)."""

    def __init__(self, runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fast_lane = FeedFastLane(super().__call__, runtime)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._fast_lane(scope, receive, send)


def create_app(runtime: Runtime | None = None, *, settings: Settings | None = None) -> FastAPI:
    """An app around a runtime; when the app owns it (no runtime given), lifespan starts and stops it."""
    owned = runtime is None
    rt = runtime or Runtime.build(settings or Settings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if owned:
            await rt.start()
        try:
            with stream.closing_streams_on_exit(rt):
                yield
        finally:
            if owned:
                await rt.stop()

    app = RoostApp(
        rt,
        title="roost",
        version=__version__,
        description="A social feed server with a hybrid push/pull home timeline.",
        lifespan=lifespan,
    )
    app.state.runtime = rt
    install_error_handlers(app)
    for module in (health, auth, users, posts, feed, engagement, notifications, requests, stream):
        app.include_router(module.router)
    return app
