"""Live updates: the viewer's feed and notification events over Server-Sent Events or a WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from types import FrameType
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from roost.api.deps import RuntimeDep, Viewer
from roost.core.errors import InvalidRequest, RoostError, Unauthorized, Unavailable
from roost.ports import LiveStream, RealtimeHub, StreamClosed, StreamEvent
from roost.runtime import Runtime

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/stream", tags=["stream"])

HEARTBEAT_SECONDS = 15.0
# A WebSocket client that authenticates by its first message must send it this soon.
AUTH_SECONDS = 10.0
# EventSource waits this long before reconnecting (it then sends Last-Event-ID).
RETRY_MS = 2000


def hub_of(runtime: Runtime) -> RealtimeHub:
    if runtime.workers.realtime is None:
        raise Unavailable("live updates are not available on this server")
    return runtime.workers.realtime.hub


def parse_event_id(raw: str | None) -> int | None:
    """A resume id (Last-Event-ID / lastEventId): a decimal sequence id, or nothing."""
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise InvalidRequest("Last-Event-ID must be the decimal id of an event of this stream")
    return int(raw)


async def live_events(
    stream: LiveStream, *, heartbeat: float = HEARTBEAT_SECONDS
) -> AsyncIterator[StreamEvent | None]:
    """The stream's events, and None whenever a heartbeat is due (also while events keep flowing).

    Ends when the server closes the stream (slow consumer, shutdown).
    """
    loop = asyncio.get_running_loop()
    due = loop.time() + heartbeat
    while True:
        now = loop.time()
        try:
            if now >= due:
                # Keeps the user present, and catches up on anything the live path dropped.
                await stream.heartbeat()
                due = now + heartbeat
                yield None
                continue
            event = await stream.next(due - now)
        except StreamClosed:
            return
        if event is not None:
            yield event


def sse_frame(event: StreamEvent) -> bytes:
    data = orjson.dumps(event.data).decode()
    return f"id: {event.id}\nevent: {event.event}\ndata: {data}\n\n".encode()


def ws_message(event: StreamEvent | None) -> dict[str, Any]:
    if event is None:
        return {"event": "heartbeat", "id": None, "data": None}
    return {"event": event.event, "id": str(event.id), "data": event.data}


async def _sse_body(stream: LiveStream, heartbeat: float) -> AsyncIterator[bytes]:
    yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
    async for event in live_events(stream, heartbeat=heartbeat):
        yield b": heartbeat\n\n" if event is None else sse_frame(event)


class EventStreamResponse(StreamingResponse):
    """`text/event-stream` of a live stream, released however the response ends.

    The body generator alone would not do: it never runs when the client leaves before the first
    byte, and a disconnect may leave it suspended; the stream would keep counting against the limit.
    """

    def __init__(self, stream: LiveStream) -> None:
        super().__init__(
            _sse_body(stream, HEARTBEAT_SECONDS),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._stream.aclose()


@router.get(
    "",
    status_code=200,  # the response class takes no default status, which OpenAPI generation needs
    response_class=EventStreamResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "an endless event stream"}},
)
async def sse(
    viewer: Viewer,
    runtime: RuntimeDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    resume: Annotated[str | None, Query(alias="lastEventId", max_length=40)] = None,
) -> EventStreamResponse:
    """`feed.post`, `feed.delete`, `notification` (and `reset`: refetch) events, each with an `id:`."""
    after = parse_event_id(last_event_id if last_event_id is not None else resume)
    stream = await hub_of(runtime).open(viewer, last_event_id=after)
    return EventStreamResponse(stream)


@router.websocket("/ws")
async def websocket_stream(websocket: WebSocket) -> None:
    """The same events as JSON `{event, id, data}`; auth by `?accessToken=` or a first message
    `{"accessToken": ..., "lastEventId": ...}`; resume by `?lastEventId=` or that message."""
    runtime: Runtime = websocket.app.state.runtime
    await websocket.accept()
    try:
        viewer, after = await _authenticate(websocket, runtime)
        stream = await hub_of(runtime).open(viewer, last_event_id=after)
    except RoostError as e:
        await _refuse(websocket, e)
        return
    except WebSocketDisconnect:
        return
    await _serve_websocket(websocket, stream)


async def _authenticate(websocket: WebSocket, runtime: Runtime) -> tuple[int, int | None]:
    token = websocket.query_params.get("accessToken")
    resume = websocket.query_params.get("lastEventId")
    if token is None:
        try:
            async with asyncio.timeout(AUTH_SECONDS):
                first = await websocket.receive_text()
        except TimeoutError:
            raise Unauthorized('send {"accessToken": ...} first, or connect with ?accessToken=') from None
        try:
            body = orjson.loads(first)
        except orjson.JSONDecodeError:
            raise InvalidRequest("the first message must be a JSON object") from None
        if not isinstance(body, dict) or not isinstance(body.get("accessToken"), str):
            raise Unauthorized("the first message must carry accessToken")
        token = body["accessToken"]
        raw = body.get("lastEventId", resume)
        resume = str(raw) if raw is not None else None
    return runtime.tokens.user_id(token), parse_event_id(resume)


async def _refuse(websocket: WebSocket, error: RoostError) -> None:
    """The API's error shape as a last message, then a 4xxx close code mirroring the HTTP status."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await websocket.send_json(
            {"event": "error", "id": None, "data": {"error": {"code": error.code, "message": error.message}}}
        )
        await websocket.close(code=4000 + error.status, reason=error.code)


async def _serve_websocket(websocket: WebSocket, stream: LiveStream) -> None:
    async def pump() -> None:
        async for event in live_events(stream, heartbeat=HEARTBEAT_SECONDS):
            await websocket.send_json(ws_message(event))

    async def drain_client() -> None:
        # Client messages carry nothing after auth; reading is how a disconnect is noticed.
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    sender = asyncio.create_task(pump())
    receiver = asyncio.create_task(drain_client())
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, receiver):
            task.cancel()
        for task in (sender, receiver):
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, OSError, RuntimeError):
                await task
        reason = getattr(stream, "closed", None)
        await stream.aclose()
    if sender.done() and not sender.cancelled() and sender.exception() is None:
        # The server ended the stream: 1001 on shutdown, 1008 for a consumer that fell behind.
        code = 1001 if reason == "server shutting down" else 1008
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await websocket.close(code=code, reason=str(reason or ""))


@contextlib.contextmanager
def closing_streams_on_exit(runtime: Runtime) -> Iterator[None]:
    """Close live streams as soon as the server is told to stop.

    uvicorn waits for open responses to finish before the lifespan shutdown, and an event stream
    never finishes by itself, so the hub's streams are closed from the exit signal, before the
    previous handler (uvicorn's) runs. Only Python-level handlers are wrapped (never SIG_DFL).
    """
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    previous: dict[int, Callable[[int, FrameType | None], Any]] = {}

    def close_streams() -> None:
        realtime = runtime.workers.realtime
        if realtime is not None:
            task = loop.create_task(realtime.hub.close())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(close_streams)
        previous[signum](signum, frame)

    with contextlib.suppress(ValueError):  # not the main thread: nothing to hook
        for sig in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(sig)
            if callable(handler):
                previous[sig] = handler
                signal.signal(sig, on_signal)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            with contextlib.suppress(ValueError):
                signal.signal(signum, handler)
