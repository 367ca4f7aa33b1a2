"""Schema migrations: bring a history database up to the newest Alembic revision, in code.

No ini file is read: the Alembic ``Config`` is built here, pointing at the ``migrations``
folder shipped inside this package, and the revisions run on a connection this module opens.
The upgrade is one transaction, serialised between concurrent starters (a PostgreSQL advisory
lock; SQLite's write lock via ``BEGIN IMMEDIATE``), so two app processes starting at once do
not both create the tables.

Adding a change: write ``migrations/versions/000N_<what>.py`` (``down_revision`` = the previous
id) with ``op.*`` calls and update :mod:`cep.history.schema` to match; the test suite checks
that the two agree.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from cep.errors import StoreError
from cep.history.engine import SQLITE_BEGIN_OPTION, describe_error
from cep.history.schema import VERSION_TABLE

__all__ = ["MIGRATIONS_DIR", "current_revision", "head_revision", "upgrade_schema"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_LOCK_KEY = 0x4C414B4553545245  # "LAKESTRE": one advisory lock for every history migration


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision id shipped with this package."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None``: never migrated).

    Raises:
        StoreError: the database cannot be reached.
    """
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        raise StoreError(describe_error(exc, engine, "read the schema version")) from exc


def _create_schema(conn: sa.Connection, schema: str) -> None:
    """Create the schema unless it exists (checked first: creating needs a privilege using does not)."""
    exists = conn.execute(
        sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :name"), {"name": schema}
    ).first()
    if exists is None:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))


def upgrade_schema(engine: Engine, *, schema: str | None = None) -> None:
    """Apply every pending migration (a no-op when the database is already at head).

    Args:
        engine: from :func:`~cep.history.engine.create_history_engine`.
        schema: the PostgreSQL schema of the tables (created when missing); must be the one
            the engine's ``search_path`` names.

    Raises:
        StoreError: the database cannot be reached or a migration failed.
    """
    config = _config()
    postgres = engine.dialect.name == "postgresql"
    try:
        with engine.connect() as conn:
            conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            with conn.begin():
                if postgres:
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
                    if schema is not None:
                        _create_schema(conn, schema)
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        raise StoreError(describe_error(exc, engine, "apply the schema migrations")) from exc
