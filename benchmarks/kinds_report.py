"""Detector-kind benchmarks of issue 4, in one report: ``find_matches`` against pure Python.

Usage::

    python -m benchmarks.kinds_report [--events N] [--quick] [--repeat R] [--kinds a,b]

For every detector kind with a module in ``benchmarks/kinds/`` (a kind whose module is missing
is skipped and named in the report), the parent generates the kind's own events with the
module's ``generate_events(N)`` (1,000 keys, the module's default seed) into a Parquet file and
measures the kind in a fresh ``python -m benchmarks.kinds_report --kind X`` process (with an
empty ``NUMBA_CACHE_DIR`` unless ``--quick``), as ``benchmarks.run`` does for its cases:

1. for each pattern of the module's ``PATTERNS``: a first ``find_matches`` call (numba compile
   and imports, reported apart), then ``find_matches`` timed (best of ``--repeat``, wall and
   CPU) and iterating ``result.matches`` (building the ``Match`` objects) timed on each fresh
   result;
2. the process's peak RSS up to the end of every pattern's matcher runs (before any pure-Python
   run, whose ``to_dicts()`` copies would dominate it), and the peak of each call alone;
3. the module's ``python_matches`` through a small per-kind adapter (the modules' signatures
   differ: hand-written predicates for some, pending windows for ``count_threshold``). A probe
   on the first 50,000 events estimates its time at N events; when that is over the budget
   (``--python-budget``, 30 s) it runs on the largest of 500k / 200k / 100k / 50k leading
   events (the frames are in time order, so a prefix is a shorter stream) that fits, and is
   compared with ``find_matches`` on that same prefix. Its events/s are events used / time.
   It runs once, or best of ``--repeat`` when that stays under 10 s.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import importlib
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

__all__ = ["ADAPTERS", "KINDS", "main", "report", "run_kind", "target_for"]

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("absence", "count_threshold", "dedup", "geofence", "heartbeat", "outlier", "session",
         "state_machine", "temporal_correlation", "trend", "velocity")
FAST_KINDS = ("count_threshold", "velocity", "dedup")  # and outlier with method zscore
RSS_TARGET_BYTES = 1 << 30
PROBE_EVENTS = 50_000
SLICES = (500_000, 200_000, 100_000, 50_000)


def _plain(module: Any, spec: dict[str, Any], pattern: Any, df: pl.DataFrame) -> Any:
    return module.python_matches(pattern, df)


def _matches(result: Any) -> Any:
    return [(m.key, m.event_ids, m.classifiers) for m in result.matches]


def _with_pending(result: Any) -> Any:
    return (_matches(result), [(p.key, p.event_ids, p.classifiers) for p in result.pending])


@dataclass(frozen=True)
class Adapter:
    """How to call one module's ``python_matches`` and what to compare it with."""

    python: Callable[[Any, dict[str, Any], Any, pl.DataFrame], Any] = _plain
    ours: Callable[[Any], Any] = _matches
    note: str = ""


ADAPTERS: dict[str, Adapter] = {
    "absence": Adapter(
        python=lambda m, spec, p, df: m.python_matches(p, df, m.PREDICATES[spec["trigger"]]),
        note="hand-written predicates (`PREDICATES`), a list of open waits per key"),
    "count_threshold": Adapter(
        ours=_with_pending,
        note="a deque per key, `where` through `cep.expr.eval_row`; pending tumbling windows "
             "compared too"),
    "dedup": Adapter(note="a dict from (key, fields) to the last kept event"),
    "geofence": Adapter(note="`math` haversine / ray casting per event"),
    "heartbeat": Adapter(note="the previous event per key"),
    "outlier": Adapter(note="a deque of the baseline window per key, statistics recomputed "
                            "over the window for every event"),
    "session": Adapter(
        python=lambda m, spec, p, df: m.python_matches(p, df, hand_written=True),
        note="hand-written `where` / `having` (`HAND_WRITTEN`)"),
    "state_machine": Adapter(
        python=lambda m, spec, p, df: m.python_matches(p, df, m.PREDICATES),
        note="hand-written transition predicates (`PREDICATES`)"),
    "temporal_correlation": Adapter(
        note="per-group waiting lists, `a` / `b` through `cep.expr.eval_row`"),
    "trend": Adapter(note="the open run's last N values per key"),
    "velocity": Adapter(note="a deque and a running sum per key, `where` through "
                             "`cep.expr.eval_row`"),
}
"""Per-kind adapters: the call of ``python_matches`` and the matcher output it returns."""


def target_for(kind: str, spec: dict[str, Any]) -> int:
    """The events/s target of issue 4 for one pattern."""
    if kind in FAST_KINDS or (kind == "outlier" and spec.get("method") == "zscore"):
        return 5_000_000
    return 1_000_000


def _module(kind: str) -> Any | None:
    name = f"benchmarks.kinds.{kind}"
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


# --- one kind (runs in its own process) -----------------------------------------------------


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    gc.collect()
    cpu = time.process_time()
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, time.process_time() - cpu, value


def run_kind(kind: str, data: Path, repeat: int, python_budget: float = 30.0) -> dict[str, Any]:
    """Measure every pattern of one kind in this process (see the module docstring)."""
    from benchmarks.run import (
        _cpu_busy,
        _other_cores,
        current_rss_bytes,
        peak_rss,
        process_peak_rss_bytes,
    )
    from cep.matcher import find_matches
    from cep.model import parse_pattern

    started_rss = current_rss_bytes()
    load_start = os.getloadavg()[0]
    busy_start, wall_start = _cpu_busy(), time.perf_counter()
    module = _module(kind)
    assert module is not None, kind
    adapter = ADAPTERS.get(kind, Adapter())
    df = pl.read_parquet(data)
    n = df.height
    gc.collect()
    loaded_rss = current_rss_bytes()
    patterns: dict[str, dict[str, Any]] = {}
    ours: dict[str, Any] = {}
    for name, spec in module.PATTERNS.items():
        pattern = parse_pattern(spec)
        with peak_rss() as first_peak:
            t_first, _, first = _timed(lambda p=pattern: find_matches(p, df))
            first_count = len(list(first.matches))
        del first
        best = cpu_best = t_mat = cpu_mat = math.inf
        call_peak = mat_peak = 0
        for _ in range(repeat):
            with peak_rss() as peak:
                wall, cpu, result = _timed(lambda p=pattern: find_matches(p, df))
            if wall < best:
                best, cpu_best = wall, cpu
            call_peak = max(call_peak, peak["peak"])
            with peak_rss() as peak:
                wall, cpu, built = _timed(lambda r=result: list(r.matches))
            if wall < t_mat:
                t_mat, cpu_mat = wall, cpu
            mat_peak = max(mat_peak, peak["peak"])
            del built
            ours[name] = adapter.ours(result)
            pending = len(result.pending)
            del result
        patterns[name] = {
            "target": target_for(kind, spec), "first_call_s": t_first,
            "first_matches": first_count, "match_s": best, "match_cpu_s": cpu_best,
            "materialise_s": t_mat, "materialise_cpu_s": cpu_mat, "pending": pending,
            "matches": len(ours[name][0] if isinstance(ours[name], tuple) else ours[name]),
            "match_peak_rss": call_peak, "materialise_peak_rss": mat_peak,
            "rss_method": "VmHWM" if first_peak["method"] else "sampled",
        }
    matcher_process_peak = process_peak_rss_bytes()

    for name, spec in module.PATTERNS.items():
        pattern = parse_pattern(spec)
        r = patterns[name]
        probe_n = min(n, PROBE_EVENTS)
        probe = df.head(probe_n)
        t_probe, cpu_probe, theirs = _timed(lambda p=pattern, d=probe, s=spec: adapter.python(
            module, s, p, d))
        estimate = t_probe * n / max(probe_n, 1)
        size = n if estimate <= python_budget else next(
            (s for s in SLICES if s < n and t_probe * s / probe_n <= python_budget), probe_n)
        used = df if size == n else df.head(size)
        if size == probe_n:
            t_py, cpu_py = t_probe, cpu_probe
            runs = 1
        else:
            runs = repeat if t_probe * size / probe_n * repeat <= 10.0 else 1
            t_py = cpu_py = math.inf
            for _ in range(runs):
                theirs = None
                wall, cpu, theirs = _timed(lambda p=pattern, d=used, s=spec: adapter.python(
                    module, s, p, d))
                if wall < t_py:
                    t_py, cpu_py = wall, cpu
        expected = ours[name] if size == n else adapter.ours(find_matches(pattern, used))
        same = theirs == expected
        r.update({
            "python_events": size, "python_s": t_py, "python_cpu_s": cpu_py,
            "python_runs": runs, "python_estimate_full_s": estimate, "same": same,
            "compared_matches": len(expected[0] if isinstance(expected, tuple) else expected),
        })
        del theirs, expected, used
        gc.collect()
    return {
        "kind": kind, "events": n, "repeat": repeat, "patterns": patterns,
        "specs": module.PATTERNS, "note": adapter.note, "rss_start": started_rss,
        "rss_loaded": loaded_rss, "matcher_process_peak_rss": matcher_process_peak,
        "load_start": load_start, "load_end": os.getloadavg()[0],
        "other_cores": _other_cores(busy_start, wall_start),
    }


# --- the whole run (parent process) ---------------------------------------------------------


def run_benchmarks(n_events: int, repeat: int, cold_compile: bool,
                   kinds: tuple[str, ...] = KINDS, python_budget: float = 30.0
                   ) -> dict[str, Any]:
    """Generate each kind's events and measure the kind in a fresh subprocess."""
    from benchmarks.run import machine_info

    results: dict[str, Any] = {}
    missing: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lakestream-kinds-bench-") as tmp:
        for kind in kinds:
            module = _module(kind)
            if module is None:
                missing.append(kind)
                print(f"kind {kind}: no benchmarks/kinds/{kind}.py, skipped", file=sys.stderr)
                continue
            started = time.perf_counter()
            events = module.generate_events(n_events)
            generated_s = time.perf_counter() - started
            data = Path(tmp) / f"{kind}.parquet"
            events.write_parquet(data)
            span_h = (events["ts"].max() - events["ts"].min()).total_seconds() / 3600
            height = events.height
            del events
            env = dict(os.environ)
            if cold_compile:
                env["NUMBA_CACHE_DIR"] = str(Path(tmp) / f"numba-{kind}")
            result_file = Path(tmp) / f"result-{kind}.json"
            command = [sys.executable, "-m", "benchmarks.kinds_report", "--kind", kind,
                       "--data", str(data), "--result", str(result_file), "--repeat",
                       str(repeat), "--python-budget", str(python_budget)]
            print(f"kind {kind} ...", file=sys.stderr, flush=True)
            done = subprocess.run(command, cwd=ROOT, env=env, check=False)
            if done.returncode != 0:
                raise SystemExit(f"kind {kind} failed with exit code {done.returncode}")
            results[kind] = json.loads(result_file.read_text(encoding="utf-8"))
            results[kind].update({"generate_s": generated_s, "span_h": span_h,
                                  "generated": height})
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(), "events": n_events, "repeat": repeat,
        "cold_compile": cold_compile, "python_budget": python_budget, "kinds": results,
        "missing": missing,
    }


def _rate(n: float, seconds: float) -> str:
    per_s = n / seconds if seconds > 0 else float("inf")
    return f"{per_s / 1e6:.2f}M" if per_s >= 1e6 else f"{per_s / 1e3:.0f}k"


def _s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:,.0f} MB"


def render(run: dict[str, Any]) -> str:
    """The Markdown section for ``run`` (see :func:`run_benchmarks`)."""
    m = run["machine"]
    kinds = run["kinds"]
    lines = [
        "## Detector kinds (issue 4)",
        "",
        f"Measured {run['date']} by `{run.get('command', 'python -m benchmarks.kinds_report')}`:"
        f" each kind's own generator (`benchmarks/kinds/<kind>.py`, `generate_events("
        f"{run['events']:,})`, 1,000 keys, default seed), each kind in its own fresh process"
        + (" with an empty numba cache" if run["cold_compile"] else "")
        + f"; `find_matches` and materialise best of {run['repeat']}. Pure Python is each "
        "module's per-event `python_matches` (one event at a time, as a competent user would "
        "write it); when it would take over "
        f"{run['python_budget']:g} s at the full size it runs on the leading events only "
        "(the frames are in time order), compared with `find_matches` on that same prefix, "
        "and its events/s are the events it processed over its time.",
        "",
        f"Machine: {m['cpu']}, {m['nproc']} cores, Polars threads {m['polars_threads']}. "
        "Shared with other jobs: load average (1 min) at the start/end of each kind "
        + ", ".join(f"{k} {r['load_start']:.1f}/{r['load_end']:.1f}" for k, r in kinds.items())
        + "; cores kept busy by other processes (average over the kind's process) "
        + ", ".join(f"{k} {r['other_cores']:.2f}" for k, r in kinds.items())
        + ". CPU times are shown beside wall times (CPU counts every thread of the process).",
        "",
    ]
    if run["missing"]:
        lines += [f"Skipped (no module in `benchmarks/kinds/`): {', '.join(run['missing'])}.", ""]
    lines += [
        "| kind | pattern | `find_matches` (CPU) | events/s | find + materialise events/s | "
        "pure-Python events/s (events used) | matches | same results | target | vs target | "
        "≥ pure Python | peak RSS (kind process) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    misses: list[str] = []
    for kind, r in kinds.items():
        n = r["events"]
        peak = r["matcher_process_peak_rss"]
        rss = f"{_mb(peak)} {'met' if peak < RSS_TARGET_BYTES else '**missed**'}"
        if peak >= RSS_TARGET_BYTES:
            misses.append(f"- {kind}: peak RSS {_mb(peak)} is over the 1 GB target.")
        for name, p in r["patterns"].items():
            full = p["match_s"] + p["materialise_s"]
            target = p["target"]
            ratio = n / p["match_s"] / target
            py_rate = p["python_events"] / p["python_s"]
            vs_py = (n / full) / py_rate
            vs_py_bare = (n / p["match_s"]) / py_rate
            used = ("" if p["python_events"] == n else
                    f" ({p['python_events']:,}; {p['python_estimate_full_s']:.3g} s est. at "
                    f"{n:,})")
            lines.append(
                f"| {kind} | {name} | {_s(p['match_s'])} ({_s(p['match_cpu_s'])}) | "
                f"{_rate(n, p['match_s'])} | {_rate(n, full)} | "
                f"{_rate(p['python_events'], p['python_s'])}{used} | {p['matches']:,}"
                + (f" (+{p['pending']:,} pending)" if p["pending"] else "")
                + f" | {'yes' if p['same'] else '**NO**'} | {target / 1e6:g}M | {ratio:.2f}× "
                f"{'met' if ratio >= 1 else '**missed**'} | {vs_py:.1f}× "
                f"{'met' if vs_py >= 1 else '**missed**'} | {rss} |"
            )
            if ratio < 1:
                cpu_rate = n / p["match_cpu_s"] if p["match_cpu_s"] > 0 else math.inf
                misses.append(
                    f"- {kind} / {name}: `find_matches` {_rate(n, p['match_s'])} events/s "
                    f"against {target / 1e6:g}M ({p['match_s']:.3f} s for {n:,} events; the "
                    f"target needs {n / target:.3f} s); CPU {_s(p['match_cpu_s'])} = "
                    f"{_rate(n, p['match_cpu_s'])} events/s of CPU"
                    + (" (so not only the shared machine)." if cpu_rate < target else
                       " (the CPU time alone would meet it: part of the miss is the shared "
                       "machine).")
                    + (f" With the Match objects: {_rate(n, full)} events/s."))
            if vs_py < 1:
                misses.append(
                    f"- {kind} / {name}: with its Match objects the matcher ({_rate(n, full)} "
                    f"events/s) is slower than pure Python ({_rate(p['python_events'], p['python_s'])}"
                    f" events/s); bare `find_matches` is {vs_py_bare:.1f}× pure Python.")
            if not p["same"]:
                misses.append(f"- {kind} / {name}: pure Python and `find_matches` disagree on "
                              f"the {p['python_events']:,} events compared.")
    if misses:
        lines += ["", "Targets missed or results differing:", "", *misses]
    lines += ["", "Details:", ""]
    for kind, r in kinds.items():
        n = r["events"]
        parts = []
        for name, p in r["patterns"].items():
            parts.append(
                f"{name}: first call {_s(p['first_call_s'])} (compile ≈ "
                f"{_s(max(p['first_call_s'] - p['match_s'], 0.0))}), materialise "
                f"{_s(p['materialise_s'])} (peak during one call {_mb(p['match_peak_rss'])}, "
                f"materialise {_mb(p['materialise_peak_rss'])}), pure Python "
                f"{_s(p['python_s'])} (CPU {_s(p['python_cpu_s'])}) on "
                f"{p['python_events']:,} events, "
                + (f"best of {p['python_runs']}" if p["python_runs"] > 1 else "one run")
                + f", {p['compared_matches']:,} matches compared")
        lines.append(
            f"- **{kind}** ({n:,} events over {r['span_h']:.1f} h; pure Python: {r['note']}); "
            f"peak RSS {_mb(r['matcher_process_peak_rss'])} ({_mb(r['rss_start'])} at start, "
            f"{_mb(r['rss_loaded'])} with the events loaded). " + "; ".join(parts) + ".")
    lines += [
        "",
        "Targets (issue 4): 5M events/s for `count_threshold`, `velocity`, `dedup` and `outlier` "
        "zscore, 1M for every other kind and method, judged on bare `find_matches` as for "
        "cases (a)–(g); \"≥ pure Python\" compares the matcher *with* its Match objects (what "
        "`python_matches` returns) with the pure-Python events/s. Peak RSS is the kind "
        "process's high-water mark up to the end of its matcher runs (interpreter, Polars, "
        "numba, the events, every pattern's runs), before the pure-Python runs. \"+N pending\" "
        "counts `result.pending`: time-driven deadlines the last event time has not reached "
        "(not matches; `count_threshold`'s pure Python returns them too and they are compared).",
        "",
    ]
    return "\n".join(lines)


def report(events: int = 1_000_000, repeat: int = 3, *, cold_compile: bool = True,
           kinds: tuple[str, ...] = KINDS, python_budget: float = 30.0) -> str:
    """Measure every detector kind on ``events`` events and return the Markdown section."""
    run = run_benchmarks(events, repeat, cold_compile, kinds, python_budget)
    run["command"] = f"benchmarks.kinds_report.report(events={events}, repeat={repeat})"
    return render(run)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kinds_report",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, default=None, help="events per kind (default 1M)")
    parser.add_argument("--quick", action="store_true",
                        help="100,000 events (unless --events), one timed run, warm numba cache")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs (default 3)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated kinds")
    parser.add_argument("--python-budget", type=float, default=30.0,
                        help="seconds pure Python may take at the full size before a prefix "
                             "is used instead")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    if args.kind:
        if args.data is None or args.result is None:
            parser.error("--kind needs --data and --result")
        figures = run_kind(args.kind, args.data, repeat, args.python_budget)
        args.result.write_text(json.dumps(figures, default=str), encoding="utf-8")
        return 0
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    n_events = args.events or (100_000 if args.quick else 1_000_000)
    run = run_benchmarks(n_events, repeat, not args.quick, kinds, args.python_budget)
    run["command"] = " ".join(["python -m benchmarks.kinds_report",
                               *(argv if argv is not None else sys.argv[1:])])
    if args.json:
        with contextlib.suppress(OSError):
            args.json.write_text(json.dumps(run, indent=1, default=str), encoding="utf-8")
    print(render(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
