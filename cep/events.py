"""Load event data from files, uploads and frames into one validated Polars frame.

Accepted sources: a path (``str`` or ``Path``), ``bytes``, a binary or text file-like object
(for example Streamlit's ``UploadedFile``; its ``.name`` gives the format), a Polars
``DataFrame`` or a pandas ``DataFrame`` (never modified). File formats, from ``fmt`` or the
file name's extension:

- ``.csv``: a header line, then one event per row, comma separated, UTF-8. Blank lines are
  skipped; a row with more or fewer fields than the header is an error.
- ``.json``: an array of objects, or an object whose ``"events"`` key holds that array.
- ``.jsonl`` / ``.ndjson``: one object per line; blank lines are skipped.
- ``.parquet``.

Without a name or ``fmt``, bytes are sniffed: ``PAR1`` is Parquet, ``[`` is JSON, ``{`` is
NDJSON when the first line is a whole object and JSON otherwise, anything else CSV.

The time column (``time_field``, default ``ts``) becomes ``Datetime("us", "UTC")``; every other
column is kept as read, and rows keep their input order (equal times are never reordered).
Each value is read on its own, so one column may mix these forms:

- ISO-8601 text: ``2024-01-01``, ``2024-01-01T09:30``, ``2024-01-01 09:30:00``,
  ``2024-01-01T09:30:00.123456``, each optionally followed by ``Z`` or an offset (``+02:00``,
  ``+0200``, ``+02``). Offsets are converted to UTC; a time without a zone is UTC; a date is
  midnight UTC; digits beyond microseconds are dropped.
- Epoch numbers, or text holding only a number. The unit is chosen per value by magnitude:
  ``|x| < 1e11`` seconds (to the year 5138), ``< 1e14`` milliseconds, ``< 1e17`` microseconds,
  else nanoseconds. So milliseconds before 1973-03-03 read as seconds.
- Date/time columns of a frame or a Parquet file (naive ones are UTC).

Limits for interactive use: ``DEFAULT_MAX_BYTES`` (checked before parsing) and
``DEFAULT_MAX_ROWS``; pass ``None`` to lift them (the CLI does).

Every problem raises ``EventDataError`` with a one-line message naming the source, the place
and the field. Places are 1-based data rows (a CSV header is not a row; a JSON row is an
element of the array), except NDJSON values and CSV structure, which give the line number.
"""

from __future__ import annotations

import csv
import difflib
import io
import itertools
import json
import os
import sys
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

import polars as pl

from cep.errors import EventDataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ROWS",
    "SUPPORTED_FORMATS",
    "EventSource",
    "check_fields",
    "events_schema",
    "load_events",
    "require_numeric",
]

DEFAULT_MAX_ROWS = 1_000_000
"""Most events one interactive load accepts; ``None`` lifts the limit."""

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
"""Largest file or upload (in bytes) one interactive load accepts; ``None`` lifts the limit."""

SUPPORTED_FORMATS: Mapping[str, str] = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "ndjson",
    ".ndjson": "ndjson",
    ".parquet": "parquet",
}
"""File extension → format name."""


@runtime_checkable
class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes | str: ...


EventSource: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | _Readable | pl.DataFrame | pd.DataFrame"

# Polars raises PanicException (a BaseException) on some corrupt files, e.g. damaged Parquet pages.
_READ_FAILURES = (pl.exceptions.PolarsError, pl.exceptions.PanicException)

_Where = Callable[[int], str]
"""Maps a 0-based row index of the loaded frame to a place ("events.csv row 3")."""

_UTC = pl.Datetime("us", "UTC")

_TIME_HINT = "ISO-8601 or epoch seconds/ms"
_TIME_NAMES = ("ts", "time", "timestamp", "event_time", "datetime", "date", "created_at")


def load_events(
    source: EventSource,
    *,
    time_field: str = "ts",
    fmt: str | None = None,
    max_rows: int | None = DEFAULT_MAX_ROWS,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    source_name: str | None = None,
) -> pl.DataFrame:
    """Load events and normalise their time column to UTC microseconds.

    Args:
        source: A path, bytes, a file-like object (``.name`` is used when present), or a Polars
            or pandas DataFrame.
        time_field: The column holding each event's time.
        fmt: ``"csv"``, ``"json"``, ``"jsonl"``/``"ndjson"`` or ``"parquet"``; by default taken
            from the file name, or sniffed from the bytes.
        max_rows: Most events accepted (``None``: no limit).
        max_bytes: Largest file accepted, checked before parsing (``None``: no limit).
        source_name: Name used in messages (default: the path or the upload's name).

    Returns:
        The events in input order, ``time_field`` as ``Datetime("us", "UTC")``.

    Raises:
        EventDataError: The data cannot be read or has no usable time column; the message names
            the source, the row or line, and the field.

    >>> df = load_events(b"ts,v\\n2024-01-01T00:00:00+01:00,1\\n1704067200000,2\\n", fmt="csv")
    >>> [str(t) for t in df["ts"]]
    ['2023-12-31 23:00:00+00:00', '2024-01-01 00:00:00+00:00']
    """
    pd_module = sys.modules.get("pandas")
    if isinstance(source, pl.DataFrame):
        name = source_name or "<DataFrame>"
        df = source
        where = _row_where(name)
    elif pd_module is not None and isinstance(source, pd_module.DataFrame):
        name = source_name or "<pandas DataFrame>"
        df = _from_pandas(source, time_field, name)
        where = _row_where(name)
    else:
        data, file_name, name = _read_source(source, max_bytes, source_name)
        kind = _detect_format(fmt, file_name or source_name, data, name)
        df, where = _parse(data, kind, name)
    if df.height == 0:
        raise EventDataError(f"{name} has no events")
    if max_rows is not None and df.height > max_rows:
        raise EventDataError(
            f"{name} has {df.height:,} events, over the interactive limit of {max_rows:,}; "
            "use the CLI (python -m cep match ...) or load_events(..., max_rows=None)"
        )
    if time_field not in df.columns:
        raise EventDataError(_missing_time_message(name, time_field, df.columns))
    times = _parse_times(df.get_column(time_field), where, time_field)
    return df.with_columns(times)


def check_fields(
    df: pl.DataFrame,
    fields: Mapping[str, str] | Collection[str],
    *,
    source_name: str = "<events>",
) -> None:
    """Check that every field a pattern uses is a column of the events.

    Args:
        df: The events.
        fields: Field names, or field name → where it is used (e.g. ``"DEFINE B"``).
        source_name: Name of the events in messages.

    Raises:
        EventDataError: Naming the first missing field, where it is used, near matches and the
            fields found.
    """
    for field in fields:
        if field in df.columns:
            continue
        used_by = f" (used by {fields[field]})" if isinstance(fields, Mapping) else ""
        raise EventDataError(
            f"{source_name}: field '{field}'{used_by} is not in the events "
            f"(fields found: {_names(df.columns)}){_suggest(field, df.columns)}"
        )


def require_numeric(df: pl.DataFrame, field: str, source_name: str = "<events>") -> pl.DataFrame:
    """Check that a field used numerically holds numbers, converting text that does.

    Args:
        df: The events.
        field: The column a condition uses as a number.
        source_name: Name of the events in messages.

    Returns:
        ``df``, with ``field`` converted to ``Int64``/``Float64`` if it was text of numbers.

    Raises:
        EventDataError: Naming the first row whose value is not a number (or the missing field).

    >>> require_numeric(pl.DataFrame({"amount": ["1", "2.5"]}), "amount")["amount"].to_list()
    [1.0, 2.5]
    """
    check_fields(df, [field], source_name=source_name)
    column = df.get_column(field)
    if column.dtype.is_numeric() or column.dtype == pl.Null:
        return df
    if column.dtype not in (pl.String, pl.Categorical) and not isinstance(column.dtype, pl.Enum):
        raise EventDataError(
            f"{source_name}, field '{field}': expected a number, found a column of type "
            f"{column.dtype}"
        )
    text = column.cast(pl.String).str.strip_chars()
    text = _only_where(text != "", text)
    numbers = text.str.to_integer(strict=False)
    if numbers.null_count() != text.null_count():
        numbers = text.cast(pl.Float64, strict=False)
    bad = numbers.is_null() & text.is_not_null()
    if bad.any():
        row = _first(bad)
        raise EventDataError(
            f"{source_name} row {row + 1}, field '{field}': expected a number, "
            f"got {_show(column[row])}"
        )
    return df.with_columns(numbers.alias(field))


def events_schema(df: pl.DataFrame) -> dict[str, str]:
    """Name each column's type simply, for prompts and the UI.

    Returns:
        Field → one of ``string``, ``integer``, ``number``, ``boolean``, ``timestamp``
        (dates too), or ``other`` (lists, structs, binary, durations).

    >>> events_schema(pl.DataFrame({"id": [1], "price": [2.5], "sym": ["A"], "ok": [True]}))
    {'id': 'integer', 'price': 'number', 'sym': 'string', 'ok': 'boolean'}
    """
    return {name: _simple_type(dtype) for name, dtype in df.schema.items()}


def _simple_type(dtype: pl.DataType) -> str:
    if dtype.is_integer():
        return "integer"
    if dtype.is_numeric():
        return "number"
    if dtype == pl.Boolean:
        return "boolean"
    if isinstance(dtype, pl.Datetime) or dtype == pl.Date:
        return "timestamp"
    if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        return "string"
    return "other"


# --- reading the source ---------------------------------------------------------------------


def _read_source(
    source: object, max_bytes: int | None, source_name: str | None
) -> tuple[bytes, str | None, str]:
    """Return the raw bytes, the file name if any, and the name for messages.

    ``max_bytes`` is enforced before anything is parsed (before reading, where the size is known).
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        shown = source_name or "<bytes>"
        _check_size(len(data), max_bytes, shown)
        return data, None, shown
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        shown = source_name or str(source)
        try:
            _check_size(path.stat().st_size, max_bytes, shown)
            return path.read_bytes(), str(source), shown
        except IsADirectoryError:
            raise EventDataError(f"{shown} is a folder, not an events file") from None
        except FileNotFoundError:
            raise EventDataError(f"{shown}: no such events file") from None
        except OSError as exc:
            raise EventDataError(f"{shown}: cannot read the file ({exc.strerror})") from None
    if isinstance(source, _Readable):
        return _read_file_like(source, max_bytes, source_name)
    raise EventDataError(
        f"cannot load events from a {type(source).__name__}; pass a path, bytes, an uploaded "
        "file, or a Polars or pandas DataFrame"
    )


def _read_file_like(
    source: _Readable, max_bytes: int | None, source_name: str | None
) -> tuple[bytes, str | None, str]:
    raw_name = getattr(source, "name", None)
    file_name = raw_name if isinstance(raw_name, str) else None
    shown = source_name or file_name or "<upload>"
    size = getattr(source, "size", None)
    if isinstance(size, int):
        _check_size(size, max_bytes, shown)
    getvalue = getattr(source, "getvalue", None)
    try:
        if callable(getvalue):
            # getvalue() ignores the read position, so a rerun that loads the upload again works.
            content = getvalue()
        else:
            content = source.read() if max_bytes is None else source.read(max_bytes + 1)
    except (OSError, ValueError) as exc:
        raise EventDataError(f"{shown}: cannot read the upload ({exc})") from None
    data = content.encode() if isinstance(content, str) else bytes(content)
    if max_bytes is not None and len(data) > max_bytes:
        _check_size(_stream_size(source, len(data)), max_bytes, shown)
    return data, file_name, shown


def _stream_size(source: object, read_so_far: int) -> int:
    """Best-effort total size of a stream that was read only up to the limit."""
    seek = getattr(source, "seek", None)
    try:
        end = int(seek(0, io.SEEK_END)) if callable(seek) else 0
    except (OSError, ValueError, TypeError):
        end = 0
    return max(end, read_so_far)


def _check_size(size: int, max_bytes: int | None, name: str) -> None:
    if max_bytes is not None and size > max_bytes:
        raise EventDataError(
            f"{name} is {size:,} bytes ({_megabytes(size)}), over the interactive limit of "
            f"{max_bytes:,} bytes ({_megabytes(max_bytes)}); use the CLI (python -m cep match "
            "...) or load_events(..., max_bytes=None) for bigger files"
        )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.{0 if size % (1024 * 1024) == 0 else 1}f} MB"


def _detect_format(fmt: str | None, file_name: str | None, data: bytes, name: str) -> str:
    supported = ", ".join(SUPPORTED_FORMATS)
    if fmt is not None:
        key = fmt.lower() if fmt.startswith(".") else "." + fmt.lower()
        if key not in SUPPORTED_FORMATS:
            raise EventDataError(f"unknown events format '{fmt}'; use one of {supported}")
        return SUPPORTED_FORMATS[key]
    suffix = Path(file_name).suffix.lower() if file_name else ""
    if suffix:
        if suffix not in SUPPORTED_FORMATS:
            raise EventDataError(
                f"{name}: unsupported file type '{suffix}'; use one of {supported} "
                "(or pass fmt=...)"
            )
        return SUPPORTED_FORMATS[suffix]
    return _sniff(data)


def _sniff(data: bytes) -> str:
    if data.startswith(b"PAR1"):
        return "parquet"
    head = data.lstrip().removeprefix(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"["):
        return "json"
    if head.startswith(b"{"):
        first, newline, rest = head.partition(b"\n")
        try:
            whole_line = isinstance(json.loads(first), dict)
        except ValueError:
            whole_line = False
        return "ndjson" if whole_line and newline and rest.strip() else "json"
    return "csv"


def _row_where(name: str, row_numbers: pl.Series | None = None) -> _Where:
    def where(index: int) -> str:
        row = index + 1 if row_numbers is None else int(row_numbers[index])
        return f"{name} row {row}"

    return where


def _parse(data: bytes, kind: str, name: str) -> tuple[pl.DataFrame, _Where]:
    if not data.strip():
        raise EventDataError(f"{name} is empty: no events to load")
    if kind == "csv":
        return _parse_csv(data, name)
    if kind == "json":
        return _parse_json(data, name), _row_where(name)
    if kind == "ndjson":
        return _parse_ndjson(data, name)
    try:
        return pl.read_parquet(io.BytesIO(data)), _row_where(name)
    except (*_READ_FAILURES, OSError) as exc:
        raise EventDataError(f"{name}: not a readable Parquet file ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- CSV --------------------------------------------------------------------------------------


def _parse_csv(data: bytes, name: str) -> tuple[pl.DataFrame, _Where]:
    try:
        try:
            df = pl.read_csv(io.BytesIO(data))
        except pl.exceptions.ComputeError as exc:
            if "could not parse" not in str(exc):
                raise
            # The first 100 rows suggested a type a later row breaks: infer from every row.
            df = pl.read_csv(io.BytesIO(data), infer_schema_length=None)
    except pl.exceptions.NoDataError:
        raise EventDataError(f"{name} is empty: no events to load") from None
    except _READ_FAILURES as exc:
        raise _csv_error(data, name, exc) from None
    if df.width and df.get_column(df.columns[-1]).null_count():
        # Short rows and blank lines both leave the last column null; find out which.
        shape_error = _csv_shape_error(data, name)
        if shape_error is not None:
            raise shape_error
    blank = df.select(pl.all_horizontal(pl.all().is_null())).to_series()
    if not blank.any():
        return df, _row_where(name)
    row_numbers = pl.int_range(1, df.height + 1, eager=True).filter(~blank)
    return df.filter(~blank), _row_where(name, row_numbers)


def _csv_error(data: bytes, name: str, exc: BaseException) -> EventDataError:
    located = _utf8_error(data, name) or _csv_shape_error(data, name)
    return located or EventDataError(f"{name}: cannot read CSV ({_first_line(exc)})")


def _utf8_error(data: bytes, name: str) -> EventDataError | None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return EventDataError(
            f"{name} line {line}: not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        )
    return None


def _csv_shape_error(data: bytes, name: str) -> EventDataError | None:
    """Find the first line whose field count differs from the header's (vectorised)."""
    text = data.decode("utf-8-sig", errors="replace")
    lines = pl.Series("line", [text]).str.split("\n").explode().str.strip_suffix("\r")
    if '"' in text:
        if (lines.str.count_matches('"', literal=True) % 2 == 1).any():
            return _csv_shape_error_slow(text, name)  # a quoted field spans lines
        lines = lines.str.replace_all(r'"[^"]*"', "")
    fields = lines.str.count_matches(",", literal=True) + 1
    content = (lines != "").arg_true()
    if content.is_empty():
        return None
    header = int(content[0])
    expected = int(fields[header])
    after_header = pl.int_range(0, lines.len(), eager=True) > header
    ragged = (fields != expected) & (lines != "") & after_header
    if not ragged.any():
        return None
    index = _first(ragged)
    return _ragged_error(name, index + 1, expected, int(fields[index]))


def _csv_shape_error_slow(text: str, name: str) -> EventDataError | None:
    reader = csv.reader(io.StringIO(text))
    expected: int | None = None
    try:
        for row in reader:
            if not row:
                continue
            if expected is None:
                expected = len(row)
            elif len(row) != expected:
                return _ragged_error(name, reader.line_num, expected, len(row))
    except csv.Error as exc:
        return EventDataError(f"{name} line {reader.line_num}: malformed CSV ({exc})")
    return None


def _ragged_error(name: str, line: int, expected: int, found: int) -> EventDataError:
    return EventDataError(
        f"{name} line {line}: expected {expected} fields as in the header, found {found}; "
        "check for a missing or extra comma, or quote values that contain commas"
    )


# --- JSON and NDJSON --------------------------------------------------------------------------


def _parse_json(data: bytes, name: str) -> pl.DataFrame:
    try:
        document = json.loads(data)
    except json.JSONDecodeError as exc:
        raise EventDataError(
            f"{name} line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})"
        ) from None
    except UnicodeDecodeError:
        raise _utf8_error(data, name) or EventDataError(f"{name}: not UTF-8 text") from None
    shape = 'a JSON array of event objects, or an object with an "events" array'
    if isinstance(document, dict):
        if not isinstance(document.get("events"), list):
            keys = ", ".join(map(str, document)) or "none"
            raise EventDataError(f"{name}: expected {shape}; found an object with keys: {keys}")
        rows = document["events"]
    elif isinstance(document, list):
        rows = document
    else:
        raise EventDataError(f"{name}: expected {shape}; found {_json_type(document)}")
    if not rows:
        raise EventDataError(f"{name} has no events")
    if not all(type(row) is dict for row in rows):
        index = next(i for i, row in enumerate(rows) if type(row) is not dict)
        raise EventDataError(
            f"{name} row {index + 1}: expected a JSON object, got {_json_type(rows[index])}"
        )
    try:
        # Every row is scanned: a key first seen late must not be dropped.
        return pl.from_dicts(rows, infer_schema_length=None)
    except (*_READ_FAILURES, TypeError, ValueError, OverflowError) as exc:
        raise EventDataError(f"{name}: cannot build events ({_first_line(exc)})") from None


def _parse_ndjson(data: bytes, name: str) -> tuple[pl.DataFrame, _Where]:
    try:
        df = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
    except _READ_FAILURES as exc:
        raise _ndjson_error(data, name) or EventDataError(
            f"{name}: cannot read NDJSON ({_first_line(exc)}); check that each field has one "
            "type on every line"
        ) from None

    def where(index: int) -> str:
        # Only called on the error path: the line number of the index-th non-blank line.
        numbers = (n for n, line in enumerate(data.split(b"\n"), 1) if line.strip())
        return f"{name} line {next(itertools.islice(numbers, index, None))}"

    return df, where


def _ndjson_error(data: bytes, name: str) -> EventDataError | None:
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            return EventDataError(
                f"{name} line {number}, column {exc.colno}: invalid JSON ({exc.msg})"
            )
        except UnicodeDecodeError:
            return EventDataError(f"{name} line {number}: not UTF-8 text; save the file as UTF-8")
        if not isinstance(value, dict):
            return EventDataError(
                f"{name} line {number}: expected a JSON object, got {_json_type(value)}"
            )
    return None


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({_show(value)})"
    return "an array" if isinstance(value, list) else "an object"


# --- frames -----------------------------------------------------------------------------------


def _from_pandas(frame: Any, time_field: str, name: str) -> pl.DataFrame:
    include_index = time_field not in frame.columns and frame.index.name == time_field
    try:
        converted: pl.DataFrame = pl.from_pandas(frame, include_index=include_index)
    except Exception as exc:  # pyarrow raises many types (ArrowInvalid, ArrowTypeError, ...)
        raise EventDataError(
            f"{name}: cannot convert the pandas DataFrame ({_first_line(exc)}); give each "
            "column one type"
        ) from None
    return converted


# --- time -------------------------------------------------------------------------------------


def _parse_times(column: pl.Series, where: _Where, field: str) -> pl.Series:
    """Convert a time column to UTC microseconds, raising on the first null or bad value."""
    if column.null_count():
        raise EventDataError(
            f"{where(_first(column.is_null()))}, field '{field}': missing timestamp "
            "(empty or null); every event needs a time"
        )
    dtype = column.dtype
    if isinstance(dtype, pl.Datetime):
        aware = column.dt.replace_time_zone("UTC") if dtype.time_zone is None else column
        return aware.dt.convert_time_zone("UTC").cast(_UTC)
    if dtype == pl.Date:
        return column.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if dtype.is_integer():
        parsed = _epoch_to_utc(column.cast(pl.Int64, strict=False), integer=True)
    elif dtype.is_numeric():
        parsed = _epoch_to_utc(column.cast(pl.Float64, strict=False), integer=False)
    elif dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        parsed = _text_to_utc(column.cast(pl.String))
    else:
        parsed = pl.Series(column.name, [None] * column.len(), dtype=_UTC)
    failed = parsed.is_null()
    if failed.any():
        index = _first(failed)
        value = column[index]
        reason = f"cannot parse {_show(value)} as a timestamp ({_TIME_HINT})"
        if isinstance(value, str) and not value.strip():
            reason = "missing timestamp (empty or null); every event needs a time"
        raise EventDataError(f"{where(index)}, field '{field}': {reason}")
    return parsed.alias(column.name)


def _text_to_utc(column: pl.Series) -> pl.Series:
    text = column.str.strip_chars()
    integers = text.str.to_integer(strict=False)
    floats = _only_where(integers.is_null(), text).cast(pl.Float64, strict=False)
    floats = _only_where(floats.is_finite(), floats)
    parsed = _coalesce(_epoch_to_utc(integers, integer=True), _epoch_to_utc(floats, integer=False))
    iso = _only_where(parsed.is_null() & (text != ""), text)
    if iso.null_count() == iso.len():
        return parsed
    return _coalesce(parsed, _iso_to_utc(iso))


def _iso_routes() -> tuple[tuple[str, bool, pl.Expr], ...]:
    """(format, zone-aware?, the shape of value it is for), tried in order.

    Polars parses fixed-width formats natively but spends a slow general parse on every value a
    format does not fit, so each value only meets the formats its shape allows. ``%.f`` also
    matches no fraction; ``%#z`` matches ``Z``, ``+02:00``, ``+0200`` and ``+02``.
    """
    size, separator = pl.col("size"), pl.col("separator")
    zoned, seconds = pl.col("zoned"), pl.col("seconds")
    routes = [("%Y-%m-%d", False, size == 10)]
    for sep in ("T", " "):
        day, here = f"%Y-%m-%d{sep}", separator == sep
        routes += [
            (f"{day}%H:%M:%S", False, here & (size == 19)),
            (f"{day}%H:%M:%SZ", False, here & (size == 20) & zoned),
            (f"{day}%H:%M:%S%.f%#z", True, here & seconds & zoned),
            (f"{day}%H:%M:%S%.f", False, here & seconds & ~zoned),
            (f"{day}%H:%M%#z", True, here & ~seconds & zoned),
            (f"{day}%H:%M", False, here & ~seconds & ~zoned),
        ]
    return tuple(routes)


_ISO_ROUTES = _iso_routes()


def _iso_to_utc(text: pl.Series) -> pl.Series:
    """ISO-8601 text to UTC, routing each value to the formats its shape allows; null if none."""
    t = pl.col("t")
    shape = pl.DataFrame({"t": text}).select(
        size=t.str.len_bytes(),
        separator=t.str.slice(10, 1),
        zoned=t.str.slice(16).str.contains_any(["Z", "z", "+", "-"]),
        seconds=t.str.slice(16, 1) == ":",
    )
    parsed = pl.repeat(None, text.len(), dtype=_UTC, eager=True)
    pending = text.is_not_null()
    for fmt, has_zone, fits in _ISO_ROUTES:
        rows = pending & shape.select(fits).to_series()
        if not rows.any():
            continue
        attempt = _only_where(rows, text).str.to_datetime(fmt, strict=False, time_unit="us")
        if not has_zone:
            attempt = attempt.dt.replace_time_zone("UTC")
        parsed = _coalesce(parsed, attempt.cast(_UTC))
        pending = pending & attempt.is_null()
    return parsed


def _epoch_to_utc(values: pl.Series, *, integer: bool) -> pl.Series:
    """Epoch numbers to UTC; the unit follows the magnitude (see the module docstring)."""
    x = pl.lit(values)
    size = x.abs()
    if integer:
        micros = (
            pl.when(size < 10**11)
            .then(x * 1_000_000)
            .when(size < 10**14)
            .then(x * 1_000)
            .when(size < 10**17)
            .then(x)
            .otherwise(x // 1_000)
        )
    else:
        micros = (
            pl.when(size < 1e11)
            .then(x * 1e6)
            .when(size < 1e14)
            .then(x * 1e3)
            .when(size < 1e17)
            .then(x)
            .otherwise(x / 1e3)
            .round(0)
            .cast(pl.Int64, strict=False)
        )
    return pl.select(micros.cast(_UTC)).to_series()


def _only_where(mask: pl.Series, values: pl.Series) -> pl.Series:
    """``values`` where ``mask`` holds, null elsewhere."""
    return pl.select(pl.when(pl.lit(mask)).then(pl.lit(values))).to_series()


def _coalesce(first: pl.Series, second: pl.Series) -> pl.Series:
    return pl.select(pl.coalesce(pl.lit(first), pl.lit(second))).to_series()


# --- messages ---------------------------------------------------------------------------------


def _first(mask: pl.Series) -> int:
    """Index of the first true value (the caller knows there is one)."""
    index = mask.arg_max()
    assert index is not None
    return int(index)


def _show(value: object, limit: int = 60) -> str:
    text = str(value.to_list() if isinstance(value, pl.Series) else value).replace("\n", "\\n")
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"'{text}'"


def _names(columns: Collection[str]) -> str:
    return ", ".join(columns) if columns else "none"


def _suggest(field: str, columns: list[str]) -> str:
    close = [c for c in columns if c.lower() == field.lower()]
    close += [
        c for c in difflib.get_close_matches(field, columns, n=3, cutoff=0.6) if c not in close
    ]
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _missing_time_message(name: str, field: str, columns: list[str]) -> str:
    suggestion = _suggest(field, columns)
    if not suggestion:
        timeish = [c for c in columns if c.lower() in _TIME_NAMES]
        if timeish:
            suggestion = f"; did you mean {' or '.join(repr(c) for c in timeish)}?"
    return (
        f"{name}: no time column '{field}' (columns found: {_names(columns)}){suggestion}; "
        "pass time_field=... to use another column"
    )
