"""Measure the ``match_recognize`` matcher against hand-written alternatives; write BENCHMARKS.md.

Usage::

    python -m benchmarks.run --out BENCHMARKS.md [--events N] [--quick]

The parent process generates the events (``benchmarks.data``) into a Parquet file and runs
each case in a fresh ``python -m benchmarks.run --case X`` subprocess, so that peak memory and
the numba JIT state of one case never leak into another. In each case process:

1. the events are loaded with ``cep.events.load_events`` (best of the repeats, reported apart);
2. a first ``find_matches`` call runs (and its matches are materialised): with an empty numba
   cache this pays the JIT compile, reported as "first-call compile";
3. ``find_matches`` is timed (best of ``--repeat``), then iterating ``result.matches`` (the
   materialisation of the ``Match`` objects) is timed on each fresh result;
4. peak RSS is read: the process high-water mark up to the end of the matcher phase
   (``getrusage``), and the high-water mark of each timed call alone (``VmHWM`` reset through
   ``/proc/self/clear_refs`` before the call; a sampling thread where that is not possible);
5. the matcher's stages are timed by calling the pieces of ``cep.matcher.recognize``;
6. each hand-written alternative runs (best of the repeats) and its full match list must equal
   the matcher's, else the case fails.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["main", "run_case", "write_report"]

ROOT = Path(__file__).resolve().parents[1]
CASE_NAMES = ("a", "b", "c")
FLINK_SPARK_EVENTS_PER_S = (60_000, 110_000)
RSS_TARGET_BYTES = 1 << 30


# --- memory ---------------------------------------------------------------------------------


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def current_rss_bytes() -> int:
    """Resident set size of this process now."""
    import psutil

    return int(psutil.Process().memory_info().rss)


_hwm_before_resets = [0]  # resetting VmHWM also lowers getrusage's ru_maxrss: keep the max here


def process_peak_rss_bytes() -> int:
    """High-water mark of this process's RSS since it started (``getrusage``, ``VmHWM``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = peak if sys.platform == "darwin" else peak * 1024
    return int(max(peak, (_status_kb("VmHWM") or 0) * 1024, _hwm_before_resets[0]))


@contextlib.contextmanager
def peak_rss() -> Iterator[dict[str, int]]:
    """Peak RSS of the block: ``VmHWM`` reset before it when Linux allows, else sampled."""
    out: dict[str, int] = {}
    _hwm_before_resets[0] = process_peak_rss_bytes()
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        hwm_ok = _status_kb("VmHWM") is not None
    except OSError:
        hwm_ok = False
    stop = threading.Event()
    sampled = [current_rss_bytes()]

    def sample() -> None:
        while not stop.wait(0.002):
            sampled[0] = max(sampled[0], current_rss_bytes())

    sampler = None if hwm_ok else threading.Thread(target=sample, daemon=True)
    if sampler is not None:
        sampler.start()
    try:
        yield out
    finally:
        if sampler is not None:
            stop.set()
            sampler.join()
            out["peak"] = max(sampled[0], current_rss_bytes())
            out["method"] = 0
        else:
            out["peak"] = (_status_kb("VmHWM") or 0) * 1024
            out["method"] = 1
        _hwm_before_resets[0] = max(_hwm_before_resets[0], out["peak"])


# --- one case (runs in its own process) -----------------------------------------------------


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best = float("inf")
    value = None
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - started)
    return best, value


STAGES = (
    ("cep.matcher.recognize", "prepare_events", "prepare_events (partition codes, sort)"),
    ("cep.matcher.recognize", "compile_conditions", "compile_conditions (DEFINE -> arrays, Polars)"),
    ("cep.matcher.vm", "run_program", "vm.run_program (numba VM)"),
)
OTHER_STAGE = "rest of find_matches (parse, compile PATTERN, checks, result)"
BUILD_STAGE = "materialise: build Match objects"


def profile_stages(pattern: Any, events: Any, repeat: int) -> dict[str, float]:
    """Time spent in each stage of ``find_matches``, from the run with the best total.

    The stage functions named in :data:`STAGES` are wrapped with timers in the modules that
    call them, so the profile follows ``cep.matcher.recognize`` as it changes; a stage that no
    longer exists is left out and its time shows under :data:`OTHER_STAGE`.
    """
    import importlib

    from cep.matcher import find_matches

    spent: dict[str, float] = {}
    patched: list[tuple[Any, str, Any]] = []
    for module_name, attr, label in STAGES:
        module = importlib.import_module(module_name)
        original = getattr(module, attr, None)
        if original is None:
            continue

        def timed(*args: Any, _fn: Any = original, _label: str = label, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return _fn(*args, **kwargs)
            finally:
                spent[_label] = spent.get(_label, 0.0) + time.perf_counter() - started

        patched.append((module, attr, original))
        setattr(module, attr, timed)
    best: tuple[float, dict[str, float], float] | None = None
    try:
        for _ in range(repeat):
            spent.clear()
            gc.collect()
            started = time.perf_counter()
            result = find_matches(pattern, events)
            total = time.perf_counter() - started
            started = time.perf_counter()
            list(result.matches)
            build = time.perf_counter() - started
            if best is None or total < best[0]:
                best = (total, dict(spent), build)
            del result
    finally:
        for module, attr, original in patched:
            setattr(module, attr, original)
    assert best is not None
    total, stages, build = best
    return {**stages, OTHER_STAGE: max(total - sum(stages.values()), 0.0), BUILD_STAGE: build}


def _read_columns_and_group(events: Any) -> None:
    from benchmarks.handwritten import group_rows

    for column in ("id", "type", "price"):
        events[column].to_list()
    events["ts"].dt.epoch("us").to_list()
    group_rows(events["key"].to_list())


def run_case(case: str, data: Path, repeat: int) -> dict[str, Any]:
    """Measure one case in this process and return the figures (see the module docstring)."""
    started_rss = current_rss_bytes()
    load_start = os.getloadavg()[0]
    busy_start, wall_start = _cpu_busy(), time.perf_counter()
    from benchmarks.handwritten import CASES, a_then_b_join_asof_spans, as_match_list
    from cep.events import load_events
    from cep.matcher import find_matches
    from cep.model import parse_pattern

    spec = CASES[case]
    pattern = parse_pattern(spec["pattern"])
    t_load, events = _best(lambda: load_events(data, max_rows=None, max_bytes=None), repeat)
    n = events.height
    gc.collect()
    loaded_rss = current_rss_bytes()

    with peak_rss() as first_peak:
        started = time.perf_counter()
        first = find_matches(pattern, events)
        t_first = time.perf_counter() - started
        started = time.perf_counter()
        first_count = len(list(first.matches))
        t_first_materialise = time.perf_counter() - started
    del first

    t_match = t_mat = cpu_match = float("inf")
    match_peak = mat_peak = 0
    matches: list[Any] = []
    count = 0
    stats: dict[str, Any] = {}
    for _ in range(repeat):
        matches = []
        gc.collect()
        with peak_rss() as peak:
            cpu_started = time.process_time()
            started = time.perf_counter()
            result = find_matches(pattern, events)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
        if elapsed < t_match:
            t_match, cpu_match = elapsed, cpu
        match_peak = max(match_peak, peak["peak"])
        count, stats = len(result.matches), dict(result.stats)
        with peak_rss() as peak:
            started = time.perf_counter()
            matches = list(result.matches)
            elapsed = time.perf_counter() - started
        t_mat = min(t_mat, elapsed)
        mat_peak = max(mat_peak, peak["peak"])
        del result
    matcher_process_peak = process_peak_rss_bytes()
    ours = as_match_list(matches)
    del matches
    gc.collect()

    try:
        stages: dict[str, Any] = profile_stages(pattern, events, repeat)
    except Exception as exc:  # the profile mirrors private pieces; never lose the benchmark
        stages = {"error": f"{type(exc).__name__}: {exc}"}

    alternatives: dict[str, Any] = {}
    for name, fn in spec["alternatives"].items():
        t_alt, theirs = _best(lambda fn=fn: fn(events), repeat)
        alternatives[name] = {
            "seconds": t_alt,
            "matches": len(theirs),
            "identical": theirs == ours,
            "first_difference": _first_difference(ours, theirs),
        }
        del theirs
    t_group, _ = _best(lambda: _read_columns_and_group(events), repeat)
    extra: dict[str, float] = {"hand loop: read columns + group rows by key": t_group}
    if case == "a":
        t_spans, spans = _best(lambda: a_then_b_join_asof_spans(events), repeat)
        extra["join_asof: match spans only (key, start row, end row)"] = t_spans
        if spans.height != len(ours):
            alternatives["Polars join_asof"]["identical"] = False
    return {
        "case": case,
        "events": n,
        "repeat": repeat,
        "load_s": t_load,
        "first_call_s": t_first,
        "first_materialise_s": t_first_materialise,
        "first_call_matches": first_count,
        "first_call_peak_rss": first_peak["peak"],
        "match_s": t_match,
        "match_cpu_s": cpu_match,
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
        "other_cores": _other_cores(busy_start, wall_start),
        "materialise_s": t_mat,
        "matches": count,
        "stats": stats,
        "rss_start": started_rss,
        "rss_loaded": loaded_rss,
        "match_peak_rss": match_peak,
        "materialise_peak_rss": mat_peak,
        "matcher_process_peak_rss": matcher_process_peak,
        "rss_method": "VmHWM" if first_peak["method"] else "sampled",
        "stages": stages,
        "alternatives": alternatives,
        "extra": extra,
        "numba_cache_dir": os.environ.get("NUMBA_CACHE_DIR"),
    }


def _cpu_busy() -> tuple[float, float]:
    """(CPU seconds used by the whole machine, CPU seconds used by this process) so far."""
    import psutil

    machine = psutil.cpu_times()
    idle = machine.idle + getattr(machine, "iowait", 0.0) + getattr(machine, "steal", 0.0)
    own = psutil.Process().cpu_times()
    return sum(machine) - idle, own.user + own.system


def _other_cores(busy_start: tuple[float, float], wall_start: float) -> float:
    """Average number of cores other processes kept busy since ``busy_start``."""
    machine, own = _cpu_busy()
    wall = time.perf_counter() - wall_start
    return max((machine - busy_start[0]) - (own - busy_start[1]), 0.0) / wall if wall > 0 else 0.0


def _first_difference(ours: list[Any], theirs: list[Any]) -> str | None:
    if ours == theirs:
        return None
    for i, (x, y) in enumerate(zip(ours, theirs, strict=False)):
        if x != y:
            return f"match {i}: matcher {x!r} vs {y!r}"
    return f"matcher found {len(ours)} matches, the alternative {len(theirs)}"


# --- the whole run (parent process) ---------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """CPU, memory and library versions of this machine."""
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = None
    with contextlib.suppress(OSError), open("/proc/meminfo", encoding="ascii") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) * 1024
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = {"python": platform.python_version()}
    for package in ("polars", "numpy", "numba", "llvmlite", "pydantic", "psutil"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    import polars as pl

    return {
        "nproc": nproc,
        "cpu": cpu,
        "ram_bytes": ram,
        "platform": platform.platform(),
        "versions": versions,
        "polars_threads": pl.thread_pool_size(),
    }


def run_benchmarks(n_events: int, repeat: int, cold_compile: bool, seed: int,
                   cases: tuple[str, ...] = CASE_NAMES) -> dict[str, Any]:
    """Generate the data, run every case in a subprocess, and return all figures."""
    from benchmarks.data import EVENTS_PER_S, describe_events, generate_events, write_events

    with tempfile.TemporaryDirectory(prefix="lakestream-bench-") as tmp:
        started = time.perf_counter()
        events = generate_events(n_events, seed=seed)
        t_generate = time.perf_counter() - started
        data = write_events(events, Path(tmp) / "events.parquet")
        described = describe_events(events)
        del events
        results = {}
        for case in cases:
            env = dict(os.environ)
            if cold_compile:
                env["NUMBA_CACHE_DIR"] = str(Path(tmp) / f"numba-{case}")
            result_file = Path(tmp) / f"result-{case}.json"
            command = [sys.executable, "-m", "benchmarks.run", "--case", case, "--data", str(data),
                       "--result", str(result_file), "--repeat", str(repeat)]
            print(f"case ({case}) ...", file=sys.stderr, flush=True)
            done = subprocess.run(command, cwd=ROOT, env=env, check=False)
            if done.returncode != 0:
                raise SystemExit(f"case ({case}) failed with exit code {done.returncode}")
            results[case] = json.loads(result_file.read_text(encoding="utf-8"))
        return {
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_info(),
            "data": {**described, "generate_s": t_generate, "seed": seed,
                     "events_per_s": EVENTS_PER_S, "parquet_bytes": data.stat().st_size},
            "cold_compile": cold_compile,
            "repeat": repeat,
            "cases": results,
        }


def _rate(n: int, seconds: float) -> str:
    per_s = n / seconds if seconds > 0 else float("inf")
    return f"{per_s / 1e6:.2f}M" if per_s >= 1e6 else f"{per_s / 1e3:.0f}k"


def _s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:,.0f} MB"


def write_report(run: dict[str, Any], out: Path, command: str) -> str:
    """Render ``run`` as Markdown, write it to ``out`` and return the text."""
    from benchmarks.handwritten import CASES

    m, d = run["machine"], run["data"]
    n = d["events"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{command}` on {run['date']}. Do not edit by hand: `make bench` rewrites it.",
        "Every timing is the best of "
        f"{run['repeat']} run{'s' if run['repeat'] != 1 else ''}, measured in one run; each case "
        "ran in its own fresh process (`python -m benchmarks.run --case X`), so peak memory and JIT "
        "state do not leak between cases.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['nproc']} cores available (`nproc`); Polars thread pool: "
        f"{m['polars_threads']}",
        f"- RAM: {m['ram_bytes'] / 2**30:.1f} GiB" if m["ram_bytes"] else "- RAM: unknown",
        f"- {m['platform']}",
        "- " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        _load_line(run),
        "- No BLAS is involved: neither the matcher nor the alternatives do linear algebra, so "
        "`OPENBLAS_*` / `OMP_NUM_THREADS` settings do not affect these figures.",
        "",
        "## Data",
        "",
        f"`benchmarks.data.generate_events` (seed {d['seed']}): {n:,} events in global time order, "
        f"{d['keys']:,} keys (`k0000`..) drawn uniformly, types A–E uniform, price a random walk "
        "per key in whole cents (steps of −10..+10 cents), Poisson arrivals at "
        f"{d['events_per_s']:g} events/s overall (one event per key every "
        f"~{d['keys'] / d['events_per_s']:.0f} s), spanning {d['span_h']:.1f} h. Generated in "
        f"{_s(d['generate_s'])}; Parquet file {d['parquet_bytes'] / 2**20:.1f} MB.",
        "",
        f"The 5-minute WITHIN of case (a) matters: of the {d['a_rows']:,} A rows, "
        f"{d['a_next_b_in_window']:,} ({d['a_next_b_in_window'] / max(d['a_rows'], 1):.0%}) "
        f"see the next B of their key within 5 minutes, {d['a_next_b_too_late']:,} "
        f"({d['a_next_b_too_late'] / max(d['a_rows'], 1):.0%}) only later, and "
        f"{d['a_no_next_b']:,} never. (At 1,000 events/s overall a key would see an event "
        "every second, its next B a few seconds after an A, and the window would never prune; "
        "hence the lower rate.)",
        "",
        "## Summary",
        "",
        "| case | `find_matches` | events/s | target | vs target | find + materialise | "
        "best alternative | peak RSS (process) | peak RSS (< 1 GB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    misses: list[str] = []
    for case, r in run["cases"].items():
        spec = CASES[case]
        target = spec["target_events_per_s"]
        per_s = n / r["match_s"]
        ratio = per_s / target
        peak = r["matcher_process_peak_rss"]
        alt_name, alt = min(r["alternatives"].items(), key=lambda kv: kv[1]["seconds"])
        lines.append(
            f"| {spec['title']} | {_s(r['match_s'])} | {_rate(n, r['match_s'])} | "
            f"{target / 1e6:g}M | {ratio:.2f}× {'met' if ratio >= 1 else '**missed**'} | "
            f"{_rate(n, r['match_s'] + r['materialise_s'])} | {alt_name} {_rate(n, alt['seconds'])} | "
            f"{_mb(peak)} | {'met' if peak < RSS_TARGET_BYTES else '**missed**'} |"
        )
        if ratio < 1:
            misses.append(_miss_note(case, r, n, target))
        if peak >= RSS_TARGET_BYTES:
            misses.append(f"- {spec['title']}: peak RSS {_mb(peak)} is over the 1 GB target.")
    lo, hi = FLINK_SPARK_EVENTS_PER_S
    lines += [
        "",
        f"For context (quoted from the issue, not measured here): Flink `MATCH_RECOGNIZE` and "
        f"Spark `transformWithState`, run locally on the same data, manage about {lo:,}–{hi:,} "
        "events/s (10–30 s for 1M events, 6–8 s of it start-up).",
        "",
    ]
    if misses:
        lines += ["### Targets missed", "", *misses, ""]
    for case, r in run["cases"].items():
        lines += _case_section(case, r, n, run["cold_compile"])
    lines += [
        "## How exact the Polars `join_asof` formulation of (a) is",
        "",
        "Exact, not an approximation: its match list is checked equal to the matcher's above. Each A "
        "row is as-of joined (strategy forward, by key) to the next B row of its key, on the row "
        "position in time order (so ties in time keep input order); the pair is a candidate when "
        "`ts(B) − ts(A) < 5 min`. The A rows sharing one next B lie between two consecutive B rows "
        "of the key, so the sequential SKIP PAST LAST ROW search visits them in order and takes the "
        "first whose B is in time (later ones are closer to the B, so validity only improves), and "
        "that match ends on the B, past every other A of the group. Groups are separated by a B, so "
        "matches of different groups never overlap: the answer is `unique((key, B), keep=first)` "
        "over the valid pairs — no loop at all. The expansion to every event between A and B is a "
        "second as-of join (backward, from each event to the latest match start). It relies on X "
        "being undefined (any row) and on the first B ending the match (`X*?`); another DEFINE "
        "for X or a greedy `X*` would need the general matcher.",
        "",
        "## Method",
        "",
        "- `find_matches` time: data already loaded, from the call to the returned `MatchResult` "
        "(`len(result.matches)` is free). Materialise: iterating `result.matches`, which builds "
        "the `Match` objects (event ids, classifiers, times).",
        "- First call: the first `find_matches` in the fresh process"
        + (" with an empty `NUMBA_CACHE_DIR`, so it includes the numba JIT compile of the VM; "
           "\"first-call compile\" is the first call minus the best steady call."
           if run["cold_compile"] else
           " with numba's on-disk cache as found (this run did not force a cold compile)."),
        "- Peak RSS (process): `getrusage` high-water mark of the case process up to the end of "
        "the matcher phase (interpreter, Polars, numba and its compile, the loaded events and the "
        "matcher runs; before any hand-written alternative runs). Per call: Linux `VmHWM`, "
        "reset through `/proc/self/clear_refs` right before the call.",
        "- Hand-written loops start from the same loaded frame and include reading its columns "
        "into Python lists and grouping rows by key; they return the same list of "
        "`(key, [event ids], [classifiers])` as the materialised matcher output, so compare "
        "them with *find + materialise*. The issue quotes about 4M events/s for such a loop on "
        "(a) and 2.5M on (b); the loops here are slower because they also read the columns, "
        "group the rows by key and build the full event-id lists (the ↳ rows show the reading "
        "and grouping part).",
        "- Correctness: `tests/test_benchmarks.py` checks the same equalities on small generated "
        "sets (several seeds, sparse and dense arrivals, short and long partitions, tied times) "
        "and on hand-made edge cases (WITHIN boundary, backtracking at a partition end).",
        "",
    ]
    text = "\n".join(lines)
    out.write_text(text, encoding="utf-8")
    return text


def _load_line(run: dict[str, Any]) -> str:
    shown = ", ".join(f"({c}) {r['other_cores']:.2f}" for c, r in run["cases"].items())
    line = ("- CPU used by other processes while each case ran (average cores busy outside the "
            f"case process): {shown}.")
    if max(r["other_cores"] for r in run["cases"].values()) > 0.2:
        line += (" **Other work was competing for the cores during this run, so the times are "
                 "pessimistic**; the CPU time of `find_matches` is given beside its wall time.")
    return line


def _miss_note(case: str, r: dict[str, Any], n: int, target: int) -> str:
    from benchmarks.handwritten import CASES

    stages = r["stages"]
    note = (f"- {CASES[case]['title']}: {_rate(n, r['match_s'])} events/s against "
            f"{target / 1e6:g}M ({r['match_s']:.3f} s for {n:,} events; the target needs "
            f"{n / target:.3f} s).")
    if "error" not in stages:
        inner = {k: v for k, v in stages.items() if k != BUILD_STAGE}
        total = sum(inner.values())
        parts = sorted(inner.items(), key=lambda kv: -kv[1])
        note += " Where the time goes: " + "; ".join(
            f"{name} {_s(sec)} ({sec / total:.0%})" for name, sec in parts if sec >= 0.005
        ) + "."
    return note


def _case_section(case: str, r: dict[str, Any], n: int, cold: bool) -> list[str]:
    from benchmarks.handwritten import CASES

    spec = CASES[case]
    compile_s = max(r["first_call_s"] - r["match_s"], 0.0)
    lines = [
        f"## {spec['title']}",
        "",
        f"`{spec['sql']}` — partition by key, order by ts, AFTER MATCH SKIP PAST LAST ROW. "
        f"Matcher path: `{r['stats'].get('path', '?')}`.",
        "",
        "| implementation | time | events/s | matches | same matches as the matcher |",
        "|---|---|---|---|---|",
        f"| **`find_matches`** | {_s(r['match_s'])} (CPU {_s(r['match_cpu_s'])}) | "
        f"{_rate(n, r['match_s'])} | {r['matches']:,} | — |",
        f"| materialise `result.matches` | {_s(r['materialise_s'])} | | | |",
        f"| `find_matches` + materialise | {_s(r['match_s'] + r['materialise_s'])} | "
        f"{_rate(n, r['match_s'] + r['materialise_s'])} | | |",
    ]
    for name, alt in r["alternatives"].items():
        same = "yes" if alt["identical"] else f"**NO** ({alt['first_difference']})"
        lines.append(f"| {name} | {_s(alt['seconds'])} | {_rate(n, alt['seconds'])} | "
                     f"{alt['matches']:,} | {same} |")
    for name, sec in r["extra"].items():
        lines.append(f"| ↳ {name} | {_s(sec)} | {_rate(n, sec)} | | |")
    lines += [
        "",
        f"- Load {n:,} events from Parquet (`load_events(path, max_rows=None, max_bytes=None)`): "
        f"{_s(r['load_s'])}.",
        f"- First call: {_s(r['first_call_s'])}"
        + (f" — first-call compile ≈ {_s(compile_s)} (numba JIT, empty cache)" if cold else "")
        + f"; first materialise {_s(r['first_materialise_s'])}.",
        f"- Peak RSS: process {_mb(r['matcher_process_peak_rss'])} ("
        f"{_mb(r['rss_start'])} at start, with events loaded {_mb(r['rss_loaded'])}); during one "
        f"`find_matches` {_mb(r['match_peak_rss'])}; during materialise "
        f"{_mb(r['materialise_peak_rss'])} ({r['rss_method']}).",
    ]
    stages = r["stages"]
    if "error" in stages:
        lines += [f"- Stage profile unavailable: {stages['error']}", ""]
        return lines
    lines += ["", "Where the matcher's time goes (timers around its stages, in the run with the "
              "best total):",
              "", "| stage | time | share of find_matches stages |", "|---|---|---|"]
    inner = sum(v for k, v in stages.items() if k != BUILD_STAGE)
    for name, sec in stages.items():
        share = "" if name == BUILD_STAGE else f"{sec / inner:.0%}"
        lines.append(f"| {name} | {_s(sec)} | {share} |")
    lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md", help="Markdown report to write")
    parser.add_argument("--events", type=int, default=None, help="number of events (default 1,000,000)")
    parser.add_argument("--quick", action="store_true",
                        help="100,000 events (unless --events), one timed run, warm numba cache")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per measurement (default 3)")
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument("--cases", default=",".join(CASE_NAMES), help="comma-separated cases to run")
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
        for name, alt in figures["alternatives"].items():
            if not alt["identical"]:
                print(f"case ({args.case}): {name} disagrees with find_matches: "
                      f"{alt['first_difference']}", file=sys.stderr)
        return 0
    n_events = args.events or (100_000 if args.quick else 1_000_000)
    cases = tuple(c.strip() for c in args.cases.split(",") if c.strip())
    unknown = [c for c in cases if c not in CASE_NAMES]
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}; cases: {', '.join(CASE_NAMES)}")
    run = run_benchmarks(n_events, repeat, cold_compile=not args.quick, seed=args.seed, cases=cases)
    shown = ["python -m benchmarks.run", "--out", str(args.out)]
    if args.events:
        shown += ["--events", str(args.events)]
    if args.quick:
        shown.append("--quick")
    text = write_report(run, args.out, " ".join(shown))
    print(text)
    failed = [f"({c}) {name}" for c, r in run["cases"].items()
              for name, alt in r["alternatives"].items() if not alt["identical"]]
    if failed:
        print("results differ from find_matches: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
