"""The template packs: loading, the seeded generator, and each pattern's proof on its own data."""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import polars as pl
import pytest

from cep.errors import CepError, PatternError
from cep.matcher import find_matches
from cep.packs import (
    DEFAULT_SAMPLE_EVENTS,
    Pack,
    PlantedIncident,
    compute_expected_matches,
    expected_matches,
    generate_sample,
    list_packs,
    load_pack,
    pack_json_schema,
    packs_root,
)
from cep.results import Match

PACKS = {p.name: p for p in list_packs()}
PACK_PATTERNS = [(pack, name) for pack in sorted(PACKS) for name in sorted(PACKS[pack].patterns)]


def _ids(match: Match | dict[str, object]) -> set[int]:
    ids = match.event_ids if isinstance(match, Match) else match["event_ids"]
    assert isinstance(ids, list)
    return set(ids)


@dataclass(frozen=True)
class _Stream:
    """A generated stream and its planted incidents, to tell which incident a match belongs to.

    A match belongs to an incident when it holds some of the incident's events and no event of
    another incident; its other events, if any, must be background events of the incident's key,
    which only an incident planted on a background key (``key: background``) has.
    """

    pack: Pack
    frame: pl.DataFrame
    planted: list[PlantedIncident]

    @classmethod
    def generate(cls, pack: Pack, events: int, seed: int) -> _Stream:
        frame, planted = generate_sample(pack, events=events, seed=seed)
        return cls(pack, frame, planted)

    @cached_property
    def _planted_ids(self) -> set[int]:
        return {i for p in self.planted for i in p.event_ids}

    @cached_property
    def _ids_by_key(self) -> dict[str, set[int]]:
        gen = self.pack.generator
        rows = self.frame.group_by(gen.keys.field).agg(pl.col(gen.id_field))
        return {key: set(ids) for key, ids in rows.iter_rows()}

    def on_background(self, incident: PlantedIncident) -> bool:
        specs = {s.name: s for s in self.pack.generator.incidents}
        return specs[incident.kind].key == "background"

    def belongs(self, match: Match | dict[str, object], incident: PlantedIncident) -> bool:
        ids = _ids(match)
        own = ids & set(incident.event_ids)
        if not own:
            return False
        if ids == own:
            return True
        others = ids - own
        return (self.on_background(incident) and others <= self._ids_by_key[incident.key]
                and not others & self._planted_ids)


def _touches(match: Match | dict[str, object], incident: PlantedIncident) -> bool:
    return bool(_ids(match) & set(incident.event_ids))


def test_at_least_three_packs_load_with_several_kinds() -> None:
    assert {"card_fraud", "account_security", "iot_maintenance"} <= set(PACKS)
    kinds = {p.kind for pack in PACKS.values() for p in pack.patterns.values()}
    assert len(kinds) >= 5
    for pack in PACKS.values():
        assert 3 <= len(pack.patterns) <= 6
        assert len({p.kind for p in pack.patterns.values()}) >= 3


def test_every_pattern_has_planted_incidents_and_decoys() -> None:
    for pack in PACKS.values():
        for name in pack.patterns:
            roles = {i.role for i in pack.generator.incidents if i.pattern == name}
            assert roles == {"incident", "decoy"}, (pack.name, name)


def test_json_schema_is_generated_for_the_three_files() -> None:
    schemas = pack_json_schema()
    assert set(schemas) == {"pack.yaml", "schema.yaml", "generator.yaml"}
    assert schemas["generator.yaml"]["additionalProperties"] is False
    defs = schemas["generator.yaml"]["$defs"]
    assert set(defs["Cadence"]["properties"]) == {"every_s", "jitter_s"}
    assert defs["IncidentSpec"]["properties"]["key"]["enum"] == ["own", "background"]


@pytest.mark.parametrize("name", sorted(PACKS))
def test_sample_is_deterministic_for_a_seed(name: str) -> None:
    pack = PACKS[name]
    a, planted_a = generate_sample(pack, events=500, seed=7)
    b, planted_b = generate_sample(pack, events=500, seed=7)
    c, _ = generate_sample(pack, events=500, seed=8)
    assert a.equals(b)
    assert planted_a == planted_b
    assert not a.equals(c)


@pytest.mark.parametrize("name", sorted(PACKS))
def test_sample_has_the_schema_fields_in_time_order(name: str) -> None:
    pack = PACKS[name]
    frame, planted = generate_sample(pack, events=DEFAULT_SAMPLE_EVENTS, seed=0)
    assert frame.height == DEFAULT_SAMPLE_EVENTS
    assert set(frame.columns) == set(pack.schema.fields)
    ts = pack.generator.time.field
    assert frame.schema[ts] == pl.Datetime("us", "UTC")
    assert frame[ts].is_sorted()
    assert frame[pack.generator.id_field].to_list() == list(range(1, frame.height + 1))
    key = pack.generator.keys.field
    specs = {s.name: s for s in pack.generator.incidents}
    for incident in planted:
        rows = frame.filter(pl.col(pack.generator.id_field).is_in(list(incident.event_ids)))
        assert rows[key].unique().to_list() == [incident.key]
        on_key = frame.filter(pl.col(key) == incident.key).height
        if specs[incident.kind].key == "own":
            assert on_key == len(incident.event_ids)
        else:
            assert on_key >= len(incident.event_ids)


@pytest.mark.parametrize(("pack_name", "pattern"), PACK_PATTERNS,
                         ids=[f"{p}.{n}" for p, n in PACK_PATTERNS])
def test_stored_expected_matches_are_recomputed(pack_name: str, pattern: str) -> None:
    pack = PACKS[pack_name]
    stored = expected_matches(pack, pattern)
    assert compute_expected_matches(pack)[pattern] == stored, (
        f"matches of {pattern} moved; if intended, rerun cep.packs.write_expected_matches and review"
    )


@pytest.mark.parametrize(("pack_name", "pattern"), PACK_PATTERNS,
                         ids=[f"{p}.{n}" for p, n in PACK_PATTERNS])
def test_stored_expected_matches_are_the_planted_incidents(pack_name: str, pattern: str) -> None:
    pack = PACKS[pack_name]
    stream = _Stream.generate(pack, DEFAULT_SAMPLE_EVENTS, 0)
    mine = [i for i in stream.planted if i.pattern == pattern]
    stored = expected_matches(pack, pattern)
    incidents = [i for i in mine if i.role == "incident"]
    assert incidents
    for incident in incidents:
        assert any(stream.belongs(m, incident) for m in stored), incident.id
    for match in stored:
        assert any(stream.belongs(match, i) for i in incidents), match
    for decoy in (i for i in mine if i.role == "decoy"):
        assert not any(_touches(m, decoy) for m in stored), decoy.id


def _check_recall(pack: Pack, events: int, seed: int) -> None:
    stream = _Stream.generate(pack, events, seed)
    for name, pattern in pack.patterns.items():
        matches = find_matches(pattern, stream.frame).matches
        incidents = [i for i in stream.planted if i.pattern == name and i.role == "incident"]
        decoys = [i for i in stream.planted if i.pattern == name and i.role == "decoy"]
        assert len(incidents) >= 3
        missed = [i.id for i in incidents if not any(stream.belongs(m, i) for m in matches)]
        assert not missed, f"{pack.name}.{name} seed {seed}: missed {missed}"
        hit = [d.id for d in decoys if any(_touches(m, d) for m in matches)]
        assert not hit, f"{pack.name}.{name} seed {seed}: decoys matched {hit}"
        stray = [m.event_ids for m in matches
                 if not any(stream.belongs(m, i) for i in incidents)]
        assert not stray, f"{pack.name}.{name} seed {seed}: background matched {stray}"


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", sorted(PACKS))
def test_every_planted_incident_is_found_and_no_decoy_on_a_large_stream(
    name: str, seed: int
) -> None:
    _check_recall(PACKS[name], 20_000, seed)


def test_generator_scales_to_a_million_events() -> None:
    frame, planted = generate_sample(PACKS["card_fraud"], events=1_000_000, seed=1)
    assert frame.height == 1_000_000
    assert len(planted) == 6 * 200
    ids = [i for p in planted for i in p.event_ids]
    assert len(ids) == len(set(ids))


def test_keys_and_duration_override_the_spec() -> None:
    frame, _ = generate_sample(PACKS["card_fraud"], events=2_000, seed=0, keys=3,
                               duration=86_400.0)
    bg = frame.filter(pl.col("card_id").is_in(["C00000", "C00001", "C00002"]))
    assert bg.height > 1_900
    span = frame["ts"].max() - frame["ts"].min()  # type: ignore[operator]
    assert 80_000 < span.total_seconds() <= 86_400


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"events": 0}, "events must be between"),
        ({"events": 10}, "cannot hold"),
        ({"events": 200, "keys": 0}, "keys must be at least 1"),
        ({"events": 200, "duration": 60.0}, "needs"),
    ],
    ids=["no-events", "too-few-for-incidents", "no-keys", "too-short"],
)
def test_bad_sizes_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(CepError, match=message):
        generate_sample(PACKS["card_fraud"], **kwargs)  # type: ignore[arg-type]


def _copy_pack(tmp_path: Path, name: str = "card_fraud") -> Path:
    shutil.copytree(packs_root() / name, tmp_path / name)
    return tmp_path / name


def test_unknown_pack_names_the_available_ones(tmp_path: Path) -> None:
    _copy_pack(tmp_path)
    with pytest.raises(PatternError, match=r"no pack named 'nope' .*available: card_fraud"):
        load_pack("nope", root=tmp_path)
    with pytest.raises(PatternError, match="no pack named"):
        load_pack("../card_fraud", root=tmp_path)


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("pack.yaml", "difficulty: beginner", "difficulty: easy", r"pack\.yaml: difficulty"),
        ("pack.yaml", "tags:", "colour: red\ntags:", r"pack\.yaml: colour: Extra inputs"),
        ("schema.yaml", "type: float", "type: decimal", r"schema\.yaml: fields\.amount\.type"),
        ("generator.yaml", "choices: {approved", "normal: {mean: 1, sd: 1}\n    choices: {approved",
         r"generator\.yaml: fields\.status: .*exactly one"),
        ("generator.yaml", "pattern: card_testing", "pattern: nope",
         r"generator\.yaml: incidents\[0\]\.pattern: no pattern 'nope'"),
        ("generator.yaml", "set: {status: declined, amount: [1.0",
         "set: {colour: red, status: declined, amount: [1.0",
         r"generator\.yaml: incidents\[0\]\.events\[0\]\.set\.colour"),
        ("pack.yaml", "  card_testing: >-", "  nope: x\n  card_testing: >-",
         r"pack\.yaml: alerts\.nope: no pattern"),
        ("generator.yaml", "keys: {", "keys: [", r"generator\.yaml: not valid YAML"),
    ],
    ids=["difficulty", "extra-key", "field-type", "two-distributions", "incident-pattern",
         "incident-field", "alert-without-pattern", "bad-yaml"],
)
def test_invalid_pack_files_name_the_file_and_field(
    tmp_path: Path, file: str, old: str, new: str, message: str
) -> None:
    folder = _copy_pack(tmp_path)
    text = (folder / file).read_text(encoding="utf-8")
    assert old in text
    (folder / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(PatternError, match=message):
        load_pack("card_fraud", root=tmp_path)


def test_invalid_pattern_file_names_the_file(tmp_path: Path) -> None:
    folder = _copy_pack(tmp_path)
    path = folder / "patterns" / "card_testing.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("threshold: 5", "threshold: 0"),
                    encoding="utf-8")
    with pytest.raises(PatternError, match=r"card_testing\.yaml: threshold"):
        load_pack("card_fraud", root=tmp_path)


def test_expected_files_are_json_lists() -> None:
    for pack in PACKS.values():
        for name in pack.patterns:
            data = json.loads(pack.expected_path(name).read_text(encoding="utf-8"))
            assert isinstance(data, list)
            assert data


def test_public_api_is_pinned() -> None:
    import cep.packs

    assert all(hasattr(cep.packs, name) for name in cep.packs.__all__)
    assert sorted(cep.packs.__all__) == sorted(
        ["DEFAULT_SAMPLE_EVENTS", "SAMPLE_FORMATS", "EventSchema", "FieldInfo", "FieldSpec",
         "GeneratorSpec", "IncidentSpec", "Pack", "PackMeta", "PlantedIncident",
         "check_sample_path", "compute_expected_matches", "describe_pack", "expected_matches",
         "generate_sample", "list_packs", "load_pack", "pack_json_schema", "packs_root",
         "write_expected_matches", "write_sample"]
    )


def test_random_walk_moves_in_small_steps_per_key() -> None:
    frame, _ = generate_sample(PACKS["iot_maintenance"], events=5_000, seed=3)
    steps = frame.filter(pl.col("device_id") < "PUMP-0050").select(
        pl.col("rpm").diff().over("device_id").abs().alias("step")
    )["step"].drop_nulls()
    assert steps.max() <= 30  # type: ignore[operator]
    assert frame["rpm"].n_unique() > 20


def test_generator_output_is_unchanged_for_specs_without_the_new_fields() -> None:
    # Digest of this sample as generated before cadence and key: background existed: packs
    # that use neither must keep their exact frames (other packs' expected files rely on it).
    frame, _ = generate_sample(PACKS["iot_maintenance"], events=3_000, seed=5)
    digest = hashlib.sha256(frame.write_csv().encode()).hexdigest()
    assert digest == "78273510509c6f0f35eef05058193b726a3d43b8ecff9f6634b8685ddf74bff8"


_HEARTBEAT = """\
kind: heartbeat
name: silent
partition_by: [dev]
id_field: event_id
interval: 2m
grace: 30s
"""


def _telemetry_pack(tmp_path: Path, *, time: str, keys: int = 5, incidents: str = "") -> Pack:
    """A minimal pack ``tele`` in ``tmp_path``: keys ``dev``, one field ``v``, a heartbeat."""
    folder = tmp_path / "tele"
    (folder / "patterns").mkdir(parents=True)
    (folder / "patterns" / "silent.yaml").write_text(_HEARTBEAT, encoding="utf-8")
    (folder / "pack.yaml").write_text(
        "name: tele\ntitle: Telemetry\nindustry: Test\nuse_cases: [x]\ndifficulty: beginner\n"
        "why_it_matters: x\nalerts: {silent: x}\n", encoding="utf-8")
    (folder / "schema.yaml").write_text(
        "fields:\n  event_id: {type: int}\n  ts: {type: datetime}\n  dev: {type: string}\n"
        "  v: {type: float}\n", encoding="utf-8")
    (folder / "generator.yaml").write_text(
        f"keys: {{field: dev, format: 'D{{:02d}}', count: {keys}}}\n"
        f"time: {time}\n"
        "fields:\n  v: {normal: {mean: 10, sd: 1}, round: 2}\n"
        + (f"incidents:\n{incidents}" if incidents else ""), encoding="utf-8")
    return load_pack("tele", root=tmp_path)


_CADENCE = "{start: '2024-01-01T00:00:00Z', cadence: {every_s: 60, jitter_s: 2}}"


def _gaps_s(frame: pl.DataFrame) -> pl.Series:
    return frame.select(
        pl.col("ts").diff().over("dev").dt.total_milliseconds().alias("gap") / 1_000
    )["gap"].drop_nulls()


def _span_s(frame: pl.DataFrame) -> float:
    span = frame.select((pl.col("ts").max() - pl.col("ts").min()).dt.total_milliseconds()).item()
    assert isinstance(span, int)
    return span / 1_000


def test_cadence_gives_every_key_a_report_every_period(tmp_path: Path) -> None:
    pack = _telemetry_pack(tmp_path, time=_CADENCE)
    frame, planted = generate_sample(pack, events=1_000, seed=4)
    assert frame.height == 1_000
    assert not planted
    assert frame["dev"].value_counts()["count"].to_list() == [200] * 5
    gaps = _gaps_s(frame)
    assert 56 <= gaps.min() <= gaps.max() <= 64  # type: ignore[operator]
    span = _span_s(frame)
    assert 199 * 60 - 64 <= span <= 200 * 60
    assert find_matches(pack.patterns["silent"], frame).matches == []


def test_cadence_stream_length_follows_from_keys_or_duration(tmp_path: Path) -> None:
    pack = _telemetry_pack(tmp_path, time=_CADENCE)
    frame, _ = generate_sample(pack, events=1_000, seed=0, duration=6_000.0)
    assert frame["dev"].n_unique() == 10  # 1,000 reports x 60 s / 6,000 s
    frame, _ = generate_sample(pack, events=1_000, seed=0, keys=2)
    span = _span_s(frame)
    assert frame["dev"].n_unique() == 2
    assert 499 * 60 - 64 <= span <= 500 * 60
    with pytest.raises(CepError, match="give keys or duration, not both"):
        generate_sample(pack, events=1_000, keys=2, duration=6_000.0)
    with pytest.raises(CepError, match="cannot give each of 50 keys one report"):
        generate_sample(pack, events=20, keys=50)


@pytest.mark.parametrize(
    ("time", "message"),
    [
        ("{start: '2024-01-01T00:00:00Z', cadence: {every_s: 60, jitter_s: 30}}",
         r"generator\.yaml: time\.cadence: .*jitter_s \(30\) must be under half"),
        ("{start: '2024-01-01T00:00:00Z', events_per_s: 1, cadence: {every_s: 60}}",
         r"generator\.yaml: time: .*exactly one of events_per_s .* and cadence"),
        ("{start: '2024-01-01T00:00:00Z'}", r"generator\.yaml: time: .*exactly one"),
    ],
    ids=["jitter-too-large", "both-modes", "no-mode"],
)
def test_invalid_time_modes_name_the_field(tmp_path: Path, time: str, message: str) -> None:
    with pytest.raises(PatternError, match=message):
        _telemetry_pack(tmp_path, time=time)


_SILENCE = """\
  - name: goes_quiet
    role: incident
    pattern: silent
    per_10k_events: 20
    key: background
    horizon_s: 600
    events:
      - {every_s: 60, repeat: 3}
      - {at_s: 900, every_s: 60, repeat: 2}
  - name: one_late_report
    role: decoy
    pattern: silent
    per_10k_events: 20
    key: background
    horizon_s: 600
    events:
      - {every_s: 60, repeat: 2}
      - {at_s: 200, every_s: 60, repeat: 2}
"""


def test_background_incidents_replace_the_keys_reports_on_a_cadence(tmp_path: Path) -> None:
    pack = _telemetry_pack(tmp_path, time=_CADENCE, incidents=_SILENCE)
    frame, planted = generate_sample(pack, events=3_000, seed=1)
    assert frame.height == 3_000
    assert [p.kind for p in planted] == ["goes_quiet"] * 6 + ["one_late_report"] * 6
    assert {p.key for p in planted} <= {f"D{i:02d}" for i in range(5)}  # background keys
    for incident in planted:
        times = frame.filter(pl.col("event_id").is_in(list(incident.event_ids)))["ts"]
        on_key = frame.filter(pl.col("dev") == incident.key)
        inside = on_key.filter(pl.col("ts").is_between(times.min(), times.max()))
        assert sorted(inside["event_id"].to_list()) == list(incident.event_ids)
        assert on_key.height > len(incident.event_ids)
    matches = find_matches(pack.patterns["silent"], frame).matches
    quiet = [p for p in planted if p.kind == "goes_quiet"]
    assert sorted(m.event_ids[0] for m in matches) == sorted(p.event_ids[2] for p in quiet)
    assert abs(max(_gaps_s(frame)) - 780) <= 0.001  # the silences: 900 s - 120 s


def test_background_incidents_sharing_a_key_keep_their_horizon_apart(tmp_path: Path) -> None:
    pack = _telemetry_pack(tmp_path, time=_CADENCE, keys=1, incidents=_SILENCE)
    frame, planted = generate_sample(pack, events=3_000, seed=2)
    assert {p.key for p in planted} == {"D00"}
    ts = dict(zip(frame["event_id"].to_list(), frame["ts"].to_list(), strict=True))
    spans = sorted((ts[p.event_ids[0]], ts[p.event_ids[-1]]) for p in planted)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert (start - end).total_seconds() >= 600
    with pytest.raises(CepError, match="incidents planted on background key D00 need"):
        generate_sample(pack, events=50, seed=2)  # 2,340 s for 1,560 s + 860 s


def test_background_incidents_interleave_with_poisson_traffic() -> None:
    pack = PACKS["card_fraud"]
    frame, planted = generate_sample(pack, events=20_000, seed=0)
    cashouts = [p for p in planted if p.kind == "test_then_cashout"]
    assert len(cashouts) == 4
    background = {pack.generator.keys.format.format(i) for i in range(pack.generator.keys.count)}
    assert {p.key for p in cashouts} <= background
    assert len({p.key for p in cashouts}) == 4  # distinct keys while there are enough
    others = sum(frame.filter(pl.col("card_id") == p.key).height - 2 for p in cashouts)
    assert others > 0
