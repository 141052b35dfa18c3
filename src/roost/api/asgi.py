"""The ASGI entry point used by `roost serve` (settings from the environment)."""

from __future__ import annotations

from roost.api.app import create_app

app = create_app()
