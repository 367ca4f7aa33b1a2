"""Deploying against a fake workspace on loopback (Jobs, Pipelines and Workspace APIs)."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from databricks.sdk.service.workspace import Language, ObjectType

from cep.deploy import (
    DeployError,
    DeployIdentity,
    DeploySettings,
    client_for_request,
    deploy_bundle,
    make_bundle,
    parse_options,
)
from cep.deploy.plan import JOB_ID_PLACEHOLDER, PIPELINE_ID_PLACEHOLDER
from cep.errors import CepError
from tests.deploy.conftest import SP_ID, SP_SECRET, USER, USER_TOKEN, user_client
from tests.deploy.fake_workspace import FakeWorkspace

CODE = "# Databricks notebook source\nprint('card testing')\n"
SSS = make_bundle(pattern_name="card_testing", target="sss", code=CODE,
                  file_name="card_testing_sss.py")
SDP = make_bundle(pattern_name="card_testing", target="sdp", code=CODE,
                  file_name="card_testing_sdp.py")
PIPELINE_OPTIONS = {"catalog": "main", "target_schema": "cep"}
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
WHEEL = "/Volumes/main/cep/wheels/lakestream_cep-0.1.0-py3-none-any.whl"


def sent(ws: FakeWorkspace) -> list[tuple[str, str, dict[str, str], Any]]:
    return [r.call() for r in ws.requests]


def as_sent(calls: Any) -> list[tuple[str, str, dict[str, str], Any]]:
    return [(c.method, c.path, c.query, c.body) for c in calls]


def only_job(ws: FakeWorkspace) -> dict[str, Any]:
    assert len(ws.state.jobs) == 1
    return next(iter(ws.state.jobs.values()))["settings"]


# --- Jobs (sss) --------------------------------------------------------------------------------


def test_first_deploy_uploads_the_notebook_and_creates_a_job(
    workspace: FakeWorkspace, user: DeployIdentity
) -> None:
    result = deploy_bundle(SSS, None, user, dry_run=False, clock=lambda: T0)
    notebook = "/Users/ana@example.com/lakestream/card_testing/card_testing_sss"
    assert workspace.state.objects[notebook]["content"] == CODE
    assert workspace.state.objects[notebook]["object_type"] == "NOTEBOOK"
    assert workspace.state.objects[notebook]["language"] == "PYTHON"
    status = user.client().workspace.get_status(notebook)
    assert (status.object_type, status.language) == (ObjectType.NOTEBOOK, Language.PYTHON)
    record = result.record
    assert (record.resource, record.resource_id, record.action) == ("job", "1001", "created")
    assert record.url == f"{workspace.url}/jobs/1001"
    assert record.workspace_path == notebook
    assert (record.actor, record.acting_as, record.dry_run) == (USER, "user", False)
    assert record.deployed_at == T0
    settings = only_job(workspace)
    assert settings["name"] == "lakestream-card_testing-sss"
    assert settings["tasks"] == [{"task_key": "cep", "notebook_task": {
        "notebook_path": notebook, "source": "WORKSPACE"}}]
    assert settings["tags"]["managed_by"] == "lakestream"
    assert settings["tags"]["lakestream_pattern"] == "card_testing"
    assert settings["tags"]["lakestream_code_sha256"] == SSS.code_sha256[:16]


def test_second_deploy_updates_the_same_job_in_place(
    workspace: FakeWorkspace, user: DeployIdentity
) -> None:
    first = deploy_bundle(SSS, None, user, dry_run=False)
    changed = make_bundle(pattern_name="card_testing", target="sss", code=CODE + "print(2)\n",
                          file_name="card_testing_sss.py")
    workspace.clear_requests()
    second = deploy_bundle(changed, parse_options({"continuous": True}), user, dry_run=False)
    assert second.record.resource_id == first.record.resource_id == "1001"
    assert second.record.action == "updated"
    assert len(workspace.state.jobs) == 1
    assert [(m, p) for m, p, _, _ in sent(workspace)] == [
        ("POST", "/api/2.0/workspace/mkdirs"), ("POST", "/api/2.0/workspace/import"),
        ("GET", "/api/2.2/jobs/list"), ("POST", "/api/2.2/jobs/reset")]
    assert sent(workspace)[-1][3]["job_id"] == 1001
    settings = only_job(workspace)
    assert settings["continuous"] == {"pause_status": "UNPAUSED"}
    assert settings["tags"]["lakestream_code_sha256"] == changed.code_sha256[:16]
    path = "/Users/ana@example.com/lakestream/card_testing/card_testing_sss"
    assert workspace.state.objects[path]["content"].endswith("print(2)\n")


def test_schedule_and_continuous_modes_reach_the_job(
    workspace: FakeWorkspace, user: DeployIdentity
) -> None:
    scheduled = parse_options({"schedule": {"quartz_cron": "0 0/15 * * * ?",
                                            "timezone_id": "Europe/Paris", "paused": True}})
    deploy_bundle(SSS, scheduled, user, dry_run=False)
    settings = only_job(workspace)
    assert settings["schedule"] == {"quartz_cron_expression": "0 0/15 * * * ?",
                                    "timezone_id": "Europe/Paris", "pause_status": "PAUSED"}
    assert "continuous" not in settings
    deploy_bundle(SSS, parse_options({"continuous": True}), user, dry_run=False)
    settings = only_job(workspace)
    assert settings["continuous"] == {"pause_status": "UNPAUSED"}
    assert "schedule" not in settings  # reset replaces every setting


@pytest.mark.parametrize(
    ("compute", "task_extra", "job_clusters"),
    [
        ({"kind": "serverless"}, {}, None),
        ({"kind": "existing_cluster", "cluster_id": "0123-456789-abcde123"},
         {"existing_cluster_id": "0123-456789-abcde123"}, None),
        ({"kind": "job_cluster", "profile": "medium", "node_type_id": "m5d.large",
          "policy_id": "ABC123"},
         {"job_cluster_key": "cep_cluster"},
         [{"job_cluster_key": "cep_cluster", "new_cluster": {
             "spark_version": "16.4.x-scala2.12", "node_type_id": "m5d.large", "num_workers": 4,
             "policy_id": "ABC123", "spark_conf": {
                 "spark.sql.streaming.stateStore.providerClass":
                     "com.databricks.sql.streaming.state.RocksDBStateStoreProvider"}}}]),
    ],
    ids=["serverless", "existing_cluster", "job_cluster"],
)
def test_compute_choice_shapes_the_task(
    workspace: FakeWorkspace, user: DeployIdentity, compute: dict[str, Any],
    task_extra: dict[str, Any], job_clusters: list[dict[str, Any]] | None,
) -> None:
    deploy_bundle(SSS, parse_options({"compute": compute}), user, dry_run=False)
    settings = only_job(workspace)
    task = settings["tasks"][0]
    assert {k: v for k, v in task.items() if k not in {"task_key", "notebook_task"}} == task_extra
    assert settings.get("job_clusters") == job_clusters
    assert "environments" not in settings


def test_libraries_are_installed_on_the_cluster(
    workspace: FakeWorkspace, user: DeployIdentity
) -> None:
    options = parse_options({
        "compute": {"kind": "job_cluster", "node_type_id": "Standard_D4ds_v5"},
        "libraries": ["pyarrow>=17", WHEEL],
    })
    deploy_bundle(SSS, options, user, dry_run=False)
    assert only_job(workspace)["tasks"][0]["libraries"] == [
        {"pypi": {"package": "pyarrow>=17"}},
        {"whl": WHEEL},
    ]


def test_a_job_of_the_same_name_not_made_by_lakestream_is_left_alone(
    workspace: FakeWorkspace, user: DeployIdentity
) -> None:
    user.client().jobs.create(name="lakestream-card_testing-sss")  # someone else's job
    workspace.clear_requests()
    with pytest.raises(DeployError, match=r"already exists \(id 1001\) but was not deployed"):
        deploy_bundle(SSS, None, user, dry_run=False)
    assert [p for _, p, _, _ in sent(workspace)][-1] == "/api/2.2/jobs/list"
    assert only_job(workspace) == {"name": "lakestream-card_testing-sss"}


# --- dry run -------------------------------------------------------------------------------------


def test_dry_run_makes_no_request_and_lists_exactly_the_calls_of_a_create(
    workspace: FakeWorkspace, user: DeployIdentity
) -> None:
    options = parse_options({"compute": {"kind": "job_cluster", "node_type_id": "m5d.large"},
                             "schedule": {"quartz_cron": "0 0 6 * * ?"}})
    user.client()  # the client exists; a dry run must still send nothing
    workspace.clear_requests()
    dry = deploy_bundle(SSS, options, user, clock=lambda: T0)
    assert workspace.requests == []
    assert (dry.record.dry_run, dry.record.action, dry.record.resource_id, dry.record.url) == (
        True, "planned", None, None)
    assert [c.when for c in dry.calls] == ["always", "always", "always", "if_missing", "if_found"]
    real = deploy_bundle(SSS, options, user, dry_run=False)
    expected = [c for c in dry.calls if c.when in {"always", "if_missing"}]
    assert sent(workspace) == as_sent(expected) == as_sent(real.calls)


def test_dry_run_update_branch_matches_the_real_update_once_the_id_is_known(
    workspace: FakeWorkspace, user: DeployIdentity
) -> None:
    deploy_bundle(SSS, None, user, dry_run=False)
    dry = deploy_bundle(SSS, None, user)
    workspace.clear_requests()
    deploy_bundle(SSS, None, user, dry_run=False)
    reset = dry.calls[-1]
    assert reset.body is not None
    assert reset.body["job_id"] == JOB_ID_PLACEHOLDER
    expected = [*as_sent(dry.calls[:3]),
                (reset.method, reset.path, reset.query, {**reset.body, "job_id": 1001})]
    assert sent(workspace) == expected


def test_dry_run_shows_the_code_exactly_as_uploaded(user: DeployIdentity) -> None:
    upload = deploy_bundle(SSS, None, user).calls[1]
    assert upload.path == "/api/2.0/workspace/import"
    assert upload.body is not None
    assert base64.b64decode(upload.body["content"]).decode() == CODE
    assert {k: v for k, v in upload.body.items() if k != "content"} == {
        "path": "/Users/ana@example.com/lakestream/card_testing/card_testing_sss",
        "format": "SOURCE", "language": "PYTHON", "overwrite": True}


def test_dry_run_with_a_request_identity_never_builds_a_client(workspace: FakeWorkspace) -> None:
    settings = DeploySettings(host=workspace.url)
    identity = client_for_request({"X-Forwarded-Access-Token": USER_TOKEN,
                                   "X-Forwarded-Email": USER}, settings)
    result = deploy_bundle(SSS, None, identity)
    assert workspace.requests == []
    assert result.record.actor == USER


# --- Pipelines (sdp) -----------------------------------------------------------------------------


def test_pipeline_is_created_then_updated_with_the_same_id(
    workspace: FakeWorkspace, user: DeployIdentity
) -> None:
    options = parse_options({**PIPELINE_OPTIONS, "continuous": True})
    first = deploy_bundle(SDP, options, user, dry_run=False)
    pipeline_id = first.record.resource_id
    assert pipeline_id is not None
    assert first.record.action == "created"
    assert first.record.url == f"{workspace.url}/pipelines/{pipeline_id}"
    spec = workspace.state.pipelines[pipeline_id]["spec"]
    assert spec == {
        "name": "lakestream-card_testing-sdp", "catalog": "main", "schema": "cep",
        "continuous": True, "development": False, "channel": "CURRENT", "serverless": True,
        "libraries": [{"notebook": {
            "path": "/Users/ana@example.com/lakestream/card_testing/card_testing_sdp"}}],
        "tags": {"managed_by": "lakestream", "lakestream_pattern": "card_testing",
                 "lakestream_target": "sdp", "lakestream_code_sha256": SDP.code_sha256[:16]},
        "id": pipeline_id,
    }
    workspace.clear_requests()
    triggered = parse_options({**PIPELINE_OPTIONS, "development": True,
                               "compute": {"kind": "job_cluster", "node_type_id": "m5d.large"}})
    second = deploy_bundle(SDP, triggered, user, dry_run=False)
    assert (second.record.resource_id, second.record.action) == (pipeline_id, "updated")
    assert len(workspace.state.pipelines) == 1
    spec = workspace.state.pipelines[pipeline_id]["spec"]
    assert (spec["continuous"], spec["development"], spec["edition"]) == (False, True, "ADVANCED")
    assert spec["clusters"] == [{"label": "default", "node_type_id": "m5d.large",
                                 "num_workers": 1}]
    assert "serverless" not in spec
    assert [(m, p) for m, p, _, _ in sent(workspace)] == [
        ("POST", "/api/2.0/workspace/mkdirs"), ("POST", "/api/2.0/workspace/import"),
        ("GET", "/api/2.0/pipelines"), ("GET", f"/api/2.0/pipelines/{pipeline_id}"),
        ("PUT", f"/api/2.0/pipelines/{pipeline_id}")]


def test_pipeline_dry_run_lists_every_call_and_makes_none(
    workspace: FakeWorkspace, user: DeployIdentity
) -> None:
    options = parse_options(PIPELINE_OPTIONS)
    dry = deploy_bundle(SDP, options, user)
    assert workspace.requests == []
    assert [(c.method, c.path, c.when) for c in dry.calls] == [
        ("POST", "/api/2.0/workspace/mkdirs", "always"),
        ("POST", "/api/2.0/workspace/import", "always"),
        ("GET", "/api/2.0/pipelines", "always"),
        ("GET", f"/api/2.0/pipelines/{PIPELINE_ID_PLACEHOLDER}", "for_each_candidate"),
        ("POST", "/api/2.0/pipelines", "if_missing"),
        ("PUT", f"/api/2.0/pipelines/{PIPELINE_ID_PLACEHOLDER}", "if_found"),
    ]
    assert dry.calls[2].query == {"filter": "name LIKE 'lakestream-card_testing-sdp'"}
    real = deploy_bundle(SDP, options, user, dry_run=False)
    assert sent(workspace) == as_sent(
        [c for c in dry.calls if c.when in {"always", "if_missing"}]) == as_sent(real.calls)


def test_pipeline_of_a_similar_name_is_not_taken_for_ours(
    workspace: FakeWorkspace, user: DeployIdentity
) -> None:
    # LIKE treats '_' as a wildcard: 'lakestream-cardXtesting-sdp' matches the filter.
    user.client().pipelines.create(name="lakestream-cardXtesting-sdp", catalog="main")
    result = deploy_bundle(SDP, parse_options(PIPELINE_OPTIONS), user, dry_run=False)
    assert result.record.action == "created"
    assert len(workspace.state.pipelines) == 2


# --- identities -----------------------------------------------------------------------------------


def test_user_token_is_what_the_workspace_sees_when_forwarded(workspace: FakeWorkspace) -> None:
    settings = DeploySettings(host=workspace.url, app_client_id=SP_ID, retry_timeout_s=2)
    identity = client_for_request({"x-forwarded-access-token": USER_TOKEN,
                                   "x-forwarded-email": USER}, settings)
    result = deploy_bundle(SSS, None, identity, dry_run=False)
    assert {r.token for r in workspace.requests} == {USER_TOKEN}
    assert workspace.state.jobs[1001]["creator_user_name"] == USER
    assert (result.record.actor, result.record.acting_as) == (USER, "user")


def test_without_a_forwarded_token_the_app_service_principal_deploys(
    workspace: FakeWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The App's own credentials, as Databricks Apps injects them; also present in the user test
    # above, where the user's token must win over them.
    monkeypatch.setenv("DATABRICKS_CLIENT_ID", SP_ID)
    monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", SP_SECRET)
    settings = DeploySettings(host=workspace.url, app_client_id=SP_ID, retry_timeout_s=2)
    identity = client_for_request({"X-Forwarded-Email": USER}, settings)
    result = deploy_bundle(SSS, None, identity, dry_run=False)
    tokens = {r.token for r in workspace.requests}
    assert len(tokens) == 1
    assert USER_TOKEN not in tokens
    assert workspace.state.tokens[tokens.pop()] == SP_ID
    assert workspace.state.jobs[1001]["creator_user_name"] == SP_ID
    assert (result.record.actor, result.record.acting_as) == (SP_ID, "service_principal")
    assert result.record.workspace_path.startswith(f"/Users/{SP_ID}/lakestream/")


def test_user_token_wins_over_the_app_credentials_in_the_environment(
    workspace: FakeWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABRICKS_CLIENT_ID", SP_ID)
    monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", SP_SECRET)
    settings = DeploySettings(host=workspace.url, app_client_id=SP_ID, retry_timeout_s=2)
    identity = client_for_request({"X-Forwarded-Access-Token": USER_TOKEN,
                                   "X-Forwarded-Email": USER}, settings)
    deploy_bundle(SSS, None, identity, dry_run=False)
    assert {r.token for r in workspace.requests} == {USER_TOKEN}


def test_user_authorization_can_be_turned_off(
    workspace: FakeWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABRICKS_CLIENT_ID", SP_ID)
    monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", SP_SECRET)
    settings = DeploySettings(host=workspace.url, app_client_id=SP_ID, act_as_user=False,
                              retry_timeout_s=2)
    identity = client_for_request({"X-Forwarded-Access-Token": USER_TOKEN}, settings)
    deploy_bundle(SSS, None, identity, dry_run=False)
    assert USER_TOKEN not in {r.token for r in workspace.requests}
    assert workspace.state.jobs[1001]["creator_user_name"] == SP_ID


def test_no_call_touches_permissions(workspace: FakeWorkspace, user: DeployIdentity) -> None:
    deploy_bundle(SSS, None, user, dry_run=False)
    deploy_bundle(SSS, None, user, dry_run=False)
    deploy_bundle(SDP, parse_options(PIPELINE_OPTIONS), user, dry_run=False)
    assert not [r for r in workspace.requests if "permissions" in r.path]
    assert not [r for r in workspace.requests
                if isinstance(r.body, dict) and "access_control_list" in str(r.body)]


# --- failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status", "code", "hint"),
    [
        ("POST", "/api/2.2/jobs/create", 403, "PERMISSION_DENIED", "lacks a permission"),
        ("POST", "/api/2.0/workspace/mkdirs", 404, "RESOURCE_DOES_NOT_EXIST", "does not exist"),
        ("GET", "/api/2.2/jobs/list", 500, "INTERNAL_ERROR", "try again later"),
    ],
    ids=["403", "404", "500"],
)
def test_api_failures_name_the_call_and_status_and_never_the_token(
    workspace: FakeWorkspace, user: DeployIdentity,
    method: str, path: str, status: int, code: str, hint: str,
) -> None:
    # The server echoes the caller's token in its message; the error must not repeat it.
    workspace.fail(method, path, status, code, "refused for token {token} (Bearer {token})")
    with pytest.raises(DeployError) as info:
        deploy_bundle(SSS, None, user, dry_run=False)
    message = str(info.value)
    assert message.startswith(f"{method} {path} (")
    assert f"HTTP {status} {code}" in message
    assert hint in message
    assert "[redacted]" in message
    assert USER_TOKEN not in message
    assert (info.value.call, info.value.status) == (f"{method} {path}", status)
    assert isinstance(info.value, CepError)


def test_debug_logs_of_a_deploy_and_a_failure_never_hold_the_token(
    workspace: FakeWorkspace, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = DeploySettings(host=workspace.url, retry_timeout_s=2)
    identity = client_for_request({"X-Forwarded-Access-Token": USER_TOKEN,
                                   "X-Forwarded-Email": USER}, settings)
    deploy_bundle(SSS, None, identity, dry_run=False)
    workspace.fail("POST", "/api/2.2/jobs/reset", 403, "PERMISSION_DENIED", "not allowed")
    with pytest.raises(DeployError):
        deploy_bundle(SSS, None, identity, dry_run=False)
    assert "/api/2.2/jobs/reset" in caplog.text  # the SDK did log the requests
    assert "deployed pattern 'card_testing'" in caplog.text
    assert USER_TOKEN not in caplog.text


def test_a_service_principal_token_is_scrubbed_too(
    workspace: FakeWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABRICKS_CLIENT_ID", SP_ID)
    monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", SP_SECRET)
    identity = client_for_request({}, DeploySettings(host=workspace.url, app_client_id=SP_ID,
                                                     retry_timeout_s=2))
    workspace.fail("POST", "/api/2.0/workspace/import", 403, "PERMISSION_DENIED",
                   "no write access for {token}")
    with pytest.raises(DeployError) as info:
        deploy_bundle(SSS, None, identity, dry_run=False)
    sp_tokens = [t for t, who in workspace.state.tokens.items() if who == SP_ID]
    assert sp_tokens
    assert not any(t in str(info.value) for t in sp_tokens)
    assert SP_SECRET not in str(info.value)
    assert "no write access for [redacted]" in str(info.value)


def test_a_rejected_token_says_to_sign_in_again(workspace: FakeWorkspace) -> None:
    identity = DeployIdentity.from_client(user_client(workspace, "expired-token-123"),
                                          principal=USER, acting_as="user")
    with pytest.raises(DeployError, match=r"HTTP 401 UNAUTHENTICATED.*sign in again") as info:
        deploy_bundle(SSS, None, identity, dry_run=False)
    assert "expired-token-123" not in str(info.value)


def test_unreachable_workspace_is_a_clear_error_without_the_token() -> None:
    with FakeWorkspace() as ws:
        url = ws.url
    settings = DeploySettings(host=url, retry_timeout_s=1, http_timeout_s=1)
    identity = client_for_request({"X-Forwarded-Access-Token": USER_TOKEN,
                                   "X-Forwarded-Email": USER}, settings)
    with pytest.raises(DeployError, match=r"POST /api/2.0/workspace/mkdirs") as info:
        deploy_bundle(SSS, None, identity, dry_run=False)
    assert USER_TOKEN not in str(info.value)


# --- hostile names --------------------------------------------------------------------------------


def test_quotes_in_a_pattern_name_are_encoded_safely_end_to_end(
    workspace: FakeWorkspace, user: DeployIdentity
) -> None:
    name = "O'Brien \"test\" ; DROP TABLE x --"
    bundle = make_bundle(pattern_name=name, target="sdp", code=CODE, file_name="obrien_sdp.py")
    result = deploy_bundle(bundle, parse_options(PIPELINE_OPTIONS), user, dry_run=False)
    pipeline = workspace.state.pipelines[str(result.record.resource_id)]
    assert pipeline["name"] == result.record.resource_name
    assert result.record.resource_name.startswith("lakestream-o_brien_test_drop_table_x_")
    assert result.record.pattern_name == name
    filters = [r.query["filter"] for r in workspace.requests if r.path == "/api/2.0/pipelines"
               and r.method == "GET"]
    assert filters == [f"name LIKE '{result.record.resource_name}'"]


def test_a_quoted_or_multiline_name_option_is_rejected_before_any_call(
    workspace: FakeWorkspace, user: DeployIdentity
) -> None:
    for bad in ["x' OR name LIKE '%", "job\nname", 'a"b']:
        with pytest.raises(DeployError, match=r"invalid deploy options: name: "):
            deploy_bundle(SSS, parse_options({"name": bad}), user, dry_run=False)
    assert workspace.requests == []
