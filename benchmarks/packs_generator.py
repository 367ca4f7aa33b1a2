"""Benchmark of the template packs' sample generator: events/s of ``generate_sample`` per pack.

Usage::

    python -m benchmarks.packs_generator [--events N] [--repeat R] [--packs a,b] [--seed S]

For every pack folder (or those named), one warm-up ``generate_sample(pack, events=N)`` call
(imports, first allocations), then ``--repeat`` timed calls with another seed; the best wall
time is reported with the CPU time of that call (all threads of the process), the events/s it
gives and whether that meets the target of 1,000,000 events/s. The Markdown section goes to
stdout, like ``benchmarks.kinds_report``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from typing import Any

__all__ = ["TARGET_EVENTS_PER_S", "main", "measure_pack", "render", "run_benchmarks"]

TARGET_EVENTS_PER_S = 1_000_000


def measure_pack(name: str, events: int, repeat: int, seed: int) -> dict[str, Any]:
    """Time ``generate_sample`` of pack ``name``: a warm-up call, then the best of ``repeat``."""
    from cep.packs import generate_sample, load_pack

    pack = load_pack(name)
    gen = pack.generator
    load_start = os.getloadavg()[0]
    frame, planted = generate_sample(pack, events=events, seed=seed)
    assert frame.height == events
    del frame
    best_wall, best_cpu = float("inf"), float("inf")
    for run in range(repeat):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        frame, planted = generate_sample(pack, events=events, seed=seed + 1 + run)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        del frame
        if wall < best_wall:
            best_wall, best_cpu = wall, cpu
    cadence = gen.time.cadence
    return {
        "pack": name,
        "mode": (f"cadence {cadence.every_s:g} s" if cadence is not None
                 else f"Poisson {gen.time.events_per_s:g}/s"),
        "keys": gen.keys.count,
        "planted": len(planted),
        "on_background": sum(inc.key == "background" for inc in gen.incidents),
        "wall_s": best_wall,
        "cpu_s": best_cpu,
        "events_per_s": events / best_wall,
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
    }


def run_benchmarks(events: int, repeat: int, seed: int,
                   names: list[str] | None = None) -> dict[str, Any]:
    """Measure every pack (or ``names``) and return the figures with the machine's description."""
    from benchmarks.run import machine_info
    from cep.packs import list_packs

    available = [p.name for p in list_packs()]
    chosen = available if not names else [n for n in names if n in available]
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "events": events,
        "repeat": repeat,
        "seed": seed,
        "missing": [n for n in names or [] if n not in available],
        "packs": [measure_pack(n, events, repeat, seed) for n in chosen],
    }


def render(run: dict[str, Any]) -> str:
    """The Markdown section for ``run`` (see :func:`run_benchmarks`)."""
    m = run["machine"]
    rows = run["packs"]
    met = sum(r["events_per_s"] >= TARGET_EVENTS_PER_S for r in rows)
    lines = [
        "## Template pack generator",
        "",
        f"Measured {run['date']} by `python -m benchmarks.packs_generator`: for every pack, "
        f"`cep.packs.generate_sample(pack, events={run['events']:,})` once as a warm-up (seed "
        f"{run['seed']}), then best of {run['repeat']} with seeds {run['seed'] + 1}.."
        f"{run['seed'] + run['repeat']}. Events/s = events / best wall time; target "
        f"{TARGET_EVENTS_PER_S:,} events/s. CPU time counts every thread of the process.",
        "",
        f"Machine: {m['cpu']}, {m['nproc']} cores, Polars threads {m['polars_threads']}, "
        f"Python {m['versions'].get('python')}, Polars {m['versions'].get('polars')}, NumPy "
        f"{m['versions'].get('numpy')}. Shared with other jobs: load average (1 min) at the "
        "start/end of each pack "
        + ", ".join(f"{r['pack']} {r['load_start']:.1f}/{r['load_end']:.1f}" for r in rows)
        + ".",
        "",
        "| pack | background | keys | planted copies | specs with `key: background` "
        "| best wall | CPU | events/s (wall) | events/s (CPU) | target met (wall) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['pack']} | {r['mode']} | {r['keys']:,} | {r['planted']:,} "
            f"| {r['on_background']} | {r['wall_s']:.3f} s | {r['cpu_s']:.3f} s "
            f"| {r['events_per_s']:,.0f} | {run['events'] / max(r['cpu_s'], 1e-9):,.0f} "
            f"| {'yes' if r['events_per_s'] >= TARGET_EVENTS_PER_S else 'no'} |"
        )
    lines += ["", f"{met} of {len(rows)} packs meet the target on wall time. On a machine "
              "shared with other jobs (load average above the core count) the wall time "
              "includes waiting for a core; the CPU column is this process's own work."]
    if run["missing"]:
        lines.append(f"Not found (skipped): {', '.join(run['missing'])}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its Markdown section."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.packs_generator",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000, help="events per sample")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per pack (best kept)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the warm-up run")
    parser.add_argument("--packs", default="", help="comma-separated pack names (default: all)")
    args = parser.parse_args(argv)
    if args.events < 1 or args.repeat < 1:
        parser.error("--events and --repeat must be at least 1")
    names = [n.strip() for n in args.packs.split(",") if n.strip()] or None
    sys.stdout.write(render(run_benchmarks(args.events, args.repeat, args.seed, names)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
