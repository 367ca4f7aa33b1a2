"""Fixtures for the history tests: every store test runs on SQLite and on the real PostgreSQL.

PostgreSQL is the server at 127.0.0.1:5432 (trust auth, database ``test``; override with
``LAKESTREAM_TEST_POSTGRES_URL``). Each test gets a schema of its own, named after this
session's random prefix; every such schema is dropped when the session ends. When the server
is unreachable the PostgreSQL tests skip, unless ``LAKESTREAM_REQUIRE_POSTGRES=1`` (set by
.ci/run), which makes it a failure.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import Engine, make_url

from cep.history import HistorySettings, HistoryStore, create_history_engine
from tests.history.helpers import PG_URL

SESSION_PREFIX = f"lakestream_test_{secrets.token_hex(4)}"
_COUNTER = itertools.count(1)


def pg_connect_kwargs() -> dict[str, Any]:
    """psycopg keyword arguments of the test server."""
    url = make_url(PG_URL)
    return {
        "host": url.host or "127.0.0.1",
        "port": url.port or 5432,
        "user": url.username or "postgres",
        "dbname": url.database or "test",
        "connect_timeout": 3,
    }


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[dict[str, Any]]:
    """The reachable test server's connect arguments; drops this session's schemas at the end."""
    kwargs = pg_connect_kwargs()
    try:
        psycopg.connect(**kwargs).close()
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL at {kwargs['host']}:{kwargs['port']} unreachable: {exc}"
        if os.environ.get("LAKESTREAM_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    yield kwargs
    with psycopg.connect(**kwargs, autocommit=True) as conn:
        names = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (SESSION_PREFIX + "%",)
        ).fetchall()
        for (name,) in names:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


@pytest.fixture
def pg_schema(postgres_server: dict[str, Any]) -> str:
    """A fresh schema name for one test (created by the store's migrations)."""
    return f"{SESSION_PREFIX}_{next(_COUNTER)}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgres``: the store tests run on both."""
    return str(request.param)


@pytest.fixture
def settings_factory(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[..., HistorySettings]:
    """Builds settings for this test's database; keyword arguments override fields."""
    schema = request.getfixturevalue("pg_schema") if backend == "postgres" else None

    def build(**overrides: Any) -> HistorySettings:
        base: dict[str, Any] = {"data_dir": tmp_path / "data"}
        if backend == "postgres":
            base["database_url"] = PG_URL
            base["db_schema"] = schema
        base.update(overrides)
        return HistorySettings.model_validate(base)

    return build


@pytest.fixture
def store_factory(
    settings_factory: Callable[..., HistorySettings],
) -> Iterator[Callable[..., HistoryStore]]:
    """Builds stores (each with its own engine) on this test's database; disposes them after."""
    engines: list[Engine] = []

    def build(**overrides: Any) -> HistoryStore:
        settings = settings_factory(**overrides)
        engine = create_history_engine(settings)
        engines.append(engine)
        return HistoryStore(engine, settings)

    yield build
    for engine in engines:
        engine.dispose()


@pytest.fixture
def store(store_factory: Callable[..., HistoryStore]) -> HistoryStore:
    """A store with the default settings on this test's database."""
    return store_factory()
