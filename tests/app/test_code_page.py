"""AppTest checks of the Code page: the pattern from the Test page or pasted, each target's code,
the download, the diff between targets, option errors, a dry run and a real deployment against
a fake Databricks workspace, with its audit entry."""

from __future__ import annotations

import ast
import doctest
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1 import app_test as app_test_module

import ui.code_deploy
import ui.code_options
import ui.code_source
import ui.code_view
from cep.codegen import generate_code
from cep.explain import describe_pattern
from cep.history import (
    AuditEvent,
    AuditFilters,
    HistorySettings,
    HistoryStore,
    create_history_engine,
)
from cep.model import Pattern, dump_pattern, load_pattern, parse_pattern
from cep.packs import load_pack
from tests.deploy.fake_workspace import FakeWorkspace
from ui import state
from ui.code_deploy import deploy_key
from ui.code_options import option_key
from ui.code_view import unified_diff
from ui.kind_forms import DEFAULT_KIND, EXAMPLES, MODE_KIND
from ui.sequence_form import EXAMPLE_PATTERN, MODE_FORM

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 90
TOKEN = "dapi-code-page-4242"
DEPLOYER = "ana@example.com"
DEPLOY_DIR = f"/Users/{DEPLOYER}/lakestream"
V_SHAPE_TEXT = (ROOT / "samples" / "v_shape.json").read_text(encoding="utf-8")
# A MATCH_RECOGNIZE query with only the features Databricks SQL documents (no WITHIN).
V_SHAPE_SQL = """SELECT * FROM ticks MATCH_RECOGNIZE (
  PARTITION BY symbol ORDER BY ts
  MEASURES LAST(B.price) AS bottom
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (A B+ C+)
  DEFINE B AS price < PREV(price), C AS price > PREV(price)
) AS v_dip"""


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A SQLite app database of the test's own, and no Databricks workspace unless a test sets
    one."""
    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE",
                 "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET", "DATABRICKS_APP_NAME",
                 "LAKESTREAM_DATABASE_URL", "LAKESTREAM_DEPLOY_DIR", "LAKESTREAM_DEPLOY_AS_USER",
                 "PGHOST", "PGUSER", "PGDATABASE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    monkeypatch.setenv("LAKESTREAM_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def store(isolated: Path) -> HistoryStore:
    """The database the app under test writes its audit log to."""
    settings = HistorySettings(data_dir=isolated)
    return HistoryStore(create_history_engine(settings), settings)


@pytest.fixture
def workspace(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWorkspace]:
    """A fake Databricks workspace on loopback that the app's deployer is pointed at."""
    with FakeWorkspace() as ws:
        ws.add_token(TOKEN, DEPLOYER)
        monkeypatch.setenv("DATABRICKS_HOST", ws.url)
        monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
        monkeypatch.setenv("LAKESTREAM_DEPLOY_DIR", DEPLOY_DIR)
        monkeypatch.setenv("LAKESTREAM_DEPLOY_RETRY_S", "2")
        monkeypatch.setenv("LAKESTREAM_DEPLOY_TIMEOUT_S", "10")
        yield ws


@pytest.fixture
def media(monkeypatch: pytest.MonkeyPatch) -> list[MemoryMediaFileStorage]:
    """The media storages AppTest creates, kept so download bytes can be read back."""
    storages: list[MemoryMediaFileStorage] = []

    class Kept(MemoryMediaFileStorage):
        def __init__(self, media_endpoint: str) -> None:
            super().__init__(media_endpoint)
            storages.append(self)

    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", Kept)
    return storages


def open_code(pattern_text: str | None = V_SHAPE_TEXT, source: str | None = None) -> AppTest:
    """The Code page, with ``pattern_text`` in the Test page's pattern text (None: nothing)."""
    at = AppTest.from_file(ROOT / "app.py", default_timeout=TIMEOUT_S)
    if pattern_text is not None:
        at.session_state[state.TEST_PATTERN_TEXT] = pattern_text
        at.session_state[state.TEST_PATTERN_SOURCE] = source
    at.run()
    at.switch_page("pages/code.py").run()
    assert not at.exception
    return at


def texts(elements: Any) -> str:
    return "\n".join(str(e.value) for e in elements)


def code_blocks(at: AppTest, language: str) -> list[str]:
    """The text of the code blocks in ``language`` (st.code drops the final newline)."""
    return [str(c.value) for c in at.code if c.language == language]


def shown_code(at: AppTest, language: str = "python") -> str:
    blocks = code_blocks(at, language)
    assert len(blocks) == 1, f"expected one {language} block, got {len(blocks)}"
    return blocks[0]


def choose_target(at: AppTest, target: str) -> None:
    at.segmented_control(key=state.CODE_TARGET).set_value(target).run()
    assert not at.exception


def audit(store: HistoryStore) -> list[AuditEvent]:
    return list(reversed(store.list_audit(AuditFilters(action="deploy.")).items))


def v_shape() -> Pattern:
    return load_pattern(ROOT / "samples" / "v_shape.json")


@pytest.mark.parametrize(
    "module",
    [ui.code_deploy, ui.code_options, ui.code_source, ui.code_view],
    ids=lambda m: m.__name__,
)
def test_doctests_pass(module: object) -> None:
    failed, attempted = doctest.testmod(module)  # type: ignore[arg-type]
    assert attempted > 0
    assert failed == 0


def test_without_a_pattern_the_page_says_where_to_get_one() -> None:
    at = open_code(None)
    info = texts(at.info)
    assert info.startswith("No pattern yet.")
    assert "open **Test**" in info
    assert not at.code
    assert not at.error


def test_test_page_pattern_becomes_sss_code_headed_by_its_english_description() -> None:
    at = open_code()
    pattern = v_shape()
    code = shown_code(at)
    expected = generate_code(pattern, "sss", None, description=describe_pattern(pattern))
    assert code == expected.text.rstrip("\n")
    ast.parse(code)
    first_comment = code.splitlines()[1]
    assert first_comment.startswith("# ")
    assert describe_pattern(pattern).splitlines()[0] in first_comment
    assert "transformWithStateInPandas" in code
    assert not at.warning
    assert not at.error
    assert "**v_shape** (match_recognize), from the Test page's pattern text." in texts(
        at.caption
    ).replace("\\", "")


@pytest.mark.parametrize(
    ("mode", "expected_name"),
    [(MODE_KIND, str(EXAMPLES[DEFAULT_KIND]["name"])), (MODE_FORM, str(EXAMPLE_PATTERN["name"]))],
    ids=["detector form", "sequence form"],
)
def test_the_pattern_built_in_a_test_page_form_is_the_one_turned_into_code(
    mode: str, expected_name: str
) -> None:
    at = AppTest.from_file(ROOT / "app.py", default_timeout=TIMEOUT_S).run()
    at.switch_page("pages/test.py").run()
    at.segmented_control(key=state.TEST_PATTERN_MODE).set_value(mode).run()
    if mode == MODE_FORM:
        at.button(key=state.TEST_SEQ_LOAD_EXAMPLE).click().run()
    at.switch_page("pages/code.py").run()
    assert not at.exception
    assert not at.error, texts(at.error)
    code = shown_code(at)
    ast.parse(code)
    assert f"# | {expected_name} (" in code
    assert "from the Test page's " in texts(at.caption)


def test_sdp_target_shows_the_pipeline_source() -> None:
    at = open_code()
    choose_target(at, "sdp")
    code = shown_code(at)
    pattern = v_shape()
    expected = generate_code(pattern, "sdp", None, description=describe_pattern(pattern))
    assert code == expected.text.rstrip("\n")
    ast.parse(code)
    assert "from pyspark import pipelines as dp" in code
    assert not at.warning


def test_sql_target_gives_match_recognize_for_a_match_recognize_pattern() -> None:
    at = open_code(V_SHAPE_SQL, "v_dip.sql")
    assert at.segmented_control(key=state.CODE_TARGET).options == [
        "Structured Streaming (sss)", "Declarative Pipeline (sdp)", "Databricks SQL (sql)",
    ]  # fmt: skip
    choose_target(at, "sql")
    pattern = parse_pattern(V_SHAPE_SQL, source="v_dip.sql", fmt="sql")
    code = shown_code(at, "sql")
    expected = generate_code(pattern, "sql", None, description=describe_pattern(pattern))
    assert code == expected.text.rstrip("\n")
    assert "MATCH_RECOGNIZE" in code
    assert code.startswith("-- ")


def test_sql_is_not_offered_for_other_kinds_and_the_page_says_why() -> None:
    card_testing = load_pack("card_fraud").patterns["card_testing"]
    at = open_code(dump_pattern(card_testing, "json"))
    assert len(at.segmented_control(key=state.CODE_TARGET).options) == 2
    info = texts(at.info)
    assert "kind 'count_threshold' is not supported by the sql target" in info
    assert shown_code(at)  # the sss code is still there


def test_sql_target_says_which_feature_it_cannot_express() -> None:
    at = open_code()  # v_shape has WITHIN, which Databricks SQL does not take
    choose_target(at, "sql")
    assert "WITHIN is not supported by the sql target" in texts(at.info)
    assert not code_blocks(at, "sql")


def test_download_holds_exactly_the_code_shown(media: list[MemoryMediaFileStorage]) -> None:
    at = open_code()
    button = at.download_button(key=state.CODE_DOWNLOAD)
    assert button.label == "Download v_shape_sss.py"
    url = button.proto.url
    data = media[-1].get_file(url.rsplit("/", 1)[-1]).content
    pattern = v_shape()
    expected = generate_code(pattern, "sss", None, description=describe_pattern(pattern))
    assert data.decode("utf-8") == expected.text
    assert data.decode("utf-8").rstrip("\n") == shown_code(at)


def test_diff_between_targets_is_a_unified_diff_of_their_code() -> None:
    at = open_code()
    pattern = v_shape()
    sss = generate_code(pattern, "sss", None, description=describe_pattern(pattern))
    sdp = generate_code(pattern, "sdp", None, description=describe_pattern(pattern))
    diff = shown_code(at, "diff")
    assert diff == unified_diff(sss, sdp).rstrip("\n")
    assert diff.startswith("--- v_shape_sss.py\n+++ v_shape_sdp.py\n")
    assert "\n+from pyspark import pipelines as dp\n" in diff
    at.selectbox(key=state.CODE_COMPARE).set_value("none").run()
    assert not code_blocks(at, "diff")


def test_invalid_options_are_shown_under_their_input_and_no_code_is_shown() -> None:
    at = open_code()
    at.text_input(key=option_key("sink_table")).input("main.default.matches; DROP TABLE x").run()
    at.text_input(key=option_key("watermark_delay")).input("soon").run()
    errors = texts(at.error)
    assert "'main.default.matches; DROP TABLE x' is not a valid table name" in errors
    assert "soon" in errors
    assert not code_blocks(at, "python")
    assert not at.exception
    at.text_input(key=option_key("sink_table")).input("main.alerts.cep_matches").run()
    at.text_input(key=option_key("watermark_delay")).input("30s").run()
    assert not at.error
    assert "`main`.`alerts`.`cep_matches`" in shown_code(at)


def test_kafka_source_needs_servers_and_a_topic() -> None:
    at = open_code()
    at.selectbox(key=option_key("source_kind")).set_value("kafka").run()
    errors = texts(at.error)
    assert "is not a valid bootstrap server list" in errors
    assert "is not a valid Kafka topic" in errors
    at.text_input(key=option_key("kafka_servers")).input("broker-1:9092").run()
    at.text_input(key=option_key("kafka_topic")).input("payments").run()
    assert not at.error
    code = shown_code(at)
    assert "'payments'" in code
    assert "'broker-1:9092'" in code
    at.text_input(key=option_key("kafka_scope")).input("kafka").run()
    assert "a Kafka login needs secret_scope, username_key and password_key" in texts(at.error)
    at.text_input(key=option_key("kafka_user_key")).input("user").run()
    at.text_input(key=option_key("kafka_password_key")).input("password").run()
    assert not at.error, texts(at.error)
    assert "dbutils.secrets.get(scope='kafka', key='password')" in shown_code(at)


def test_pasted_sql_is_read_and_a_bad_pattern_is_an_error_not_a_traceback() -> None:
    at = open_code(None)
    at.segmented_control(key=state.CODE_PATTERN_FROM).set_value("Paste or upload").run()
    at.text_area(key=state.CODE_PATTERN_TEXT).input("kind: sequence\nname: x\nsteps: []\n").run()
    assert not at.exception
    assert "Could not read the pattern" in texts(at.error)
    at.text_area(key=state.CODE_PATTERN_TEXT).input(V_SHAPE_SQL).run()
    assert not at.error
    choose_target(at, "sql")
    assert "MATCH_RECOGNIZE" in shown_code(at, "sql")


def test_dry_run_lists_the_calls_sends_nothing_and_is_audited(store: HistoryStore) -> None:
    at = open_code()
    assert at.toggle(key=state.CODE_DEPLOY_DRY_RUN).value is True
    at.text_input(key=deploy_key("workspace_dir")).input(f"{DEPLOY_DIR}/v_shape").run()
    at.button(key=state.CODE_DEPLOY_RUN).click().run()
    assert not at.exception
    assert not at.error, texts(at.error)
    assert "**Dry run** — nothing was sent" in texts(at.success)
    rows = at.table[0].value
    assert list(zip(rows["method"], rows["path"], rows["when"], strict=True)) == [
        ("POST", "/api/2.0/workspace/mkdirs", "always"),
        ("POST", "/api/2.0/workspace/import", "always"),
        ("GET", "/api/2.2/jobs/list?name=lakestream-v_shape-sss", "always"),
        ("POST", "/api/2.2/jobs/create", "if_missing"),
        ("POST", "/api/2.2/jobs/reset", "if_found"),
    ]
    calls = json.loads(code_blocks(at, "json")[0])
    assert calls[0]["body"] == {"path": f"{DEPLOY_DIR}/v_shape"}
    assert calls[1]["body"]["path"] == f"{DEPLOY_DIR}/v_shape/v_shape_sss"
    assert calls[3]["body"]["name"] == "lakestream-v_shape-sss"
    (entry,) = audit(store)
    assert entry.action == "deploy.job.dry_run"
    assert entry.subject == "v_shape"
    assert (
        entry.details["code_sha256"]
        == generate_code(v_shape(), "sss", None, description=describe_pattern(v_shape())).sha256
    )


def test_pipeline_options_are_checked_by_field_before_a_dry_run() -> None:
    at = open_code()
    choose_target(at, "sdp")
    errors = texts(at.error)
    assert "A pipeline needs the Unity Catalog catalog" in errors
    assert "A pipeline needs the Unity Catalog schema" in errors
    assert at.button(key=state.CODE_DEPLOY_RUN).disabled
    at.text_input(key=deploy_key("catalog")).input("main").run()
    at.text_input(key=deploy_key("target_schema")).input("fraud ops").run()
    assert "'fraud ops' is not a plain Unity Catalog name" in texts(at.error)
    at.text_input(key=deploy_key("target_schema")).input("fraud").run()
    at.text_input(key=deploy_key("workspace_dir")).input(f"{DEPLOY_DIR}/v_shape").run()
    assert not at.error
    at.button(key=state.CODE_DEPLOY_RUN).click().run()
    paths = list(at.table[0].value["path"])
    assert paths[:3] == [
        "/api/2.0/workspace/mkdirs",
        "/api/2.0/workspace/import",
        "/api/2.0/pipelines?filter=name+LIKE+%27lakestream-v_shape-sdp%27",
    ]


def test_schedule_cron_is_validated_where_it_is_typed() -> None:
    at = open_code()
    at.radio(key=deploy_key("run_mode")).set_value("schedule").run()
    at.text_input(key=deploy_key("cron")).input("every day").run()
    assert "is not a Quartz cron expression" in texts(at.error)
    assert at.button(key=state.CODE_DEPLOY_RUN).disabled


def test_real_deploy_needs_confirmation_creates_the_job_and_records_it(
    workspace: FakeWorkspace, store: HistoryStore
) -> None:
    at = open_code()
    at.toggle(key=state.CODE_DEPLOY_DRY_RUN).set_value(False).run()
    assert at.button(key=state.CODE_DEPLOY_RUN).label == "Deploy Job"
    assert at.button(key=state.CODE_DEPLOY_RUN).disabled
    assert workspace.requests == []
    at.checkbox(key=state.CODE_DEPLOY_CONFIRM).check().run()
    at.button(key=state.CODE_DEPLOY_RUN).click().run()
    assert not at.exception
    assert not at.error, texts(at.error)
    ((job_id, job),) = workspace.state.jobs.items()
    assert job["settings"]["name"] == "lakestream-v_shape-sss"
    url = f"{workspace.url}/jobs/{job_id}"
    success = texts(at.success)
    assert "**Job created**" in success
    assert f"id `{job_id}`" in success
    assert f"]({url})" in success
    notebook = f"{DEPLOY_DIR}/v_shape/v_shape_sss"
    assert notebook in workspace.state.objects
    (entry,) = audit(store)
    assert entry.action == "deploy.job"
    assert entry.details["resource_id"] == str(job_id)
    assert entry.details["url"] == url
    assert entry.details["workspace_path"] == notebook
    assert {r.token for r in workspace.requests} == {TOKEN}


def test_a_failed_deploy_is_an_error_message_naming_the_call(
    workspace: FakeWorkspace, store: HistoryStore
) -> None:
    workspace.fail("POST", "/api/2.2/jobs/create", 403, "PERMISSION_DENIED",
                   "no job creation for {token}")  # fmt: skip
    at = open_code()
    at.toggle(key=state.CODE_DEPLOY_DRY_RUN).set_value(False).run()
    at.checkbox(key=state.CODE_DEPLOY_CONFIRM).check().run()
    at.button(key=state.CODE_DEPLOY_RUN).click().run()
    assert not at.exception
    error = texts(at.error)
    assert "The deployment failed" in error
    assert "POST /api/2.2/jobs/create" in error
    assert "403" in error
    assert TOKEN not in error
    assert not workspace.state.jobs
    assert audit(store) == []
