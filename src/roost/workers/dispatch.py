"""Which consumers handle which event topics, and handing one event to them."""

from __future__ import annotations

import logging

from roost.metrics import EVENTS_HANDLED
from roost.ports import Event
from roost.workers import fanout, notifications, realtime
from roost.workers.context import Handler, WorkerContext

log = logging.getLogger(__name__)

HANDLERS: dict[str, list[Handler]] = {
    "post.created": [fanout.on_post_created, notifications.on_post_created, realtime.on_post_created],
    "post.deleted": [fanout.on_post_deleted, notifications.on_post_deleted, realtime.on_post_deleted],
    "follow.created": [fanout.on_follow_created, notifications.on_follow_created],
    "follow.removed": [fanout.on_follow_removed],
    "follow.requested": [notifications.on_follow_requested],
    "follow_request.rejected": [notifications.on_follow_request_rejected],
    "like.created": [notifications.on_like_created],
    "like.removed": [notifications.on_like_removed],
}


async def dispatch(ctx: WorkerContext, event: Event) -> None:
    """Run every handler of the event's topic; raises if one fails, so the event is retried."""
    for handler in HANDLERS.get(event.topic, ()):
        await handler(ctx, event)
    EVENTS_HANDLED.labels(topic=event.topic).inc()
