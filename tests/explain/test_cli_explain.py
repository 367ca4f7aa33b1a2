"""``python -m cep explain PATTERN [EVENTS] [--key K] [--format text|json]``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cep.__main__ import main

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
V_SHAPE = SAMPLES / "v_shape.json"
STOCKS = SAMPLES / "stocks.csv"


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_pattern_alone_prints_the_description(capsys):
    code, out, err = run(capsys, "explain", V_SHAPE)
    assert (code, err) == (0, "")
    assert out.startswith("v_shape (match_recognize): A price that falls")
    assert "matches in" not in out


def test_text_shows_each_match_with_timeline_state_and_near_misses(capsys):
    code, out, err = run(capsys, "explain", V_SHAPE, STOCKS)
    assert (code, err) == (0, "")
    assert "4 matches in 23 events:" in out
    assert "3:A, 5:B, 7:B, 9:C, 11:C" in out
    # ACME's 97 at 09:31:30 is the second B: price < PREV(price) (99) holds.
    assert "7  2024-01-02T09:31:30  B  price=97  [price < PREV(price): true]" in out
    assert "variables={A: 1, B: 2, C: 2}" in out
    assert "Near misses for symbol=ACME" in out
    # ACME's first row (100) is followed by 101: not a fall, so B+ never starts.
    assert ("- [strict_contiguity_broken] After step A (1 of 3), the very next event 3 did not "
            "fit step B+, which must follow immediately.") in out


def test_key_selects_the_near_misses_of_one_key(capsys):
    code, out, _ = run(capsys, "explain", V_SHAPE, STOCKS, "--key", "GLOBX")
    assert code == 0
    assert "Near misses for symbol=GLOBX" in out
    assert "Near misses for symbol=ACME" not in out


def test_json_format_holds_description_matches_and_near_misses(capsys):
    code, out, _ = run(capsys, "explain", V_SHAPE, STOCKS, "--key", "ACME", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["description"].startswith("v_shape (match_recognize)")
    assert data["matches"][0]["event_ids"] == [3, 5, 7, 9, 11]
    assert data["matches"][0]["state_snapshot"]["window_left_s"] == 480.0
    assert {m["key"]["symbol"] for m in data["near_misses"]} == {"ACME"}
    assert {"reason", "reason_text", "step_reached", "broken_by"} <= set(data["near_misses"][0])


def test_json_format_of_a_pattern_alone(capsys):
    code, out, _ = run(capsys, "explain", V_SHAPE, "--format", "json")
    assert code == 0
    assert json.loads(out)["description"].startswith("v_shape (match_recognize)")


@pytest.mark.parametrize(("args", "message"), [
    (["--key", "NOPE"], "no events with key 'NOPE' (partition_by symbol); keys found: "
                        "symbol=ACME, symbol=GLOBX"),
    (["--key", "price=1"], "key 'price=1' must name the partition columns symbol"),
], ids=["unknown key", "wrong column"])
def test_bad_keys_exit_2_with_one_line(capsys, args, message):
    code, out, err = run(capsys, "explain", V_SHAPE, STOCKS, *args)
    assert (code, out) == (2, "")
    assert err == f"error: {message}\n"


def test_key_without_events_is_an_error(capsys):
    code, _, err = run(capsys, "explain", V_SHAPE, "--key", "ACME")
    assert code == 2
    assert err == "error: --key needs an events file\n"
