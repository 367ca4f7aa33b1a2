"""``python -m cep packs list|show|sample``: output, files written, one-line errors with status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from cep.__main__ import main
from cep.events import load_events
from cep.matcher import find_matches
from cep.packs import expected_matches, load_pack


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_each_pack_with_its_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "packs", "list")
    assert code == 0
    assert not err
    lines = out.splitlines()
    assert lines[0].split() == ["name", "industry", "difficulty", "kinds"]
    card = next(line for line in lines if line.startswith("card_fraud "))
    assert "Financial services" in card
    assert "velocity" in card
    assert "sequence" in card


def test_show_describes_patterns_alerts_and_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "packs", "show", "iot_maintenance")
    assert code == 0
    assert "overheating_trend (trend):" in out
    assert "vibration_mm_s: float [mm/s]" in out


def test_show_json_is_the_metadata_with_pattern_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "packs", "show", "account_security", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["name"] == "account_security"
    assert info["patterns"]["mfa_abandoned"] == "absence"
    assert info["fields"]["risk_score"]["unit"] == "0-100"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_sample_writes_events_that_give_the_expected_matches(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"events{suffix}"
    incidents = tmp_path / "incidents.json"
    code, text, err = run(capsys, "packs", "sample", "card_fraud", "--events", 200, "--seed", 0,
                          "--out", out, "--incidents", incidents)
    assert code == 0
    assert not err
    assert text == f"wrote 200 events of card_fraud (seed 0) to {out}\n"
    pack = load_pack("card_fraud")
    events = load_events(out)
    assert events.height == 200
    for name, pattern in pack.patterns.items():
        found = [m.event_ids for m in find_matches(pattern, events).matches]
        assert found == [m["event_ids"] for m in expected_matches(pack, name)]
    planted = json.loads(incidents.read_text(encoding="utf-8"))
    assert {p["role"] for p in planted} == {"incident", "decoy"}


def test_sample_seed_changes_the_events(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    assert run(capsys, "packs", "sample", "iot_maintenance", "--seed", 1, "--out", a)[0] == 0
    assert run(capsys, "packs", "sample", "iot_maintenance", "--seed", 2, "--out", b)[0] == 0
    assert not pl.read_parquet(a).equals(pl.read_parquet(b))


def test_sample_of_a_cadence_pack_plants_incidents_on_its_reporting_keys(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out, incidents = tmp_path / "sites.parquet", tmp_path / "incidents.json"
    code, _, err = run(capsys, "packs", "sample", "telecom_network", "--events", 20_000,
                       "--keys", 3, "--seed", 4, "--out", out, "--incidents", incidents)
    assert code == 0
    assert not err
    events = load_events(out)
    assert sorted(events["site_id"].unique().to_list()) == ["SITE-0000", "SITE-0001", "SITE-0002"]
    planted = json.loads(incidents.read_text(encoding="utf-8"))
    assert {p["key"] for p in planted} <= {"SITE-0000", "SITE-0001", "SITE-0002"}
    silent = find_matches(load_pack("telecom_network").patterns["site_silent"], events).matches
    dark = [p for p in planted if p["kind"] == "site_goes_dark"]
    assert len(dark) == 3
    assert sorted(m.event_ids for m in silent) == sorted([p["event_ids"][3]] for p in dark)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "nope"], "error: no pack named 'nope'"),
        (["sample", "nope", "--out", "x.csv"], "error: no pack named 'nope'"),
        (["sample", "card_fraud", "--events", "0", "--out", "x.csv"], "--events must be at least 1"),
        (["sample", "card_fraud", "--events", "10", "--out", "x.csv"], "cannot hold"),
        (["sample", "card_fraud", "--out", "x.txt"], "unknown output format '.txt'"),
        (["sample", "telecom_network", "--keys", "500", "--out", "x.csv"],
         "cannot give each of 500 keys one report"),
    ],
    ids=["show-unknown", "sample-unknown", "no-events", "too-few", "bad-extension",
         "cadence-too-many-keys"],
)
def test_bad_input_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "packs", *args)
    assert code == 2
    assert not out
    assert err.count("\n") == 1
    assert message in err
    assert not list(tmp_path.iterdir())


def test_module_entry_point_runs_packs_list() -> None:
    done = subprocess.run([sys.executable, "-m", "cep", "packs", "list"], capture_output=True,
                          text=True, check=False, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert "iot_maintenance" in done.stdout
