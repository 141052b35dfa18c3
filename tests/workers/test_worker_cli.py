"""`roost worker` on the command line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from roost.cli import _event_loop_factory, app


def test_worker_refuses_the_embedded_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROOST_REDIS_URL", raising=False)
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2
    assert "ROOST_REDIS_URL" in result.output


def test_the_worker_runs_on_uvloop_where_it_is_installed() -> None:
    uvloop = pytest.importorskip("uvloop")
    assert _event_loop_factory() is uvloop.new_event_loop
