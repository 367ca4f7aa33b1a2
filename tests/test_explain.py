"""Plain-English descriptions name what decides a match: windows, thresholds, conditions."""

from __future__ import annotations

import pytest

from cep.explain import describe_pattern
from cep.model import parse_pattern

CASES = {
    "absence": ({"trigger": "type = 'order'", "expected": "type = 'paid'", "timeout": "15m"},
                ["type = 'order'", "type = 'paid'", "15m", "deadline"]),
    "count_threshold": ({"where": "amount > 500", "threshold": 5, "window": "10m"},
                        ["amount > 500", "10m", "reach 5", "drops below 5"]),
    "velocity": ({"value_field": "amount", "threshold": 1000, "per": "minute", "window": "5m"},
                 ["sum of amount", "5m", "per minute", "1000"]),
    "trend": ({"value_field": "temp", "direction": "up", "count": 5}, ["5 consecutive rising", "temp"]),
    "outlier": ({"value_field": "x", "method": "zscore", "threshold": 3, "baseline": "1h"},
                ["more than 3 (zscore)", "1h"]),
    "session": ({"gap": "30m", "having": "event_count >= 3"}, ["30m", "event_count >= 3"]),
    "dedup": ({"fields": ["msg_id"], "window": "1m"}, ["msg_id", "1m"]),
    "heartbeat": ({"interval": "1m", "grace": "30s"}, ["1m", "30s", "dead"]),
}


@pytest.mark.parametrize(("kind", "case"), CASES.items(), ids=CASES.keys())
def test_detector_descriptions_state_their_settings(kind, case):
    fields, words = case
    text = describe_pattern(parse_pattern({"kind": kind, "name": "p", "partition_by": ["k"], **fields}))
    assert text.splitlines()[0] == f"p ({kind})"
    assert "For each k separately" in text
    for word in words:
        assert word in text


def test_sequence_description_lists_steps_window_and_skip():
    pattern = parse_pattern({
        "kind": "sequence", "name": "ato", "partition_by": ["user"], "within": "10m",
        "steps": [{"name": "fail", "where": "t = 'fail'", "times": {"min": 3, "max": None}},
                  {"name": "ok", "where": "t = 'ok'", "contiguity": "strict"}],
    })
    text = describe_pattern(pattern)
    assert "fail (t = 'fail'), 3 or more times" in text
    assert "immediately followed by" in text
    assert "less than 10m" in text
    assert "never overlap" in text
