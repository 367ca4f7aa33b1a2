"""The template packs: loading, the seeded generator, and each pattern's proof on its own data."""

from __future__ import annotations

import json
import shutil
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


def _belongs(match: Match | dict[str, object], incident: PlantedIncident) -> bool:
    ids = match.event_ids if isinstance(match, Match) else match["event_ids"]
    assert isinstance(ids, list)
    return bool(ids) and set(ids) <= set(incident.event_ids)


def _touches(match: Match | dict[str, object], incident: PlantedIncident) -> bool:
    ids = match.event_ids if isinstance(match, Match) else match["event_ids"]
    assert isinstance(ids, list)
    return bool(set(ids) & set(incident.event_ids))


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
    for incident in planted:
        rows = frame.filter(pl.col(pack.generator.id_field).is_in(list(incident.event_ids)))
        assert rows[key].unique().to_list() == [incident.key]
        assert frame.filter(pl.col(key) == incident.key).height == len(incident.event_ids)


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
    _, planted = generate_sample(pack, events=DEFAULT_SAMPLE_EVENTS, seed=0)
    mine = [i for i in planted if i.pattern == pattern]
    stored = expected_matches(pack, pattern)
    incidents = [i for i in mine if i.role == "incident"]
    assert incidents
    for incident in incidents:
        assert any(_belongs(m, incident) for m in stored), incident.id
    for match in stored:
        assert any(_belongs(match, i) for i in incidents), match
    for decoy in (i for i in mine if i.role == "decoy"):
        assert not any(_touches(m, decoy) for m in stored), decoy.id


def _check_recall(pack: Pack, events: int, seed: int) -> None:
    frame, planted = generate_sample(pack, events=events, seed=seed)
    for name, pattern in pack.patterns.items():
        matches = find_matches(pattern, frame).matches
        incidents = [i for i in planted if i.pattern == name and i.role == "incident"]
        decoys = [i for i in planted if i.pattern == name and i.role == "decoy"]
        assert len(incidents) >= 3
        missed = [i.id for i in incidents if not any(_belongs(m, i) for m in matches)]
        assert not missed, f"{pack.name}.{name} seed {seed}: missed {missed}"
        hit = [d.id for d in decoys if any(_touches(m, d) for m in matches)]
        assert not hit, f"{pack.name}.{name} seed {seed}: decoys matched {hit}"
        stray = [m.event_ids for m in matches if not any(_belongs(m, i) for i in incidents)]
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
