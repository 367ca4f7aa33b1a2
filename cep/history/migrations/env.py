"""Alembic environment: runs the revisions on the connection that cep.history.migrate passes in.

There is no ini file and no URL here: :func:`cep.history.migrate.upgrade_schema` builds the
Alembic ``Config`` in code and puts an open SQLAlchemy connection in
``config.attributes["connection"]``. Offline (``--sql``) mode is not supported.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from cep.history.schema import VERSION_TABLE, metadata


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("cep.history migrations need a connection from cep.history.migrate")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


_offline: bool | None
try:
    _offline = context.is_offline_mode()
except NameError:  # imported outside an Alembic run (a tool walking the package): do nothing
    _offline = None
if _offline:
    raise RuntimeError("cep.history migrations run online only (see cep.history.migrate)")
if _offline is False:
    _run_online()
