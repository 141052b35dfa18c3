"""Settings: `ROOST_*` variables, profile detection, database URLs and the signing secret."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from roost.core.settings import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ROOST_"):
            monkeypatch.delenv(name)


def test_defaults_are_the_embedded_profile(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.is_embedded
    assert settings.is_sqlite
    assert settings.sqlalchemy_url == f"sqlite+aiosqlite:///{(tmp_path / 'roost.db').resolve()}"
    assert settings.celebrity_threshold == 10_000
    assert settings.timeline_cap == 800
    assert settings.demotion_threshold == 9_000


def test_environment_variables_with_the_prefix_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOST_CELEBRITY_THRESHOLD", "50")
    monkeypatch.setenv("ROOST_FANOUT_STRATEGY", "pull")
    monkeypatch.setenv("ROOST_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("CELEBRITY_THRESHOLD", "7")  # no prefix: ignored
    settings = Settings()
    assert settings.celebrity_threshold == 50
    assert settings.fanout_strategy == "pull"
    assert not settings.is_embedded


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h:5432/db", "postgresql+asyncpg://u@h:5432/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_database_urls_get_an_async_driver(url: str, expected: str) -> None:
    assert Settings(database_url=url).sqlalchemy_url == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("celebrity_threshold", 0),
        ("celebrity_hysteresis", 1.0),
        ("timeline_cap", 0),
        ("port", 70000),
        ("worker_id", 1024),
        ("fanout_strategy", "sideways"),
        ("access_token_ttl", 5),
    ],
)
def test_out_of_range_values_are_refused(name: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({name: value})


def test_embedded_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path / "data").resolved_secret_key()
    again = Settings(data_dir=tmp_path / "data").resolved_secret_key()
    assert first == again
    assert len(first) >= 32
    mode = stat.S_IMODE((tmp_path / "data" / "secret_key").stat().st_mode)
    assert mode == 0o600


def test_an_explicit_secret_wins(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, secret_key="given").resolved_secret_key() == "given"
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"redis_url": "redis://127.0.0.1:6379/0"},
        {"database_url": "postgresql://postgres@127.0.0.1/roost"},
    ],
)
def test_production_refuses_to_run_without_a_secret(tmp_path: Path, overrides: dict[str, str]) -> None:
    with pytest.raises(RuntimeError, match="ROOST_SECRET_KEY"):
        Settings.model_validate({"data_dir": tmp_path, **overrides}).resolved_secret_key()
