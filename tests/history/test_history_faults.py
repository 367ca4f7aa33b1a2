"""Faults: an unreachable database spools runs locally; concurrent writers lose nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from cep.errors import StoreError
from cep.history import HistorySettings, HistoryStore, create_history_engine
from cep.history.spool import Spool
from tests.history.helpers import PG_URL, make_run

ROOT = Path(__file__).resolve().parents[2]
CLOSED_PORT_URL = "postgresql+psycopg://postgres:SuperSecret42@127.0.0.1:1/test"


_ENGINES: list[Engine] = []


def _store(settings: HistorySettings) -> HistoryStore:
    engine = create_history_engine(settings)
    _ENGINES.append(engine)
    return HistoryStore(engine, settings)


@pytest.fixture(autouse=True)
def _dispose_engines() -> Iterator[None]:
    """Close every pooled connection the test opened (psycopg warns about leaked ones)."""
    yield
    while _ENGINES:
        _ENGINES.pop().dispose()


def _unwritable_sqlite(tmp_path: Path) -> str:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database folder should be")
    return f"sqlite:///{blocker / 'history.db'}"


def test_sqlite_on_an_unwritable_path_spools_then_a_good_path_takes_the_runs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    down = _store(HistorySettings(database_url=_unwritable_sqlite(tmp_path), data_dir=data))
    first = down.record_run(make_run())
    second = down.record_run(make_run(owner="bo"))
    assert (first.status, second.status) == ("spooled", "spooled")
    assert first.detail is not None
    assert "could not" in first.detail
    assert down.pending_spooled() == 2
    with pytest.raises(StoreError, match="could not"):
        down.flush_spool()
    assert down.pending_spooled() == 2

    up = _store(HistorySettings(data_dir=data))
    third = up.record_run(make_run(owner="cy"))
    assert third.status == "stored"
    assert up.pending_spooled() == 0  # flushed by the successful write
    listed = {r.id: r.owner for r in up.list_runs().items}
    assert listed == {first.id: "ana@example.com", second.id: "bo", third.id: "cy"}
    assert up.get_run(first.id).matches[0]["event_ids"] == [1, 2, 3]


@pytest.mark.postgres
def test_postgres_on_a_closed_port_spools_then_the_live_server_takes_the_runs(
    tmp_path: Path, pg_schema: str
) -> None:
    data = tmp_path / "data"
    down = _store(HistorySettings(database_url=CLOSED_PORT_URL, data_dir=data))
    outcome = down.record_run(make_run())
    assert outcome.status == "spooled"
    assert outcome.detail is not None
    assert "127.0.0.1:1" in outcome.detail
    assert "SuperSecret42" not in outcome.detail

    live = _store(HistorySettings(database_url=PG_URL, db_schema=pg_schema, data_dir=data))
    assert live.flush_spool() == 1
    assert live.flush_spool() == 0
    assert [r.id for r in live.list_runs().items] == [outcome.id]
    assert live.get_run(outcome.id).match_count == 1


def test_replaying_the_spool_never_duplicates_a_run(
    store_factory: Callable[..., HistoryStore],
) -> None:
    store = store_factory()
    outcome = store.record_run(make_run())
    row = json.loads(json.dumps(_row_of(store, outcome.id), default=str))
    spool = Spool(store.settings.spool_dir)
    spool.append("pattern_test_history", row)  # as if a crash came after the insert
    spool.append("pattern_test_history", row)
    assert store.flush_spool() == 2
    assert [r.id for r in store.list_runs().items] == [outcome.id]


def _row_of(store: HistoryStore, run_id: str) -> dict[str, Any]:
    import sqlalchemy as sa

    from cep.history.schema import pattern_test_history

    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(pattern_test_history).where(pattern_test_history.c.id == run_id)
        ).mappings().one()
    return dict(row)


def test_a_torn_spool_line_is_set_aside_not_lost(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append("pattern_test_history", {"id": "x"})
    with open(spool.path, "a", encoding="utf-8") as handle:
        handle.write('{"table": "pattern_test_history", "row": {"id"')
    seen: list[Any] = []
    assert spool.drain(seen.extend) == 1
    assert seen == [("pattern_test_history", {"id": "x"})]
    assert spool.pending() == 0
    assert spool.path.with_name("history.jsonl.rejected").read_text().startswith('{"table"')


def test_when_the_spool_cannot_be_written_either_the_error_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    settings = HistorySettings(database_url=_unwritable_sqlite(tmp_path), data_dir=blocker)
    with pytest.raises(StoreError, match=r"spool file .* cannot be written either"):
        _store(settings).record_run(make_run())


def test_errors_never_show_the_password(tmp_path: Path) -> None:
    store = _store(HistorySettings(database_url=CLOSED_PORT_URL, data_dir=tmp_path))
    with pytest.raises(StoreError) as caught:
        store.list_runs()
    message = str(caught.value)
    assert "SuperSecret42" not in message
    assert "postgres:***@127.0.0.1:1/test" in message
    assert "could not apply the schema migrations" in message


def test_two_stores_writing_from_threads_lose_and_duplicate_nothing(
    store_factory: Callable[..., HistoryStore],
) -> None:
    stores = [store_factory(), store_factory()]
    ids: list[list[str]] = [[], []]
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(15):
                outcome = stores[n].record_run(make_run(owner=f"writer-{n}-{i}"))
                assert outcome.status == "stored", outcome.detail
                ids[n].append(outcome.id)
        except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in (0, 1, 0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    written = ids[0] + ids[1]
    assert len(written) == 60
    listed = [r.id for r in stores[0].list_runs(limit=500).items]
    assert sorted(listed) == sorted(written)
    assert len(set(listed)) == 60


_WRITER = """
import sys
from pathlib import Path
from cep.history import HistorySettings, HistoryStore, create_history_engine
from tests.history.helpers import make_run
settings = HistorySettings.model_validate_json(sys.argv[1])
store = HistoryStore(create_history_engine(settings), settings)
run = make_run()
for _ in range(int(sys.argv[2])):
    outcome = store.record_run(run)
    assert outcome.status == "stored", outcome.detail
    print(outcome.id, flush=True)
"""


def test_two_processes_writing_at_once_lose_and_duplicate_nothing(
    settings_factory: Callable[..., HistorySettings],
) -> None:
    settings = settings_factory()
    payload = settings.model_dump_json()
    if settings.database_url is not None:  # SecretStr dumps as ***
        payload = json.dumps(
            {**json.loads(payload), "database_url": settings.database_url.get_secret_value()}
        )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, payload, "15"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    written = [line for out, _ in outputs for line in out.split()]
    assert len(written) == 30
    listed = [r.id for r in _store(settings).list_runs(limit=500).items]
    assert sorted(listed) == sorted(written)


def test_the_same_store_recovers_when_its_database_comes_back(tmp_path: Path) -> None:
    url = _unwritable_sqlite(tmp_path)
    store = _store(HistorySettings(database_url=url, data_dir=tmp_path / "data"))
    first = store.record_run(make_run())
    second = store.record_run(make_run())  # inside the retry window: straight to the spool
    assert (first.status, second.status) == ("spooled", "spooled")
    assert second.detail is not None
    assert "retrying within 30 s" in second.detail
    (tmp_path / "not-a-folder").unlink()  # the database folder can be created now
    assert store.flush_spool() == 2
    third = store.record_run(make_run())
    assert third.status == "stored"
    assert sorted(r.id for r in store.list_runs().items) == sorted([first.id, second.id, third.id])
