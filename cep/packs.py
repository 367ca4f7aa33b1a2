"""Template packs: load the data-only industry packs in ``packs/`` and generate their sample events.

A pack is a folder ``packs/<name>/`` holding

* ``pack.yaml``: metadata (:class:`PackMeta`): title, industry, use cases, tags, difficulty, why it
  matters and what each pattern's alert means;
* ``patterns/*.yaml``: one pattern each, in the model's JSON/YAML form (:mod:`cep.model`);
* ``schema.yaml``: the event fields (:class:`EventSchema`): type, unit, example values;
* ``generator.yaml``: a seeded synthetic generator (:class:`GeneratorSpec`): keys, an event rate,
  background traffic per field, and planted incidents and decoys described declaratively;
* ``expected/<pattern>.json``: the matches of each pattern on the default sample
  (:data:`DEFAULT_SAMPLE_EVENTS` events, seed 0), checked by a test.

Background events arrive as a Poisson process of ``events_per_s`` over ``keys.count`` keys, or,
with ``cadence``, as regular reports of every key every ``every_s`` seconds (telemetry, where a
silent key means something); either way the per-key density does not depend on the number of
events asked for: 200 events give a short demo, 10,000,000 a long benchmark stream of the same
traffic. By default each planted incident (and decoy) runs on a key of its own, outside the
background keys, so its events are exactly the ones listed in its spec and background traffic
never completes or breaks it; with ``key: background`` it runs on a background key, amid that
key's normal traffic (interleaved with Poisson traffic, replacing the key's regular reports
during the incident with a cadence). Every incident is recorded as a :class:`PlantedIncident`
with its key and the ``event_id`` values of its own events.

Errors are :class:`~cep.errors.PatternError` naming the file and the field.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cep.errors import CepError, PatternError
from cep.model import Pattern, load_pattern

__all__ = [
    "DEFAULT_SAMPLE_EVENTS",
    "SAMPLE_FORMATS",
    "EventSchema",
    "FieldInfo",
    "FieldSpec",
    "GeneratorSpec",
    "IncidentSpec",
    "Pack",
    "PackMeta",
    "PlantedIncident",
    "check_sample_path",
    "compute_expected_matches",
    "describe_pack",
    "expected_matches",
    "generate_sample",
    "list_packs",
    "load_pack",
    "pack_json_schema",
    "packs_root",
    "write_expected_matches",
    "write_sample",
]

DEFAULT_SAMPLE_EVENTS = 200
"""Events in a pack's default sample (seed 0), on which ``expected/`` is computed."""

MAX_EVENTS = 100_000_000

Scalar = str | int | float | bool | None
_M = TypeVar("_M", bound=BaseModel)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------------------------
# pack.yaml and schema.yaml


class PackMeta(_Frozen):
    """``pack.yaml``: what the pack is for, and what each of its alerts means for the business."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=100)]
    title: Annotated[str, Field(min_length=1, max_length=200)]
    industry: Annotated[str, Field(min_length=1, max_length=100)]
    use_cases: tuple[str, ...] = Field(min_length=1)
    tags: tuple[str, ...] = ()
    difficulty: Literal["beginner", "intermediate", "advanced"]
    why_it_matters: Annotated[str, Field(min_length=1, max_length=5_000)]
    alerts: dict[str, str] = Field(min_length=1)


class FieldInfo(_Frozen):
    """One event field of ``schema.yaml``."""

    type: Literal["string", "int", "float", "bool", "datetime"]
    unit: str | None = None
    description: str = ""
    examples: tuple[Scalar, ...] = ()


class EventSchema(_Frozen):
    """``schema.yaml``: the fields of the pack's events."""

    fields: dict[str, FieldInfo] = Field(min_length=1)


# --------------------------------------------------------------------------------------------
# generator.yaml


class Normal(_Frozen):
    """Normal values of ``mean`` and standard deviation ``sd``."""

    mean: float
    sd: float = Field(ge=0)


class LogNormal(_Frozen):
    """Positive, right-skewed values (amounts): ``median`` times e to a normal of ``sigma``."""

    median: float = Field(gt=0)
    sigma: float = Field(ge=0)


class Uniform(_Frozen):
    """Values spread evenly over [``low``, ``high``)."""

    low: float
    high: float


class RandomWalk(_Frozen):
    """A per-key random walk: ``start`` plus the running sum of normal steps of ``step_sd``."""

    start: float
    step_sd: float = Field(ge=0)


class FieldSpec(_Frozen):
    """Background traffic of one field: exactly one of the distributions, then clip and round."""

    choices: dict[str, float] | None = None
    normal: Normal | None = None
    lognormal: LogNormal | None = None
    uniform: Uniform | None = None
    random_walk: RandomWalk | None = None
    min: float | None = None
    max: float | None = None
    round: int | None = Field(None, ge=0, le=9)

    @model_validator(mode="after")
    def _one_distribution(self) -> FieldSpec:
        given = [k for k in ("choices", "normal", "lognormal", "uniform", "random_walk")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of choices, normal, lognormal, uniform, random_walk"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.choices is not None:
            weights = list(self.choices.values())
            if not weights or min(weights) < 0 or sum(weights) <= 0:
                raise ValueError("choices need non-negative weights with a positive sum")
        return self


class KeySpec(_Frozen):
    """The key field, how a key index is written, and how many background keys."""

    field: str
    format: str = Field(description="Python format of the key index, e.g. 'C{:05d}'")
    count: int = Field(ge=1, le=10_000_000)


class Cadence(_Frozen):
    """Regular telemetry: every background key reports every ``every_s`` seconds.

    Each key has a random phase in [0, ``every_s``) and each report a uniform jitter in
    [-``jitter_s``, ``jitter_s``], so two reports of one key are ``every_s`` ± 2 × ``jitter_s``
    apart and a key is never silent by accident.
    """

    every_s: float = Field(gt=0, allow_inf_nan=False)
    jitter_s: float = Field(0.0, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _small_jitter(self) -> Cadence:
        if self.jitter_s * 2 >= self.every_s:
            raise ValueError(
                f"jitter_s ({self.jitter_s:g}) must be under half of every_s ({self.every_s:g})"
            )
        return self


class TimeSpec(_Frozen):
    """The time field, the stream's start, and either a mean event rate or a reporting cadence.

    ``events_per_s``: background events are a Poisson stream at that rate over all keys.
    ``cadence``: every background key reports regularly (:class:`Cadence`); the stream then lasts
    as long as it takes the keys to send the background events (see :func:`generate_sample`).
    """

    field: str = "ts"
    start: datetime
    events_per_s: float | None = Field(None, gt=0, allow_inf_nan=False)
    cadence: Cadence | None = None

    @model_validator(mode="after")
    def _one_mode(self) -> TimeSpec:
        if (self.events_per_s is None) == (self.cadence is None):
            raise ValueError("give exactly one of events_per_s (Poisson traffic) and cadence "
                             "(regular reports per key)")
        return self


class IncidentStep(_Frozen):
    """``repeat`` events ``every_s`` apart from ``at_s`` after the incident start.

    ``set`` gives field values: a scalar for all of them, or a list (one per repeat, cycled).
    Fields not set are drawn from the background traffic.
    """

    at_s: float = Field(0.0, ge=0)
    every_s: float = Field(0.0, ge=0)
    repeat: int = Field(1, ge=1, le=10_000)
    set: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)


class IncidentSpec(_Frozen):
    """A planted incident (``role: incident``) that ``pattern`` must find, or a decoy it must not."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    role: Literal["incident", "decoy"]
    pattern: str
    description: str = ""
    per_10k_events: float = Field(ge=0)
    min_count: int = Field(1, ge=0)
    horizon_s: float = Field(
        0.0, ge=0,
        description="time after the last event kept in the stream (and, with key: background, "
        "kept free of other incidents on the same key)",
    )
    key: Literal["own", "background"] = Field(
        "own",
        description="own: a key of its own with only these events; background: one of the "
        "background keys, amid its normal traffic (Poisson: interleaved with it; cadence: these "
        "events replace the key's regular reports from the first to the last of them)",
    )
    events: tuple[IncidentStep, ...] = Field(min_length=1)

    def count_for(self, events: int) -> int:
        """How many of this incident a stream of ``events`` events holds."""
        return max(self.min_count, math.floor(events * self.per_10k_events / 10_000))

    def offsets_s(self) -> list[float]:
        return [s.at_s + i * s.every_s for s in self.events for i in range(s.repeat)]


class GeneratorSpec(_Frozen):
    """``generator.yaml``: keys, time, an id column, background fields and planted incidents."""

    id_field: str = "event_id"
    keys: KeySpec
    time: TimeSpec
    fields: dict[str, FieldSpec]
    incidents: tuple[IncidentSpec, ...] = ()


def pack_json_schema() -> dict[str, Any]:
    """The JSON Schemas of ``pack.yaml``, ``schema.yaml`` and ``generator.yaml``."""
    return {
        "pack.yaml": PackMeta.model_json_schema(),
        "schema.yaml": EventSchema.model_json_schema(),
        "generator.yaml": GeneratorSpec.model_json_schema(),
    }


# --------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class PlantedIncident:
    """One planted incident or decoy in a generated stream."""

    id: str
    kind: str
    role: Literal["incident", "decoy"]
    pattern: str
    key: str
    event_ids: tuple[int, ...]


@dataclass(frozen=True)
class Pack:
    """A loaded pack: its folder, metadata, event schema, generator and patterns by name."""

    name: str
    path: Path
    meta: PackMeta
    schema: EventSchema
    generator: GeneratorSpec
    patterns: dict[str, Pattern]

    def expected_path(self, pattern: str) -> Path:
        """Where the expected matches of ``pattern`` on the default sample are stored."""
        return self.path / "expected" / f"{pattern}.json"


def packs_root() -> Path:
    """The packs folder: ``LAKESTREAM_PACKS_DIR`` or ``packs/`` next to the ``cep`` package."""
    env = os.environ.get("LAKESTREAM_PACKS_DIR", "").strip()
    return Path(env) if env else Path(__file__).resolve().parent.parent / "packs"


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PatternError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise PatternError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None


def _validate(model: type[_M], path: Path) -> _M:
    data = _read_yaml(path)
    if not isinstance(data, Mapping):
        raise PatternError(f"{path}: expected a mapping at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise PatternError(f"{path}: {where}: {first['msg']}{more}") from None


def _check_pack(pack: Pack) -> None:
    meta_file = pack.path / "pack.yaml"
    if pack.meta.name != pack.name:
        raise PatternError(f"{meta_file}: name: {pack.meta.name!r} differs from the folder name")
    for name in pack.meta.alerts:
        if name not in pack.patterns:
            raise PatternError(f"{meta_file}: alerts.{name}: no pattern of that name")
    for name in pack.patterns:
        if name not in pack.meta.alerts:
            raise PatternError(f"{meta_file}: alerts: pattern {name!r} has no alert meaning")
    gen_file = pack.path / "generator.yaml"
    gen = pack.generator
    known = set(pack.schema.fields)
    for what, field in (("id_field", gen.id_field), ("keys.field", gen.keys.field),
                        ("time.field", gen.time.field)):
        if field not in known:
            raise PatternError(f"{gen_file}: {what}: {field!r} is not in schema.yaml")
    for field in gen.fields:
        if field not in known:
            raise PatternError(f"{gen_file}: fields.{field}: not in schema.yaml")
    for i, inc in enumerate(gen.incidents):
        if inc.pattern not in pack.patterns:
            raise PatternError(f"{gen_file}: incidents[{i}].pattern: no pattern {inc.pattern!r}")
        for j, step in enumerate(inc.events):
            for field in step.set:
                if field not in gen.fields:
                    raise PatternError(
                        f"{gen_file}: incidents[{i}].events[{j}].set.{field}: "
                        "not a generated field"
                    )


def load_pack(name: str, *, root: Path | None = None) -> Pack:
    """Load and check the pack ``name`` from ``root`` (default :func:`packs_root`).

    Raises:
        PatternError: a file is missing or invalid (the message names the file and field).
    """
    base = root if root is not None else packs_root()
    path = base / name
    if not name or "/" in name or "\\" in name or name.startswith(".") or not path.is_dir():
        available = ", ".join(p.name for p in _pack_dirs(base)) or "none"
        raise PatternError(f"no pack named {name!r} in {base} (available: {available})")
    pattern_files = sorted((path / "patterns").glob("*.y*ml")) + sorted(
        (path / "patterns").glob("*.json")
    )
    patterns: dict[str, Pattern] = {}
    for file in pattern_files:
        pattern = load_pattern(file)
        if pattern.name in patterns:
            raise PatternError(f"{file}: name: a second pattern named {pattern.name!r}")
        patterns[pattern.name] = pattern
    if not patterns:
        raise PatternError(f"{path / 'patterns'}: the pack has no pattern files")
    pack = Pack(
        name=name,
        path=path,
        meta=_validate(PackMeta, path / "pack.yaml"),
        schema=_validate(EventSchema, path / "schema.yaml"),
        generator=_validate(GeneratorSpec, path / "generator.yaml"),
        patterns=patterns,
    )
    _check_pack(pack)
    return pack


def _pack_dirs(base: Path) -> list[Path]:
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir() and (p / "pack.yaml").is_file())


def list_packs(root: Path | None = None) -> list[Pack]:
    """Every pack under ``root`` (default :func:`packs_root`), by name."""
    base = root if root is not None else packs_root()
    return [load_pack(p.name, root=base) for p in _pack_dirs(base)]


# --------------------------------------------------------------------------------------------
# Generation


def _draw(spec: FieldSpec, rng: np.random.Generator, n: int,
          keys: np.ndarray[Any, Any] | None) -> pl.Series:
    if spec.choices is not None:
        names = list(spec.choices)
        weights = np.array(list(spec.choices.values()), dtype=np.float64)
        cdf = np.cumsum(weights / weights.sum())
        idx = np.searchsorted(cdf, rng.random(n), side="right").clip(0, len(names) - 1)
        return pl.Series(names, dtype=pl.String).gather(pl.Series(idx.astype(np.uint32)))
    if spec.normal is not None:
        values = rng.normal(spec.normal.mean, spec.normal.sd, n)
    elif spec.lognormal is not None:
        values = spec.lognormal.median * np.exp(rng.normal(0.0, spec.lognormal.sigma, n))
    elif spec.uniform is not None:
        values = rng.uniform(spec.uniform.low, spec.uniform.high, n)
    else:
        assert spec.random_walk is not None
        steps = rng.normal(0.0, spec.random_walk.step_sd, n)
        if keys is None or n == 0:
            values = spec.random_walk.start + np.cumsum(steps)
        else:
            order = np.argsort(keys, kind="stable")
            walked = np.cumsum(steps[order])
            sorted_keys = keys[order]
            first = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
            before = np.r_[0.0, walked][first]  # the running total before each key's first step
            counts = np.diff(np.r_[first, n])
            walked = walked - np.repeat(before, counts)
            values = np.empty(n)
            values[order] = spec.random_walk.start + walked
    if spec.min is not None or spec.max is not None:
        values = np.clip(values, spec.min, spec.max)
    if spec.round is not None:
        values = np.round(values, spec.round)
        if spec.round == 0:
            return pl.Series(values.astype(np.int64))
    return pl.Series(values)


def _cast(name: str, value: Scalar | list[Scalar], spec: FieldSpec, count: int) -> pl.Series:
    values = value if isinstance(value, list) else [value]
    cycled = [values[i % len(values)] for i in range(count)]
    if spec.choices is not None:
        return pl.Series(name, [None if v is None else str(v) for v in cycled], dtype=pl.String)
    dtype = pl.Int64 if spec.round == 0 else pl.Float64
    return pl.Series(name, cycled, dtype=dtype, strict=False)


def _epoch_us(start: datetime) -> int:
    aware = start if start.tzinfo is not None else start.replace(tzinfo=UTC)
    return int(aware.timestamp()) * 1_000_000 + aware.microsecond


def _needed_s(inc: IncidentSpec) -> float:
    """Stream time one copy of ``inc`` takes: its last offset plus its horizon."""
    return max(inc.offsets_s()) + inc.horizon_s


def _cadence_key_count(pack: Pack, cadence: Cadence, n_bg: int, keys: int | None,
                       duration: float | None) -> int:
    if keys is not None and duration is not None:
        raise CepError(
            f"pack {pack.name!r} reports on a cadence, so its length follows from the number of "
            "keys: give keys or duration, not both"
        )
    if keys is not None:
        count = keys
    elif duration is not None:
        count = max(1, round(n_bg * cadence.every_s / duration))
    else:
        count = pack.generator.keys.count
    if n_bg and count > n_bg:
        raise CepError(
            f"pack {pack.name!r}: {n_bg} background events cannot give each of {count} keys one "
            "report; ask for more events or fewer keys"
        )
    return count


def _place_on_background(
    pack: Pack, plans: list[tuple[IncidentSpec, int]], rng: np.random.Generator,
    key_count: int, lead_s: float, span_s: float,
) -> dict[int, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]:
    """Starts and background keys of the ``key: background`` copies, by plan index.

    Copies go to distinct keys while there are enough; copies sharing a key are laid one after
    another at random gaps, each keeping its ``horizon_s`` free, so they never overlap.
    """
    items = [(index, count) for index, (inc, count) in enumerate(plans)
             if inc.key == "background" and count]
    if not items:
        return {}
    lengths = np.concatenate([np.full(count, _needed_s(plans[index][0])) for index, count in items])
    n = len(lengths)
    slots = min(key_count, n)
    chosen = rng.choice(key_count, size=slots, replace=False)
    order = rng.permutation(n)
    key_of = np.empty(n, dtype=np.int64)
    key_of[order] = chosen[np.arange(n) % slots]
    starts = np.empty(n)
    for slot in range(slots):
        members = order[slot::slots]
        total = float(lengths[members].sum())
        if total > span_s - lead_s:
            raise CepError(
                f"pack {pack.name!r}: the {len(members)} incidents planted on background key "
                f"{pack.generator.keys.format.format(int(chosen[slot]))} need {total:g}s but the "
                f"stream has {span_s - lead_s:g}s for them; ask for more events or more keys"
            )
        gaps = np.sort(rng.uniform(lead_s, span_s - total, len(members)))
        starts[members] = gaps + np.r_[0.0, np.cumsum(lengths[members])[:-1]]
    out = {}
    first = 0
    for index, count in items:
        out[index] = (starts[first:first + count], key_of[first:first + count])
        first += count
    return out


def _cadence_times(
    cadence: Cadence, rng: np.random.Generator, n_bg: int, key_count: int,
    windows: list[tuple[int, float, float]],
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The first ``n_bg`` regular reports in time (seconds, key), none inside a ``window``.

    ``windows`` are (key, first, last) times taken by incidents on that key.
    """
    every = cadence.every_s
    blocked = sum(int((b - a) / every) + 2 for _, a, b in windows)
    rounds = -(-(n_bg + blocked) // key_count) + 2
    phase = rng.uniform(0.0, every, key_count)
    times = cadence.jitter_s + phase[:, None] + np.arange(rounds)[None, :] * every
    if cadence.jitter_s:
        times += rng.uniform(-cadence.jitter_s, cadence.jitter_s, times.shape)
    keep = np.ones(times.shape, dtype=bool)
    for key, first, last in windows:
        row = times[key]  # increasing: the jitter is under half the cadence
        keep[key, np.searchsorted(row, first, "left"):np.searchsorted(row, last, "right")] = False
    flat_t = times[keep]
    flat_k = np.broadcast_to(np.arange(key_count)[:, None], times.shape)[keep]
    pick = np.argsort(flat_t, kind="stable")[:n_bg]
    return flat_t[pick], flat_k[pick]


def generate_sample(
    pack: Pack,
    *,
    events: int = DEFAULT_SAMPLE_EVENTS,
    seed: int = 0,
    keys: int | None = None,
    duration: float | None = None,
) -> tuple[pl.DataFrame, list[PlantedIncident]]:
    """Generate ``events`` events of ``pack`` and the incidents planted in them.

    Deterministic for a seed. The frame is in time order with the id column ``1..events``; its
    time column is ``Datetime("us", "UTC")``. The background gets the events the planted
    incidents and decoys leave (``n_bg``).

    * ``events_per_s`` (Poisson traffic): ``keys`` overrides the number of background keys and
      ``duration`` (seconds) the stream length (by default ``events / events_per_s``).
    * ``cadence``: each of the ``K`` background keys (``keys``, else ``keys.count``) reports
      every ``every_s`` seconds, and the stream is the first ``n_bg`` reports in time, so it
      lasts about ``n_bg / K × every_s`` seconds. ``duration`` instead sets
      ``K = round(n_bg × every_s / duration)`` (give one of ``keys`` and ``duration``).
      Incidents are placed between ``every_s + jitter_s`` (every key has reported by then) and
      ``(n_bg // K − 2) × every_s`` seconds (which every key covers with reports), so no key is
      silent for longer than ``every_s + 2 × jitter_s`` before the end of the stream, except
      where an incident says so.

    Incidents with ``key: background`` run on background keys (distinct ones while there are
    enough; copies sharing a key never overlap, ``horizon_s`` apart).

    Raises:
        CepError: bad sizes, or a stream too short to hold an incident.
    """
    gen = pack.generator
    if not 1 <= events <= MAX_EVENTS:
        raise CepError(f"events must be between 1 and {MAX_EVENTS:,}, got {events}")
    if keys is not None and keys < 1:
        raise CepError(f"keys must be at least 1, got {keys}")
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise CepError(f"duration must be a positive number of seconds, got {duration}")
    rng = np.random.default_rng(seed)

    plans: list[tuple[IncidentSpec, int]] = []
    planted_events = 0
    for inc in gen.incidents:
        count = inc.count_for(events)
        plans.append((inc, count))
        planted_events += count * len(inc.offsets_s())
    n_bg = events - planted_events
    if n_bg < 0:
        raise CepError(
            f"pack {pack.name!r}: {events} events cannot hold the {planted_events} events of its "
            "planted incidents; ask for more events"
        )

    cadence = gen.time.cadence
    if cadence is None:
        assert gen.time.events_per_s is not None
        key_count = keys if keys is not None else gen.keys.count
        span_s = duration if duration is not None else events / gen.time.events_per_s
        lead_s = 0.0
    else:
        key_count = _cadence_key_count(pack, cadence, n_bg, keys, duration)
        span_s = max(n_bg // key_count - 2, 0) * cadence.every_s
        lead_s = cadence.every_s + cadence.jitter_s  # every key has reported once by then
    for inc, count in plans:
        needed = _needed_s(inc) + lead_s
        if count and needed > span_s:
            raise CepError(
                f"pack {pack.name!r}: incident {inc.name!r} needs {needed:g}s of stream but the "
                f"stream lasts {span_s:g}s; ask for more events or a longer duration"
            )
    shared = _place_on_background(pack, plans, rng, key_count, lead_s, span_s)

    if cadence is None:
        gaps = rng.exponential(1.0, n_bg)
        bg_t = np.cumsum(gaps)
        if n_bg:
            bg_t *= span_s / (bg_t[-1] + rng.exponential(1.0))
        bg_key = rng.integers(0, key_count, n_bg)
    else:
        windows = [
            (int(key), float(start) + min(inc.offsets_s()), float(start) + max(inc.offsets_s()))
            for index, (starts, keys_of) in shared.items()
            for start, key in zip(starts, keys_of, strict=True)
            for inc in (plans[index][0],)
        ]
        bg_t, bg_key = _cadence_times(cadence, rng, n_bg, key_count, windows)
    bg_us = (bg_t * 1e3).astype(np.int64) * 1_000  # whole milliseconds
    columns: dict[str, pl.Series] = {}
    for name, spec in gen.fields.items():
        columns[name] = _draw(spec, rng, n_bg, bg_key).alias(name)

    inc_us: list[np.ndarray[Any, Any]] = []
    inc_key: list[np.ndarray[Any, Any]] = []
    inc_cols: dict[str, list[pl.Series]] = {name: [] for name in gen.fields}
    labels: list[tuple[IncidentSpec, str, int, int]] = []  # spec, id, number of events, key
    next_key = key_count
    for index, (inc, count) in enumerate(plans):
        if not count:
            continue
        offsets = np.array(inc.offsets_s())
        size = len(offsets)
        if index in shared:
            starts, copy_keys = shared[index]
        else:
            starts = rng.uniform(lead_s, span_s - _needed_s(inc), count)
            copy_keys = np.arange(next_key, next_key + count)
            next_key += count
        inc_us.append((np.round((starts[:, None] + offsets[None, :]) * 1e3).astype(np.int64)
                       * 1_000).ravel())
        inc_key.append(np.repeat(copy_keys, size))
        # Columns are built step by step for all copies at once, then put in copy-major order.
        copy_rows = np.concatenate([np.repeat(np.arange(count), s.repeat) for s in inc.events])
        order_rows = pl.Series(np.argsort(copy_rows, kind="stable").astype(np.int64))
        for name, spec in gen.fields.items():
            parts: list[pl.Series] = []
            for step in inc.events:
                if name in step.set:
                    one = _cast(name, step.set[name], spec, step.repeat)
                    parts.append(one.gather(pl.Series(
                        np.tile(np.arange(step.repeat), count).astype(np.int64))))
                else:
                    walk_keys = np.repeat(np.arange(count), step.repeat)
                    drawn = _draw(spec, rng, count * step.repeat, walk_keys)
                    parts.append(drawn.alias(name))
            inc_cols[name].append(pl.concat(parts).gather(order_rows))
        labels.extend((inc, f"{inc.name}#{number + 1}", size, int(copy_keys[number]))
                      for number in range(count))

    all_us = np.concatenate([bg_us, *inc_us]) if inc_us else bg_us
    all_key = np.concatenate([bg_key, *inc_key]) if inc_key else bg_key
    order = np.argsort(all_us, kind="stable")
    rank = np.empty(events, dtype=np.int64)
    rank[order] = np.arange(1, events + 1)

    key_names = [gen.keys.format.format(i) for i in range(next_key)]
    frame_columns: dict[str, pl.Series] = {
        gen.id_field: pl.Series(gen.id_field, np.arange(1, events + 1, dtype=np.int64)),
        gen.time.field: (
            pl.Series(gen.time.field, all_us[order])
            + _epoch_us(gen.time.start)
        ).cast(pl.Datetime("us", "UTC")),
        gen.keys.field: pl.Series(key_names, dtype=pl.String)
        .gather(pl.Series(all_key[order].astype(np.uint32)))
        .alias(gen.keys.field),
    }
    idx = pl.Series(order.astype(np.int64))
    for name in gen.fields:
        merged = pl.concat([columns[name], *inc_cols[name]])
        frame_columns[name] = merged.gather(idx).alias(name)
    frame = pl.DataFrame(list(frame_columns.values()))

    planted: list[PlantedIncident] = []
    position = n_bg
    for inc, ident, size, key_index in labels:
        ids = tuple(np.sort(rank[position:position + size]).tolist())
        position += size
        planted.append(PlantedIncident(
            id=ident, kind=inc.name, role=inc.role, pattern=inc.pattern,
            key=key_names[key_index], event_ids=ids,
        ))
    return frame, planted


SAMPLE_FORMATS = (".csv", ".jsonl", ".ndjson", ".parquet")
"""File extensions :func:`write_sample` writes."""


def check_sample_path(path: Path) -> None:
    """Raise :class:`~cep.errors.CepError` unless ``path`` has an extension in SAMPLE_FORMATS."""
    if path.suffix.lower() not in SAMPLE_FORMATS:
        raise CepError(f"{path}: unknown output format {path.suffix or '(none)'!r}; "
                       "use .csv, .jsonl, .ndjson or .parquet")


def write_sample(frame: pl.DataFrame, path: Path) -> None:
    """Write events to ``path``: CSV, JSON lines (.jsonl/.ndjson) or Parquet, by extension.

    Raises:
        CepError: for another extension.
    """
    check_sample_path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame.write_csv(path)
    elif suffix in (".jsonl", ".ndjson"):
        frame.write_ndjson(path)
    else:
        frame.write_parquet(path)


def describe_pack(pack: Pack) -> dict[str, Any]:
    """A JSON-ready summary of a pack (metadata, patterns and their kinds, fields)."""
    return {
        **pack.meta.model_dump(mode="json"),
        "patterns": {name: p.kind for name, p in pack.patterns.items()},
        "fields": {name: f.model_dump(mode="json") for name, f in pack.schema.fields.items()},
    }


def expected_matches(pack: Pack, pattern: str) -> list[dict[str, Any]]:
    """The stored expected matches of ``pattern`` on the default sample."""
    path = pack.expected_path(pattern)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PatternError(f"{path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise PatternError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise PatternError(f"{path}: expected a list of matches")
    return data



def compute_expected_matches(pack: Pack) -> dict[str, list[dict[str, Any]]]:
    """The matches of every pattern of ``pack`` on its default sample (seed 0), as JSON values."""
    from cep.matcher import find_matches

    frame, _ = generate_sample(pack, events=DEFAULT_SAMPLE_EVENTS, seed=0)
    out: dict[str, list[dict[str, Any]]] = {}
    for name, pattern in pack.patterns.items():
        matches: list[dict[str, Any]] = find_matches(pattern, frame).to_json_dict()["matches"]
        out[name] = json.loads(json.dumps(matches))
    return out


def write_expected_matches(pack: Pack) -> list[Path]:
    """Store :func:`compute_expected_matches` in ``expected/`` (review the diff before keeping it)."""
    written = []
    for name, matches in compute_expected_matches(pack).items():
        path = pack.expected_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(matches, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
