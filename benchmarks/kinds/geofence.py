"""Geofence benchmark: a fleet generator, a per-event pure-Python matcher, and the measurement.

``generate_events`` simulates vehicles around a depot; ``python_matches`` is the geofence a
competent user would write row by row (dict of per-key lists, ``math`` haversine, ray casting),
with the semantics of :mod:`cep.matcher.detectors.geofence`; ``main`` times both on the same
events::

    python -m benchmarks.kinds.geofence [--events 1000000] [--keys 1000]

>>> df = generate_events(6, n_keys=2, seed=1)
>>> df.columns, df["ts"].is_sorted()
(['id', 'vehicle', 'ts', 'lat', 'lon'], True)
"""

from __future__ import annotations

import argparse
import itertools
import math
import resource
import sys
import time
from typing import Any

import numpy as np
import polars as pl

__all__ = ["PATTERNS", "generate_events", "main", "python_matches"]

START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
DEPOT = (52.3702, 4.8952)
EARTH_RADIUS_M = 6_371_008.8
CIRCLE_TOLERANCE_M = 1e-4
POLYGON_TOLERANCE_DEG = 1e-9

_M_PER_DEG_LAT = EARTH_RADIUS_M * math.pi / 180
_PENTAGON = [
    {"lat": DEPOT[0] + 0.012 * math.cos(2 * math.pi * i / 5),
     "lon": DEPOT[1] + 0.02 * math.sin(2 * math.pi * i / 5)}
    for i in range(5)
]
PATTERNS: dict[str, dict[str, Any]] = {
    "enter circle 1 km": {
        "kind": "geofence", "name": "depot enter", "partition_by": ["vehicle"],
        "shape": {"type": "circle", "center": {"lat": DEPOT[0], "lon": DEPOT[1]},
                  "radius_m": 1000.0},
        "trigger": "enter",
    },
    "exit pentagon": {
        "kind": "geofence", "name": "zone exit", "partition_by": ["vehicle"],
        "shape": {"type": "polygon", "vertices": _PENTAGON}, "trigger": "exit",
    },
    "dwell circle 30m": {
        "kind": "geofence", "name": "depot dwell", "partition_by": ["vehicle"],
        "shape": {"type": "circle", "center": {"lat": DEPOT[0], "lon": DEPOT[1]},
                  "radius_m": 1000.0},
        "trigger": "dwell", "dwell": "30m",
    },
}


def generate_events(n_events: int = 1_000_000, *, n_keys: int = 1_000, seed: int = 20240101,
                    events_per_s: float = 20.0) -> pl.DataFrame:
    """GPS fixes of ``n_keys`` vehicles in global time order.

    Poisson arrivals at ``events_per_s`` overall (a vehicle reports every ~50 s with 1,000
    vehicles), each fix from a uniformly drawn vehicle. Each vehicle starts within ~3 km of the
    depot and moves by a random step (σ 150 m per axis) pulled 2% back towards the depot, so
    vehicles keep crossing the 1 km circle. Columns: ``id``, ``vehicle`` (``"v0000"``..),
    ``ts`` (UTC), ``lat``, ``lon``.
    """
    rng = np.random.default_rng(seed)
    gaps = np.floor(rng.exponential(1e6 / events_per_s, n_events)).astype(np.int64) + 1
    ts_us = START_US + np.cumsum(gaps)
    vehicle = rng.integers(0, n_keys, n_events)
    north = rng.normal(0.0, 3000.0, n_keys)
    east = rng.normal(0.0, 3000.0, n_keys)
    step_n = rng.normal(0.0, 150.0, n_events)
    step_e = rng.normal(0.0, 150.0, n_events)
    # Each vehicle's walk, vectorised over its fixes (an AR(1) recurrence in closed form).
    order = np.argsort(vehicle, kind="stable")
    pos_n = np.empty(n_events)
    pos_e = np.empty(n_events)
    bounds = [*np.flatnonzero(np.diff(vehicle[order], prepend=-1)).tolist(), n_events]
    for a, b in itertools.pairwise(bounds):
        rows = order[a:b]
        v = int(vehicle[rows[0]])
        pos_n[rows] = _ar1(north[v], step_n[rows])
        pos_e[rows] = _ar1(east[v], step_e[rows])
    cos_lat = math.cos(math.radians(DEPOT[0]))
    return pl.DataFrame({
        "id": np.arange(n_events, dtype=np.int64),
        "vehicle": pl.Series([f"v{i:04d}" for i in range(n_keys)])[vehicle],
        "ts": pl.Series(ts_us).cast(pl.Datetime("us", "UTC")),
        "lat": DEPOT[0] + pos_n / _M_PER_DEG_LAT,
        "lon": DEPOT[1] + pos_e / (_M_PER_DEG_LAT * cos_lat),
    })


def _ar1(start: float, steps: Any, pull: float = 0.98) -> Any:
    """x[i] = pull * x[i-1] + steps[i] with x[-1] = start, by cumulative sums in blocks of 500
    (x[i] = pull**i * (pull * x[-1] + sum(steps[j] / pull**j)); blocks keep pull**-j small)."""
    n = steps.shape[0]
    powers = pull ** np.arange(min(n, 500), dtype=np.float64)
    out = np.empty(n)
    prev = start
    for a in range(0, n, 500):
        p = powers[: min(500, n - a)]
        s = steps[a: a + p.shape[0]]
        out[a: a + p.shape[0]] = p * (pull * prev + np.cumsum(s / p))
        prev = out[a + p.shape[0] - 1]
    return out


# --- the pure-Python matcher ----------------------------------------------------------------


def _haversine_m(lat0: float, lon0: float, lat: float, lon: float) -> float:
    phi0, phi = math.radians(lat0), math.radians(lat)
    h = (math.sin((phi - phi0) / 2) ** 2
         + math.cos(phi0) * math.cos(phi) * math.sin(math.radians(lon - lon0) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(h, 1.0)))


def _in_polygon(vertices: list[tuple[float, float]], lat: float, lon: float) -> bool:
    """Ray casting towards +lon; points within the tolerance of an edge are inside."""
    inside = False
    n = len(vertices)
    for i in range(n):
        (yi, xi), (yj, xj) = vertices[i], vertices[(i + 1) % n]
        dx, dy = xj - xi, yj - yi
        t = min(1.0, max(0.0, ((lon - xi) * dx + (lat - yi) * dy) / (dx * dx + dy * dy)))
        ex, ey = lon - (xi + t * dx), lat - (yi + t * dy)
        if ex * ex + ey * ey <= POLYGON_TOLERANCE_DEG ** 2:
            return True
        if (yi > lat) != (yj > lat) and lon < dx * (lat - yi) / dy + xi:
            inside = not inside
    return inside


def python_matches(pattern: Any, df: pl.DataFrame) -> list[tuple[dict[str, Any], list[Any],
                                                                  list[str]]]:
    """The geofence matches as ``(key, event_ids, classifiers)``, keys in order of first
    appearance, then in time order — one event at a time, in plain Python."""
    cols = {c: df.get_column(c).to_list() for c in df.columns}
    id_col = pattern.id_field or ("id" if "id" in cols else None)
    ids = cols[id_col] if id_col else list(range(df.height))
    times = df.get_column(pattern.order_by).dt.epoch("us").to_list()
    shape = pattern.shape
    if shape.type == "circle":
        def is_inside(lat: float, lon: float) -> bool:
            d = _haversine_m(shape.center.lat, shape.center.lon, lat, lon)
            return d <= shape.radius_m + CIRCLE_TOLERANCE_M
    else:
        vertices = [(v.lat, v.lon) for v in shape.vertices]

        def is_inside(lat: float, lon: float) -> bool:
            return _in_polygon(vertices, lat, lon)

    per_key: dict[tuple[Any, ...], list[int]] = {}
    for row in range(df.height):
        key = tuple(cols[c][row] for c in pattern.partition_by)
        per_key.setdefault(key, []).append(row)
    last_time = max(times) if times else 0
    dwell_us = pattern.dwell.microseconds if pattern.dwell else 0
    out = []
    for key, rows in per_key.items():
        key_dict = dict(zip(pattern.partition_by, key, strict=True))
        rows.sort(key=lambda r: times[r])  # stable: equal times keep input order
        was_inside: bool | None = None
        visit: tuple[int, str] | None = None  # (first row, label)
        prev = None
        for row in rows:
            now_inside = is_inside(float(cols[pattern.lat_field][row]),
                                   float(cols[pattern.lon_field][row]))
            if pattern.trigger == "dwell":
                if visit is not None and times[row] >= times[visit[0]] + dwell_us:
                    out.append((key_dict, [ids[visit[0]]], [visit[1]]))
                    visit = None
                if now_inside and not was_inside and was_inside is not None:
                    visit = (row, "enter")
                elif now_inside and was_inside is None:
                    visit = (row, "inside")
                elif not now_inside:
                    visit = None
            elif was_inside is not None and now_inside != was_inside:
                if pattern.trigger == "enter" and now_inside:
                    out.append((key_dict, [ids[prev], ids[row]], ["outside", "inside"]))
                if pattern.trigger == "exit" and not now_inside:
                    out.append((key_dict, [ids[prev], ids[row]], ["inside", "outside"]))
            was_inside = now_inside
            prev = row
        if visit is not None and times[visit[0]] + dwell_us <= last_time:
            out.append((key_dict, [ids[visit[0]]], [visit[1]]))
    return out


# --- measurement ----------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def main(argv: list[str] | None = None) -> None:
    """Time ``find_matches`` (best of 3, after a warm-up) and ``python_matches`` (once)."""
    from cep.matcher import find_matches
    from cep.model import parse_pattern

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=1_000)
    parser.add_argument("--no-python", action="store_true")
    args = parser.parse_args(argv)
    df = generate_events(args.events, n_keys=args.keys)
    print(f"{df.height:,} events, {args.keys:,} keys, "
          f"{(df['ts'].max() - df['ts'].min()).total_seconds() / 3600:.1f} h")
    results = {}
    for name, spec in PATTERNS.items():  # every fast run first: the peak RSS is theirs alone
        pattern = parse_pattern(spec)
        find_matches(pattern, df.head(1000))  # warm-up (imports, numba cache)
        best = math.inf
        for _ in range(3):
            t = time.perf_counter()
            result = find_matches(pattern, df)
            best = min(best, time.perf_counter() - t)
        results[name] = (pattern, result, best)
        print(f"{name}: find_matches {best:.3f} s = {df.height / best / 1e6:.2f}M events/s, "
              f"{len(result.matches):,} matches, {len(result.pending):,} pending, "
              f"peak RSS so far {_peak_rss_mb():.0f} MB", flush=True)
    if args.no_python:
        return
    for name, (pattern, result, best) in results.items():
        t = time.perf_counter()
        slow = python_matches(pattern, df)
        took = time.perf_counter() - t
        same = slow == [(m.key, m.event_ids, m.classifiers) for m in result.matches]
        print(f"{name}: python {took:.3f} s = {df.height / took / 1e6:.2f}M events/s "
              f"({took / best:.1f}x the time of find_matches), same matches: {same}",
              flush=True)

if __name__ == "__main__":
    main()
