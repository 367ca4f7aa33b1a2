"""Lakebase: the OAuth token is the password, refreshed before expiry and after a rejection.

The local server trusts every connection, so these tests check what the engine sends (the
password psycopg used) and when it asks the token provider, against the real server.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from cep.errors import StoreError
from cep.history import (
    HistorySettings,
    HistoryStore,
    OAuthToken,
    TokenCache,
    create_history_engine,
)
from tests.history.helpers import make_run


class CountingProvider:
    """Hands out ``token-1``, ``token-2``, ... each valid for ``lifetime``."""

    def __init__(self, lifetime: timedelta) -> None:
        self.lifetime = lifetime
        self.calls = 0

    def __call__(self) -> OAuthToken:
        self.calls += 1
        return OAuthToken(
            value=SecretStr(f"token-{self.calls}"),
            expires_at=datetime.now(UTC) + self.lifetime,
        )


def test_the_cached_token_is_reused_until_it_nears_expiry() -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    calls: list[int] = []

    def provider() -> OAuthToken:
        calls.append(1)
        return OAuthToken(value=SecretStr(f"t{len(calls)}"), expires_at=now[0] + timedelta(hours=1))

    cache = TokenCache(provider, refresh_margin=timedelta(minutes=5), clock=lambda: now[0])
    assert cache.current() == "t1"
    now[0] += timedelta(minutes=54)
    assert cache.current() == "t1"
    now[0] += timedelta(minutes=1, seconds=1)  # 4m59s before expiry: inside the margin
    assert cache.current() == "t2"
    assert cache.refresh() == "t3"
    assert len(calls) == 3


def test_a_token_without_expiry_is_reused_for_a_bounded_time() -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    calls: list[int] = []

    def provider() -> OAuthToken:
        calls.append(1)
        return OAuthToken(value=SecretStr(f"t{len(calls)}"))

    cache = TokenCache(provider, clock=lambda: now[0])
    assert cache.current() == "t1"
    now[0] += timedelta(minutes=20)
    assert cache.current() == "t1"
    now[0] += timedelta(minutes=10)
    assert cache.current() == "t2"


def test_a_failing_provider_raises_store_error_without_the_detail_of_secrets() -> None:
    def provider() -> OAuthToken:
        raise ValueError("OAuth tokens are not available for pat authentication.")

    with pytest.raises(StoreError, match=r"could not get an OAuth token .*ValueError"):
        TokenCache(provider).current()


def test_token_value_is_hidden_in_repr() -> None:
    token = OAuthToken(value=SecretStr("very-secret"))
    assert "very-secret" not in repr(token)


@pytest.fixture
def lakebase_engines() -> Iterator[list[Engine]]:
    engines: list[Engine] = []
    yield engines
    for engine in engines:
        engine.dispose()


def _lakebase(
    server: dict[str, Any], schema: str, provider: CountingProvider, engines: list[Engine],
    *, user: str | None = None,
) -> tuple[HistorySettings, Engine]:
    settings = HistorySettings.from_env(
        {
            "PGHOST": str(server["host"]),
            "PGPORT": str(server["port"]),
            "PGUSER": user or str(server["user"]),
            "PGDATABASE": str(server["dbname"]),
            "PGSSLMODE": "disable",
            "LAKESTREAM_DATABASE_SCHEMA": schema,
        }
    )
    assert settings.backend == "lakebase"
    engine = create_history_engine(settings, token_provider=provider)
    engines.append(engine)
    return settings, engine


def _password_of_new_connection(engine: Engine) -> str:
    engine.pool.dispose()  # force a new connection, hence a do_connect
    with engine.connect() as conn:
        password = conn.connection.dbapi_connection.info.password  # type: ignore[union-attr]
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    return str(password)


@pytest.mark.postgres
def test_lakebase_connections_use_the_token_as_password(
    postgres_server: dict[str, Any], pg_schema: str, lakebase_engines: list[Engine]
) -> None:
    provider = CountingProvider(timedelta(hours=1))
    _, engine = _lakebase(postgres_server, pg_schema, provider, lakebase_engines)
    assert provider.calls == 0  # building the engine needs no token
    assert _password_of_new_connection(engine) == "token-1"
    assert _password_of_new_connection(engine) == "token-1"
    assert provider.calls == 1


@pytest.mark.postgres
def test_a_token_near_expiry_is_replaced_before_the_next_connection(
    postgres_server: dict[str, Any], pg_schema: str, lakebase_engines: list[Engine]
) -> None:
    provider = CountingProvider(timedelta(minutes=2))  # inside the 5-minute refresh margin
    _, engine = _lakebase(postgres_server, pg_schema, provider, lakebase_engines)
    assert _password_of_new_connection(engine) == "token-1"
    assert _password_of_new_connection(engine) == "token-2"
    assert provider.calls == 2


@pytest.mark.postgres
def test_a_rejected_login_fetches_a_new_token_once_and_the_error_hides_it(
    postgres_server: dict[str, Any], pg_schema: str, lakebase_engines: list[Engine]
) -> None:
    provider = CountingProvider(timedelta(hours=1))
    settings, engine = _lakebase(
        postgres_server, pg_schema, provider, lakebase_engines, user="lakestream_no_such_role"
    )
    store = HistoryStore(engine, settings)
    with pytest.raises(StoreError) as caught:
        store.list_runs()
    assert provider.calls == 2  # the token, then a fresh one after the rejection
    message = str(caught.value)
    assert 'role "lakestream_no_such_role" does not exist' in message
    assert "token-1" not in message
    assert "token-2" not in message


@pytest.mark.postgres
def test_a_lakebase_store_records_and_lists_runs(
    postgres_server: dict[str, Any], pg_schema: str, lakebase_engines: list[Engine], tmp_path: Any
) -> None:
    provider = CountingProvider(timedelta(hours=1))
    settings, engine = _lakebase(postgres_server, pg_schema, provider, lakebase_engines)
    store = HistoryStore(engine, settings.model_copy(update={"data_dir": tmp_path}))
    outcome = store.record_run(make_run())
    assert outcome.status == "stored"
    assert [r.id for r in store.list_runs().items] == [outcome.id]
    assert provider.calls == 1
