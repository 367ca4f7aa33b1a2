"""History settings: where test runs are stored and what may be stored, read once from the environment.

Precedence of the database choice (first that applies wins):

1. ``LAKESTREAM_DATABASE_URL``: any SQLAlchemy URL (PostgreSQL as ``postgresql+psycopg://...``).
2. Databricks Lakebase: ``PGHOST``, ``PGUSER`` and ``PGDATABASE`` are all set (``PGPORT`` defaults
   to 5432, ``PGSSLMODE`` to ``require``); the password is an OAuth token (:mod:`.lakebase`).
3. A SQLite file ``history.db`` under the data directory (``.lakestream/`` by default).

Other variables: ``LAKESTREAM_DATA_DIR`` (SQLite file and spool, default ``.lakestream``),
``LAKESTREAM_DATABASE_SCHEMA`` (PostgreSQL schema for the tables, created when missing),
``LAKESTREAM_REDACT_FIELDS`` (comma-separated event fields, e.g. ``card_number,email``),
``LAKESTREAM_RETENTION_DAYS`` (empty: keep forever), ``LAKESTREAM_STORE_EVENTS`` (``1``/``0``:
whether raw event payloads are stored for re-runs) and ``LAKESTREAM_MAX_STORED_BYTES`` (bound on
each stored JSON document: matches, explanations, events).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from cep.errors import StoreError

__all__ = ["DEFAULT_MAX_STORED_BYTES", "Backend", "HistorySettings", "LakebaseSettings"]

DEFAULT_MAX_STORED_BYTES = 1_000_000
"""Default bound, in bytes of JSON text, on each stored document (matches, explanations, events)."""

Backend = Literal["sqlite", "postgresql", "lakebase"]

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class LakebaseSettings(BaseModel):
    """Connection facts of a Databricks Lakebase (PostgreSQL) database; the password is a token.

    Attributes:
        host: ``PGHOST``.
        user: ``PGUSER`` (inside a Databricks App: the app's service principal id).
        database: ``PGDATABASE``.
        port: ``PGPORT``.
        sslmode: ``PGSSLMODE`` (``require`` unless told otherwise).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(min_length=1)
    user: str = Field(min_length=1)
    database: str = Field(min_length=1)
    port: int = Field(default=5432, ge=1, le=65535)
    sslmode: str = "require"


class HistorySettings(BaseModel):
    """Everything the history store needs to know, fixed for the life of the app.

    Attributes:
        database_url: an explicit SQLAlchemy URL (hidden in ``repr``; it may hold a password).
        lakebase: Lakebase connection facts, when the ``PG*`` variables are present.
        db_schema: PostgreSQL schema holding the tables (``None``: the connection's default).
        data_dir: folder of the default SQLite file and of the spool.
        redact_fields: event fields replaced by pseudonyms before anything is stored.
        retention_days: runs older than this are purged by ``purge_expired`` (``None``: never).
        store_events: whether raw event payloads are stored (needed to re-run a stored run).
        max_stored_bytes: bound on each stored JSON document.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: SecretStr | None = None
    lakebase: LakebaseSettings | None = None
    db_schema: str | None = None
    data_dir: Path = Path(".lakestream")
    redact_fields: tuple[str, ...] = ()
    retention_days: int | None = Field(default=None, ge=1)
    store_events: bool = True
    max_stored_bytes: int = Field(default=DEFAULT_MAX_STORED_BYTES, ge=1_000)

    @field_validator("db_schema")
    @classmethod
    def _check_schema(cls, value: str | None) -> str | None:
        if value is not None and not _SCHEMA_NAME.match(value):
            raise ValueError(
                f"schema name {value!r} must be a plain SQL identifier (letters, digits, _)"
            )
        return value

    @field_validator("redact_fields")
    @classmethod
    def _clean_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.strip() for f in value if f.strip()))

    @property
    def backend(self) -> Backend:
        """Which database these settings select: ``sqlite``, ``postgresql`` or ``lakebase``."""
        if self.database_url is not None:
            url = self.database_url.get_secret_value()
            return "sqlite" if url.startswith("sqlite") else "postgresql"
        return "lakebase" if self.lakebase is not None else "sqlite"

    @property
    def sqlite_path(self) -> Path:
        """The default SQLite file (used when no URL and no Lakebase variables are set)."""
        return self.data_dir / "history.db"

    @property
    def spool_dir(self) -> Path:
        """Folder of the spool file that keeps runs while the database is unreachable."""
        return self.data_dir / "spool"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> HistorySettings:
        """Read the settings from environment variables (see the module docstring).

        Args:
            environ: usually ``os.environ``; read once at the edge (``ui/`` or the CLI).

        Raises:
            StoreError: a variable holds a value that cannot be used; the message names it.

        >>> HistorySettings.from_env({}).backend
        'sqlite'
        >>> env = {"PGHOST": "h", "PGUSER": "u", "PGDATABASE": "d"}
        >>> HistorySettings.from_env(env).lakebase.sslmode
        'require'
        """
        url = environ.get("LAKESTREAM_DATABASE_URL", "").strip()
        lakebase = None
        if not url and all(environ.get(k, "").strip() for k in ("PGHOST", "PGUSER", "PGDATABASE")):
            lakebase = LakebaseSettings(
                host=environ["PGHOST"].strip(),
                user=environ["PGUSER"].strip(),
                database=environ["PGDATABASE"].strip(),
                port=_int(environ, "PGPORT", 5432),
                sslmode=environ.get("PGSSLMODE", "").strip() or "require",
            )
        retention = environ.get("LAKESTREAM_RETENTION_DAYS", "").strip()
        try:
            return cls(
                database_url=SecretStr(url) if url else None,
                lakebase=lakebase,
                db_schema=environ.get("LAKESTREAM_DATABASE_SCHEMA", "").strip() or None,
                data_dir=Path(environ.get("LAKESTREAM_DATA_DIR", "").strip() or ".lakestream"),
                redact_fields=tuple(environ.get("LAKESTREAM_REDACT_FIELDS", "").split(",")),
                retention_days=_int(environ, "LAKESTREAM_RETENTION_DAYS", 0) if retention else None,
                store_events=_bool(environ, "LAKESTREAM_STORE_EVENTS", default=True),
                max_stored_bytes=_int(
                    environ, "LAKESTREAM_MAX_STORED_BYTES", DEFAULT_MAX_STORED_BYTES
                ),
            )
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            first = str(exc).splitlines()
            raise StoreError(
                f"history settings: {' '.join(first[1:3]) if len(first) > 2 else exc}"
            ) from None


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise StoreError(f"environment variable {name}={text!r} must be a whole number") from None


def _bool(environ: Mapping[str, str], name: str, *, default: bool) -> bool:
    text = environ.get(name, "").strip().lower()
    if not text:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise StoreError(f"environment variable {name}={text!r} must be 1/0, true/false or yes/no")
