"""The history engine factory: one SQLAlchemy engine per settings, SQLite or PostgreSQL/Lakebase.

- SQLite: WAL journal, a 30 s busy timeout, and SQLAlchemy (not the ``sqlite3`` module) emits
  ``BEGIN`` so that migrations and writes are real transactions; a connection given the
  execution option ``lakestream_sqlite_begin="IMMEDIATE"`` takes the write lock up front (two
  app sessions writing at once then wait for each other instead of failing). The folder of the
  database file is created on first connect.
- PostgreSQL (``postgresql+psycopg://``): pre-ping, a connect timeout, and ``search_path`` set to
  ``settings.db_schema`` when one is configured.
- Lakebase: PostgreSQL whose password is an OAuth token. A ``do_connect`` hook puts the current
  token of a :class:`~cep.history.lakebase.TokenCache` in each new connection, and when the
  server rejects the credentials it refreshes the token and tries once more.

Error messages built by :func:`describe_error` name the database without its password and
scrub the current token.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import weakref
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

from cep.errors import StoreError
from cep.history.lakebase import TokenCache, TokenProvider, databricks_token_provider
from cep.history.settings import HistorySettings

__all__ = ["SQLITE_BEGIN_OPTION", "create_history_engine", "describe_error", "engine_secrets"]

SQLITE_BEGIN_OPTION = "lakestream_sqlite_begin"
"""Execution option naming the SQLite ``BEGIN`` mode (``DEFERRED`` unless set)."""

CONNECT_TIMEOUT_S = 10
SQLITE_BUSY_TIMEOUT_MS = 30_000

_AUTH_FAILURE = re.compile(
    r"authentication failed|invalid authorization|role \".*\" does not exist|"
    r"invalid (?:oauth )?token|token (?:is )?expired",
    re.IGNORECASE,
)
_TOKENS: weakref.WeakKeyDictionary[Engine, TokenCache] = weakref.WeakKeyDictionary()


def _set_wal(cursor: Any) -> None:
    """Switch a SQLite database to WAL. The switch needs the database to itself, and while
    another connection is writing to it SQLite answers "database is locked" at once instead of
    waiting out the busy timeout (several stores creating one file at once): so wait here, up to
    the same timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def create_history_engine(
    settings: HistorySettings, *, token_provider: TokenProvider | None = None
) -> Engine:
    """Build the engine the settings select (no connection is made yet).

    Args:
        settings: read once at the edge with ``HistorySettings.from_env``.
        token_provider: for Lakebase, fetches an OAuth token (default: databricks-sdk's
            workspace token, see :func:`~cep.history.lakebase.databricks_token_provider`).

    Raises:
        StoreError: the URL cannot be parsed or names a database driver that is not installed.
    """
    backend = settings.backend
    if backend == "lakebase":
        assert settings.lakebase is not None
        lb = settings.lakebase
        url = URL.create(
            "postgresql+psycopg",
            username=lb.user,
            host=lb.host,
            port=lb.port,
            database=lb.database,
            query={"sslmode": lb.sslmode},
        )
        engine = _postgres_engine(url, settings.db_schema)
        tokens = TokenCache(token_provider or databricks_token_provider())
        _TOKENS[engine] = tokens
        _inject_tokens(engine, tokens)
        return engine
    if settings.database_url is not None:
        text = settings.database_url.get_secret_value()
        try:
            url = make_url(text)
        except sa.exc.ArgumentError:
            raise StoreError(
                "LAKESTREAM_DATABASE_URL is not a valid SQLAlchemy URL; expected e.g. "
                "postgresql+psycopg://user@host:5432/db or sqlite:///path/history.db"
            ) from None
    else:
        url = URL.create("sqlite", database=str(settings.sqlite_path))
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    if url.get_backend_name() in ("postgresql", "postgres"):
        if url.drivername != "postgresql+psycopg":
            url = url.set(drivername="postgresql+psycopg")
        return _postgres_engine(url, settings.db_schema)
    raise StoreError(
        f"history store: database {url.get_backend_name()!r} is not supported; "
        "use sqlite:///... or postgresql+psycopg://..."
    )


def engine_secrets(engine: Engine) -> tuple[str, ...]:
    """Secrets an error message about this engine must never contain (password, token)."""
    secrets = [engine.url.password] if engine.url.password else []
    tokens = _TOKENS.get(engine)
    if tokens is not None:
        secrets.extend(tokens.secrets())
    return tuple(str(s) for s in secrets if s)


def describe_error(exc: BaseException, engine: Engine, action: str) -> str:
    """A one-line message for a failed database call: what failed, where, and the driver's reason.

    The SQL text and parameters are left out, and so are the password and the current token.
    """
    where = engine.url.render_as_string(hide_password=True)
    orig = getattr(exc, "orig", None)
    reason = str(orig if orig is not None else exc).strip()
    reason = reason.split("\n[SQL:")[0].split("\n(Background on")[0]
    reason = " ".join(reason.split()) or type(exc).__name__
    for secret in engine_secrets(engine):
        reason = reason.replace(secret, "***")
        where = where.replace(secret, "***")
    if len(reason) > 300:
        reason = reason[:300] + "..."
    return f"history store ({where}): could not {action}: {reason}"


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    kwargs: dict[str, Any] = {}
    if in_memory:
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    engine = sa.create_engine(url, json_serializer=_to_json, **kwargs)

    @event.listens_for(engine, "do_connect")
    def _make_folder(
        dialect: Any, conn_rec: Any, cargs: list[Any], cparams: dict[str, Any]
    ) -> None:
        if not in_memory:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN (see _begin)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if not in_memory:
                _set_wal(cursor)
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
            raise StoreError(f"unknown SQLite BEGIN mode {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _postgres_engine(url: URL, schema: str | None) -> Engine:
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    if schema is not None:
        connect_args["options"] = f"-c search_path={schema}"
    return sa.create_engine(
        url, pool_pre_ping=True, connect_args=connect_args, json_serializer=_to_json
    )


def _to_json(value: Any) -> str:
    """JSON text of a stored document; values JSON lacks (Decimal, bytes, time) become text."""
    return json.dumps(value, ensure_ascii=False, default=str)


def _inject_tokens(engine: Engine, tokens: TokenCache) -> None:
    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, conn_rec: Any, cargs: list[Any], cparams: dict[str, Any]) -> Any:
        cparams["password"] = tokens.current()
        try:
            return dialect.connect(*cargs, **cparams)
        except dialect.loaded_dbapi.OperationalError as exc:
            if not _AUTH_FAILURE.search(str(exc)):
                raise
        cparams["password"] = tokens.refresh()
        return dialect.connect(*cargs, **cparams)
