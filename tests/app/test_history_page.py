"""AppTest checks of the History page, and of the Test page recording its runs in the history.

Every test points the app at a history database of its own (``LAKESTREAM_DATA_DIR`` under
``tmp_path``); runs are put there by the Test page itself or by the real store.
"""

from __future__ import annotations

import csv
import doctest
import io
import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import streamlit.testing.v1.app_test as app_test_module
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

import ui.history_store
import ui.history_templates
import ui.history_view
from cep.events import load_events
from cep.explain import describe_pattern
from cep.history import (
    HistorySettings,
    HistoryStore,
    RunRecord,
    create_history_engine,
    resolve_owner,
)
from cep.history.export import CSV_COLUMNS
from cep.matcher import find_matches
from cep.model import load_pattern, parse_pattern
from cep.results import MatchResult
from ui import state
from ui.history_store import SPOOLED_MESSAGE
from ui.history_view import explain_page_available

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
TIMEOUT_S = 120
HISTORY_ENV = (
    "LAKESTREAM_DATABASE_URL", "LAKESTREAM_DATABASE_SCHEMA", "LAKESTREAM_REDACT_FIELDS",
    "LAKESTREAM_RETENTION_DAYS", "LAKESTREAM_STORE_EVENTS", "LAKESTREAM_MAX_STORED_BYTES",
    "PGHOST", "PGUSER", "PGDATABASE", "PGPORT", "PGSSLMODE",
)  # fmt: skip
# The V-shape sample on the sample ticks (samples/README.md): key and events of each match.
SAMPLE_MATCHES = [
    ("ACME", "3 5 7 9 11"),
    ("ACME", "13 15 17 19"),
    ("ACME", "21 22 23"),
    ("GLOBX", "2 4 6 8 10 12 14 16"),
]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A history database of this test's own (SQLite under tmp_path), used by the app."""
    for name in HISTORY_ENV:
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "lakestream"
    monkeypatch.setenv("LAKESTREAM_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def store(data_dir: Path) -> HistoryStore:
    """The real store on the app's database, to put runs in and check what the app did."""
    settings = HistorySettings.from_env(os.environ)
    return HistoryStore(create_history_engine(settings), settings)


@pytest.fixture
def media(monkeypatch: pytest.MonkeyPatch) -> list[MemoryMediaFileStorage]:
    """The media storages AppTest creates per run, kept so download bytes can be read back."""
    storages: list[MemoryMediaFileStorage] = []

    class Kept(MemoryMediaFileStorage):
        def __init__(self, media_endpoint: str) -> None:
            super().__init__(media_endpoint)
            storages.append(self)

    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", Kept)
    return storages


@pytest.fixture(scope="module")
def v_shape() -> tuple[object, object, MatchResult]:
    """The sample pattern, the sample ticks and its result (4 matches)."""
    pattern = load_pattern(SAMPLES / "v_shape.json")
    events = load_events(SAMPLES / "stocks.csv", time_field=pattern.order_by)
    return pattern, events, find_matches(pattern, events)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def texts(elements: object) -> str:
    return "\n".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def plain(markdown: str) -> str:
    return markdown.replace("\\", "")


def open_app() -> AppTest:
    return AppTest.from_file(ROOT / "app.py", default_timeout=TIMEOUT_S).run()


def open_history(at: AppTest | None = None) -> AppTest:
    at = at or open_app()
    at.switch_page("pages/history.py").run()
    assert not at.exception
    return at


def run_sample_on_test_page(at: AppTest) -> AppTest:
    at.switch_page("pages/test.py").run()
    at.button(key=state.TEST_LOAD_SAMPLE).click().run()
    at.button(key=state.TEST_RUN).click().run()
    assert not at.exception
    return at


def table(at: AppTest, index: int = 0) -> list[dict[str, object]]:
    frame = at.dataframe[index].value
    return [dict(row) for row in frame.to_dict("records")]


def record(
    store: HistoryStore,
    pattern: object,
    result: MatchResult,
    *,
    events: object = None,
    owner: str = "ana@example.com",
    source: str = "sample: stocks.csv",
    created_at: datetime | None = None,
) -> str:
    outcome = store.record_run(
        RunRecord.from_run(
            pattern,  # type: ignore[arg-type]
            result,
            owner=owner,
            events=events,  # type: ignore[arg-type]
            event_source=source,
            created_at=created_at,
        )
    )
    assert outcome.status == "stored"
    return outcome.id


def metric_values(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


# ------------------------------------------------------------------------------------------
# Empty state, recording from the Test page, detail


@pytest.mark.usefixtures("data_dir")
def test_history_is_empty_until_a_test_runs_then_lists_that_run() -> None:
    at = open_history()

    assert at.title[0].value == "History"
    assert not at.error
    assert "No runs yet — run a test on the Test page" in texts(at.info)
    assert not at.dataframe

    run_sample_on_test_page(at)
    assert "Saved to **History**." in texts(at.caption)
    assert not at.warning
    open_history(at)

    rows = table(at)
    assert len(rows) == 1
    row = rows[0]
    assert (row["pattern"], row["kind"], row["owner"]) == (
        "v_shape", "match_recognize", resolve_owner(None),
    )  # fmt: skip
    assert (row["source"], row["events"], row["matches"], row["re-runnable"]) == (
        "sample: stocks.csv", 23, 4, True,
    )  # fmt: skip


def test_a_recorded_run_keeps_its_explanations_source_and_run_facts(store: HistoryStore) -> None:
    at = run_sample_on_test_page(open_app())

    run = store.get_run(store.list_runs().items[0].id)
    assert run.event_source == "sample: stocks.csv"
    assert run.run_settings == {
        "pattern_from": "text", "pattern_source": "v_shape.json", "time_field": "ts",
    }  # fmt: skip
    assert [(m["key"]["symbol"], " ".join(map(str, m["event_ids"]))) for m in run.matches] == (
        SAMPLE_MATCHES
    )
    assert run.explanations is not None, "cep.explain is importable: explanations are stored"
    assert [e["event_ids"] for e in run.explanations] == [m["event_ids"] for m in run.matches]
    assert run.explanations[0]["timeline"][1]["step"] == "B"
    assert run.has_events
    assert len(store.get_run_events(run.id) or []) == 23
    assert metric_values(at)["Matches"] == "4"


def test_run_detail_shows_the_pattern_in_english_counts_source_and_matches(
    store: HistoryStore,
) -> None:
    at = run_sample_on_test_page(open_app())
    open_history(at)

    run = store.list_runs().items[0]
    assert at.selectbox(key=state.HISTORY_SELECTED).value == run.id
    assert at.subheader[-1].value == "v_shape"
    page = plain(texts(at.markdown))
    english = describe_pattern(load_pattern(SAMPLES / "v_shape.json")).partition("\n")[2]
    assert english.strip().splitlines()[0] in page
    assert metric_values(at)["Events"] == "23"
    assert metric_values(at)["Matches"] == "4"
    assert "events from **sample: stocks.csv**" in plain(texts(at.caption))
    matches = table(at, 1)
    assert [(m["key"], m["events"]) for m in matches] == SAMPLE_MATCHES
    assert "Explanations stored for 4 matches." in texts(at.caption)


# ------------------------------------------------------------------------------------------
# Pages and filters


def test_pages_of_fifty_walk_every_run_newest_first_and_back(
    store: HistoryStore, v_shape: tuple[object, object, MatchResult]
) -> None:
    pattern, _, result = v_shape
    start = datetime(2026, 1, 1, tzinfo=UTC)
    runs = [
        RunRecord.from_run(
            pattern,  # type: ignore[arg-type]
            result,
            owner="ana@example.com",
            event_source=f"batch {i:03d}",
            created_at=start + timedelta(minutes=i),
        )
        for i in range(120)
    ]
    store.record_runs(runs)
    at = open_history()

    seen: list[str] = []
    for expected_rows, older_enabled in ((50, True), (50, True), (20, False)):
        rows = table(at)
        assert len(rows) == expected_rows
        seen.extend(str(r["source"]) for r in rows)
        assert at.button(key=state.HISTORY_OLDER).disabled is not older_enabled
        if older_enabled:
            at.button(key=state.HISTORY_OLDER).click().run()
            assert not at.exception
    assert seen == [f"batch {i:03d}" for i in reversed(range(120))]
    assert "Page 3 · 20 shown" in texts(at.caption)

    at.button(key=state.HISTORY_NEWER).click().run()
    assert next(r["source"] for r in table(at)) == "batch 069"
    at.button(key=state.HISTORY_NEWER).click().run()
    assert next(r["source"] for r in table(at)) == "batch 119"
    assert at.button(key=state.HISTORY_NEWER).disabled


def test_a_new_filter_starts_again_at_the_newest_page(
    store: HistoryStore, v_shape: tuple[object, object, MatchResult]
) -> None:
    pattern, _, result = v_shape
    start = datetime(2026, 1, 1, tzinfo=UTC)
    store.record_runs(
        RunRecord.from_run(pattern, result, owner="ana@example.com",  # type: ignore[arg-type]
                           event_source=f"batch {i:03d}", created_at=start + timedelta(minutes=i))
        for i in range(60)
    )  # fmt: skip
    at = open_history()
    at.button(key=state.HISTORY_OLDER).click().run()
    assert len(table(at)) == 10

    at.text_input(key=state.HISTORY_NAME).input("v_sh").run()

    assert len(table(at)) == 50
    assert table(at)[0]["source"] == "batch 059"


@pytest.fixture
def mixed_runs(store: HistoryStore, v_shape: tuple[object, object, MatchResult]) -> None:
    """Four runs: two patterns, two kinds, two owners, two days, with and without matches."""
    pattern, _, result = v_shape
    fraud = parse_pattern(
        {"kind": "count_threshold", "name": "fraud_burst", "partition_by": ["symbol"],
         "where": "price > 1000", "threshold": 3, "window": "5m"}
    )  # fmt: skip
    day1 = datetime(2026, 3, 1, 12, tzinfo=UTC)
    day2 = datetime(2026, 3, 5, 12, tzinfo=UTC)
    record(store, pattern, result, owner="ana@example.com", source="run-1", created_at=day1)
    record(store, fraud, MatchResult(matches=[]), owner="bo@example.com", source="run-2",
           created_at=day1 + timedelta(hours=1))  # fmt: skip
    record(store, pattern, MatchResult(matches=[]), owner="bo@example.com", source="run-3",
           created_at=day2)  # fmt: skip
    record(store, fraud, MatchResult(matches=[]), owner="ana@example.com", source="run-4",
           created_at=day2 + timedelta(hours=1))  # fmt: skip


@pytest.mark.usefixtures("mixed_runs")
@pytest.mark.parametrize(
    ("widget", "key", "value", "expected"),
    [
        ("text_input", state.HISTORY_NAME, "FRAUD", ["run-4", "run-2"]),
        ("selectbox", state.HISTORY_KIND, "match_recognize", ["run-3", "run-1"]),
        ("text_input", state.HISTORY_OWNER, "bo@example.com", ["run-3", "run-2"]),
        ("selectbox", state.HISTORY_HAS_MATCHES, "With matches", ["run-1"]),
        ("selectbox", state.HISTORY_HAS_MATCHES, "Without matches", ["run-4", "run-3", "run-2"]),
        ("date_input", state.HISTORY_FROM, datetime(2026, 3, 2).date(), ["run-4", "run-3"]),
        ("date_input", state.HISTORY_TO, datetime(2026, 3, 1).date(), ["run-2", "run-1"]),
    ],
    ids=["name", "kind", "owner", "with-matches", "without-matches", "from", "to"],
)
def test_each_filter_narrows_the_runs(
    widget: str, key: str, value: object, expected: list[str]
) -> None:
    at = open_history()
    assert [r["source"] for r in table(at)] == ["run-4", "run-3", "run-2", "run-1"]

    getattr(at, widget)(key=key).set_value(value).run()

    assert not at.exception
    assert [r["source"] for r in table(at)] == expected


@pytest.mark.usefixtures("mixed_runs")
def test_filters_combine_and_an_empty_result_says_so() -> None:
    at = open_history()
    at.selectbox(key=state.HISTORY_KIND).set_value("count_threshold").run()
    at.text_input(key=state.HISTORY_OWNER).input("ana@example.com").run()
    assert [r["source"] for r in table(at)] == ["run-4"]

    at.selectbox(key=state.HISTORY_HAS_MATCHES).set_value("With matches").run()

    assert not at.dataframe
    assert "No run matches these filters" in texts(at.info)
    assert not at.error


# ------------------------------------------------------------------------------------------
# Re-run, compare, export, delete


def test_rerun_finds_the_stored_matches_again(store: HistoryStore) -> None:
    at = run_sample_on_test_page(open_app())
    open_history(at)

    at.button(key=state.HISTORY_RERUN).click().run()

    assert not at.exception
    assert not at.error
    assert "Same result as stored: the re-run found the same 4 matches." in texts(at.success)
    assert len(store.list_runs().items) == 1, "a re-run is shown, not recorded"


def test_rerun_says_how_it_differs_from_the_stored_matches(
    store: HistoryStore, v_shape: tuple[object, object, MatchResult]
) -> None:
    pattern, events, result = v_shape
    fewer = MatchResult(matches=result.matches[1:], stats=result.stats)
    record(store, pattern, fewer, events=events)
    at = open_history()

    at.button(key=state.HISTORY_RERUN).click().run()

    assert not at.exception
    assert "4 matches now; 1 added, 0 removed, 3 unchanged" in texts(at.warning)
    added = [t for t in at.dataframe if "events" in t.value.columns]
    assert any(list(t.value["events"]) == ["3 5 7 9 11"] for t in added), (
        "the added match is the one the stored run lacked"
    )


def test_rerun_is_disabled_when_the_events_were_not_stored(
    store: HistoryStore, v_shape: tuple[object, object, MatchResult]
) -> None:
    pattern, _, result = v_shape
    record(store, pattern, result, events=None)
    at = open_history()

    button = at.button(key=state.HISTORY_RERUN)
    assert button.disabled
    assert "the events were not passed to the history store" in button.help


def test_compare_counts_and_lists_added_removed_and_unchanged_matches(
    store: HistoryStore, v_shape: tuple[object, object, MatchResult]
) -> None:
    pattern, _, result = v_shape
    start = datetime(2026, 2, 1, tzinfo=UTC)
    record(store, pattern, MatchResult(matches=result.matches[:3]), source="before",
           created_at=start)  # fmt: skip
    record(store, pattern, MatchResult(matches=result.matches[1:]), source="after",
           created_at=start + timedelta(minutes=5))  # fmt: skip
    at = open_history()

    assert "before" in at.selectbox(key=state.HISTORY_COMPARE_A).format_func(
        at.selectbox(key=state.HISTORY_COMPARE_A).value
    )
    assert metric_values(at)["Added"] == "1"
    assert metric_values(at)["Removed"] == "1"
    assert metric_values(at)["Unchanged"] == "2"
    frames = {tuple(t.value["events"]) for t in at.dataframe if "events" in t.value.columns}
    assert ("2 4 6 8 10 12 14 16",) in frames  # added: GLOBX, only in "after"
    assert ("3 5 7 9 11",) in frames  # removed: the first ACME match, only in "before"
    assert ("13 15 17 19", "21 22 23") in frames  # unchanged

    at.selectbox(key=state.HISTORY_COMPARE_B).set_value(
        at.selectbox(key=state.HISTORY_COMPARE_A).value
    ).run()
    assert "Pick two different runs." in texts(at.info)


def test_compare_needs_two_runs(
    store: HistoryStore, v_shape: tuple[object, object, MatchResult]
) -> None:
    pattern, _, result = v_shape
    record(store, pattern, result)
    at = open_history()
    assert "Comparing needs two runs" in texts(at.info)


def download_bytes(at: AppTest, key: str, media: list[MemoryMediaFileStorage]) -> bytes:
    url = at.download_button(key=key).proto.url
    assert url, f"{key} has no file"
    return media[-1].get_file(url.rsplit("/", 1)[-1]).content


def test_export_downloads_hold_the_run_as_json_and_csv(
    store: HistoryStore, media: list[MemoryMediaFileStorage]
) -> None:
    at = run_sample_on_test_page(open_app())
    open_history(at)
    run_id = store.list_runs().items[0].id

    exported = json.loads(download_bytes(at, state.HISTORY_EXPORT_JSON, media))
    assert [r["id"] for r in exported["runs"]] == [run_id]
    stored = exported["runs"][0]
    assert stored["pattern_name"] == "v_shape"
    assert stored["event_source"] == "sample: stocks.csv"
    assert [" ".join(map(str, m["event_ids"])) for m in stored["matches"]] == [
        events for _, events in SAMPLE_MATCHES
    ]
    rows = list(
        csv.reader(io.StringIO(download_bytes(at, state.HISTORY_EXPORT_CSV, media).decode()))
    )
    assert rows[0] == list(CSV_COLUMNS)
    assert len(rows) == 2
    assert (rows[1][0], rows[1][3], rows[1][7]) == (run_id, "v_shape", "4")


@pytest.mark.usefixtures("mixed_runs")
def test_export_of_every_matching_run_follows_the_filters(
    media: list[MemoryMediaFileStorage],
) -> None:
    at = open_history()
    at.text_input(key=state.HISTORY_OWNER).input("bo@example.com").run()
    at.button(key=state.HISTORY_EXPORT_PREPARE).click().run()

    assert not at.exception
    assert "2 runs ready to download." in texts(at.caption)
    exported = json.loads(download_bytes(at, state.HISTORY_EXPORT_ALL_JSON, media))
    assert [r["event_source"] for r in exported["runs"]] == ["run-3", "run-2"]
    rows = list(csv.DictReader(io.StringIO(
        download_bytes(at, state.HISTORY_EXPORT_ALL_CSV, media).decode()
    )))  # fmt: skip
    assert [(r["event_source"], r["owner"]) for r in rows] == [
        ("run-3", "bo@example.com"), ("run-2", "bo@example.com"),
    ]  # fmt: skip

    at.text_input(key=state.HISTORY_OWNER).input("").run()
    assert at.download_button(key=state.HISTORY_EXPORT_JSON).proto.url != ""
    assert state.HISTORY_EXPORT_ALL_JSON not in {b.key for b in at.download_button}


def test_delete_asks_for_confirmation_first(
    store: HistoryStore, v_shape: tuple[object, object, MatchResult]
) -> None:
    pattern, _, result = v_shape
    run_id = record(store, pattern, result)
    at = open_history()

    at.button(key=state.HISTORY_DELETE).click().run()
    assert "This cannot be undone." in texts(at.warning)
    assert [r.id for r in store.list_runs().items] == [run_id]

    at.button(key=state.HISTORY_DELETE_CANCEL).click().run()
    assert not at.warning
    assert [r.id for r in store.list_runs().items] == [run_id]

    at.button(key=state.HISTORY_DELETE).click().run()
    at.button(key=state.HISTORY_DELETE_CONFIRM).click().run()

    assert not at.exception
    assert store.list_runs().items == ()
    assert "Deleted the run of v_shape" in texts(at.success)
    assert "No runs yet" in texts(at.info)


def test_open_explanation_is_offered_only_when_the_explain_page_exists(
    store: HistoryStore, v_shape: tuple[object, object, MatchResult]
) -> None:
    pattern, _, result = v_shape
    run_id = record(store, pattern, result)
    at = open_history()

    labels = {b.label for b in at.button}
    assert ("Open explanation" in labels) is explain_page_available()
    if explain_page_available():
        at.button(key=state.HISTORY_OPEN_EXPLANATION).click().run()
        assert at.session_state[state.EXPLAIN_RUN_ID] == run_id
        assert not at.exception


def test_explain_page_is_available_only_when_its_file_is_in_the_navigation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(ui.history_view, "ROOT", tmp_path)
    assert not explain_page_available()
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "explain.py").write_text("", encoding="utf-8")
    in_menu = any(spec.path == "pages/explain.py" for spec in ui.history_view.PAGES)
    assert explain_page_available() is in_menu


# ------------------------------------------------------------------------------------------
# The audit log


def test_audit_tab_lists_entries_newest_first_without_secrets(store: HistoryStore) -> None:
    store.append_audit(actor="ana@example.com", action="nl.generate", subject="v_shape",
                       details={"model": "offline", "api_token": "dapi-secret"})  # fmt: skip
    store.append_audit(actor="bo@example.com", action="deploy.job", subject="job-42",
                       details={"target": "sss"})  # fmt: skip
    at = open_history()

    audit = next(t.value for t in at.dataframe if "actor" in t.value.columns)
    assert list(audit["actor"]) == ["bo@example.com", "ana@example.com"]
    assert list(audit["action"]) == ["deploy.job", "nl.generate"]
    assert list(audit["subject"]) == ["job-42", "v_shape"]
    assert json.loads(audit["details"][1]) == {"model": "offline"}
    assert all(audit["time (UTC)"])

    at.text_input(key=state.HISTORY_AUDIT_ACTION).input("nl.").run()
    audit = next(t.value for t in at.dataframe if "actor" in t.value.columns)
    assert list(audit["action"]) == ["nl.generate"]


@pytest.mark.usefixtures("data_dir")
def test_audit_tab_has_an_empty_state() -> None:
    at = open_history()
    assert "No audit entries yet" in texts(at.info)


# ------------------------------------------------------------------------------------------
# An unreachable database


@pytest.fixture
def unreachable(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the app at a PostgreSQL URL on a closed loopback port; yield the data folder."""
    monkeypatch.setenv(
        "LAKESTREAM_DATABASE_URL", f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/test"
    )
    return data_dir


@pytest.mark.usefixtures("unreachable")
def test_history_page_with_an_unreachable_database_shows_an_error_not_a_traceback() -> None:
    at = open_history()

    assert not at.exception
    errors = texts(at.error)
    assert "Could not list the test runs" in errors
    assert "127.0.0.1" in errors


def test_test_page_keeps_its_results_and_spools_the_run_when_the_database_is_down(
    unreachable: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_sample_on_test_page(open_app())

    assert not at.error, texts(at.error)
    assert SPOOLED_MESSAGE in texts(at.warning)
    assert metric_values(at)["Matches"] == "4"
    assert [(r["key"], r["events"]) for r in table(at)] == SAMPLE_MATCHES
    spool = list((unreachable / "spool").glob("*"))
    assert spool, "the run waits in the spool"

    monkeypatch.delenv("LAKESTREAM_DATABASE_URL")  # the database is back (the SQLite default)
    open_history(at)

    assert "1 run kept locally while the database was unreachable is now saved." in texts(
        at.success
    )
    rows = table(at)
    assert [(r["pattern"], r["matches"]) for r in rows] == [("v_shape", 4)]


@pytest.mark.usefixtures("mixed_runs")
def test_every_history_page_input_has_help_text() -> None:
    at = open_history()
    inputs = [*at.text_input, *at.selectbox, *at.date_input, *at.button]
    assert len(inputs) >= 12
    assert all(w.help for w in inputs), [w.label for w in inputs if not w.help]


@pytest.mark.parametrize(
    "module",
    [ui.history_view, ui.history_store, ui.history_templates],
    ids=lambda m: m.__name__,
)
def test_doctests_pass(module: object) -> None:
    failed, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)  # type: ignore[arg-type]
    assert attempted > 0
    assert failed == 0


@pytest.mark.usefixtures("data_dir")
def test_unusable_history_settings_are_an_error_on_history_and_a_warning_on_test(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LAKESTREAM_RETENTION_DAYS", "a week")
    at = open_history()
    assert "Could not open the history database" in texts(at.error)
    assert "LAKESTREAM_RETENTION_DAYS" in plain(texts(at.error))

    run_sample_on_test_page(at)

    assert not at.error
    assert "This run was not saved to History" in texts(at.warning)
    assert "LAKESTREAM_RETENTION_DAYS" in plain(texts(at.warning))
    assert [(r["key"], r["events"]) for r in table(at)] == SAMPLE_MATCHES
