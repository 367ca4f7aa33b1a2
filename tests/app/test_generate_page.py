"""AppTest checks of the Generate page: examples, offline and model generation, questions,
refinement, Test on sample, Accept / Save as template / Open in Test, and the audit log."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import ui.generate_inputs
import ui.generate_model
import ui.generate_view
from cep.history import (
    AuditEvent,
    AuditFilters,
    HistorySettings,
    HistoryStore,
    create_history_engine,
)
from cep.nl import list_example_prompts, text_sha256
from cep.packs import expected_matches, load_pack
from tests.nl.test_serving import Script, chat, server  # noqa: F401 - the fake serving endpoint
from ui import state
from ui.generate_inputs import NO_WORKSPACE

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 90
CARD_TEXT = "Five or more declined authorisations on one card within ten minutes"
AMBIGUOUS = "5 or more logins from BR for the same user within 7 days"
QUESTION = ("'logins' fits several values: event = 'login_success', event = 'login_failed'. "
            "Which one do you mean?")
TOKEN = "dapi-apptest-token-789"
SONNET_ANSWER = {"kind": "count_threshold", "name": "declines_by_model",
                 "partition_by": ["card_id"], "id_field": "event_id",
                 "where": "status = 'declined'", "threshold": 5, "window": "10m"}


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A history database of the test's own, and no Databricks workspace unless a test sets one."""
    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE",
                 "DATABRICKS_APP_NAME", "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET",
                 "LAKESTREAM_SONNET_ENDPOINT", "LAKESTREAM_OPUS_ENDPOINT",
                 "LAKESTREAM_AUDIT_PROMPTS", "LAKESTREAM_DATABASE_URL", "LAKESTREAM_PACKS_DIR",
                 "PGHOST", "PGUSER", "PGDATABASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    monkeypatch.setenv("LAKESTREAM_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def store(isolated: Path) -> HistoryStore:
    """The same database the app under test writes to."""
    settings = HistorySettings(data_dir=isolated)
    return HistoryStore(create_history_engine(settings), settings)


@pytest.fixture
def fake_workspace(
    server: tuple[str, Script],  # noqa: F811 - the fixture imported from test_serving
    monkeypatch: pytest.MonkeyPatch,
) -> Script:
    """DATABRICKS_HOST points at a local server speaking the serving-endpoint API."""
    host, script = server
    monkeypatch.setenv("DATABRICKS_HOST", host)
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    monkeypatch.setenv("LAKESTREAM_NL_TIMEOUT_S", "5")
    return script


def open_generate() -> AppTest:
    at = AppTest.from_file(ROOT / "app.py", default_timeout=TIMEOUT_S).run()
    at.switch_page("pages/generate.py").run()
    assert not at.exception
    return at


def texts(elements: object) -> str:
    return "\n".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def plain(markdown: str) -> str:
    return markdown.replace("\\", "")


def generate(at: AppTest, text: str, *, pack: str | None = None, model: str | None = None) -> None:
    at.selectbox(key=state.GENERATE_PACK).set_value(pack)
    if model is not None:
        at.radio(key=state.GENERATE_MODEL).set_value(model)
    at.text_area(key=state.GENERATE_TEXT).input(text)
    at.button(key=state.GENERATE_RUN).click().run()
    assert not at.exception
    assert not at.error, texts(at.error)


def shown_json(at: AppTest) -> dict[str, object]:
    """The pattern in the JSON tab."""
    return json.loads(next(c.value for c in at.code if c.language == "json"))


def audit(store: HistoryStore) -> list[AuditEvent]:
    return list(reversed(store.list_audit(AuditFilters(action="nl.")).items))


@pytest.mark.parametrize(
    "module", [ui.generate_inputs, ui.generate_model, ui.generate_view],
    ids=lambda m: m.__name__,
)
def test_doctests_pass(module: object) -> None:
    failed, attempted = doctest.testmod(module)  # type: ignore[arg-type]
    assert attempted > 0
    assert failed == 0


def test_picking_an_example_fills_the_text_box_and_its_pack() -> None:
    at = open_generate()
    assert at.title[0].value == "Generate a pattern"
    first_industry = next(iter(list_example_prompts()))
    assert at.selectbox(key=state.GENERATE_INDUSTRY).value == first_industry
    at.selectbox(key=state.GENERATE_INDUSTRY).set_value("manufacturing").run()
    example = "Ten consecutive rising temperature readings of one machine"
    picker = at.selectbox(key=state.GENERATE_EXAMPLE.format(industry="manufacturing"))
    assert example in picker.options

    picker.set_value(example).run()

    assert not at.exception
    assert at.text_area(key=state.GENERATE_TEXT).value == example
    assert at.selectbox(key=state.GENERATE_PACK).value == "iot_maintenance"


def test_offline_generation_shows_pattern_description_assumptions_and_tabs(
    store: HistoryStore,
) -> None:
    at = open_generate()
    generate(at, CARD_TEXT, pack="card_fraud")

    assert "Pattern: declined_count" in texts(at.subheader)
    page = plain(texts(at.markdown))
    assert f"**declined_count (count_threshold): {CARD_TEXT}**" in page
    assert ("For each card_id separately, a match when the events where status = 'declined' in "
            "the last 10m first reach 5") in page
    assert "**Assumptions**\n\n- sliding window (counted back from each event)" in page
    assert "Generated by the **offline** rules." in texts(at.caption)
    assert [t.label for t in at.tabs] == ["Summary", "JSON", "YAML"]
    assert shown_json(at) == {
        "kind": "count_threshold", "name": "declined_count", "description": CARD_TEXT,
        "partition_by": ["card_id"], "order_by": "ts", "id_field": "event_id",
        "where": "status = 'declined'", "threshold": 5, "window": "10m",
        "window_type": "sliding"}
    yaml_code = next(c.value for c in at.code if c.language == "yaml")
    assert "where: status = 'declined'\n" in yaml_code
    summary = at.dataframe[-1].value
    assert dict(zip(summary["field"], summary["value"], strict=True))["partition_by"] == "card_id"
    assert not at.warning


def test_an_ambiguous_prompt_gets_a_question_and_no_pattern(store: HistoryStore) -> None:
    at = open_generate()
    generate(at, AMBIGUOUS, pack="account_security")

    assert plain(texts(at.info)).startswith(f"**Question** — {QUESTION}")
    assert not [s for s in at.subheader if s.value.startswith("Pattern:")]
    assert not at.code
    entry = audit(store)[-1]
    assert entry.details["asked_question"] is True
    assert entry.details["pattern_sha256"] is None


def test_refine_edits_the_current_pattern_and_keeps_the_conversation(
    store: HistoryStore,
) -> None:
    at = open_generate()
    generate(at, CARD_TEXT, pack="card_fraud")

    at.text_input(key=state.GENERATE_REFINE_TEXT).input("make it 30 minutes").run()
    at.button(key=state.GENERATE_REFINE).click().run()

    assert not at.exception
    pattern = shown_json(at)
    assert (pattern["name"], pattern["window"], pattern["threshold"]) == ("declined_count",
                                                                         "30m", 5)
    assert "edited the current pattern: window set to 30m" in plain(texts(at.markdown))
    assert "Conversation (2 turns)" in [e.label for e in at.expander]
    assert [m.name for m in at.chat_message] == ["user", "assistant", "user", "assistant"]

    at.text_input(key=state.GENERATE_REFINE_TEXT).input("only for amounts over 1000").run()
    at.button(key=state.GENERATE_REFINE).click().run()

    pattern = shown_json(at)
    assert pattern["where"] == "status = 'declined' AND amount > 1000"
    assert pattern["window"] == "30m"
    entries = audit(store)
    assert [e.details["refined"] for e in entries] == [False, True, True]


def test_a_refinement_that_cannot_apply_asks_and_keeps_the_pattern() -> None:
    at = open_generate()
    generate(at, CARD_TEXT, pack="card_fraud")

    at.text_input(key=state.GENERATE_REFINE_TEXT).input("please do something nicer").run()
    at.button(key=state.GENERATE_REFINE).click().run()

    assert not at.exception
    assert "**Question** — I could not tell how to change the current pattern" in plain(
        texts(at.info))
    assert "The pattern below is unchanged" in texts(at.caption)
    assert shown_json(at)["window"] == "10m"


def test_test_on_sample_runs_the_pattern_on_the_packs_sample() -> None:
    expected = expected_matches(load_pack("card_fraud"), "card_testing")
    assert len(expected) == 1  # the planted card-testing burst on C00400
    at = open_generate()
    generate(at, CARD_TEXT, pack="card_fraud")
    assert at.radio(key=state.GENERATE_EVENTS_CHOICE).value == "Template pack sample"

    at.button(key=state.GENERATE_TEST).click().run()

    assert not at.exception
    assert not at.error, texts(at.error)
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Events"], metrics["Matches"]) == ("200", "1")
    assert "**1 match** for pattern **declined_count** in **card_fraud sample (200 events, " \
        "seed 0)**" in plain(texts(at.markdown))
    table = at.dataframe[-1].value
    assert list(table["key"]) == [expected[0]["key"]["card_id"]]
    assert list(table["events"]) == [" ".join(str(i) for i in expected[0]["event_ids"])]


def test_test_on_sample_runs_on_uploaded_events() -> None:
    rows = [{"event_id": i, "ts": f"2024-01-01T00:0{i}:00Z", "card_id": "C1",
             "status": "declined", "amount": 1.0} for i in range(1, 7)]
    at = open_generate()
    generate(at, CARD_TEXT, pack="card_fraud")
    at.radio(key=state.GENERATE_EVENTS_CHOICE).set_value("Upload a file").run()
    at.file_uploader(key=state.GENERATE_EVENTS_FILE).set_value(
        ("declines.jsonl", "\n".join(json.dumps(r) for r in rows).encode(), "application/json")
    ).run()

    at.button(key=state.GENERATE_TEST).click().run()

    assert not at.exception
    assert not at.error, texts(at.error)
    assert {m.label: m.value for m in at.metric}["Matches"] == "1"
    assert list(at.dataframe[-1].value["events"]) == ["1 2 3 4 5"]


def test_save_as_template_stores_it_and_records_the_acceptance(store: HistoryStore) -> None:
    at = open_generate()
    generate(at, CARD_TEXT, pack="card_fraud")

    at.text_input(key=state.GENERATE_TEMPLATE_NAME).input("Card testing (generated)")
    at.text_input(key=state.GENERATE_TEMPLATE_TAGS).input("fraud, generated")
    at.button(key=state.GENERATE_TEMPLATE_SAVE).click().run()

    assert not at.exception
    assert not at.error, texts(at.error)
    assert "Saved the template **Card testing (generated)**" in plain(texts(at.success))
    [template] = store.list_templates()
    assert (template.name, template.tags, template.kind) == (
        "Card testing (generated)", ("fraud", "generated"), "count_threshold")
    assert template.description == CARD_TEXT
    assert template.pattern["where"] == "status = 'declined'"
    generated, accepted = audit(store)
    assert accepted.action == "nl.accept"
    assert accepted.details["accepted_via"] == "template"
    assert accepted.details["generation_id"] == generated.id


def test_each_generation_is_audited_with_its_facts_and_no_prompt_text(
    store: HistoryStore,
) -> None:
    at = open_generate()
    generate(at, CARD_TEXT, pack="card_fraud")

    [entry] = audit(store)
    assert entry.action == "nl.generate"
    assert entry.subject == "declined_count"
    assert entry.actor
    assert entry.details["prompt_sha256"] == text_sha256(CARD_TEXT)
    assert entry.details["prompt_chars"] == len(CARD_TEXT)
    assert (entry.details["model"], entry.details["model_used"], entry.details["endpoint"]) == (
        "offline", "offline", None)
    assert entry.details["fallback_used"] is False
    assert entry.details["pattern_kind"] == "count_threshold"
    assert len(entry.details["pattern_sha256"]) == 64
    assert entry.details["schema_source"] == "card_fraud"
    assert entry.details["accepted"] is False
    assert "prompt" not in entry.details
    assert "authorisations" not in json.dumps(entry.details)

    at.button(key=state.GENERATE_ACCEPT).click().run()
    at.button(key=state.GENERATE_ACCEPT).click().run()

    assert "Pattern **declined_count** accepted." in plain(texts(at.success))
    entries = audit(store)
    assert [e.action for e in entries] == ["nl.generate", "nl.accept"]  # accepted once
    assert entries[1].details["accepted"] is True
    assert entries[1].details["pattern_sha256"] == entry.details["pattern_sha256"]


def test_prompt_text_is_audited_when_enabled(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKESTREAM_AUDIT_PROMPTS", "1")
    at = open_generate()
    generate(at, CARD_TEXT, pack="card_fraud")

    assert audit(store)[0].details["prompt"] == CARD_TEXT


def test_open_in_test_hands_the_pattern_and_sample_to_the_test_page(
    store: HistoryStore,
) -> None:
    at = open_generate()
    generate(at, CARD_TEXT, pack="card_fraud")

    at.button(key=state.GENERATE_OPEN_IN_TEST).click().run()

    assert not at.exception
    assert at.title[0].value == "Test a pattern"
    assert json.loads(at.session_state[state.TEST_PATTERN_TEXT])["name"] == "declined_count"
    assert {m.label: m.value for m in at.metric}["Matches"] == "1"
    assert audit(store)[-1].details["accepted_via"] == "open_in_test"


def test_open_in_test_needs_a_pack_sample() -> None:
    at = open_generate()
    generate(at, "a vehicle enters within 500 m of 51.5074, -0.1278")

    assert at.button(key=state.GENERATE_OPEN_IN_TEST).disabled
    assert at.radio(key=state.GENERATE_EVENTS_CHOICE).options == ["Upload a file"]
    assert "no event schema: positions are read from fields lat and lon" in plain(
        texts(at.markdown))


def test_models_are_disabled_with_a_reason_without_a_workspace() -> None:
    at = open_generate()

    model = at.radio(key=state.GENERATE_MODEL)
    assert model.disabled
    assert model.value == "offline"
    assert model.options == ["Offline", "Sonnet", "Opus"]
    assert f"Sonnet and Opus are not available: {NO_WORKSPACE}." in texts(at.caption)


def test_a_model_without_an_endpoint_cannot_generate(
    fake_workspace: Script, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKESTREAM_OPUS_ENDPOINT", "")
    at = open_generate()
    assert not at.radio(key=state.GENERATE_MODEL).disabled

    at.radio(key=state.GENERATE_MODEL).set_value("opus").run()

    assert "**Opus** is not available: no serving endpoint is set (LAKESTREAM_OPUS_ENDPOINT)." \
        in texts(at.warning)
    assert at.button(key=state.GENERATE_RUN).disabled
    assert fake_workspace.requests == []


def test_sonnet_generates_through_the_serving_endpoint(
    fake_workspace: Script, store: HistoryStore
) -> None:
    fake_workspace.replies = [(200, {}, chat(json.dumps(SONNET_ANSWER)))]
    at = open_generate()
    generate(at, CARD_TEXT, pack="card_fraud", model="sonnet")

    assert shown_json(at)["name"] == "declines_by_model"
    assert ("Generated by **Sonnet** (serving endpoint `databricks-claude-sonnet-4-6`) in"
            in texts(at.caption))
    assert "1,200 prompt + 80 completion tokens." in texts(at.caption)
    [request] = fake_workspace.requests
    assert request["path"] == "/serving-endpoints/databricks-claude-sonnet-4-6/invocations"
    assert request["auth"] == f"Bearer {TOKEN}"
    [entry] = audit(store)
    assert (entry.details["model"], entry.details["model_used"]) == ("sonnet", "sonnet")
    assert entry.details["endpoint"] == "databricks-claude-sonnet-4-6"
    assert (entry.details["prompt_tokens"], entry.details["completion_tokens"]) == (1200, 80)
    assert entry.details["latency_ms"] >= 0
    assert TOKEN not in json.dumps(entry.details)


def test_a_failing_endpoint_falls_back_to_offline_with_a_warning(
    fake_workspace: Script, store: HistoryStore
) -> None:
    fake_workspace.replies = [(500, {}, {"error_code": "INTERNAL_ERROR"})]
    at = open_generate()
    generate(at, CARD_TEXT, pack="card_fraud", model="sonnet")

    assert shown_json(at)["name"] == "declined_count"
    assert ("the sonnet model was not used: endpoint 'databricks-claude-sonnet-4-6' failed "
            "(500); the offline generator answered") in plain(texts(at.warning))
    assert "**Sonnet** could not answer; the **offline** rules did." in texts(at.caption)
    [entry] = audit(store)
    assert entry.details["fallback_used"] is True
    assert (entry.details["model"], entry.details["model_used"]) == ("sonnet", "offline")


def test_an_unusable_history_database_shows_a_warning_not_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("LAKESTREAM_DATA_DIR", str(blocker / "data"))
    at = open_generate()
    generate(at, CARD_TEXT, pack="card_fraud")

    assert shown_json(at)["name"] == "declined_count"
    assert "This generation was not written to the audit log" in texts(at.warning)
