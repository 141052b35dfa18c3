"""The ASGI entry point used by `roost serve` (settings from the environment)."""

from __future__ import annotations

import gc

from roost.api.app import create_app

# A feed page allocates thousands of short-lived objects, so with CPython's default threshold
# (700) the young generation is collected several times per request, each pass also walking the
# survivors (warm pages in process: 5-10 % of their CPU; see BENCHMARKS.md).
YOUNG_GC_THRESHOLD = 10_000

app = create_app()

# What importing created (modules, tables, schemas) lives as long as the process: keep it out of
# every later full collection.
gc.freeze()
gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])
