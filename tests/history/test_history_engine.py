"""The engine factory: which driver each URL gets, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from cep.errors import StoreError
from cep.history import HistorySettings, create_history_engine


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u:pw@h:6543/db", "postgresql+psycopg://u:***@h:6543/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x/history.db", "sqlite:///x/history.db"),
    ],
    ids=["postgresql", "postgres-alias", "other-driver", "sqlite"],
)
def test_urls_get_the_installed_driver(url: str, expected: str) -> None:
    engine = create_history_engine(HistorySettings(database_url=url))
    assert str(engine.url) == expected
    engine.dispose()


def test_the_default_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    engine = create_history_engine(HistorySettings(data_dir=tmp_path / "d"))
    assert engine.url.database == str(tmp_path / "d" / "history.db")
    assert not (tmp_path / "d").exists()  # nothing is touched before the first connection
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "database 'mysql' is not supported"),
        ("not a url", "not a valid SQLAlchemy URL"),
    ],
)
def test_unsupported_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        create_history_engine(HistorySettings(database_url=url))
