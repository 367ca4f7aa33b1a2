"""Benchmarks (d)–(g) of issue 3: ``sequence`` patterns (Flink CEP semantics) against hand loops.

Usage::

    python -m benchmarks.sequence_cases [--events N] [--quick] [--repeat R]

Same data as the foundation issue (``benchmarks.data.generate_events``: 1,000 keys, types A–E,
a per-key price random walk, strictly increasing times), partitioned by ``key``:

(d) ``A`` then ``B`` (relaxed) within 5 minutes, ``PAST LAST EVENT``;
(e) ``A`` × 3 (``times {3, 3}``, default relaxed loop) then ``B`` with
    ``B.price > LAST(A.price)`` within 10 minutes (default skip, ``PAST LAST EVENT``);
(f) ``A`` then ``B`` with ``not_followed_by C`` between them, within 5 minutes, ``NO_SKIP``;
(g) case (d) fed to ``create_matcher(pattern)`` in slices of 10,000 events of the time-ordered
    frame, then ``flush()``.

The measurement follows ``benchmarks.run``: the parent generates the events into a Parquet
file and runs each case in a fresh ``python -m benchmarks.sequence_cases --case X`` process
(with an empty ``NUMBA_CACHE_DIR`` unless ``--quick``), which loads the events with
``load_events``, makes a first call (the numba compile, reported apart), then times
``find_matches`` (best of ``--repeat``, wall and CPU), iterating ``result.matches`` (the
``Match`` objects), and the hand-written loop (best of ``--repeat``, wall and CPU), whose
match list must equal the matcher's (the case fails otherwise). Peak RSS is the case process's
high-water mark up to the end of the matcher phase.

How the hand loops follow SEMANTICS.md §2 (the matcher's decisions: ``cep.matcher.sequence``):

* Every A event starts a new partial match (run); ``followedBy`` takes the *first* event that
  fits and never branches; a relaxed loop (``times {3, 3}``) takes the next A events the same way.
* Before an event at time ``t`` is processed, runs with ``t - start >= within`` are dropped;
  at the end of the stream time advances to the latest event time of the whole stream (the
  batch matcher's final watermark), which drops such runs once more.
* ``PAST LAST EVENT``: an emitted match prunes every run (and completed match) that started at
  or before its last event. Under any strategy but ``NO_SKIP`` a completed match is held back
  while a run that started earlier is still open; it is emitted when that run completes (and
  then usually pruned) or expires. ``NO_SKIP`` emits every completion at once, earliest start
  first.
* ``not_followed_by C``: a C event kills every open run that has its A but not yet its B.

Per case this gives:

(d) per key, the A events since the last B; at a B, the earliest of them with
    ``ts(B) - ts(A) < 5 min`` matches (no earlier-started run can be pending: every open run
    takes the B), and the list is cleared either way (the others are pruned or expired).
(e) runs hold their A events (at most 3) and the last A price; an A extends the runs that have
    fewer than 3 and starts a new one; a B completes every 3-A run whose last A price is below
    it. Completed matches wait behind earlier open runs (whose last A price was higher) and
    are emitted, with pruning, when those complete or expire — the one place the hold-back
    rule changes the result.
(f) per key, the A events since the last B or C; a C clears them; a B matches every one of them
    still in the window, earliest first, and clears them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.handwritten import MatchList, as_match_list, group_rows

__all__ = [
    "CASES",
    "a_then_b_not_c_loop",
    "a_then_b_past_last_loop",
    "main",
    "report",
    "run_case",
    "stream_matches",
    "three_a_then_higher_b_loop",
]

ROOT = Path(__file__).resolve().parents[1]
CASE_NAMES = ("d", "e", "f", "g")
STREAM_BATCH = 10_000
RSS_TARGET_BYTES = 1 << 30
MINUTE_US = 60_000_000

PATTERN_D: dict[str, Any] = {
    "kind": "sequence", "name": "d_a_then_b", "partition_by": ["key"], "within": "5m",
    "after_match_skip": "PAST LAST EVENT",
    "steps": [{"name": "A", "where": "type = 'A'"},
              {"name": "B", "where": "type = 'B'", "contiguity": "relaxed"}],
}
PATTERN_E: dict[str, Any] = {
    "kind": "sequence", "name": "e_three_a_then_higher_b", "partition_by": ["key"],
    "within": "10m",
    "steps": [{"name": "A", "where": "type = 'A'", "times": {"min": 3, "max": 3}},
              {"name": "B", "where": "type = 'B' AND price > LAST(A.price)"}],
}
PATTERN_F: dict[str, Any] = {
    "kind": "sequence", "name": "f_a_not_c_then_b", "partition_by": ["key"], "within": "5m",
    "after_match_skip": "NO_SKIP",
    "steps": [{"name": "A", "where": "type = 'A'"},
              {"name": "C", "where": "type = 'C'", "negated": "not_followed_by"},
              {"name": "B", "where": "type = 'B'"}],
}


# --- the hand-written loops -----------------------------------------------------------------


def _in_time_order(df: pl.DataFrame) -> pl.DataFrame:
    # Stable sort: rows with equal times keep their input order, as the matcher does.
    return df if df["ts"].is_sorted() else df.sort("ts", maintain_order=True)


def _columns(df: pl.DataFrame) -> tuple[list[Any], list[int], list[str], dict[Any, list[int]]]:
    """ids, times (µs), types and rows per key (keys in order of first appearance)."""
    return (df["id"].to_list(), df["ts"].dt.epoch("us").to_list(), df["type"].to_list(),
            group_rows(df["key"].to_list()))


def a_then_b_past_last_loop(df: pl.DataFrame, within_us: int = 5 * MINUTE_US) -> MatchList:
    """(d) ``A`` then ``B`` within 5 minutes, ``PAST LAST EVENT``."""
    ids, ts, types, groups = _columns(_in_time_order(df))
    out: MatchList = []
    for key, rows in groups.items():
        waiting: list[int] = []  # A rows whose run is open, oldest first
        for r in rows:
            kind = types[r]
            if kind == "A":
                waiting.append(r)
            elif kind == "B" and waiting:
                now = ts[r]
                for a in waiting:  # the earliest run still in its window wins
                    if now - ts[a] < within_us:
                        out.append((key, [ids[a], ids[r]], ["A", "B"]))
                        break
                waiting = []  # pruned (started before the B) or expired
    return out


def three_a_then_higher_b_loop(df: pl.DataFrame, within_us: int = 10 * MINUTE_US) -> MatchList:
    """(e) ``A`` × 3 (relaxed loop) then ``B`` with ``price > LAST(A.price)``, 10 minutes,
    ``PAST LAST EVENT``, with Flink's hold-back of matches behind earlier open runs."""
    df = _in_time_order(df)
    ids, ts, types, groups = _columns(df)
    prices = df["price"].to_list()
    end_us = max(ts, default=0)  # the batch run ends with time at the latest event
    out: MatchList = []
    for key, rows in groups.items():
        runs: list[list[Any]] = []  # [start position, start time, A ids, last A price]
        held: list[tuple[int, int, list[Any]]] = []  # completed: (start, last position, ids)

        def emit(runs: list[list[Any]], held: list[tuple[int, int, list[Any]]], key: Any = key
                 ) -> list[list[Any]]:
            while held and not (runs and runs[0][0] < held[0][0]):
                _, last, match_ids = held.pop(0)
                out.append((key, match_ids, ["A", "A", "A", "B"]))
                runs = [run for run in runs if run[0] > last]
                held[:] = [h for h in held if h[0] > last]
            return runs

        for pos, r in enumerate(rows):
            now = ts[r]
            if runs and now - runs[0][1] >= within_us:
                cut = 1
                while cut < len(runs) and now - runs[cut][1] >= within_us:
                    cut += 1
                del runs[:cut]
                if held:
                    runs = emit(runs, held)
            kind = types[r]
            if kind == "A":
                price = prices[r]
                for run in runs[-2:]:  # only the two newest runs can have fewer than 3 A
                    if len(run[2]) < 3:
                        run[2].append(ids[r])
                        run[3] = price
                runs.append([pos, now, [ids[r]], price])
            elif kind == "B" and runs:
                price = prices[r]
                done = [run for run in runs if len(run[2]) == 3 and price > run[3]]
                if done:
                    runs = [run for run in runs if not (len(run[2]) == 3 and price > run[3])]
                    held.extend((run[0], pos, [*run[2], ids[r]]) for run in done)
                    held.sort(key=lambda h: h[0])
                    runs = emit(runs, held)
        if runs and held and end_us - runs[0][1] >= within_us:
            runs = [run for run in runs if end_us - run[1] < within_us]
            emit(runs, held)
    return out


def a_then_b_not_c_loop(df: pl.DataFrame, within_us: int = 5 * MINUTE_US) -> MatchList:
    """(f) ``A`` then ``B``, ``not_followed_by C`` between them, 5 minutes, ``NO_SKIP``."""
    ids, ts, types, groups = _columns(_in_time_order(df))
    out: MatchList = []
    for key, rows in groups.items():
        waiting: list[int] = []  # A rows with no C and no B since, oldest first
        for r in rows:
            kind = types[r]
            if kind == "A":
                waiting.append(r)
            elif kind == "C":
                waiting = []
            elif kind == "B" and waiting:
                now = ts[r]
                b = ids[r]
                for a in waiting:
                    if now - ts[a] < within_us:
                        out.append((key, [ids[a], b], ["A", "B"]))
                waiting = []
    return out


def stream_matches(pattern: Any, events: pl.DataFrame, batch: int = STREAM_BATCH) -> list[Any]:
    """(g) Feed ``events`` (time-ordered) to ``create_matcher`` in slices, then ``flush()``."""
    from cep.matcher import create_matcher

    matcher = create_matcher(pattern)
    out: list[Any] = []
    for offset in range(0, events.height, batch):
        out += matcher.feed(events.slice(offset, batch))
    out += matcher.flush()
    return out


STREAM_STAGES = (
    ("cep.matcher.stream", "StreamMatcher._stamp", "stamp batches (time, key numbers)"),
    ("cep.matcher.stream", "_order", "order final events (key, time, arrival)"),
    ("cep.matcher.sequence", "SequenceEngine._run", "engine: conditions + NFA kernel"),
    ("cep.matcher.sequence", "_build_matches", "build Match objects"),
    ("cep.matcher.sequence", "SequenceEngine._record_timeouts",
     "record timed-out runs (gather their events)"),
    ("cep.matcher.sequence", "SequenceEngine._collect", "collect unused nodes and events"),
)
OTHER_STREAM_STAGE = "rest (watermark split, concatenating frames, bookkeeping)"


def profile_stream(pattern: Any, events: pl.DataFrame, repeat: int) -> dict[str, float]:
    """Where the streamed run's time goes: timers around the pieces in :data:`STREAM_STAGES`
    (module functions or ``Class.method``), from the run with the best total. A piece that no
    longer exists is left out; its time shows under :data:`OTHER_STREAM_STAGE`."""
    import importlib

    spent: dict[str, float] = {}
    patched: list[tuple[Any, str, Any]] = []
    for module_name, attr, label in STREAM_STAGES:
        owner: Any = importlib.import_module(module_name)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        original = getattr(owner, name, None) if owner is not None else None
        if original is None:
            continue

        def timed(*args: Any, _fn: Any = original, _label: str = label, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return _fn(*args, **kwargs)
            finally:
                spent[_label] = spent.get(_label, 0.0) + time.perf_counter() - started

        patched.append((owner, name, original))
        setattr(owner, name, timed)
    best: tuple[float, dict[str, float]] | None = None
    try:
        for _ in range(repeat):
            spent.clear()
            gc.collect()
            started = time.perf_counter()
            stream_matches(pattern, events)
            total = time.perf_counter() - started
            if best is None or total < best[0]:
                best = (total, dict(spent))
    finally:
        for owner, name, original in patched:
            setattr(owner, name, original)
    assert best is not None
    total, stages = best
    return {**stages, OTHER_STREAM_STAGE: max(total - sum(stages.values()), 0.0)}


def per_key(matches: MatchList) -> dict[Any, MatchList]:
    """Matches grouped by key, each key's list in order (a stream interleaves keys)."""
    grouped: dict[Any, MatchList] = {}
    for m in matches:
        grouped.setdefault(m[0], []).append(m)
    return grouped


CASES: dict[str, dict[str, Any]] = {
    "d": {"title": "(d) A then B within 5m, PAST LAST EVENT", "pattern": PATTERN_D,
          "hand": a_then_b_past_last_loop, "target": 5_000_000},
    "e": {"title": "(e) 3 × A then B > LAST(A.price) within 10m", "pattern": PATTERN_E,
          "hand": three_a_then_higher_b_loop, "target": 1_000_000},
    "f": {"title": "(f) A, not_followed_by C, then B within 5m, NO_SKIP", "pattern": PATTERN_F,
          "hand": a_then_b_not_c_loop, "target": 1_000_000},
    "g": {"title": "(g) (d) streamed in batches of 10,000", "pattern": PATTERN_D,
          "hand": a_then_b_past_last_loop, "target": None},
}
"""The cases: title, pattern (JSON form), hand loop, events/s target ((g): half of (d))."""


# --- one case (runs in its own process) -----------------------------------------------------


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Best wall time of ``repeat`` runs, the CPU time of that run, and the last value."""
    best = cpu_best = float("inf")
    value = None
    for _ in range(repeat):
        value = None
        gc.collect()
        cpu = time.process_time()
        started = time.perf_counter()
        value = fn()
        wall = time.perf_counter() - started
        if wall < best:
            best, cpu_best = wall, time.process_time() - cpu
    return best, cpu_best, value


def _first_difference(ours: MatchList, theirs: MatchList) -> str | None:
    if ours == theirs:
        return None
    for i, (x, y) in enumerate(zip(ours, theirs, strict=False)):
        if x != y:
            return f"match {i}: matcher {x!r} vs hand loop {y!r}"
    return f"matcher found {len(ours)} matches, the hand loop {len(theirs)}"


def run_case(case: str, data: Path, repeat: int) -> dict[str, Any]:
    """Measure one case in this process and return the figures (see the module docstring)."""
    from benchmarks.run import (
        _cpu_busy,
        _other_cores,
        current_rss_bytes,
        peak_rss,
        process_peak_rss_bytes,
    )
    from cep.events import load_events
    from cep.matcher import find_matches
    from cep.model import parse_pattern

    started_rss = current_rss_bytes()
    load_start = os.getloadavg()[0]
    busy_start, wall_start = _cpu_busy(), time.perf_counter()
    spec = CASES[case]
    pattern = parse_pattern(spec["pattern"])
    t_load, _, events = _best(lambda: load_events(data, max_rows=None, max_bytes=None), repeat)
    n = events.height
    gc.collect()
    loaded_rss = current_rss_bytes()
    streamed = case == "g"

    def run_once() -> Any:
        return stream_matches(pattern, events) if streamed else find_matches(pattern, events)

    with peak_rss() as first_peak:
        started = time.perf_counter()
        first = run_once()
        t_first = time.perf_counter() - started
        started = time.perf_counter()
        first_count = len(first) if streamed else len(list(first.matches))
        t_first_materialise = time.perf_counter() - started
    del first

    t_match = cpu_match = t_mat = cpu_mat = float("inf")
    match_peak = mat_peak = 0
    matches: list[Any] = []
    stats: dict[str, Any] = {}
    for _ in range(repeat):
        matches = []
        gc.collect()
        with peak_rss() as peak:
            cpu = time.process_time()
            started = time.perf_counter()
            result = run_once()
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
        if elapsed < t_match:
            t_match, cpu_match = elapsed, cpu
        match_peak = max(match_peak, peak["peak"])
        if streamed:
            matches, t_mat, cpu_mat, mat_peak = result, 0.0, 0.0, 0
        else:
            stats = dict(result.stats)
            with peak_rss() as peak:
                cpu = time.process_time()
                started = time.perf_counter()
                matches = list(result.matches)
                elapsed = time.perf_counter() - started
                cpu = time.process_time() - cpu
            if elapsed < t_mat:
                t_mat, cpu_mat = elapsed, cpu
            mat_peak = max(mat_peak, peak["peak"])
        del result
    matcher_process_peak = process_peak_rss_bytes()
    ours = as_match_list(matches)
    del matches
    gc.collect()

    figures: dict[str, Any] = {
        "case": case, "events": n, "repeat": repeat, "load_s": t_load,
        "first_call_s": t_first, "first_materialise_s": t_first_materialise,
        "first_matches": first_count, "match_s": t_match, "match_cpu_s": cpu_match,
        "materialise_s": t_mat, "materialise_cpu_s": cpu_mat, "matches": len(ours),
        "stats": stats, "rss_start": started_rss, "rss_loaded": loaded_rss,
        "match_peak_rss": match_peak, "materialise_peak_rss": mat_peak,
        "matcher_process_peak_rss": matcher_process_peak,
        "rss_method": "VmHWM" if first_peak["method"] else "sampled",
    }
    if streamed:
        # The stream interleaves keys; per key it must equal the batch run of (d).
        batch = as_match_list(find_matches(pattern, events).matches)
        difference = None
        if per_key(ours) != per_key(batch):
            difference = _first_difference(sorted(batch, key=repr), sorted(ours, key=repr))
        figures["stream_equals_batch"] = difference is None
        assert difference is None, f"(g) streamed matches differ from (d)'s batch: {difference}"
        try:
            figures["stages"] = profile_stream(pattern, events, repeat)
        except Exception as exc:  # the profile wraps private pieces; never lose the benchmark
            figures["stages"] = {"error": f"{type(exc).__name__}: {exc}"}
    t_hand, cpu_hand, theirs = _best(lambda: spec["hand"](events), repeat)
    difference = None if streamed else _first_difference(ours, theirs)
    figures.update({
        "hand_s": t_hand, "hand_cpu_s": cpu_hand, "hand_matches": len(theirs),
        "hand_identical": difference is None, "first_difference": difference,
        "load_start": load_start, "load_end": os.getloadavg()[0],
        "other_cores": _other_cores(busy_start, wall_start),
        "numba_cache_dir": os.environ.get("NUMBA_CACHE_DIR"),
    })
    assert difference is None, f"case ({case}): the hand loop disagrees: {difference}"
    return figures


# --- the whole run (parent process) ---------------------------------------------------------


def run_benchmarks(n_events: int, repeat: int, cold_compile: bool, seed: int = 20240101,
                   cases: tuple[str, ...] = CASE_NAMES) -> dict[str, Any]:
    """Generate the data, run every case in a fresh subprocess, and return all figures."""
    from benchmarks.data import generate_events, write_events
    from benchmarks.run import machine_info

    with tempfile.TemporaryDirectory(prefix="lakestream-seq-bench-") as tmp:
        events = generate_events(n_events, seed=seed)
        data = write_events(events, Path(tmp) / "events.parquet")
        counts = events["type"].value_counts().sort("type")
        del events
        results: dict[str, Any] = {}
        for case in cases:
            env = dict(os.environ)
            if cold_compile:
                env["NUMBA_CACHE_DIR"] = str(Path(tmp) / f"numba-{case}")
            result_file = Path(tmp) / f"result-{case}.json"
            command = [sys.executable, "-m", "benchmarks.sequence_cases", "--case", case,
                       "--data", str(data), "--result", str(result_file),
                       "--repeat", str(repeat)]
            print(f"sequence case ({case}) ...", file=sys.stderr, flush=True)
            done = subprocess.run(command, cwd=ROOT, env=env, check=False)
            if done.returncode != 0:
                raise SystemExit(f"sequence case ({case}) failed with exit code {done.returncode}")
            results[case] = json.loads(result_file.read_text(encoding="utf-8"))
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(), "events": n_events, "seed": seed, "repeat": repeat,
        "cold_compile": cold_compile, "cases": results,
        "types": dict(zip(counts["type"].to_list(), counts["count"].to_list(), strict=True)),
    }


def _rate(n: int, seconds: float) -> str:
    per_s = n / seconds if seconds > 0 else float("inf")
    return f"{per_s / 1e6:.2f}M" if per_s >= 1e6 else f"{per_s / 1e3:.0f}k"


def _s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:,.0f} MB"


def render(run: dict[str, Any]) -> str:
    """The Markdown section for ``run`` (see :func:`run_benchmarks`)."""
    n = run["events"]
    cases = run["cases"]
    m = run["machine"]
    lines = [
        "## Sequence patterns (issue 3)",
        "",
        f"Measured {run['date']} by `{run.get('command', 'python -m benchmarks.sequence_cases')}`"
        ": best of "
        f"{run['repeat']} run{'s' if run['repeat'] != 1 else ''}, each case in its own fresh "
        "process" + (" with an empty numba cache" if run["cold_compile"] else "") + ". "
        f"Data: `benchmarks.data.generate_events({n:,})` (seed {run['seed']}), 1,000 keys, "
        "types A–E (" + ", ".join(f"{t} {c:,}" for t, c in run["types"].items())
        + "), partitioned by `key`. Hand loops are pure Python (lists and dicts per key), "
        "start from the loaded frame (reading its columns and grouping rows by key included) "
        "and must return exactly the matcher's match list — key, event ids, step names, in the "
        "matcher's order — or the run fails.",
        "",
        f"Machine: {m['cpu']}, {m['nproc']} cores, Polars threads {m['polars_threads']}. "
        "The machine is shared: load average (1 min) at the start/end of each case "
        + ", ".join(f"({c}) {r['load_start']:.1f}/{r['load_end']:.1f}" for c, r in cases.items())
        + "; cores kept busy by other processes during each case "
        + ", ".join(f"({c}) {r['other_cores']:.2f}" for c, r in cases.items())
        + ". CPU times are given beside wall times for that reason (CPU time counts every "
        "thread of the process, so it can exceed the wall time when Polars runs in parallel).",
        "",
        "| case | `find_matches` (CPU) | events/s | find + materialise | events/s | hand loop (CPU) "
        "| events/s | matches | same as hand loop | target | vs target | vs hand loop | "
        "peak RSS | first-call compile |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    d = cases.get("d")
    for case, r in cases.items():
        spec = CASES[case]
        compile_s = max(r["first_call_s"] - r["match_s"], 0.0)
        full = r["match_s"] + r["materialise_s"]
        peak = r["matcher_process_peak_rss"]
        if case == "g":
            if d is None:
                verdict, versus_hand = "— ((d) not run)", ""
            else:
                d_full = d["match_s"] + d["materialise_s"]
                like = d_full / r["match_s"]  # events/s ratio (g) / (d find + materialise)
                bare = d["match_s"] / r["match_s"]
                verdict = (f"{like:.0%} of (d) find + materialise "
                           f"{'met' if like >= 0.5 else '**missed**'}; {bare:.0%} of (d) "
                           f"`find_matches` {'met' if bare >= 0.5 else '**missed**'}")
                if like < 0.5 or bare < 0.5:
                    notes.append(_stream_note(r, d, n))
            ratio_hand = r["hand_s"] / r["match_s"]
            versus_hand = f"{ratio_hand:.2f}× {'met' if ratio_hand >= 1 else '**missed**'}"
            if ratio_hand < 1:
                notes.append(f"- (g): the stream ({_rate(n, r['match_s'])} events/s, Match "
                             f"objects included) is slower than (d)'s hand loop "
                             f"({_rate(n, r['hand_s'])} events/s).")
            lines.append(
                f"| {spec['title']} | {_s(r['match_s'])} ({_s(r['match_cpu_s'])}) | "
                f"{_rate(n, r['match_s'])} | (Match objects included) | | (d)'s loop "
                f"{_s(r['hand_s'])} ({_s(r['hand_cpu_s'])}) | {_rate(n, r['hand_s'])} | "
                f"{r['matches']:,} | per key = (d) batch: "
                f"{'yes' if r['stream_equals_batch'] else '**NO**'} | ≥ 50% of (d) | {verdict} | "
                f"{versus_hand} | {_mb(peak)} {'met' if peak < RSS_TARGET_BYTES else '**missed**'} "
                f"| {_s(compile_s)} |"
            )
            continue
        target = spec["target"]
        ratio = n / r["match_s"] / target
        vs_bare = r["hand_s"] / r["match_s"]
        vs_full = r["hand_s"] / full
        lines.append(
            f"| {spec['title']} | {_s(r['match_s'])} ({_s(r['match_cpu_s'])}) | "
            f"{_rate(n, r['match_s'])} | {_s(full)} | {_rate(n, full)} | {_s(r['hand_s'])} "
            f"({_s(r['hand_cpu_s'])}) | {_rate(n, r['hand_s'])} | {r['matches']:,} | "
            f"{'yes' if r['hand_identical'] else '**NO**'} | {target / 1e6:g}M | {ratio:.2f}× "
            f"{'met' if ratio >= 1 else '**missed**'} | bare {vs_bare:.2f}×, with Match objects "
            f"{vs_full:.2f}× {'met' if vs_full >= 1 else '**missed**'} | "
            f"{_mb(peak)} {'met' if peak < RSS_TARGET_BYTES else '**missed**'} | {_s(compile_s)} |"
        )
        if ratio < 1:
            cpu_rate = n / r["match_cpu_s"] if r["match_cpu_s"] > 0 else float("inf")
            notes.append(
                f"- {spec['title']}: `find_matches` {_rate(n, r['match_s'])} events/s against "
                f"{target / 1e6:g}M ({r['match_s']:.3f} s for {n:,} events; the target needs "
                f"{n / target:.3f} s). Its CPU time ({_s(r['match_cpu_s'])}, "
                f"{cpu_rate / 1e6:.2f}M events/s of CPU) "
                + ("says the miss is not only the shared machine."
                   if cpu_rate < target else
                   "would meet the target, so part of the miss is waiting for a shared core.")
            )
        if vs_full < 1:
            notes.append(
                f"- {spec['title']}: with the `Match` objects built (what the hand loop returns),"
                f" the matcher takes {_s(full)} ({_s(r['materialise_s'])} of it building "
                f"{r['matches']:,} matches, {r['materialise_s'] / max(r['matches'], 1) * 1e6:.1f}"
                f" µs each) against the hand loop's {_s(r['hand_s'])}"
                + (f"; bare `find_matches` is {vs_bare:.2f}× the loop's speed." if vs_bare >= 1
                   else "; even bare `find_matches` is slower than the loop.")
            )
        if peak >= RSS_TARGET_BYTES:
            notes.append(f"- {spec['title']}: peak RSS {_mb(peak)} is over the 1 GB target.")
    if notes:
        lines += ["", "Targets missed:", "", *notes]
    lines += ["", *_details(run), ""]
    return "\n".join(lines)


def _stream_note(g: dict[str, Any], d: dict[str, Any], n: int) -> str:
    d_full = d["match_s"] + d["materialise_s"]
    note = (f"- (g): the stream runs at {_rate(n, g['match_s'])} events/s ({_s(g['match_s'])}, "
            f"CPU {_s(g['match_cpu_s'])}, Match objects included); (d) runs at "
            f"{_rate(n, d['match_s'])} bare and {_rate(n, d_full)} with its Match objects. The "
            "like-for-like comparison is with (d) find + materialise, because `feed` returns "
            "built `Match` objects (the batch result builds them only when read).")
    stages = g.get("stages") or {}
    if stages and "error" not in stages:
        total = sum(stages.values())
        parts = sorted(stages.items(), key=lambda kv: -kv[1])
        note += (f" Where the stream's time goes ({-(-n // STREAM_BATCH)} `feed` calls, "
                 "timers around its pieces, best run): " + "; ".join(
                     f"{name} {_s(sec)} ({sec / total:.0%})" for name, sec in parts)
                 + f". (d)'s materialise builds the same {d['matches']:,} Match objects in "
                 f"{_s(d['materialise_s'])}.")
    return note


def _details(run: dict[str, Any]) -> list[str]:
    n = run["events"]
    out = ["Details:", ""]
    for case, r in run["cases"].items():
        spec = CASES[case]
        line = (f"- {spec['title']}: load {_s(r['load_s'])}; first call {_s(r['first_call_s'])}"
                f" (compile ≈ {_s(max(r['first_call_s'] - r['match_s'], 0.0))}"
                + (", numba cache empty" if run["cold_compile"] else ", numba cache as found")
                + ")")
        if case == "g":
            line += (f"; {-(-n // STREAM_BATCH)} `feed` calls of {STREAM_BATCH:,} events then "
                     "`flush()`, Match objects included in the time")
        else:
            line += (f"; materialise {_s(r['materialise_s'])} (CPU "
                     f"{_s(r['materialise_cpu_s'])}); matcher path `"
                     f"{r['stats'].get('path', '?')}`")
        line += (f"; peak RSS: process {_mb(r['matcher_process_peak_rss'])} ({_mb(r['rss_start'])}"
                 f" at start, {_mb(r['rss_loaded'])} with the events loaded), one call "
                 f"{_mb(r['match_peak_rss'])}"
                 + (f", materialise {_mb(r['materialise_peak_rss'])}" if case != "g" else "")
                 + f" ({r['rss_method']}).")
        out.append(line)
    out += [
        "- Hand loops: (d) keeps the A rows since the last B per key and takes the earliest "
        "one still in the window at a B; (e) keeps the open runs (their A ids and last A price) "
        "and the completed matches held back behind an earlier open run, as Flink's skip "
        "strategy requires; (f) keeps the A rows since the last B or C. See the docstring of "
        "`benchmarks.sequence_cases` for the derivation from SEMANTICS.md §2.",
        "- (g) is compared with (d): its events/s over (d)'s events/s. The stream delivers built "
        "`Match` objects, so the like-for-like ratio is against (d)'s find + materialise; the "
        "ratio against bare `find_matches` is given too. Its matches equal (d)'s batch matches "
        "key by key (the stream interleaves keys in emission order).",
    ]
    return out


def report(events: int = 1_000_000, repeat: int = 3, *, cold_compile: bool = True,
           seed: int = 20240101, cases: tuple[str, ...] = CASE_NAMES) -> str:
    """Run cases (d)–(g) on ``events`` events and return the Markdown section."""
    run = run_benchmarks(events, repeat, cold_compile, seed, cases)
    run["command"] = f"benchmarks.sequence_cases.report(events={events}, repeat={repeat})"
    return render(run)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sequence_cases",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, default=None, help="number of events (default 1M)")
    parser.add_argument("--quick", action="store_true",
                        help="100,000 events (unless --events), one timed run, warm numba cache")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs (default 3)")
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument("--cases", default=",".join(CASE_NAMES), help="comma-separated cases")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--case", choices=CASE_NAMES, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    if args.case:
        if args.data is None or args.result is None:
            parser.error("--case needs --data and --result")
        figures = run_case(args.case, args.data, repeat)
        args.result.write_text(json.dumps(figures), encoding="utf-8")
        return 0
    cases = tuple(c.strip() for c in args.cases.split(",") if c.strip())
    unknown = [c for c in cases if c not in CASE_NAMES]
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}; cases: {', '.join(CASE_NAMES)}")
    n_events = args.events or (100_000 if args.quick else 1_000_000)
    run = run_benchmarks(n_events, repeat, cold_compile=not args.quick, seed=args.seed,
                         cases=cases)
    run["command"] = " ".join(["python -m benchmarks.sequence_cases",
                               *(argv if argv is not None else sys.argv[1:])])
    if args.json:
        with contextlib.suppress(OSError):
            args.json.write_text(json.dumps(run, indent=1), encoding="utf-8")
    print(render(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
