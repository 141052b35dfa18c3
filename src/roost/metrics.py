"""Prometheus metrics shared by the API and the workers."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

FANOUT_FRESHNESS = Histogram(
    "roost_fanout_freshness_seconds",
    "Time from a post's creation to its insertion into the last follower timeline",
    ["tier"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
TIMELINE_INSERTS = Counter("roost_timeline_inserts_total", "Post ids inserted into home timelines")
# Script calls of fan-out pushes on standalone Redis by path: "appended" above the timelines'
# ceiling, "checked" below it (late or redelivered posts; all of them while the ceiling is ahead).
TIMELINE_PUSH_CALLS = Counter(
    "roost_timeline_push_calls_total", "Fan-out push script calls (1,000 owners each) by path", ["path"]
)
EVENTS_HANDLED = Counter("roost_events_handled_total", "Outbox events handled by consumers", ["topic"])
EVENTS_FAILED = Counter("roost_events_failed_total", "Outbox event handler failures", ["topic"])
