"""``python -m cep packs sample --duration``: the events written span the duration given; a bad
duration is a one-line error with status 2."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from cep.__main__ import main
from cep.packs import generate_sample, load_pack


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("duration", "seconds"), [("2h", 7200), ("90m", 5400), ("PT3H", 10800)])
def test_sample_events_span_the_duration(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, duration: str, seconds: int
) -> None:
    out = tmp_path / "events.parquet"
    code, text, err = run(capsys, "packs", "sample", "card_fraud", "--events", 500,
                          "--duration", duration, "--out", out)
    assert (code, err) == (0, "")
    assert text == f"wrote 500 events of card_fraud (seed 0) to {out}\n"
    written = pl.read_parquet(out)
    pack = load_pack("card_fraud")
    expected, _ = generate_sample(pack, events=500, seed=0, duration=float(seconds))
    assert_frame_equal(written, expected)
    start = pack.generator.time.start
    first, last = written["ts"].min(), written["ts"].max()
    span = timedelta(seconds=seconds)
    # 500 events at the pack's rate (0.04/s) would last 12,500 s: the duration sets the span.
    assert start <= first < start + span * 0.01
    assert start + span * 0.99 < last <= start + span


@pytest.mark.parametrize(
    ("duration", "message"),
    [
        ("2x", "error: --duration: invalid duration '2x': unknown unit 'x'; write e.g. '30s', "),
        ("0s", "error: --duration: invalid duration '0s': durations must be positive\n"),
        ("90", "error: --duration: invalid duration '90': a number without a unit is ambiguous"),
        ("5m", "error: pack 'card_fraud': incident 'slow_declines' needs 3000s of stream but the "
               "stream lasts 300s; ask for more events or a longer duration\n"),
    ],
    ids=["unknown-unit", "zero", "no-unit", "too-short-for-incidents"],
)
def test_a_bad_duration_is_one_line_and_status_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, duration: str, message: str
) -> None:
    out = tmp_path / "events.csv"
    code, text, err = run(capsys, "packs", "sample", "card_fraud", "--duration", duration,
                          "--out", out)
    assert code == 2
    assert text == ""
    assert err.startswith(message)
    assert err.count("\n") == 1
    assert not out.exists()
