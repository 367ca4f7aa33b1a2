"""Reading what the user gave the Test page: pattern text and its format."""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Literal

PatternFormat = Literal["json", "yaml", "sql"]

PATTERN_EXTENSIONS: dict[str, PatternFormat] = {
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".sql": "sql",
}
EVENT_EXTENSIONS = ("csv", "json", "jsonl", "ndjson", "parquet")

_SQL_START = re.compile(r"^\s*(--[^\n]*\n\s*)*(SELECT|WITH|FROM)\b", re.IGNORECASE)


def guess_pattern_format(text: str, source: str | None = None) -> PatternFormat:
    """Return the format of a pattern: from the file name when it has a known extension, else
    from the text (JSON starts with `{`, SQL holds `MATCH_RECOGNIZE` or starts with SELECT).

    >>> guess_pattern_format('{"kind": "sequence"}')
    'json'
    >>> guess_pattern_format("SELECT * FROM t MATCH_RECOGNIZE (PATTERN (A) DEFINE A AS x > 1)")
    'sql'
    >>> guess_pattern_format("kind: sequence")
    'yaml'
    >>> guess_pattern_format("{}", "p.yml")
    'yaml'
    """
    if source:
        known = PATTERN_EXTENSIONS.get(PurePath(source).suffix.lower())
        if known:
            return known
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return "json"
    if "match_recognize" in text.lower() or _SQL_START.match(text):
        return "sql"
    return "yaml"


def decode_text(data: bytes, name: str) -> str:
    """Decode an uploaded text file as UTF-8 (a BOM is dropped).

    Raises:
        ValueError: the file is not UTF-8 text; the message names the file.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{name} is not UTF-8 text (byte {e.start} cannot be decoded). "
            "Save the pattern as UTF-8 JSON, YAML or SQL and upload it again."
        ) from e
