"""Recording and querying test runs, on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import timedelta

import pytest

from cep.errors import StoreError
from cep.history import HistoryStore, RunFilters
from tests.history.helpers import T0, V_SHAPE, events, make_run

HEARTBEAT = {"kind": "heartbeat", "name": "Silent Sensors", "interval": "1m"}


def test_a_recorded_run_reads_back_in_full(store: HistoryStore) -> None:
    run = make_run(event_source="trades.csv", duration_ms=12.5, run_settings={"limit": 10})
    outcome = store.record_run(run)
    assert outcome.status == "stored"
    stored = store.get_run(outcome.id)
    assert stored.id == outcome.id
    assert stored.owner == "ana@example.com"
    assert (stored.pattern_name, stored.kind) == ("v_shape", "match_recognize")
    assert stored.parsed_pattern() == run.pattern
    assert (stored.event_count, stored.match_count) == (3, 1)
    assert stored.duration_ms == 12.5
    assert stored.event_source == "trades.csv"
    assert stored.matches == [m.to_json_dict() for m in run.result.matches]
    assert stored.matches[0]["event_ids"] == [1, 2, 3]
    assert stored.has_events is True
    assert stored.events_note is None
    assert stored.run_settings == {"limit": 10}
    assert stored.created_at.tzinfo is not None


def test_the_stored_events_rerun_to_the_same_matches(store: HistoryStore) -> None:
    rows = events(("bob", 5), ("bob", 3), ("bob", 4), ("eve", 9), ("eve", 1), ("eve", 2))
    run = make_run(rows)
    run_id = store.record_run(run).id
    assert store.get_run_events(run_id) == [
        {**r, "ts": r["ts"].replace(tzinfo=None).isoformat()} for r in rows
    ]
    again = store.rerun(run_id)
    assert [m.to_json_dict() for m in again.matches] == [
        m.to_json_dict() for m in run.result.matches
    ]
    assert [m.event_ids for m in again.matches] == [[1, 2, 3], [4, 5, 6]]


def test_rerun_refuses_when_event_storage_is_off(
    store_factory: Callable[..., HistoryStore],
) -> None:
    store = store_factory(store_events=False)
    run_id = store.record_run(make_run()).id
    assert store.get_run(run_id).has_events is False
    assert store.get_run_events(run_id) is None
    with pytest.raises(StoreError, match=r"cannot be re-run: .*LAKESTREAM_STORE_EVENTS=0"):
        store.rerun(run_id)


def test_events_over_the_size_bound_are_not_stored(
    store_factory: Callable[..., HistoryStore],
) -> None:
    store = store_factory(max_stored_bytes=1_000)
    rows = events(*[("bob", float(i % 7)) for i in range(40)])
    run_id = store.record_run(make_run(rows)).id
    stored = store.get_run(run_id)
    assert stored.has_events is False
    assert stored.events_note is not None
    assert "over the 1,000-byte bound" in stored.events_note
    with pytest.raises(StoreError, match="1,000-byte bound"):
        store.rerun(run_id)


def test_matches_over_the_size_bound_are_truncated_but_counted(
    store_factory: Callable[..., HistoryStore],
) -> None:
    store = store_factory(max_stored_bytes=1_000)
    rows = events(*[(f"u{i}", p) for i in range(20) for p in (5, 3, 4)])
    run = make_run(rows)
    assert len(run.result.matches) == 20
    stored = store.get_run(store.record_run(run).id)
    assert stored.match_count == 20
    assert stored.matches_truncated is True
    assert 0 < len(stored.matches) < 20
    assert stored.matches == [m.to_json_dict() for m in run.result.matches][: len(stored.matches)]
    assert len(json.dumps(stored.matches, separators=(",", ":"))) <= 1_000


def test_redacted_fields_never_reach_the_database(
    store_factory: Callable[..., HistoryStore],
) -> None:
    store = store_factory(redact_fields=("user",))
    explanations = [{"matched_event_payloads": [{"id": 1, "user": "bob", "price": 5}]}]
    run_id = store.record_run(make_run(explanations=explanations)).id
    stored = store.get_run(run_id)
    assert stored.matches[0]["key"] == {"user": "[redacted-1]"}
    assert stored.explanations == [
        {"matched_event_payloads": [{"id": 1, "user": "[redacted-1]", "price": 5}]}
    ]
    assert {e["user"] for e in store.get_run_events(run_id) or []} == {"[redacted-1]"}
    assert stored.redacted_fields == ["user"]
    exported = store.export_runs([run_id], "json").decode()
    assert "bob" not in exported
    assert [m.key for m in store.rerun(run_id).matches] == [{"user": "[redacted-1]"}]


def _seed(store: HistoryStore) -> list[str]:
    """Seven runs a minute apart (oldest first): varied names, kinds, owners and match counts."""
    specs = [
        (V_SHAPE, "ana", True),
        (HEARTBEAT, "ana", False),
        (V_SHAPE, "bo", True),
        ({**V_SHAPE, "name": "V_Shape_50%_off"}, "bo", True),
        (HEARTBEAT, "bo", False),
        (V_SHAPE, "ana", False),
        ({**V_SHAPE, "name": "w_shape"}, "cy", True),
    ]
    ids = []
    for i, (pattern, owner, with_match) in enumerate(specs):
        rows = events(("bob", 5), ("bob", 3), ("bob", 4) if with_match else ("bob", 2))
        run = make_run(rows, pattern=pattern, owner=owner, created_at=T0 + timedelta(minutes=i))
        ids.append(store.record_run(run).id)
    return ids


def test_list_pages_newest_first_with_a_cursor(store: HistoryStore) -> None:
    ids = _seed(store)
    first = store.list_runs(limit=3)
    assert [r.id for r in first.items] == ids[::-1][:3]
    assert first.next_cursor is not None
    second = store.list_runs(cursor=first.next_cursor, limit=3)
    assert [r.id for r in second.items] == ids[::-1][3:6]
    third = store.list_runs(cursor=second.next_cursor, limit=3)
    assert [r.id for r in third.items] == ids[:1]
    assert third.next_cursor is None
    summary = first.items[0]
    assert (summary.pattern_name, summary.owner, summary.match_count) == ("w_shape", "cy", 1)
    assert summary.has_events is True


def test_pages_stay_stable_when_runs_share_a_timestamp(store: HistoryStore) -> None:
    ids = {store.record_run(make_run(created_at=T0)).id for _ in range(5)}
    seen: list[str] = []
    cursor = None
    while True:
        page = store.list_runs(cursor=cursor, limit=2)
        seen.extend(r.id for r in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(ids)
    assert seen == sorted(ids, reverse=True)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (RunFilters(pattern_name="SHAPE"), [6, 5, 3, 2, 0]),
        (RunFilters(pattern_name="50%"), [3]),
        (RunFilters(pattern_name="_off"), [3]),
        (RunFilters(kind="heartbeat"), [4, 1]),
        (RunFilters(owner="bo"), [4, 3, 2]),
        (RunFilters(has_matches=True), [6, 3, 2, 0]),
        (RunFilters(has_matches=False), [5, 4, 1]),
        (RunFilters(created_from=T0 + timedelta(minutes=2)), [6, 5, 4, 3, 2]),
        (
            RunFilters(created_from=T0 + timedelta(minutes=1), created_to=T0 + timedelta(minutes=3)),
            [2, 1],
        ),
        (RunFilters(kind="match_recognize", owner="ana", has_matches=True), [0]),
        (RunFilters(owner="nobody"), []),
    ],
    ids=[
        "name-substring-any-case", "name-with-percent", "name-with-underscore", "kind",
        "owner", "has-matches", "no-matches", "from", "range", "combined", "none",
    ],
)
def test_list_filters(store: HistoryStore, filters: RunFilters, expected: list[int]) -> None:
    ids = _seed(store)
    assert [r.id for r in store.list_runs(filters).items] == [ids[i] for i in expected]


def test_a_cursor_not_issued_by_the_store_is_refused(store: HistoryStore) -> None:
    with pytest.raises(StoreError, match="cursor is not one this store issued"):
        store.list_runs(cursor="not-a-cursor")


def test_unknown_and_malformed_ids_are_refused_clearly(store: HistoryStore) -> None:
    with pytest.raises(StoreError, match="no test run with id 00000000-0000-0000-0000-000000000000"):
        store.get_run("00000000-0000-0000-0000-000000000000")
    with pytest.raises(StoreError, match="'42' is not a valid test run id"):
        store.get_run("42")


def test_compare_runs_by_key_and_event_ids(store: HistoryStore) -> None:
    rows = events(("bob", 5), ("bob", 3), ("bob", 4), ("eve", 9), ("eve", 8), ("eve", 9))
    before = store.record_run(make_run(rows)).id
    edited = {**V_SHAPE, "pattern": "A B C", "define": {**V_SHAPE["define"], "C": "price > 8"}}
    more = rows + events(("cy", 3), ("cy", 2), ("cy", 9), start_id=7)
    after = store.record_run(make_run(more, pattern=edited)).id
    comparison = store.compare_runs(before, after)
    assert [m["event_ids"] for m in comparison.unchanged] == [[4, 5, 6]]
    assert [m["event_ids"] for m in comparison.removed] == [[1, 2, 3]]
    assert [m["event_ids"] for m in comparison.added] == [[7, 8, 9]]
    assert comparison.is_partial is False
    assert (comparison.a_id, comparison.b_id) == (before, after)


def test_export_json_and_csv(store: HistoryStore) -> None:
    ids = _seed(store)
    data = json.loads(store.export_runs([ids[0], ids[3]], "json"))
    assert [r["id"] for r in data["runs"]] == [ids[0], ids[3]]
    assert data["runs"][1]["pattern"]["name"] == "V_Shape_50%_off"
    assert data["runs"][0]["matches"][0]["event_ids"] == [1, 2, 3]
    table = list(csv.DictReader(io.StringIO(store.export_runs(RunFilters(owner="bo"), "csv").decode())))
    assert [r["id"] for r in table] == [ids[4], ids[3], ids[2]]
    assert [r["match_count"] for r in table] == ["0", "1", "1"]
    assert json.loads(table[1]["pattern"])["name"] == "V_Shape_50%_off"


def test_export_neutralises_spreadsheet_formulas(store: HistoryStore) -> None:
    run_id = store.record_run(make_run(event_source="=HYPERLINK(\"http://x\")")).id
    row = next(csv.DictReader(io.StringIO(store.export_runs([run_id], "csv").decode())))
    assert row["event_source"] == "'=HYPERLINK(\"http://x\")"


def test_export_refuses_an_unknown_format(store: HistoryStore) -> None:
    run_id = store.record_run(make_run()).id
    with pytest.raises(StoreError, match="unknown export format 'xml'"):
        store.export_runs([run_id], "xml")  # type: ignore[arg-type]


def test_delete_removes_one_run(store: HistoryStore) -> None:
    ids = _seed(store)
    assert store.delete_run(ids[2]) is True
    assert store.delete_run(ids[2]) is False
    assert ids[2] not in [r.id for r in store.list_runs().items]
    assert len(store.list_runs().items) == 6


def test_purge_deletes_only_runs_older_than_the_retention(
    store_factory: Callable[..., HistoryStore],
) -> None:
    store = store_factory(retention_days=30)
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    old = store.record_run(make_run(created_at=now - timedelta(days=31))).id
    recent = store.record_run(make_run(created_at=now - timedelta(days=29))).id
    assert store.purge_expired() == 1
    assert [r.id for r in store.list_runs().items] == [recent]
    assert old not in [r.id for r in store.list_runs().items]
    assert store.purge_older_than(0) == 1
    assert store.list_runs().items == ()


def test_bulk_recording_keeps_every_run(store: HistoryStore) -> None:
    runs = [make_run(created_at=T0 + timedelta(seconds=i)) for i in range(25)]
    ids = store.record_runs(runs, batch_size=10)
    assert len(set(ids)) == 25
    listed = store.list_runs(limit=100).items
    assert [r.id for r in listed] == ids[::-1]


def test_values_json_lacks_are_stored_as_text(store: HistoryStore) -> None:
    import datetime as dt
    from decimal import Decimal

    run = make_run(
        explanations=[{"amount": Decimal("12.50"), "at": dt.time(9, 30), "raw": b"\x01"}],
        run_settings={"threshold": Decimal("0.5")},
    )
    stored = store.get_run(store.record_run(run).id)
    assert stored.explanations == [{"amount": "12.50", "at": "09:30:00", "raw": "b'\\x01'"}]
    assert stored.run_settings == {"threshold": "0.5"}
