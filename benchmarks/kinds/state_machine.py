"""State-machine benchmark: an order-workflow generator, a per-event pure-Python machine, timing.

``generate_events`` simulates customers whose events move their current order through
``new → ordered → paid → shipped → delivered`` (with cancellations, noise and stalls);
``python_matches`` is the state machine a competent user would write row by row (dict of
per-key lists, a loop per key holding the state), with the semantics of
:mod:`cep.matcher.detectors.state_machine`; ``main`` times both on the same events::

    python -m benchmarks.kinds.state_machine [--events 1000000] [--keys 1000]

>>> df = generate_events(6, n_keys=2, seed=1)
>>> df.columns, df["ts"].is_sorted()
(['id', 'customer', 'ts', 'type', 'amount'], True)
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from cep import expr as E

__all__ = ["PATTERNS", "PREDICATES", "generate_events", "main", "python_matches"]

START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
TYPES = ("view", "order", "pay", "ship", "deliver", "cancel")
TYPE_WEIGHTS = (0.50, 0.12, 0.12, 0.10, 0.10, 0.06)

_WORKFLOW: dict[str, Any] = {
    "kind": "state_machine", "partition_by": ["customer"],
    "states": ["new", "ordered", "paid", "shipped", "delivered", "cancelled", "expired"],
    "initial": "new", "terminal": ["delivered", "cancelled", "expired"],
    "transitions": [
        {"from": "new", "to": "ordered", "when": "type = 'order'"},
        {"from": "ordered", "to": "paid", "when": "type = 'pay' AND amount > 0"},
        {"from": "paid", "to": "shipped", "when": "type = 'ship'"},
        {"from": "shipped", "to": "delivered", "when": "type = 'deliver'"},
        {"from": "*", "to": "cancelled", "when": "type = 'cancel'"},
    ],
    "timeout": {"ordered": "15m", "paid": "30m"}, "timeout_state": "expired",
}
PATTERNS: dict[str, dict[str, Any]] = {
    "order workflow, emit transition": {**_WORKFLOW, "name": "workflow", "emit": "transition"},
    "order workflow, emit terminal": {**_WORKFLOW, "name": "runs", "emit": "terminal"},
}

Predicate = Callable[[dict[str, Any]], bool]
PREDICATES: list[Predicate] = [
    # What the user would write instead of the SQL text of each transition's ``when``.
    lambda e: e["type"] == "order",
    lambda e: e["type"] == "pay" and e["amount"] is not None and e["amount"] > 0,
    lambda e: e["type"] == "ship",
    lambda e: e["type"] == "deliver",
    lambda e: e["type"] == "cancel",
]


def generate_events(n_events: int = 1_000_000, *, n_keys: int = 1_000, seed: int = 20240101,
                    events_per_s: float = 20.0) -> pl.DataFrame:
    """Shop events of ``n_keys`` customers in global time order.

    Poisson arrivals at ``events_per_s`` overall (a customer acts every ~50 s with 1,000
    customers), each from a uniformly drawn customer; ``type`` is view 50%, order 12%, pay 12%,
    ship 10%, deliver 10%, cancel 6%, so orders advance, stall (and time out) or get cancelled;
    ``amount`` is positive except for 2% of rows (zero: a failed payment).
    """
    rng = np.random.default_rng(seed)
    gaps = np.floor(rng.exponential(1e6 / events_per_s, n_events)).astype(np.int64) + 1
    ts_us = START_US + np.cumsum(gaps)
    customer = rng.integers(0, n_keys, n_events)
    kind = rng.choice(len(TYPES), n_events, p=TYPE_WEIGHTS)
    amount = np.round(rng.gamma(2.0, 30.0, n_events), 2) * (rng.random(n_events) >= 0.02)
    return pl.DataFrame({
        "id": np.arange(n_events, dtype=np.int64),
        "customer": pl.Series([f"c{i:04d}" for i in range(n_keys)])[customer],
        "ts": pl.Series(ts_us).cast(pl.Datetime("us", "UTC")),
        "type": pl.Series(list(TYPES))[kind],
        "amount": amount,
    })


def _always(event: dict[str, Any]) -> bool:
    return True


def _sql_predicate(condition: E.Expr) -> Predicate:
    return lambda event: E.eval_row(condition, event) is True


def python_matches(
    pattern: Any, df: pl.DataFrame, predicates: list[Predicate] | None = None
) -> list[tuple[dict[str, Any], list[Any], list[str]]]:
    """The machine's matches as ``(key, event_ids, classifiers)``: keys in order of first
    appearance, then in the order they happen — one event at a time, in plain Python.

    ``predicates`` replaces the transitions' SQL ``when`` by hand-written functions (the
    benchmark's fair baseline); without it each row is tested with ``cep.expr.eval_row``.
    """
    transitions = pattern.transitions
    if predicates is None:
        exprs = [None if t.when is None else E.parse_condition(t.when) for t in transitions]
        predicates = [_always if x is None else _sql_predicate(x) for x in exprs]
    states = list(pattern.states)
    terminal = set(pattern.terminal)
    limit: dict[str, int] = {}
    if isinstance(pattern.timeout, dict):
        limit = {s: d.microseconds for s, d in pattern.timeout.items()}
    elif pattern.timeout is not None:
        limit = dict.fromkeys(states, pattern.timeout.microseconds)
    for s in [*terminal, pattern.timeout_state]:
        limit.pop(s, None)
    candidates = {s: [(j, t.to) for j, t in enumerate(transitions) if t.from_ in (s, "*")]
                  for s in states}
    on_transition = pattern.emit in ("transition", "all")
    on_terminal = pattern.emit in ("terminal", "all")
    flag = pattern.on_unmatched == "flag"
    rows = df.to_dicts()
    id_col = pattern.id_field or ("id" if "id" in df.columns else None)
    times = df.get_column(pattern.order_by).dt.epoch("us").to_list()
    last_time = max(times, default=0)
    per_key: dict[tuple[Any, ...], list[int]] = {}
    for row, event in enumerate(rows):
        per_key.setdefault(tuple(event[c] for c in pattern.partition_by), []).append(row)
    out: list[tuple[dict[str, Any], list[Any], list[str]]] = []
    for key, key_rows in per_key.items():
        key_dict = dict(zip(pattern.partition_by, key, strict=True))
        key_rows.sort(key=lambda r: times[r])  # stable: equal times keep input order
        state: str | None = None
        entered_at = 0
        entered_id: Any = None
        run_ids: list[Any] = []
        run_labels: list[str] = []

        for row in key_rows:
            event = rows[row]
            t = times[row]
            event_id = row if id_col is None else event[id_col]
            if state in limit and entered_at + limit[state] < t:  # timed out before this event
                if on_transition:
                    out.append((key_dict, [entered_id], [state]))
                state, entered_at = pattern.timeout_state, entered_at + limit[state]
                if state in terminal:
                    if on_terminal:
                        out.append((key_dict, run_ids, run_labels))
                    state = None
            started = state is None
            if started:
                state, entered_at, entered_id = pattern.initial, t, event_id
                run_ids, run_labels = [], []
            to = next((to for j, to in candidates[state] if predicates[j](event)), None)
            if to is not None:
                if on_transition:
                    out.append((key_dict, [event_id], [to]))
                run_ids.append(event_id)
                run_labels.append(to)
                state, entered_at, entered_id = to, t, event_id
                if to in terminal:
                    if on_terminal:
                        out.append((key_dict, run_ids, run_labels))
                    state = None
            else:
                if started:
                    run_ids.append(event_id)
                    run_labels.append(pattern.initial)
                if flag:
                    out.append((key_dict, [event_id], ["unmatched"]))
        if state in limit and entered_at + limit[state] <= last_time:
            if on_transition:
                out.append((key_dict, [entered_id], [state]))
            if on_terminal and pattern.timeout_state in terminal:
                out.append((key_dict, run_ids, run_labels))
    return out


# --- measurement ----------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def main(argv: list[str] | None = None) -> None:
    """Time ``find_matches`` (best of 3, after a warm-up) and ``python_matches`` (once)."""
    from cep.matcher import find_matches
    from cep.model import parse_pattern

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=1_000)
    parser.add_argument("--no-python", action="store_true")
    args = parser.parse_args(argv)
    df = generate_events(args.events, n_keys=args.keys)
    span_us = df.get_column("ts").dt.epoch("us")
    print(f"{df.height:,} events, {args.keys:,} keys, "
          f"{(span_us.max() - span_us.min()) / 3.6e9:.1f} h")  # type: ignore[operator]
    timed = []
    for name, spec in PATTERNS.items():
        pattern = parse_pattern(spec)
        find_matches(pattern, df.head(1000))  # warm-up (numba JIT or cache load)
        best = math.inf
        for _ in range(3):
            t = time.perf_counter()
            result = find_matches(pattern, df)
            best = min(best, time.perf_counter() - t)
        t = time.perf_counter()
        found = [(m.key, m.event_ids, m.classifiers) for m in result.matches]
        build = time.perf_counter() - t
        print(f"{name}: find_matches {best:.3f} s = {df.height / best / 1e6:.2f}M events/s "
              f"(+ {build:.3f} s to build the Match objects: "
              f"{df.height / (best + build) / 1e6:.2f}M events/s), {len(found):,} matches, "
              f"{len(result.pending):,} pending", flush=True)
        timed.append((name, pattern, best + build, found))
    print(f"peak RSS of the matcher runs: {_peak_rss_mb():.0f} MB", flush=True)
    if args.no_python:
        return
    for name, pattern, took_fast, found in timed:
        t = time.perf_counter()
        slow = python_matches(pattern, df, PREDICATES)
        took = time.perf_counter() - t
        print(f"{name}: python {took:.3f} s = {df.height / took / 1e6:.2f}M events/s "
              f"({took / took_fast:.1f}x slower than find_matches with the Match objects), "
              f"same matches: {slow == found}", flush=True)


if __name__ == "__main__":
    main()
