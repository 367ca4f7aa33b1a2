"""``python -m cep nl``: the pattern, its description, assumptions and warnings, or a question."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cep.__main__ import main
from tests.nl.test_serving import GOOD, Script, chat, server  # noqa: F401 - the fake endpoint

ROOT = Path(__file__).resolve().parents[2]
CARD_TEXT = "Five or more declined authorisations on one card within ten minutes"
CARD_PATTERN = {
    "kind": "count_threshold", "name": "declined_count", "description": CARD_TEXT,
    "partition_by": ["card_id"], "order_by": "ts", "id_field": "event_id",
    "where": "status = 'declined'", "threshold": 5, "window": "10m", "window_type": "sliding",
}
AMBIGUOUS = "5 or more logins from BR for the same user within 7 days"
QUESTION = ("'logins' fits several values: event = 'login_success', event = 'login_failed'. "
            "Which one do you mean?")


@pytest.fixture(autouse=True)
def no_workspace(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No Databricks workspace unless a test configures one (never the developer's own)."""
    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE",
                 "DATABRICKS_APP_NAME", "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET",
                 "LAKESTREAM_SONNET_ENDPOINT", "LAKESTREAM_OPUS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))


@pytest.fixture
def fake_workspace(
    server: tuple[str, Script],  # noqa: F811 - the fixture imported from test_serving
    monkeypatch: pytest.MonkeyPatch,
) -> Script:
    host, script = server
    monkeypatch.setenv("DATABRICKS_HOST", host)
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-cli-test-token")
    return script


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["nl", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_json_output_holds_pattern_description_assumptions_and_offline_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = run(capsys, CARD_TEXT, "--pack", "card_fraud")

    assert (status, err) == (0, "")
    doc = json.loads(out)
    assert list(doc) == ["pattern", "description", "assumptions", "warnings", "question",
                         "model_used"]
    assert doc["pattern"] == CARD_PATTERN
    assert doc["description"].splitlines()[1] == (
        "For each card_id separately, a match when the events where status = 'declined' in the "
        "last 10m first reach 5; no new match until the count drops below 5 again.")
    assert doc["assumptions"] == ["sliding window (counted back from each event)"]
    assert (doc["warnings"], doc["question"], doc["model_used"]) == ([], None, "offline")


def test_yaml_output_is_the_same_document(capsys: pytest.CaptureFixture[str]) -> None:
    _, as_json, _ = run(capsys, CARD_TEXT, "--pack", "card_fraud")
    status, as_yaml, _ = run(capsys, CARD_TEXT, "--pack", "card_fraud", "--format", "yaml")

    assert status == 0
    assert yaml.safe_load(as_yaml) == json.loads(as_json)


def test_text_output_reads_as_description_pattern_and_assumptions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(capsys, CARD_TEXT, "--pack", "card_fraud", "--format", "text")

    assert status == 0
    lines = out.splitlines()
    assert lines[0] == f"declined_count (count_threshold): {CARD_TEXT}"
    assert "pattern:" in lines
    assert '  "where": "status = \'declined\'",' in lines
    assert lines[-4:] == ["assumptions:", "  - sliding window (counted back from each event)", "",
                          "model: offline"]


def test_without_a_schema_the_assumed_fields_are_listed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(capsys, "a vehicle enters within 500 m of 51.5074, -0.1278")

    doc = json.loads(out)
    assert status == 0
    assert doc["pattern"]["kind"] == "geofence"
    assert doc["pattern"]["shape"] == {"type": "circle", "center": {"lat": 51.5074,
                                       "lon": -0.1278}, "radius_m": 500.0}
    assert "no event schema: positions are read from fields lat and lon" in doc["assumptions"]
    assert doc["warnings"] == ["not used: vehicle — check that the pattern says what you mean"]


@pytest.mark.parametrize("fmt", ["json", "yaml", "text"])
def test_ambiguous_text_exits_2_with_the_question_on_stderr(
    capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    status, out, err = run(capsys, AMBIGUOUS, "--pack", "account_security", "--format", fmt)

    assert status == 2
    assert err == f"question: {QUESTION}\n"
    if fmt == "text":
        assert out == ""
    else:
        doc = json.loads(out) if fmt == "json" else yaml.safe_load(out)
        assert (doc["pattern"], doc["question"], doc["description"]) == (None, QUESTION, "")


def test_code_is_refused_with_a_question(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "DROP TABLE events; select * from users", "--format", "text")

    assert status == 2
    assert err.startswith("question: That reads like code or SQL, not a description of events.")


def test_schema_from_an_events_file_grounds_the_values(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    events = tmp_path / "logins.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in [
        {"id": 1, "ts": "2024-01-01T00:00:00Z", "user_id": "u1", "event": "login_failed"},
        {"id": 2, "ts": "2024-01-01T00:00:05Z", "user_id": "u1", "event": "login_success"},
    ]) + "\n", encoding="utf-8")

    status, out, _ = run(capsys, "3 or more failed logins per user within 5 minutes",
                         "--schema", str(events))

    pattern = json.loads(out)["pattern"]
    assert status == 0
    assert (pattern["where"], pattern["partition_by"], pattern["threshold"]) == (
        "event = 'login_failed'", ["user_id"], 3)


def test_unknown_pack_exits_2_with_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, CARD_TEXT, "--pack", "no_such_pack")

    assert (status, out) == (2, "")
    assert err.startswith("error: ")
    assert "no_such_pack" in err


def test_a_model_without_a_workspace_is_an_error_naming_the_setting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = run(capsys, CARD_TEXT, "--model", "sonnet")

    assert (status, out) == (2, "")
    assert err == ("error: --model sonnet needs a Databricks workspace: set DATABRICKS_HOST (with "
                   "its authentication) or DATABRICKS_CONFIG_PROFILE, or use --model offline\n")


def test_sonnet_answers_through_the_serving_endpoint(
    capsys: pytest.CaptureFixture[str], fake_workspace: Script
) -> None:
    fake_workspace.replies = [(200, {}, chat(json.dumps(GOOD)))]

    status, out, _ = run(capsys, "5 or more declined charges per card within 10 minutes",
                         "--pack", "card_fraud", "--model", "sonnet")

    doc = json.loads(out)
    assert status == 0
    assert doc["model_used"] == "sonnet"
    assert (doc["pattern"]["where"], doc["pattern"]["threshold"]) == ("status = 'declined'", 5)
    assert [r["path"] for r in fake_workspace.requests] == [
        "/serving-endpoints/databricks-claude-sonnet-4-6/invocations"]
    assert fake_workspace.requests[0]["auth"] == "Bearer dapi-cli-test-token"


def test_a_failing_endpoint_falls_back_to_offline_with_a_warning(
    capsys: pytest.CaptureFixture[str], fake_workspace: Script
) -> None:
    fake_workspace.replies = [(500, {}, {"error_code": "INTERNAL_ERROR"})]

    status, out, _ = run(capsys, CARD_TEXT, "--pack", "card_fraud", "--model", "opus")

    doc = json.loads(out)
    assert status == 0
    assert doc["model_used"] == "offline"
    assert doc["pattern"] == CARD_PATTERN
    assert doc["warnings"] == [
        "the opus model was not used: endpoint 'databricks-claude-opus-4-7' failed (500); the "
        "offline generator answered"]
    assert "dapi-cli-test-token" not in out


def test_python_dash_m_cep_nl_runs_as_a_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cep", "nl", CARD_TEXT, "--pack", "card_fraud"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["pattern"] == CARD_PATTERN
