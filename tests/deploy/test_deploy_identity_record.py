"""Who deploys (settings, request identity) and what is kept of a deployment (audit log)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cep.deploy import (
    DeployError,
    DeployIdentity,
    DeployRecord,
    DeploySettings,
    client_for_request,
    deploy_bundle,
    make_bundle,
    parse_options,
    record_deploy,
)
from cep.history import AuditFilters, HistorySettings, HistoryStore, create_history_engine
from tests.deploy.conftest import USER, USER_TOKEN
from tests.deploy.fake_workspace import FakeWorkspace

CODE = "print('x')\n"
SSS = make_bundle(pattern_name="card_testing", target="sss", code=CODE, file_name="ct_sss.py")
T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)

# --- settings -------------------------------------------------------------------------------------


def test_settings_come_from_the_app_environment() -> None:
    settings = DeploySettings.from_env({
        "DATABRICKS_HOST": " https://adb-1.azuredatabricks.net ",
        "DATABRICKS_CLIENT_ID": "sp-123",
        "LAKESTREAM_DEPLOY_DIR": "/Shared/cep",
        "LAKESTREAM_DEPLOY_TIMEOUT_S": "12.5",
        "LAKESTREAM_DEPLOY_RETRY_S": "30",
    })
    assert settings == DeploySettings(host="https://adb-1.azuredatabricks.net",
                                      app_client_id="sp-123", act_as_user=True,
                                      deploy_dir="/Shared/cep", http_timeout_s=12.5,
                                      retry_timeout_s=30)
    assert DeploySettings.from_env({}) == DeploySettings()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LAKESTREAM_DEPLOY_AS_USER": "maybe"}, "LAKESTREAM_DEPLOY_AS_USER must be 1 or 0"),
        ({"LAKESTREAM_DEPLOY_TIMEOUT_S": "-1"}, "LAKESTREAM_DEPLOY_TIMEOUT_S must be a number"),
        ({"LAKESTREAM_DEPLOY_RETRY_S": "soon"}, "LAKESTREAM_DEPLOY_RETRY_S must be a number"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(DeployError, match=message):
        DeploySettings.from_env(env)


# --- request identity -----------------------------------------------------------------------------


def test_forwarded_token_means_acting_as_that_user_in_any_header_case() -> None:
    identity = client_for_request(
        {"X-FORWARDED-ACCESS-TOKEN": USER_TOKEN, "x-forwarded-email": USER},
        DeploySettings(host="https://example.cloud.databricks.com", app_client_id="sp-1"))
    assert (identity.acting_as, identity.principal, identity.actor) == ("user", USER, USER)
    assert USER_TOKEN not in repr(identity)
    assert identity.known_secrets == (USER_TOKEN,)


def test_preferred_username_names_the_user_when_there_is_no_email() -> None:
    identity = client_for_request(
        {"X-Forwarded-Access-Token": USER_TOKEN, "X-Forwarded-Preferred-Username": "bo"},
        DeploySettings())
    assert identity.principal == "bo"


def test_without_a_token_the_app_service_principal_acts() -> None:
    settings = DeploySettings(app_client_id="sp-1")
    for headers in (None, {}, {"X-Forwarded-Email": USER}, {"X-Forwarded-Access-Token": "  "}):
        identity = client_for_request(headers, settings)
        assert (identity.acting_as, identity.principal) == ("service_principal", "sp-1")
        assert identity.known_secrets == ()
    unknown = client_for_request({}, DeploySettings())
    assert unknown.actor == "app service principal"


def test_a_client_that_cannot_be_configured_is_a_deploy_error_without_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in ("DATABRICKS_HOST", "DATABRICKS_CONFIG_PROFILE", "DATABRICKS_CLIENT_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", "/nonexistent/databrickscfg")
    identity = client_for_request({"X-Forwarded-Access-Token": USER_TOKEN}, DeploySettings())
    with pytest.raises(DeployError, match="cannot connect to the Databricks workspace as the "
                       "signed-in user") as info:
        deploy_bundle(SSS, parse_options({"workspace_dir": "/Shared/cep"}), identity,
                      dry_run=False)
    assert USER_TOKEN not in str(info.value)


def test_deploy_root_setting_places_the_code(workspace: FakeWorkspace,
                                            user: DeployIdentity) -> None:
    result = deploy_bundle(SSS, None, user, dry_run=False, deploy_root="/Shared/lakestream/")
    assert result.record.workspace_path == "/Shared/lakestream/card_testing/ct_sss"
    assert "/Shared/lakestream/card_testing/ct_sss" in workspace.state.objects
    with pytest.raises(DeployError, match="workspace_dir: "):
        deploy_bundle(SSS, None, user, deploy_root="/tmp/x")


# --- records --------------------------------------------------------------------------------------


def test_record_json_holds_the_metadata_and_no_code_or_token(
    workspace: FakeWorkspace, user: DeployIdentity
) -> None:
    result = deploy_bundle(SSS, None, user, dry_run=False, clock=lambda: T0)
    data = result.record.to_json_dict()
    assert data == {
        "actor": USER, "acting_as": "user", "pattern_name": "card_testing", "target": "sss",
        "code_sha256": SSS.code_sha256, "file_name": "ct_sss.py",
        "workspace_path": "/Users/ana@example.com/lakestream/card_testing/ct_sss",
        "resource": "job", "resource_name": "lakestream-card_testing-sss", "resource_id": "1001",
        "url": f"{workspace.url}/jobs/1001", "action": "created", "dry_run": False,
        "deployed_at": "2026-03-04T05:06:07Z",
    }
    assert DeployRecord.model_validate(data) == result.record
    text = json.dumps(result.to_json_dict())
    assert USER_TOKEN not in text
    assert result.record.model_config.get("frozen") is True


@pytest.fixture
def store(tmp_path: Path) -> HistoryStore:
    settings = HistorySettings(data_dir=tmp_path)
    return HistoryStore(create_history_engine(settings), settings)


def test_deploys_and_dry_runs_land_in_the_audit_log(
    workspace: FakeWorkspace, user: DeployIdentity, store: HistoryStore
) -> None:
    dry = deploy_bundle(SSS, None, user, clock=lambda: T0)
    real = deploy_bundle(SSS, None, user, dry_run=False, clock=lambda: T0)
    record_deploy(store, dry.record)
    event = record_deploy(store, real.record)
    assert (event.actor, event.action, event.subject) == (USER, "deploy.job", "card_testing")
    assert event.details == real.record.to_json_dict()
    listed = store.list_audit(AuditFilters(action="deploy.")).items
    assert [e.action for e in listed] == ["deploy.job", "deploy.job.dry_run"]
    assert listed[0].details["resource_id"] == "1001"
    assert listed[0].details["url"] == f"{workspace.url}/jobs/1001"
    assert listed[1].details["dry_run"] is True
    assert USER_TOKEN not in json.dumps([e.details for e in listed])


def test_a_pipeline_deploy_is_audited_as_one(
    workspace: FakeWorkspace, user: DeployIdentity, store: HistoryStore
) -> None:
    sdp = make_bundle(pattern_name="card_testing", target="sdp", code=CODE, file_name="ct.py")
    result = deploy_bundle(sdp, parse_options({"catalog": "main", "target_schema": "cep"}), user,
                           dry_run=False)
    event = record_deploy(store, result.record)
    assert event.action == "deploy.pipeline"
    assert event.details["resource_id"] == result.record.resource_id
