"""Tests for cep.events: loading event files, uploads and frames, and normalising time."""

from __future__ import annotations

import doctest
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cep.events
from cep.errors import EventDataError
from cep.events import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    check_fields,
    events_schema,
    load_events,
    require_numeric,
)

UTC_US = pl.Datetime("us", "UTC")
NEW_YEAR = datetime(2024, 1, 1, tzinfo=UTC)
NEW_YEAR_S = 1_704_067_200


def utc(text: str) -> datetime:
    """A UTC datetime from ISO text without a zone."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def load_error(source: object, **kwargs: object) -> str:
    with pytest.raises(EventDataError) as caught:
        load_events(source, **kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message
    assert "Traceback" not in message
    return message


EVENTS = [
    {"id": 1, "ts": "2024-01-01T00:00:00Z", "user": "ann", "amount": 10.5},
    {"id": 2, "ts": "2024-01-01T00:00:05Z", "user": "bob", "amount": 20.0},
    {"id": 3, "ts": "2024-01-01T00:01:00Z", "user": "ann", "amount": 7.25},
]


def as_csv(rows: list[dict[str, object]]) -> str:
    header = ",".join(rows[0])
    return header + "\n" + "".join(",".join(str(v) for v in row.values()) + "\n" for row in rows)


# --- formats ----------------------------------------------------------------------------------


def _parquet_bytes(rows: list[dict[str, object]]) -> bytes:
    buffer = io.BytesIO()
    pl.DataFrame(rows).write_parquet(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("events.csv", as_csv(EVENTS)),
        ("events.json", json.dumps(EVENTS, indent=2)),
        ("events.json", json.dumps({"events": EVENTS, "source": "test"})),
        ("events.jsonl", "\n".join(json.dumps(e) for e in EVENTS) + "\n"),
        ("events.ndjson", "\r\n".join(json.dumps(e) for e in EVENTS)),
        ("events.parquet", _parquet_bytes(EVENTS)),
        ("EVENTS.CSV", as_csv(EVENTS)),
    ],
    ids=["csv", "json-array", "json-object", "jsonl", "ndjson-crlf", "parquet", "upper-case-ext"],
)
def test_each_format_loads_the_same_events(tmp_path: Path, name: str, content: str | bytes) -> None:
    df = load_events(write(tmp_path, name, content))

    assert df.columns == ["id", "ts", "user", "amount"]
    assert df.schema["ts"] == UTC_US
    assert df["id"].to_list() == [1, 2, 3]
    assert df["user"].to_list() == ["ann", "bob", "ann"]
    assert df["amount"].to_list() == [10.5, 20.0, 7.25]
    assert df["ts"].to_list() == [NEW_YEAR, utc("2024-01-01T00:00:05"), utc("2024-01-01T00:01:00")]


@pytest.mark.parametrize("fmt", ["csv", ".csv", "CSV"], ids=["plain", "dotted", "upper"])
def test_fmt_overrides_the_file_extension(tmp_path: Path, fmt: str) -> None:
    df = load_events(write(tmp_path, "events.txt", as_csv(EVENTS)), fmt=fmt)
    assert df.height == 3


@pytest.mark.parametrize(
    ("content", "expected_ids"),
    [
        (as_csv(EVENTS).encode(), [1, 2, 3]),
        (json.dumps(EVENTS).encode(), [1, 2, 3]),
        (b"  " + json.dumps({"events": EVENTS}, indent=1).encode(), [1, 2, 3]),
        (json.dumps({"events": EVENTS}).encode(), [1, 2, 3]),
        ("\n".join(json.dumps(e) for e in EVENTS).encode(), [1, 2, 3]),
        (_parquet_bytes(EVENTS), [1, 2, 3]),
    ],
    ids=["csv", "json-array", "json-object-pretty", "json-object-one-line", "ndjson", "parquet"],
)
def test_bytes_without_a_name_are_sniffed(content: bytes, expected_ids: list[int]) -> None:
    df = load_events(content)
    assert df["id"].to_list() == expected_ids
    assert df.schema["ts"] == UTC_US


def test_json_key_first_seen_late_is_kept() -> None:
    rows: list[dict[str, object]] = [{"ts": NEW_YEAR_S + i} for i in range(300)]
    rows.append({"ts": NEW_YEAR_S, "late": "here"})
    df = load_events(json.dumps(rows).encode(), fmt="json")
    assert df["late"].to_list()[-2:] == [None, "here"]


def test_csv_type_change_after_the_first_rows_is_read_in_full() -> None:
    lines = [f"{NEW_YEAR_S + i},{i}" for i in range(300)] + ["2024-01-02T00:00:00Z,x"]
    df = load_events(("ts,v\n" + "\n".join(lines)).encode(), fmt="csv")
    assert df.height == 301
    assert df["ts"][-1] == utc("2024-01-02T00:00:00")
    assert df["v"][-1] == "x"


def test_csv_blank_lines_are_skipped() -> None:
    df = load_events(b"ts,v\n\n2024-01-01,1\n\n2024-01-02,2\n\n\n", fmt="csv")
    assert df["v"].to_list() == [1, 2]
    assert df["ts"].to_list() == [NEW_YEAR, utc("2024-01-02T00:00:00")]


def test_csv_quoted_fields_may_hold_commas_and_newlines() -> None:
    df = load_events(b'ts,note,v\n2024-01-01,"a, b",1\n2024-01-02,"line\nbreak",\n', fmt="csv")
    assert df["note"].to_list() == ["a, b", "line\nbreak"]
    assert df["v"].to_list() == [1, None]


def test_csv_with_byte_order_mark_finds_the_time_column() -> None:
    df = load_events(b"\xef\xbb\xbfts,v\n2024-01-01,1\n", fmt="csv")
    assert df.columns == ["ts", "v"]


# --- time forms -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01T00:00:00", NEW_YEAR),
        ("2024-01-01T00:00:00Z", NEW_YEAR),
        ("2024-01-01T00:00:00z", NEW_YEAR),
        ("2024-01-01T02:00:00+02:00", NEW_YEAR),
        ("2024-01-01T02:00:00+0200", NEW_YEAR),
        ("2024-01-01T02:00:00+02", NEW_YEAR),
        ("2023-12-31T18:30:00-05:30", NEW_YEAR),
        ("2024-01-01 00:00:00", NEW_YEAR),
        ("2024-01-01 01:00:00+01:00", NEW_YEAR),
        ("2024-01-01T00:00:00.123Z", utc("2024-01-01T00:00:00.123")),
        ("2024-01-01T00:00:00.5", utc("2024-01-01T00:00:00.500")),
        ("2024-01-01T00:00:00.123456789+00:00", utc("2024-01-01T00:00:00.123456")),
        ("2024-01-01 00:00:00.250", utc("2024-01-01T00:00:00.250")),
        ("2024-01-01", NEW_YEAR),
        ("2024-01-01T09:30", utc("2024-01-01T09:30:00")),
        ("2024-01-01T10:30+01:00", utc("2024-01-01T09:30:00")),
        ("2024-01-01 09:30", utc("2024-01-01T09:30:00")),
        ("  2024-01-01T00:00:00Z  ", NEW_YEAR),
        ("1704067200", NEW_YEAR),
        ("1704067200.25", utc("2024-01-01T00:00:00.250")),
        ("1704067200000", NEW_YEAR),
        ("1704067200123", utc("2024-01-01T00:00:00.123")),
        ("1704067200000000", NEW_YEAR),
        ("1704067200000000000", NEW_YEAR),
        ("1.7040672e9", NEW_YEAR),
        ("0", datetime(1970, 1, 1, tzinfo=UTC)),
        ("-86400", datetime(1969, 12, 31, tzinfo=UTC)),
    ],
    ids=[
        "iso-naive-is-utc",
        "iso-z",
        "iso-lower-z",
        "offset-colon",
        "offset-no-colon",
        "offset-hours",
        "offset-negative-half-hour",
        "space-separator",
        "space-separator-offset",
        "millis-z",
        "tenths",
        "nanos-truncated",
        "space-fraction",
        "date-only-midnight",
        "minutes",
        "minutes-offset",
        "space-minutes",
        "padded",
        "epoch-s-text",
        "epoch-s-fraction-text",
        "epoch-ms-text",
        "epoch-ms-millis-text",
        "epoch-us-text",
        "epoch-ns-text",
        "epoch-exponent-text",
        "epoch-zero",
        "epoch-negative",
    ],
)
def test_text_time_forms_become_exact_utc(value: str, expected: datetime) -> None:
    df = load_events(pl.DataFrame({"ts": [value]}))
    assert df.schema["ts"] == UTC_US
    assert df["ts"].to_list() == [expected]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (NEW_YEAR_S, NEW_YEAR),
        (NEW_YEAR_S * 1000 + 5, utc("2024-01-01T00:00:00.005")),
        (NEW_YEAR_S * 1_000_000 + 7, utc("2024-01-01T00:00:00.000007")),
        (NEW_YEAR_S * 1_000_000_000, NEW_YEAR),
        (NEW_YEAR_S + 0.5, utc("2024-01-01T00:00:00.500")),
        (NEW_YEAR_S * 1000.0, NEW_YEAR),
        (99_999_999_999, datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=99_999_999_999)),
        (100_000_000_000, utc("1973-03-03T09:46:40")),
    ],
    ids=[
        "int-seconds",
        "int-millis",
        "int-micros",
        "int-nanos",
        "float-seconds",
        "float-millis",
        "below-1e11-is-seconds",
        "1e11-is-millis",
    ],
)
def test_epoch_numbers_are_read_by_magnitude(value: float, expected: datetime) -> None:
    df = load_events(pl.DataFrame({"ts": [value]}))
    assert df["ts"].to_list() == [expected]


def test_mixed_forms_in_one_csv_column_are_normalised() -> None:
    content = (
        "ts,id\n"
        "2024-01-01T00:00:00Z,1\n"
        "1704067201,2\n"
        "1704067202000,3\n"
        "2024-01-01T01:00:03+01:00,4\n"
        "2024-01-01 00:00:04,5\n"
        "2024-01-02,6\n"
        "1704067206.5,7\n"
    )
    df = load_events(content.encode(), fmt="csv")
    assert df["ts"].to_list() == [
        NEW_YEAR,
        utc("2024-01-01T00:00:01"),
        utc("2024-01-01T00:00:02"),
        utc("2024-01-01T00:00:03"),
        utc("2024-01-01T00:00:04"),
        utc("2024-01-02T00:00:00"),
        utc("2024-01-01T00:00:06.500"),
    ]


def test_mixed_numbers_and_text_in_json_are_normalised() -> None:
    rows = [{"ts": NEW_YEAR_S}, {"ts": "2024-01-01T00:00:01Z"}, {"ts": (NEW_YEAR_S + 2) * 1000}]
    df = load_events(json.dumps(rows).encode(), fmt="json")
    assert df["ts"].to_list() == [NEW_YEAR, utc("2024-01-01T00:00:01"), utc("2024-01-01T00:00:02")]


def test_many_rows_of_mixed_forms_parse_vectorised() -> None:
    n = 30_000
    seconds = pl.int_range(0, n, eager=True) + NEW_YEAR_S
    iso = pl.from_epoch(seconds, time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    text = (
        pl.DataFrame({"s": seconds, "iso": iso})
        .select(
            pl.when(pl.col("s") % 3 == 0)
            .then(pl.col("iso"))
            .when(pl.col("s") % 3 == 1)
            .then(pl.col("s").cast(pl.String))
            .otherwise((pl.col("s") * 1000).cast(pl.String))
        )
        .to_series()
    )
    df = load_events(pl.DataFrame({"ts": text}))
    expected = pl.from_epoch(seconds, time_unit="s").dt.replace_time_zone("UTC")
    assert df["ts"].to_list() == expected.to_list()


def _render(instant: datetime, offset_min: int, form: int) -> str:
    """One way of writing ``instant`` that load_events accepts."""
    local = instant + timedelta(minutes=offset_min)
    sign, size = ("+" if offset_min >= 0 else "-"), abs(offset_min)
    hh_mm = f"{size // 60:02d}:{size % 60:02d}"
    micros = f".{instant.microsecond:06d}" if instant.microsecond else ""
    epoch_us = (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    forms = [
        f"{local:%Y-%m-%dT%H:%M:%S}{micros}{sign}{hh_mm}",
        f"{local:%Y-%m-%d %H:%M:%S}{micros}{sign}{hh_mm.replace(':', '')}",
        f"{instant:%Y-%m-%dT%H:%M:%S}{micros}Z",
        f"{instant:%Y-%m-%d %H:%M:%S}{micros}",
        str(epoch_us),
    ]
    return forms[form]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.datetimes(datetime(1973, 3, 4), datetime(2200, 1, 1), timezones=st.just(UTC)),
            st.integers(-14 * 4, 14 * 4).map(lambda quarters: quarters * 15),
            st.integers(0, 4),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_any_rendering_of_an_instant_reads_back_exactly(
    cases: list[tuple[datetime, int, int]],
) -> None:
    text = [_render(instant, offset, form) for instant, offset, form in cases]
    df = load_events(pl.DataFrame({"ts": text}))
    assert df["ts"].to_list() == [instant for instant, _, _ in cases]


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        (
            pl.Series("ts", [datetime(2024, 1, 1, 2)])
            .dt.replace_time_zone("Europe/Berlin")
            .dt.cast_time_unit("ns"),
            utc("2024-01-01T01:00:00"),
        ),
        (pl.Series("ts", [datetime(2024, 1, 1)], dtype=pl.Datetime("ms")), NEW_YEAR),
        (pl.Series("ts", [datetime(2024, 1, 1).date()], dtype=pl.Date), NEW_YEAR),
    ],
    ids=["aware-ns-converted", "naive-ms-is-utc", "date-is-midnight"],
)
def test_temporal_columns_become_utc_microseconds(column: pl.Series, expected: datetime) -> None:
    df = load_events(pl.DataFrame([column]))
    assert df.schema["ts"] == UTC_US
    assert df["ts"].to_list() == [expected]


def test_custom_time_field() -> None:
    df = load_events(b"when,v\n2024-01-01,1\n", fmt="csv", time_field="when")
    assert df.schema["when"] == UTC_US


# --- order and frames -------------------------------------------------------------------------


def test_equal_timestamps_keep_input_order_and_nothing_is_sorted() -> None:
    content = "id,ts\n3,2024-01-01T00:00:05Z\n1,2024-01-01T00:00:00Z\n2,2024-01-01T00:00:00Z\n"
    content += "0,1704067200\n"
    df = load_events(content.encode(), fmt="csv")
    assert df["id"].to_list() == [3, 1, 2, 0]


def test_polars_frame_is_not_mutated() -> None:
    frame = pl.DataFrame({"ts": ["2024-01-01T00:00:00Z"], "v": [1]})
    df = load_events(frame)
    assert frame.schema["ts"] == pl.String
    assert frame["ts"].to_list() == ["2024-01-01T00:00:00Z"]
    assert df.schema["ts"] == UTC_US


def test_pandas_frame_is_converted_and_not_mutated() -> None:
    frame = pd.DataFrame({"ts": ["2024-01-01T00:00:00Z", "1704067201"], "v": [1, 2]})
    before = frame.copy(deep=True)
    df = load_events(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert df["ts"].to_list() == [NEW_YEAR, utc("2024-01-01T00:00:01")]
    assert df["v"].to_list() == [1, 2]


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (pd.DataFrame({"ts": pd.to_datetime(["2024-01-01T02:00:00+02:00"])}), NEW_YEAR),
        (pd.DataFrame({"ts": pd.to_datetime(["2024-01-01T00:00:00"])}), NEW_YEAR),
        (pd.DataFrame({"v": [1]}, index=pd.Index([NEW_YEAR_S], name="ts")), NEW_YEAR),
    ],
    ids=["aware", "naive", "time-in-index"],
)
def test_pandas_times_become_utc(frame: pd.DataFrame, expected: datetime) -> None:
    assert load_events(frame)["ts"].to_list() == [expected]


# --- bytes and uploads ------------------------------------------------------------------------


class FakeUpload(io.BytesIO):
    """Quacks like Streamlit's UploadedFile: a BytesIO with name and size."""

    def __init__(self, content: bytes, name: str) -> None:
        super().__init__(content)
        self.name = name
        self.size = len(content)


def test_uploaded_file_uses_its_name_and_can_be_loaded_twice() -> None:
    upload = FakeUpload(json.dumps(EVENTS).encode(), "events.json")
    first = load_events(upload)
    second = load_events(upload)
    assert first.equals(second)
    assert first["id"].to_list() == [1, 2, 3]


def test_uploaded_file_errors_name_the_upload() -> None:
    upload = FakeUpload(b"ts,v\nyesterday,1\n", "my_upload.csv")
    assert load_error(upload).startswith("my_upload.csv row 1, field 'ts'")


def test_open_binary_file_and_text_stream_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, "events.csv", as_csv(EVENTS))
    with path.open("rb") as handle:
        assert load_events(handle).height == 3
    assert load_events(io.StringIO(as_csv(EVENTS)), fmt="csv").height == 3


def test_source_name_is_used_in_messages_and_for_the_format() -> None:
    message = load_error(b'{"ts": 1}\n{"ts": "soon"}\n', source_name="feed.jsonl")
    assert message.startswith("feed.jsonl line 2, field 'ts'")


def test_bytearray_and_memoryview_are_bytes() -> None:
    content = as_csv(EVENTS).encode()
    assert load_events(bytearray(content), fmt="csv").height == 3
    assert load_events(memoryview(content), fmt="csv").height == 3


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("events.csv", "", ["events.csv is empty"]),
        ("events.csv", "\n  \n", ["events.csv is empty"]),
        ("events.csv", "ts,v\n", ["events.csv has no events"]),
        ("events.json", "[]", ["events.json has no events"]),
        ("events.json", '{"events": []}', ["events.json has no events"]),
        ("events.jsonl", "\n\n", ["events.jsonl is empty"]),
        (
            "events.csv",
            "ts,v\n2024-01-01,1\n2024-01-02,2\nyesterday,3\n",
            [
                "events.csv row 3, field 'ts': cannot parse 'yesterday' as a timestamp "
                "(ISO-8601 or epoch seconds/ms)"
            ],
        ),
        (
            "events.csv",
            "ts,v\n2024-01-01,1\n,2\n",
            ["events.csv row 2, field 'ts': missing timestamp"],
        ),
        (
            "events.csv",
            "ts,v\n2024-01-01,1\n\n2024-02-30,2\n",
            ["events.csv row 3, field 'ts': cannot parse '2024-02-30'"],
        ),
        (
            "events.json",
            '[{"ts": 1704067200}, {"ts": null}]',
            ["events.json row 2, field 'ts': missing timestamp"],
        ),
        (
            "events.json",
            '[{"ts": 1704067200}, {"other": 1}]',
            ["events.json row 2, field 'ts': missing timestamp"],
        ),
        (
            "events.json",
            '[{"ts": "2024-01-01"}, {"ts": "   "}]',
            ["events.json row 2, field 'ts': missing timestamp"],
        ),
        (
            "events.jsonl",
            '{"ts": 1}\n\n{"ts": "2024-13-01"}\n',
            ["events.jsonl line 3, field 'ts': cannot parse '2024-13-01'"],
        ),
        (
            "events.json",
            '[{"ts": 1},\n {"ts": }]',
            ["events.json line 2, column 9: invalid JSON"],
        ),
        (
            "events.json",
            '[{"ts": 1}, 5]',
            ["events.json row 2: expected a JSON object, got a number"],
        ),
        (
            "events.json",
            '[{"ts": 1}, null]',
            ["events.json row 2: expected a JSON object, got null"],
        ),
        ("events.json", '"hello"', ["events.json: expected a JSON array", "a string ('hello')"]),
        ("events.json", '{"rows": []}', ['an object with an "events" array', "keys: rows"]),
        (
            "events.jsonl",
            '{"ts": 1}\n{"ts": 2\n{"ts": 3}\n',
            ["events.jsonl line 2, column 9: invalid JSON"],
        ),
        (
            "events.jsonl",
            '{"ts": 1}\n\n[1, 2]\n',
            ["events.jsonl line 3: expected a JSON object, got an array"],
        ),
        (
            "events.jsonl",
            '{"a": 1, "ts": 1}\n{"a": true, "ts": 2}\n',
            ["events.jsonl: cannot read"],
        ),
        (
            "events.csv",
            "ts,v\n2024-01-01,1\n2024-01-02,2,3\n",
            ["events.csv line 3: expected 2 fields as in the header, found 3"],
        ),
        (
            "events.csv",
            "ts,v,w\n2024-01-01,1,2\n2024-01-02,2\n",
            ["events.csv line 3: expected 3 fields as in the header, found 2"],
        ),
        (
            "events.csv",
            'ts,note,v\n2024-01-01,"a\nb",1\n2024-01-02,"c, d"\n',
            ["events.csv line 4: expected 3 fields as in the header, found 2"],
        ),
        (
            "events.csv",
            'ts,note,v\n2024-01-01,"a, b",1\n2024-01-02,"c, d"\n',
            ["events.csv line 3: expected 3 fields as in the header, found 2"],
        ),
        ("events.csv", b"ts,v\n2024-01-01,1\n2024-01-01,\xff\n", ["events.csv line 3: not UTF-8"]),
        ("events.parquet", b"PAR1 not really", ["events.parquet: not a readable Parquet file"]),
        ("events.txt", "ts\n1\n", ["events.txt: unsupported file type '.txt'", ".csv, .json"]),
        (
            "events.csv",
            "time,user\n2024-01-01,ann\n",
            ["events.csv: no time column 'ts'", "columns found: time, user", "did you mean 'time'"],
        ),
        ("events.csv", "TS,user\n2024-01-01,ann\n", ["did you mean 'TS'", "time_field="]),
        ("events.csv", "when,user\n2024-01-01,ann\n", ["columns found: when, user"]),
    ],
    ids=[
        "empty-file",
        "blank-file",
        "csv-header-only",
        "json-empty-array",
        "json-empty-events",
        "ndjson-blank-lines",
        "csv-unparseable-time",
        "csv-null-time",
        "csv-row-counts-blank-lines",
        "json-null-time",
        "json-missing-time-key",
        "json-blank-time",
        "ndjson-bad-time-line-number",
        "json-malformed",
        "json-non-object",
        "json-null-element",
        "json-scalar-document",
        "json-object-without-events",
        "ndjson-malformed-line",
        "ndjson-non-object-line",
        "ndjson-type-conflict",
        "csv-extra-field",
        "csv-missing-field",
        "csv-ragged-after-multiline-quote",
        "csv-ragged-with-quoted-comma",
        "csv-not-utf8",
        "bad-parquet",
        "unknown-extension",
        "missing-time-column-near-match",
        "missing-time-column-case",
        "missing-time-column-no-match",
    ],
)
def test_bad_files_give_one_line_messages(
    tmp_path: Path, name: str, content: str | bytes, expected: list[str]
) -> None:
    message = load_error(write(tmp_path, name, content), source_name=name)
    for part in expected:
        assert part in message


def test_error_names_the_path_as_given(tmp_path: Path) -> None:
    path = write(tmp_path, "events.csv", "ts\nnope\n")
    assert load_error(path).startswith(f"{path} row 1, field 'ts'")


@pytest.mark.parametrize(
    ("value", "shown"),
    [(True, "'True'"), ([1, 2], "'[1, 2]'"), (float("nan"), "'nan'")],
    ids=["boolean", "list", "nan"],
)
def test_non_time_values_are_rejected(value: object, shown: str) -> None:
    message = load_error(pl.DataFrame({"ts": [value]}))
    assert message == (
        f"<DataFrame> row 1, field 'ts': cannot parse {shown} as a timestamp "
        "(ISO-8601 or epoch seconds/ms)"
    )


def test_missing_file_and_folder_are_reported(tmp_path: Path) -> None:
    assert load_error(tmp_path / "nope.csv").endswith("nope.csv: no such events file")
    assert "is a folder" in load_error(tmp_path)


def test_unknown_fmt_lists_the_supported_formats() -> None:
    message = load_error(b"ts\n1\n", fmt="xml")
    assert (
        message == "unknown events format 'xml'; use one of .csv, .json, .jsonl, .ndjson, .parquet"
    )


def test_unsupported_source_type_is_rejected() -> None:
    assert "cannot load events from a int" in load_error(42)


def test_pandas_frame_with_mixed_column_is_rejected() -> None:
    frame = pd.DataFrame({"ts": [NEW_YEAR_S, NEW_YEAR_S], "v": [1, "x"]}, dtype=object)
    assert load_error(frame, source_name="upload").startswith(
        "upload: cannot convert the pandas DataFrame"
    )


# --- limits -----------------------------------------------------------------------------------


def test_defaults_are_the_documented_interactive_limits() -> None:
    assert DEFAULT_MAX_ROWS == 1_000_000
    assert DEFAULT_MAX_BYTES == 50 * 1024 * 1024


def test_upload_over_50_mb_is_rejected_before_parsing() -> None:
    message = load_error(b"x" * (DEFAULT_MAX_BYTES + 1), source_name="big.csv")
    assert message.startswith("big.csv is 52,428,801 bytes (50.0 MB)")
    assert "limit of 52,428,800 bytes (50 MB)" in message
    assert "CLI" in message
    assert "max_bytes=None" in message


def test_large_file_is_rejected_by_its_size_without_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("wb") as handle:
        handle.truncate(DEFAULT_MAX_BYTES + 1)  # sparse: no 50 MB written
    assert "52,428,801 bytes" in load_error(path)


def test_upload_with_size_is_rejected_without_being_read() -> None:
    class HugeUpload:
        name = "big.json"
        size = DEFAULT_MAX_BYTES + 1

        def read(self, size: int = -1, /) -> bytes:
            raise AssertionError("read before the size check")

        def getvalue(self) -> bytes:
            raise AssertionError("read before the size check")

    assert load_error(HugeUpload()).startswith("big.json is 52,428,801 bytes")


def test_stream_without_size_is_read_only_to_the_limit() -> None:
    class Stream:
        name = "stream.csv"

        def __init__(self) -> None:
            self.requested: list[int] = []

        def read(self, size: int = -1, /) -> bytes:
            self.requested.append(size)
            return b"ts\n" + b"1\n" * (size // 2)

    stream = Stream()
    assert "over the interactive limit of 100 bytes" in load_error(stream, max_bytes=100)
    assert stream.requested == [101]


def test_max_bytes_none_lifts_the_size_limit() -> None:
    content = as_csv(EVENTS).encode()
    assert "over the interactive limit" in load_error(content, fmt="csv", max_bytes=10)
    assert load_events(content, fmt="csv", max_bytes=None).height == 3


def test_row_limit_names_the_count_and_the_limit() -> None:
    content = as_csv(EVENTS).encode()
    message = load_error(content, fmt="csv", max_rows=2, source_name="events.csv")
    assert message.startswith("events.csv has 3 events, over the interactive limit of 2")
    assert "max_rows=None" in message
    assert load_events(content, fmt="csv", max_rows=3).height == 3
    assert load_events(content, fmt="csv", max_rows=None).height == 3


def test_row_limit_applies_to_frames() -> None:
    frame = pl.DataFrame({"ts": [NEW_YEAR_S] * 5})
    assert "has 5 events" in load_error(frame, max_rows=4)


# --- field checks -----------------------------------------------------------------------------


@pytest.fixture
def events() -> pl.DataFrame:
    return load_events(as_csv(EVENTS).encode(), fmt="csv")


def test_check_fields_accepts_present_fields(events: pl.DataFrame) -> None:
    check_fields(events, ["amount", "user"], source_name="events.csv")
    check_fields(events, {"amount": "DEFINE B"}, source_name="events.csv")


def test_check_fields_suggests_near_names_and_says_where_used(events: pl.DataFrame) -> None:
    with pytest.raises(EventDataError) as caught:
        check_fields(events, {"user": "PARTITION BY", "amout": "DEFINE B"}, source_name="e.csv")
    assert str(caught.value) == (
        "e.csv: field 'amout' (used by DEFINE B) is not in the events "
        "(fields found: id, ts, user, amount); did you mean 'amount'?"
    )


def test_check_fields_without_a_near_name_lists_the_fields(events: pl.DataFrame) -> None:
    with pytest.raises(EventDataError, match=r"field 'zzz' is not in the events \(fields found"):
        check_fields(events, ["zzz"], source_name="e.csv")


def test_require_numeric_names_the_first_bad_row() -> None:
    frame = pl.DataFrame({"amount": ["1", "2.5", None, "abc", "x"]})
    with pytest.raises(EventDataError) as caught:
        require_numeric(frame, "amount", "events.csv")
    assert str(caught.value) == "events.csv row 4, field 'amount': expected a number, got 'abc'"


@pytest.mark.parametrize(
    ("values", "expected", "dtype"),
    [
        (["1", " 2 ", None, ""], [1, 2, None, None], pl.Int64),
        (["1", "2.5"], [1.0, 2.5], pl.Float64),
        ([1.5, 2.0], [1.5, 2.0], pl.Float64),
        ([1, 2], [1, 2], pl.Int64),
    ],
    ids=["integer-text", "decimal-text", "floats", "integers"],
)
def test_require_numeric_converts_numeric_text(
    values: list[object], expected: list[object], dtype: pl.DataType
) -> None:
    frame = pl.DataFrame({"amount": values})
    out = require_numeric(frame, "amount", "events.csv")
    assert out["amount"].to_list() == expected
    assert out.schema["amount"] == dtype


def test_require_numeric_rejects_other_types_and_missing_fields() -> None:
    frame = pl.DataFrame({"flag": [True]})
    with pytest.raises(EventDataError, match="field 'flag': expected a number, found a column"):
        require_numeric(frame, "flag", "events.csv")
    with pytest.raises(EventDataError, match="did you mean 'flag'"):
        require_numeric(frame, "flags", "events.csv")


def test_events_schema_names_simple_types(events: pl.DataFrame) -> None:
    frame = events.with_columns(ok=pl.lit(True), tags=pl.lit([1]))
    assert events_schema(frame) == {
        "id": "integer",
        "ts": "timestamp",
        "user": "string",
        "amount": "number",
        "ok": "boolean",
        "tags": "other",
    }


def test_docstring_examples_hold() -> None:
    result = doctest.testmod(cep.events)
    assert result.attempted >= 3
    assert result.failed == 0
