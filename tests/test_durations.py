"""Durations: the accepted spellings, the canonical form, bounds and the configurable maximum."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cep.errors import PatternError
from cep.model import (
    DEFAULT_MAX_DURATION_DAYS,
    MAX_DURATION,
    Duration,
    HeartbeatPattern,
    dump_pattern,
    max_duration_s,
    parse_pattern,
)

MAX_US = DEFAULT_MAX_DURATION_DAYS * 86_400 * 1_000_000


@pytest.fixture(autouse=True)
def _default_maximum(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("LAKESTREAM_MAX_DURATION_DAYS", raising=False)
    max_duration_s.cache_clear()
    yield
    max_duration_s.cache_clear()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("2h", 7_200),
        ("7d", 604_800),
        ("1w", 604_800),
        ("500ms", 0.5),
        ("1h30m", 5_400),
        ("1.5h", 5_400),
        ("90 minutes", 5_400),
        ("2 hours", 7_200),
        ("1 day", 86_400),
        (" 10S ", 10),
        ("PT5M", 300),
        ("P7D", 604_800),
        ("PT1H30M", 5_400),
        ("P1W", 604_800),
        ("P1DT2H", 93_600),
        ("PT0.5S", 0.5),
        ("pt5m", 300),
        pytest.param({"value": 5, "unit": "minutes"}, 300, id="dict-minutes"),
        pytest.param({"value": 1, "unit": "hour"}, 3_600, id="dict-hour-singular"),
        pytest.param({"value": 2, "unit": "d"}, 172_800, id="dict-letter"),
        pytest.param({"value": 30, "unit": "seconds"}, 30, id="dict-seconds"),
        pytest.param({"value": 1.5, "unit": "weeks"}, 907_200, id="dict-fractional-weeks"),
        pytest.param({"value": 0.1, "unit": "hours"}, 360, id="dict-decimal-exact"),
        pytest.param({"value": 250, "unit": "milliseconds"}, 0.25, id="dict-ms"),
        pytest.param(timedelta(minutes=5), 300, id="timedelta"),
    ],
    ids=str,
)
def test_duration_accepts_each_documented_form(value: object, seconds: float) -> None:
    assert Duration(value).seconds == seconds  # type: ignore[arg-type]


def test_days_are_exactly_86400_seconds() -> None:
    assert Duration("1d").timedelta == timedelta(seconds=86_400)
    assert Duration("P1D") == Duration("24h") == Duration({"value": 1, "unit": "days"})


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("90s", "90s"),
        ("5400s", "90m"),
        ("PT1H30M", "90m"),
        ("120m", "2h"),
        ("7d", "7d"),
        ("1w", "7d"),
        ("P14D", "14d"),
        ("0.5s", "500ms"),
        ("1.5h", "90m"),
        ("86400s", "1d"),
        ("3600000ms", "1h"),
        ("1.000001s", "1000001us"),
        ("1h30m15s", "5415s"),
    ],
    ids=str,
)
def test_duration_serialises_to_its_shortest_exact_form(value: str, canonical: str) -> None:
    assert str(Duration(value)) == canonical
    assert Duration(canonical) == Duration(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, "a bare number is ambiguous"),
        (2.5, "a bare number is ambiguous"),
        (True, "a bare number is ambiguous"),
        ("300", "a number without a unit is ambiguous"),
        ("", "empty"),
        ("soon", "invalid duration 'soon'"),
        ("5 fortnights", "unknown unit 'fortnights'"),
        ("-5m", "durations must be positive"),
        ("0s", "durations must be positive"),
        ("PT0S", "durations must be positive"),
        ("5M", "'M' is ambiguous"),
        ("3 months", "months and years have no fixed length"),
        ("P1M", "years and months have no fixed length"),
        ("P1Y", "years and months have no fixed length"),
        ("PT", "invalid duration 'PT'"),
        ("1h30", "invalid duration '1h30'"),
        ("0.0000001s", "finer than one microsecond"),
        ({"value": 5}, "'value' and 'unit' needed"),
        ({"value": 5, "unit": "minutes", "every": 2}, "unknown key(s) every"),
        ({"value": "5", "unit": "minutes"}, "'value' must be a number"),
        ({"value": 5, "unit": 60}, "'unit' must be a string"),
        ({"value": -1, "unit": "seconds"}, "durations must be positive"),
        ({"value": 5, "unit": "parsecs"}, "unknown unit 'parsecs'"),
        (None, "invalid duration of type NoneType"),
        ([5, "m"], "invalid duration of type list"),
    ],
    ids=repr,
)
def test_duration_rejects_with_a_reason(value: object, message: str) -> None:
    with pytest.raises(PatternError) as info:
        Duration(value)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_bare_number_error_shows_the_accepted_spellings() -> None:
    with pytest.raises(PatternError, match=r"'5m'.*PT5M.*\"unit\": \"minutes\""):
        Duration(300)  # type: ignore[arg-type]


def test_default_maximum_is_90_days() -> None:
    assert max_duration_s() == 90 * 86_400
    assert timedelta(days=90) == MAX_DURATION
    assert Duration("90d").seconds == 90 * 86_400
    assert Duration("P12W").seconds == 84 * 86_400


@pytest.mark.parametrize("value", ["91d", "P13W", "2161h", {"value": 3, "unit": "months"}], ids=str)
def test_duration_above_the_maximum_is_rejected(value: object) -> None:
    with pytest.raises(PatternError):
        Duration(value)  # type: ignore[arg-type]


def test_too_long_duration_message_names_the_limit_and_the_setting() -> None:
    with pytest.raises(PatternError) as info:
        Duration("91d")
    assert "longer than the maximum 90d" in str(info.value)
    assert "LAKESTREAM_MAX_DURATION_DAYS" in str(info.value)


def test_maximum_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKESTREAM_MAX_DURATION_DAYS", "365")
    max_duration_s.cache_clear()
    assert Duration("200d").seconds == 200 * 86_400
    with pytest.raises(PatternError, match="maximum 365d"):
        Duration("366d")


def test_maximum_may_be_a_fraction_of_a_day(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKESTREAM_MAX_DURATION_DAYS", "0.5")
    max_duration_s.cache_clear()
    assert Duration("12h").seconds == 43_200
    with pytest.raises(PatternError, match="maximum 12h"):
        Duration("13h")


def test_maximum_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    assert max_duration_s() == 90 * 86_400
    monkeypatch.setenv("LAKESTREAM_MAX_DURATION_DAYS", "1")
    assert max_duration_s() == 90 * 86_400


@pytest.mark.parametrize("raw", ["abc", "0", "-3", "inf", "nan"])
def test_bad_maximum_setting_is_reported(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("LAKESTREAM_MAX_DURATION_DAYS", raw)
    max_duration_s.cache_clear()
    with pytest.raises(PatternError, match="LAKESTREAM_MAX_DURATION_DAYS must be a positive"):
        max_duration_s()


def test_bad_maximum_setting_is_reported_while_loading_a_pattern(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LAKESTREAM_MAX_DURATION_DAYS", "lots")
    max_duration_s.cache_clear()
    with pytest.raises(PatternError, match=r"^p\.json: interval: LAKESTREAM_MAX_DURATION_DAYS"):
        parse_pattern({"kind": "heartbeat", "name": "hb", "interval": "5m"}, source="p.json")


def test_duration_error_in_a_pattern_names_the_field() -> None:
    with pytest.raises(PatternError) as info:
        parse_pattern({"kind": "heartbeat", "name": "hb", "interval": "91d"}, source="hb.yaml")
    assert str(info.value).startswith("hb.yaml: interval: invalid duration '91d': longer than")


def test_duration_in_a_pattern_dumps_as_canonical_text() -> None:
    p = parse_pattern({"kind": "heartbeat", "name": "hb", "interval": "PT90M", "grace": "30s"})
    assert isinstance(p, HeartbeatPattern)
    assert p.model_dump(mode="json")["interval"] == "90m"
    assert p.model_dump()["grace"] == Duration("30s")
    assert json.loads(dump_pattern(p))["grace"] == "30s"


def test_duration_is_an_immutable_hashable_value() -> None:
    d = Duration("5m")
    assert d == Duration("300s")
    assert hash(d) == hash(Duration("PT5M"))
    assert d != "5m"
    assert Duration("1s") < d <= Duration("5m") < Duration("1h")
    assert repr(d) == "Duration('5m')"
    assert d.microseconds == 300_000_000
    assert d.timedelta == timedelta(minutes=5)
    assert Duration.from_seconds(300) == d
    assert Duration(d) == d
    with pytest.raises(AttributeError):
        d._us = 1


@given(st.integers(min_value=1, max_value=MAX_US))
def test_any_duration_round_trips_through_its_text(us: int) -> None:
    d = Duration(timedelta(microseconds=us))
    assert d.microseconds == us
    assert Duration(str(d)) == d


_UNITS = [
    ("s", "seconds", 1),
    ("m", "minutes", 60),
    ("h", "hours", 3_600),
    ("d", "days", 86_400),
    ("w", "weeks", 604_800),
]


@given(st.integers(min_value=1, max_value=12), st.sampled_from(_UNITS))
def test_short_iso_and_dict_spellings_agree(n: int, unit: tuple[str, str, int]) -> None:
    letter, word, size = unit
    short = Duration(f"{n}{letter}")
    iso = f"P{n}{letter.upper()}" if letter in "dw" else f"PT{n}{letter.upper()}"
    assert short.seconds == n * size
    assert short == Duration(iso) == Duration({"value": n, "unit": word})
