"""Stopping background loops without hanging shutdown."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

# Longest a stopping loop may take to finish its current step.
STOP_SECONDS = 5.0


async def stop_task(task: asyncio.Task[None], *, within: float = STOP_SECONDS) -> None:
    """Cancel a background loop and wait for it, at most `within` seconds.

    redis-py can swallow a cancellation that lands mid-command, so a loop must also check a stop
    flag of its own (set before this is called) to end; this bound keeps a process from hanging in
    shutdown if one does not (seen: API processes left running after `roost serve` was stopped).
    """
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=within)
    if not done:
        log.warning("background task %s did not stop within %.0f s; left behind", task.get_name(), within)
    elif not task.cancelled() and task.exception() is not None:
        log.error("background task %s failed", task.get_name(), exc_info=task.exception())
