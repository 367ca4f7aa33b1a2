"""Migrations: applied on first use, idempotent, safe to race, and equal to cep.history.schema."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import cep.history
from cep.history import HistoryStore
from cep.history.migrate import MIGRATIONS_DIR, current_revision, head_revision, upgrade_schema
from cep.history.schema import VERSION_TABLE, metadata


def test_a_new_store_touches_nothing_until_first_use(
    store_factory: Callable[..., HistoryStore],
) -> None:
    store = store_factory()
    assert current_revision(store.engine) is None
    store.list_runs()
    assert current_revision(store.engine) == head_revision() == "0001"


def test_the_migrated_tables_equal_the_schema_module(store: HistoryStore) -> None:
    store.ensure_schema()
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "version_table": VERSION_TABLE})
        assert compare_metadata(context, metadata) == []
        tables = set(sa.inspect(conn).get_table_names())
    assert tables == {"pattern_test_history", "user_templates", "audit_events", VERSION_TABLE}


def test_upgrading_twice_is_a_no_op(store: HistoryStore) -> None:
    upgrade_schema(store.engine, schema=store.settings.db_schema)
    upgrade_schema(store.engine, schema=store.settings.db_schema)
    assert current_revision(store.engine) == "0001"


def test_two_stores_starting_at_once_both_migrate_safely(
    store_factory: Callable[..., HistoryStore],
) -> None:
    stores = [store_factory() for _ in range(4)]
    errors: list[BaseException] = []

    def start(store: HistoryStore) -> None:
        try:
            store.ensure_schema()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert current_revision(stores[0].engine) == "0001"


def test_migrations_ship_inside_the_package() -> None:
    assert Path(cep.history.__file__).parent == MIGRATIONS_DIR.parent
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0001_initial.py").is_file()


def test_the_public_api_is_pinned() -> None:
    assert sorted(cep.history.__all__) == [
        "AuditEvent", "AuditFilters", "HistorySettings", "HistoryStore", "LakebaseSettings",
        "OAuthToken", "Page", "RecordOutcome", "RunComparison", "RunFilters", "RunRecord",
        "RunSummary", "StoredRun", "TemplateDraft", "TokenCache", "TokenProvider",
        "UserTemplate", "create_history_engine", "databricks_token_provider", "drop_secrets",
        "looks_secret", "resolve_owner", "upgrade_schema",
    ]
    assert all(hasattr(cep.history, name) for name in cep.history.__all__)


def test_a_new_sqlite_file_another_connection_writes_to_is_waited_for(tmp_path: Path) -> None:
    # Switching a file to WAL needs it to itself; while another connection is writing to it,
    # SQLite refuses at once (no busy wait). The engine waits, as it does for any other lock.
    import sqlite3
    import time

    from cep.history import HistorySettings, HistoryStore
    from cep.history.engine import create_history_engine

    settings = HistorySettings.model_validate({"data_dir": tmp_path})
    holder = sqlite3.connect(tmp_path / "history.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, holder.execute, args=("COMMIT",))
    release.start()
    engine = create_history_engine(settings)
    try:
        started = time.monotonic()
        HistoryStore(engine, settings).ensure_schema()
        assert time.monotonic() - started >= 0.2  # it waited for the lock rather than failing
        assert current_revision(engine) == "0001"
    finally:
        release.join()
        holder.close()
        engine.dispose()
