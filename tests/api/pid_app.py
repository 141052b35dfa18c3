"""An ASGI app that answers every request with the id of the process serving it (tests of
`roost.api.processes`). It fails to import while the file named by PID_APP_FAIL exists."""

from __future__ import annotations

import os

from starlette.types import Receive, Scope, Send

if os.path.exists(os.environ.get("PID_APP_FAIL", "/nonexistent")):
    raise RuntimeError("told to fail")


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = str(os.getpid()).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]}
    )
    await send({"type": "http.response.body", "body": body})
