"""One small pattern per kind (DESIGN.md §4), for golden files and generated-code checks."""

from __future__ import annotations

from typing import Any

from cep.model import Pattern, parse_pattern

PATTERNS: dict[str, dict[str, Any]] = {
    "sequence": {"kind": "sequence", "name": "login_then_transfer", "partition_by": ["user_id"],
                 "steps": [{"name": "fail", "where": "event_type = 'login_failed'",
                            "times": {"min": 3, "max": None}},
                           {"name": "ok", "where": "event_type = 'login_ok'"},
                           {"name": "move", "where": "event_type = 'transfer' AND amount > 500"}],
                 "within": "10m"},
    "match_recognize": {"kind": "match_recognize", "name": "v_shape", "partition_by": ["symbol"],
                        "pattern": "A B+ C+",
                        "define": {"B": "price < PREV(price)", "C": "price > PREV(price)"},
                        "measures": {"bottom": "LAST(B.price)", "start_price": "FIRST(A.price)"}},
    "absence": {"kind": "absence", "name": "cart_abandoned", "partition_by": ["customer_id"],
                "trigger": "event_type = 'add_to_cart'", "expected": "event_type = 'checkout'",
                "timeout": "30m"},
    "count_threshold": {"kind": "count_threshold", "name": "failed_logins",
                        "partition_by": ["user_id"], "where": "event_type = 'login_failed'",
                        "threshold": 5, "window": "10m"},
    "velocity": {"kind": "velocity", "name": "spend_rate", "partition_by": ["card_id"],
                 "value_field": "amount", "threshold": 1000, "per": "minute", "window": "5m"},
    "trend": {"kind": "trend", "name": "rising_temperature", "partition_by": ["device_id"],
              "value_field": "temperature", "direction": "up", "count": 4},
    "outlier": {"kind": "outlier", "name": "odd_reading", "partition_by": ["device_id"],
                "value_field": "reading", "method": "zscore", "threshold": 3, "baseline": "1h"},
    "session": {"kind": "session", "name": "long_sessions", "partition_by": ["user_id"],
                "gap": "30m", "having": "event_count >= 10"},
    "dedup": {"kind": "dedup", "name": "double_payment", "partition_by": ["account_id"],
              "fields": ["amount", "merchant"], "window": "2m"},
    "geofence": {"kind": "geofence", "name": "depot_exit", "partition_by": ["truck_id"],
                 "shape": {"type": "circle", "center": {"lat": 51.5, "lon": -0.12},
                           "radius_m": 500},
                 "trigger": "exit"},
    "temporal_correlation": {"kind": "temporal_correlation", "name": "alarm_and_trip",
                             "partition_by": ["site_id"], "a": "event_type = 'alarm'",
                             "b": "event_type = 'trip'", "max_gap": "5m"},
    "heartbeat": {"kind": "heartbeat", "name": "silent_sensor", "partition_by": ["sensor_id"],
                  "interval": "1m", "grace": "30s"},
    "state_machine": {"kind": "state_machine", "name": "order_flow", "partition_by": ["order_id"],
                      "states": ["new", "paid", "shipped", "stuck"], "initial": "new",
                      "transitions": [{"from": "new", "to": "paid", "when": "event_type = 'pay'"},
                                      {"from": "paid", "to": "shipped",
                                       "when": "event_type = 'ship'"}],
                      "terminal": ["shipped"], "timeout": "1h", "timeout_state": "stuck"},
}


def pattern(kind: str, **changes: Any) -> Pattern:
    """The kind's pattern, with ``changes`` applied to its JSON form."""
    return parse_pattern({**PATTERNS[kind], **changes})
