"""`roost worker` on the command line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from roost.cli import app


def test_worker_refuses_the_embedded_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROOST_REDIS_URL", raising=False)
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2
    assert "ROOST_REDIS_URL" in result.output
