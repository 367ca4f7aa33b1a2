"""HistorySettings.from_env: which database, what may be stored, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cep.errors import StoreError
from cep.history import HistorySettings, resolve_owner

LAKEBASE_ENV = {"PGHOST": "db.example.com", "PGUSER": "app-sp", "PGDATABASE": "lake"}


def test_nothing_configured_selects_sqlite_under_lakestream() -> None:
    settings = HistorySettings.from_env({})
    assert settings.backend == "sqlite"
    assert settings.sqlite_path == Path(".lakestream/history.db")
    assert settings.spool_dir == Path(".lakestream/spool")
    assert settings.store_events is True
    assert settings.retention_days is None
    assert settings.redact_fields == ()


def test_database_url_selects_postgresql_and_wins_over_lakebase_variables() -> None:
    env = {**LAKEBASE_ENV, "LAKESTREAM_DATABASE_URL": "postgresql+psycopg://u:pw@h/db"}
    settings = HistorySettings.from_env(env)
    assert settings.backend == "postgresql"
    assert settings.lakebase is None


def test_lakebase_variables_select_lakebase_with_defaults() -> None:
    settings = HistorySettings.from_env(LAKEBASE_ENV)
    assert settings.backend == "lakebase"
    assert settings.lakebase is not None
    assert (settings.lakebase.host, settings.lakebase.user, settings.lakebase.database) == (
        "db.example.com", "app-sp", "lake",
    )
    assert (settings.lakebase.port, settings.lakebase.sslmode) == (5432, "require")


def test_lakebase_needs_all_three_variables() -> None:
    assert HistorySettings.from_env({"PGHOST": "h", "PGUSER": "u"}).backend == "sqlite"


def test_lakebase_port_and_sslmode_are_read() -> None:
    env = {**LAKEBASE_ENV, "PGPORT": "6543", "PGSSLMODE": "verify-full"}
    lakebase = HistorySettings.from_env(env).lakebase
    assert lakebase is not None
    assert (lakebase.port, lakebase.sslmode) == (6543, "verify-full")


def test_privacy_and_size_variables_are_read() -> None:
    settings = HistorySettings.from_env(
        {
            "LAKESTREAM_REDACT_FIELDS": " card_number, email,,email ",
            "LAKESTREAM_RETENTION_DAYS": "30",
            "LAKESTREAM_STORE_EVENTS": "off",
            "LAKESTREAM_MAX_STORED_BYTES": "50000",
            "LAKESTREAM_DATA_DIR": "/var/lib/lake",
            "LAKESTREAM_DATABASE_SCHEMA": "cep_history",
        }
    )
    assert settings.redact_fields == ("card_number", "email")
    assert settings.retention_days == 30
    assert settings.store_events is False
    assert settings.max_stored_bytes == 50_000
    assert settings.sqlite_path == Path("/var/lib/lake/history.db")
    assert settings.db_schema == "cep_history"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LAKESTREAM_RETENTION_DAYS": "a month"}, "LAKESTREAM_RETENTION_DAYS"),
        ({"LAKESTREAM_STORE_EVENTS": "maybe"}, "LAKESTREAM_STORE_EVENTS"),
        ({**LAKEBASE_ENV, "PGPORT": "x"}, "PGPORT"),
        ({"LAKESTREAM_DATABASE_SCHEMA": "bad;name"}, "schema name"),
        ({"LAKESTREAM_RETENTION_DAYS": "0"}, "retention_days"),
    ],
    ids=["retention", "store-events", "port", "schema", "zero-retention"],
)
def test_bad_values_raise_store_error_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(StoreError, match=named):
        HistorySettings.from_env(env)


def test_repr_hides_the_database_password() -> None:
    settings = HistorySettings.from_env({"LAKESTREAM_DATABASE_URL": "postgresql://u:hunter2@h/d"})
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())


def test_owner_is_the_forwarded_email_inside_databricks_apps() -> None:
    assert resolve_owner({"X-Forwarded-Email": "ana@example.com"}) == "ana@example.com"
    assert resolve_owner({"x-forwarded-email": "bo@example.com", "Host": "x"}) == "bo@example.com"


def test_owner_falls_back_to_the_os_user() -> None:
    import getpass

    assert resolve_owner(None) == getpass.getuser()
    assert resolve_owner({"X-Forwarded-Email": "  "}) == getpass.getuser()
