"""The command line: output contract of DESIGN.md §5.1 and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cep.__main__ import main

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
V_SHAPE_MATCHES = [
    ({"symbol": "ACME"}, [3, 5, 7, 9, 11]),
    ({"symbol": "ACME"}, [13, 15, 17, 19]),
    ({"symbol": "ACME"}, [21, 22, 23]),
    ({"symbol": "GLOBX"}, [2, 4, 6, 8, 10, 12, 14, 16]),
]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("pattern", ["v_shape.json", "v_shape.sql"], ids=["json", "sql"])
def test_match_json_lists_the_hand_computed_v_shapes(capsys, pattern):
    code, out, err = run(capsys, "match", SAMPLES / pattern, SAMPLES / "stocks.csv")
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert [(m["key"], m["event_ids"]) for m in result["matches"]] == V_SHAPE_MATCHES
    first = result["matches"][0]
    assert first["classifiers"] == ["A", "B", "B", "C", "C"]
    assert first["match_number"] == 1
    assert result["stats"]["events"] == 23
    assert result["stats"]["matches"] == 4


def test_match_json_has_the_design_shape(tmp_path, capsys):
    events = tmp_path / "e.jsonl"
    prices = [10, 9, 8, 9, 10]
    events.write_text(
        "\n".join(
            json.dumps({"id": i + 1, "symbol": "ACME", "ts": f"2024-01-01T00:00:0{i + 1}", "price": p})
            for i, p in enumerate(prices)
        )
    )
    pattern = tmp_path / "p.json"
    pattern.write_text(json.dumps({
        "kind": "match_recognize", "name": "v_shape", "partition_by": ["symbol"],
        "pattern": "A B+ C+", "define": {"B": "price < PREV(price)", "C": "price > PREV(price)"},
    }))
    code, out, _ = run(capsys, "match", pattern, events)
    assert code == 0
    match = json.loads(out)["matches"][0]
    assert match == {
        "pattern": "v_shape", "key": {"symbol": "ACME"}, "start": "2024-01-01T00:00:01",
        "end": "2024-01-01T00:00:05", "event_ids": [1, 2, 3, 4, 5],
        "classifiers": ["A", "B", "B", "C", "C"], "measures": {}, "match_number": 1,
    }


def test_empty_matches_carry_empty_at_and_unmatched_rows_are_listed(tmp_path, capsys):
    events = tmp_path / "e.csv"
    events.write_text("id,ts,x\n7,2024-01-01T00:00:00,1\n8,2024-01-01T00:00:01,5\n9,2024-01-01T00:00:02,1\n")
    pattern = tmp_path / "p.yaml"
    pattern.write_text(
        "kind: match_recognize\nname: big\npattern: A B?\n"
        "define: {A: x > 2, B: x > 100}\nrows_per_match: ALL\n"
        "rows_per_match_option: WITH UNMATCHED ROWS\n"
    )
    code, out, _ = run(capsys, "match", pattern, events)
    assert code == 0
    result = json.loads(out)
    assert [(m["event_ids"], m["classifiers"]) for m in result["matches"]] == [([8], ["A"])]
    assert result["unmatched_event_ids"] == [7, 9]

    pattern.write_text("kind: match_recognize\nname: opt\npattern: A?\ndefine: {A: x > 2}\n")
    code, out, _ = run(capsys, "match", pattern, events)
    matches = json.loads(out)["matches"]
    assert [(m["event_ids"], m.get("empty_at"), m["match_number"]) for m in matches] == [
        ([], 7, 1), ([8], None, 2), ([], 9, 3)
    ]


def test_table_and_csv_formats(capsys, tmp_path):
    code, out, _ = run(capsys, "match", SAMPLES / "v_shape.json", SAMPLES / "stocks.csv",
                       "--format", "table")
    assert code == 0
    assert out.splitlines()[0].split() == ["key", "start", "end", "event_ids", "classifiers", "measures"]
    assert out.rstrip().endswith("ms)")
    assert "4 matches in 23 events" in out
    target = tmp_path / "out.csv"
    code, out, _ = run(capsys, "match", SAMPLES / "v_shape.json", SAMPLES / "stocks.csv",
                       "--format", "csv", "--out", target)
    assert (code, out) == (0, "")
    lines = target.read_text().splitlines()
    assert lines[0].startswith("pattern,key,start,end,event_ids")
    assert len(lines) == 5


def test_explain_describes_the_pattern_and_its_matches(capsys):
    code, out, _ = run(capsys, "explain", SAMPLES / "v_shape.json")
    assert code == 0
    assert "one or more rows B (price < PREV(price); as many as possible)" in out
    code, out, _ = run(capsys, "explain", SAMPLES / "v_shape.json", SAMPLES / "stocks.csv")
    assert "4 matches in 23 events" in out
    assert "3:A, 5:B, 7:B, 9:C, 11:C" in out


def test_a_kind_without_a_matcher_says_so(tmp_path, capsys, monkeypatch):
    import cep.matcher

    monkeypatch.setattr(cep.matcher, "_detector", lambda kind: None)
    pattern = tmp_path / "t.json"
    pattern.write_text(json.dumps({
        "kind": "trend", "name": "rising", "value_field": "price", "direction": "up", "count": 3,
    }))
    code, out, err = run(capsys, "match", pattern, SAMPLES / "stocks.csv")
    assert (code, out) == (2, "")
    assert "not implemented yet" in err
    assert "trend" in err


def test_skip_to_the_first_row_is_a_run_time_error(tmp_path, capsys):
    pattern = tmp_path / "p.json"
    pattern.write_text(json.dumps({
        "kind": "match_recognize", "name": "loop", "pattern": "A B",
        "after_match_skip": "TO FIRST A",
    }))
    code, _, err = run(capsys, "match", pattern, SAMPLES / "stocks.csv")
    assert code == 2
    assert "cannot skip to first row of match" in err


BAD_PATTERNS = {
    "malformed-json": ('{"kind": "match_recognize", "name": ', ".json", ["JSON", "line 1"]),
    "malformed-yaml": ("kind: [match_recognize\nname: x\n", ".yaml", ["YAML", "line"]),
    "unknown-kind": ('{"kind": "telepathy", "name": "x"}', ".json", ["telepathy", "match_recognize"]),
    "unknown-field": ('{"kind": "match_recognize", "name": "x", "pattern": "A", "colour": 1}', ".json",
                      ["colour"]),
    "bad-duration": ('{"kind": "match_recognize", "name": "x", "pattern": "A", "within": "5 parsecs"}',
                     ".json", ["within", "5 parsecs"]),
    "bad-pattern": ('{"kind": "match_recognize", "name": "x", "pattern": "A (B"}', ".json",
                    ["PATTERN", "position"]),
    "unknown-define-var": ('{"kind": "match_recognize", "name": "x", "pattern": "A", "define": {"Z": "price > 1"}}',
                           ".json", ["Z"]),
    "injection-import": ('{"kind": "match_recognize", "name": "x", "pattern": "A", '
                         '"define": {"A": "__import__(\'os\').system(\'x\')"}}', ".json", ["__import__"]),
    "injection-drop": ('{"kind": "match_recognize", "name": "x", "pattern": "A", '
                       '"define": {"A": "1; DROP TABLE t"}}', ".json", [";"]),
    "injection-subquery": ('{"kind": "match_recognize", "name": "x", "pattern": "A", '
                           '"define": {"A": "(SELECT 1)"}}', ".json", ["SELECT"]),
    "injection-reflect": ('{"kind": "match_recognize", "name": "x", "pattern": "A", '
                          '"define": {"A": "reflect(\'java.lang.Runtime\',\'exec\',\'x\')"}}', ".json",
                          ["reflect"]),
}


@pytest.mark.parametrize(("text", "suffix", "words"), BAD_PATTERNS.values(), ids=BAD_PATTERNS.keys())
def test_bad_patterns_exit_2_with_one_line_naming_the_problem(tmp_path, capsys, text, suffix, words):
    pattern = tmp_path / f"p{suffix}"
    pattern.write_text(text)
    code, out, err = run(capsys, "match", pattern, SAMPLES / "stocks.csv")
    assert (code, out) == (2, "")
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    for word in words:
        assert word in err


BAD_EVENTS = {
    "empty-file": ("", ".csv", ["empty"]),
    "missing-time-column": ("id,time,price\n1,2024-01-01,5\n", ".csv", ["ts"]),
    "unparseable-time": ("id,ts,price\n1,2024-01-01,5\n2,yesterday,6\n", ".csv", ["yesterday", "row 2"]),
    "unknown-column-in-define": ("id,ts,cost\n1,2024-01-01,5\n", ".csv", ["price", "DEFINE"]),
}


@pytest.mark.parametrize(("text", "suffix", "words"), BAD_EVENTS.values(), ids=BAD_EVENTS.keys())
def test_bad_events_exit_2_with_one_line_naming_the_problem(tmp_path, capsys, text, suffix, words):
    events = tmp_path / f"e{suffix}"
    events.write_text(text)
    code, out, err = run(capsys, "match", SAMPLES / "v_shape.json", events)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    for word in words:
        assert word in err


def test_missing_files_exit_2(capsys, tmp_path):
    code, _, err = run(capsys, "match", tmp_path / "nope.json", SAMPLES / "stocks.csv")
    assert code == 2
    assert "nope.json" in err


def test_module_entry_point_runs_in_a_fresh_interpreter():
    done = subprocess.run(
        [sys.executable, "-m", "cep", "match", str(SAMPLES / "v_shape.json"), str(SAMPLES / "stocks.csv")],
        capture_output=True, text=True, check=False, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stats"]["matches"] == 4
