"""Embedded event sink: the relay hands events straight to the in-process consumers, in order."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from roost.metrics import EVENTS_FAILED
from roost.ports import Event
from roost.workers.context import WorkerContext
from roost.workers.dispatch import dispatch

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


class InlineSink:
    """Runs handlers before the relay marks events sent, so a crash means redelivery, not loss.

    An event whose handlers keep failing is retried MAX_ATTEMPTS times, then logged as dead and
    skipped, so one poison event cannot stall every feed.
    """

    def __init__(self, ctx: WorkerContext) -> None:
        self._ctx = ctx
        self._failures: dict[int, int] = {}

    async def publish(self, events: Sequence[Event]) -> None:
        for event in events:
            try:
                await dispatch(self._ctx, event)
            except Exception:
                EVENTS_FAILED.labels(topic=event.topic).inc()
                attempts = self._failures.get(event.id, 0) + 1
                if attempts < MAX_ATTEMPTS:
                    self._failures[event.id] = attempts
                    raise
                self._failures.pop(event.id, None)
                log.exception("dead event %s (%s) after %d attempts", event.id, event.topic, attempts)
            else:
                self._failures.pop(event.id, None)
