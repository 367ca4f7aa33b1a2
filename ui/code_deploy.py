"""The Code page's deploy panel: Job or Pipeline options, a dry run that lists every API call,
a confirmed real deployment, its result, and its entry in the audit log."""

from __future__ import annotations

import json
import os
import zoneinfo
from collections.abc import Mapping
from typing import Any

import streamlit as st

from cep.codegen import GeneratedCode
from cep.deploy import (
    DeployOptions,
    DeploySettings,
    client_for_request,
    deploy_bundle,
    make_bundle,
    parse_options,
    pattern_slug,
    record_deploy,
)
from cep.errors import CepError
from ui import state
from ui.code_options import problem_of
from ui.history_store import get_history_store
from ui.widgets import escape_markdown, message_markdown, report_errors

RUN_MODE_LABELS = {
    "on_demand": "On demand",
    "schedule": "On a schedule",
    "continuous": "Continuously",
}
"""How a Job runs (a Pipeline: on demand, i.e. triggered, or continuously)."""
COMPUTE_LABELS = {
    "serverless": "Serverless",
    "existing_cluster": "Existing cluster",
    "job_cluster": "Job cluster",
}
"""Compute choices (an existing cluster for Jobs only)."""
PROFILE_LABELS = {"small": "Small (1 worker)", "medium": "Medium (4 workers)"}

DEFAULTS: dict[str, Any] = {
    "name": "",
    "workspace_dir": "",
    "run_mode": "on_demand",
    "cron": "0 0/15 * * * ?",
    "timezone": "UTC",
    "paused": False,
    "compute": "serverless",
    "cluster_id": "",
    "profile": "small",
    "node_type_id": "",
    "policy_id": "",
    "catalog": "",
    "target_schema": "",
    "development": False,
}
"""Every deploy input's starting value."""

_NODE_BASE = {"kind": "job_cluster", "node_type_id": "m5d.large"}


def deploy_key(field: str) -> str:
    """The session-state key of one deploy input.

    >>> deploy_key("name")
    'code.deploy.option.name'
    """
    return state.CODE_DEPLOY_OPTION.format(field=field)


def _text(values: Mapping[str, Any], field: str) -> str:
    return str(values.get(deploy_key(field), DEFAULTS[field]) or "").strip()


def _value(values: Mapping[str, Any], field: str) -> Any:
    return values.get(deploy_key(field), DEFAULTS[field])


def run_modes(target: str) -> list[str]:
    """How a deployment of ``target`` can run: a Job may also run on a schedule."""
    return (
        ["on_demand", "schedule", "continuous"] if target == "sss" else ["on_demand", "continuous"]
    )


def computes(target: str) -> list[str]:
    """The compute choices of ``target``: a Pipeline owns its compute (no existing cluster)."""
    return list(COMPUTE_LABELS) if target == "sss" else ["serverless", "job_cluster"]


def deploy_data(values: Mapping[str, Any], target: str) -> dict[str, Any]:
    """The deploy options' JSON value (what `cep.deploy.parse_options` reads) from the inputs.

    >>> deploy_data({"code.deploy.option.run_mode": "schedule"}, "sss")["schedule"]
    {'quartz_cron': '0 0/15 * * * ?', 'timezone_id': 'UTC', 'paused': False}
    >>> deploy_data({"code.deploy.option.catalog": "main"}, "sdp")["catalog"]
    'main'
    """
    data: dict[str, Any] = {}
    for field in ("name", "workspace_dir"):
        if text := _text(values, field):
            data[field] = text
    mode = _value(values, "run_mode")
    if mode == "schedule" and target == "sss":
        data["schedule"] = {
            "quartz_cron": _text(values, "cron"),
            "timezone_id": _value(values, "timezone"),
            "paused": bool(_value(values, "paused")),
        }
    elif mode == "continuous":
        data["continuous"] = True
    compute = _value(values, "compute")
    if compute == "existing_cluster" and target == "sss":
        data["compute"] = {"kind": "existing_cluster", "cluster_id": _text(values, "cluster_id")}
    elif compute == "job_cluster":
        cluster = {
            "kind": "job_cluster",
            "profile": _value(values, "profile"),
            "node_type_id": _text(values, "node_type_id"),
        }
        if policy := _text(values, "policy_id"):
            cluster["policy_id"] = policy
        data["compute"] = cluster
    else:
        data["compute"] = {"kind": "serverless"}
    if target == "sdp":
        for field in ("catalog", "target_schema"):
            if text := _text(values, field):
                data[field] = text
        data["development"] = bool(_value(values, "development"))
    return data


def deploy_problems(values: Mapping[str, Any], target: str) -> dict[str, str]:
    """Return, per deploy input in use, why its value is not valid (or that it is missing).

    >>> sorted(deploy_problems({"code.deploy.option.name": "a'b"}, "sdp"))
    ['catalog', 'name', 'target_schema']
    """
    data = deploy_data(values, target)
    checks: dict[str, dict[str, Any]] = {}
    for field in ("name", "workspace_dir"):
        if field in data:
            checks[field] = {field: data[field]}
    if "schedule" in data:
        checks["cron"] = {"schedule": {"quartz_cron": data["schedule"]["quartz_cron"]}}
    compute = data["compute"]
    problems: dict[str, str] = {}
    if compute["kind"] == "existing_cluster":
        if compute["cluster_id"]:
            checks["cluster_id"] = {"compute": compute}
        else:
            problems["cluster_id"] = (
                "Give the id of an all-purpose cluster (Compute → cluster "
                "→ its URL or JSON), e.g. 0123-456789-abcde123."
            )
    elif compute["kind"] == "job_cluster":
        if compute["node_type_id"]:
            checks["node_type_id"] = {
                "compute": {**_NODE_BASE, "node_type_id": compute["node_type_id"]}
            }
        else:
            problems["node_type_id"] = (
                "Give the cloud's node type, e.g. m5d.large (AWS), "
                "Standard_D4ds_v5 (Azure), n2-highmem-4 (GCP)."
            )
        if "policy_id" in compute:
            checks["policy_id"] = {"compute": {**_NODE_BASE, "policy_id": compute["policy_id"]}}
    if target == "sdp":
        for field, what in (("catalog", "catalog"), ("target_schema", "schema")):
            if field in data:
                checks[field] = {field: data[field]}
            else:
                problems[field] = f"A pipeline needs the Unity Catalog {what} of its tables."
    for field, partial in checks.items():
        if (problem := problem_of(parse_options, partial)) is not None:
            problems[field] = problem
    return problems


def _init_state() -> None:
    for field, value in DEFAULTS.items():
        st.session_state.setdefault(deploy_key(field), value)


def _show_problem(problems: Mapping[str, str], field: str) -> None:
    if field in problems:
        st.error(problems[field], icon=":material/error:")


def _text_input(
    field: str, label: str, problems: Mapping[str, str], help_text: str, placeholder: str = ""
) -> None:
    st.text_input(
        label,
        key=deploy_key(field),
        help=help_text,
        placeholder=placeholder,
        persist_state="session",
    )
    _show_problem(problems, field)


def _render_options(pattern_name: str, target: str, problems: Mapping[str, str]) -> None:
    resource = "Job" if target == "sss" else "Pipeline"
    slug = pattern_slug(pattern_name)
    name_col, folder_col = st.columns(2)
    with name_col:
        _text_input(
            "name", f"{resource} name", problems,
            f"The {resource}'s name in the workspace. Blank: lakestream-<pattern>-{target}. "
            "Deploying again with the same name updates the same one.",
            placeholder=f"lakestream-{slug}-{target}",
        )  # fmt: skip
    with folder_col:
        _text_input(
            "workspace_dir", "Workspace folder", problems,
            "Where the notebook is uploaded (an absolute folder under /Users, /Workspace, "
            "/Shared or /Repos). Blank: /Users/<deployer>/lakestream/<pattern>, or "
            "LAKESTREAM_DEPLOY_DIR/<pattern> when that is set.",
            placeholder=f"/Users/<you>/lakestream/{slug}",
        )  # fmt: skip
    modes = run_modes(target)
    if st.session_state.get(deploy_key("run_mode")) not in modes:
        st.session_state[deploy_key("run_mode")] = "on_demand"
    mode = st.radio(
        "Runs",
        modes,
        format_func=RUN_MODE_LABELS.__getitem__,
        key=deploy_key("run_mode"),
        horizontal=True,
        help="On demand: the Job runs when started (a Pipeline: triggered updates). On a "
        "schedule: at the times of a Quartz cron expression (Jobs only). Continuously: always "
        "running, restarted on failure.",
        persist_state="session",
    )
    if mode == "schedule":
        cron_col, zone_col, paused_col = st.columns([3, 3, 2], vertical_alignment="bottom")
        with cron_col:
            _text_input(
                "cron", "Cron (Quartz)", problems,
                "Six or seven space-separated fields, seconds first: 0 0/15 * * * ? is every "
                "15 minutes, 0 0 6 * * ? is daily at 06:00.",
            )  # fmt: skip
        zone_col.selectbox(
            "Time zone",
            sorted(zoneinfo.available_timezones()),
            key=deploy_key("timezone"),
            help="The IANA time zone the cron times are in.",
            persist_state="session",
        )
        paused_col.checkbox(
            "Paused",
            key=deploy_key("paused"),
            help="Create the schedule paused; resume it in the workspace.",
            persist_state="session",
        )
    choices = computes(target)
    if st.session_state.get(deploy_key("compute")) not in choices:
        st.session_state[deploy_key("compute")] = "serverless"
    compute = st.radio(
        "Compute",
        choices,
        format_func=COMPUTE_LABELS.__getitem__,
        key=deploy_key("compute"),
        horizontal=True,
        help="Serverless: no cluster to manage. Existing cluster: an all-purpose cluster by id "
        "(Jobs only). Job cluster: a new cluster per run from a small profile, on a node type "
        "you name.",
        persist_state="session",
    )
    if compute == "existing_cluster":
        _text_input(
            "cluster_id",
            "Cluster id",
            problems,
            "The all-purpose cluster's id, e.g. 0123-456789-abcde123.",
        )
    elif compute == "job_cluster":
        profile_col, node_col, policy_col = st.columns(3)
        profile_col.selectbox(
            "Profile",
            list(PROFILE_LABELS),
            format_func=PROFILE_LABELS.__getitem__,
            key=deploy_key("profile"),
            help="Cluster size: small is 1 worker, medium 4 workers (DBR 16.4 LTS, RocksDB "
            "state store).",
            persist_state="session",
        )
        with node_col:
            _text_input(
                "node_type_id",
                "Node type",
                problems,
                "The cloud's node type id: m5d.large (AWS), Standard_D4ds_v5 (Azure), "
                "n2-highmem-4 (GCP).",
            )
        with policy_col:
            _text_input(
                "policy_id",
                "Cluster policy id",
                problems,
                "Optional: a cluster policy the deployer may use (letters and digits).",
            )
    if target == "sdp":
        catalog_col, schema_col = st.columns(2)
        with catalog_col:
            _text_input(
                "catalog",
                "Catalog",
                problems,
                "The Unity Catalog catalog of the pipeline's tables (required).",
            )
        with schema_col:
            _text_input(
                "target_schema",
                "Schema",
                problems,
                "The schema of the pipeline's tables (required).",
            )
        st.checkbox(
            "Development mode",
            key=deploy_key("development"),
            help="No retries on failure and the cluster kept warm between updates.",
            persist_state="session",
        )


def calls_rows(calls: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The API calls as table rows: method, path (with its query), when and what for.

    >>> calls_rows([{"method": "GET", "path": "/api/2.2/jobs/list", "query": {"name": "a b"},
    ...              "body": None, "when": "always", "purpose": "find the job"}])
    [{'#': 1, 'method': 'GET', 'path': '/api/2.2/jobs/list?name=a+b', 'when': 'always', \
'purpose': 'find the job'}]
    """
    from urllib.parse import urlencode

    rows = []
    for number, call in enumerate(calls, start=1):
        query = call.get("query") or {}
        path = str(call["path"]) + (f"?{urlencode(query)}" if query else "")
        rows.append(
            {
                "#": number,
                "method": call["method"],
                "path": path,
                "when": call.get("when", "always"),
                "purpose": call.get("purpose", ""),
            }
        )
    return rows


def _deploy(pattern_name: str, code: GeneratedCode, options: DeployOptions, dry_run: bool) -> None:
    title = "The dry run failed" if dry_run else "The deployment failed"
    st.session_state.pop(state.CODE_DEPLOY_RESULT, None)
    with report_errors(title):
        settings = DeploySettings.from_env(os.environ)
        identity = client_for_request(st.context.headers, settings)
        bundle = make_bundle(
            pattern_name=pattern_name,
            target=code.target,
            code=code.text,
            file_name=code.file_name,
            code_sha256=code.sha256,
        )
        with st.spinner("Planning…" if dry_run else "Deploying…"):
            result = deploy_bundle(
                bundle, options, identity, dry_run=dry_run, deploy_root=settings.deploy_dir
            )
        audit: str | None = None
        try:
            record_deploy(get_history_store(), result.record)
        except CepError as e:
            audit = str(e)
        st.session_state[state.CODE_DEPLOY_RESULT] = {
            "result": result.to_json_dict(),
            "audit_problem": audit,
            "code_sha256": code.sha256,
            "target": code.target,
        }


def render_result(outcome: Mapping[str, Any], code: GeneratedCode) -> None:
    """Show the last dry run or deployment: the id and link, the calls, the audit entry."""
    result = outcome["result"]
    record, calls = result["record"], result["calls"]
    if outcome.get("code_sha256") != code.sha256:
        st.caption(":material/update: The code changed since; run again to deploy this code.")
    if record["dry_run"]:
        st.success(
            f"**Dry run** — nothing was sent. A deployment as "
            f"**{escape_markdown(record['actor'])}** would make these {len(calls)} calls "
            f"(the `when` column says which depend on what the lookup finds).",
            icon=":material/checklist:",
        )
    else:
        resource = "Job" if record["resource"] == "job" else "Pipeline"
        url = str(record["url"])
        st.success(
            f"**{resource} {record['action']}** — "
            f"{escape_markdown(record['resource_name'])}, id `{record['resource_id']}`: "
            f"[{escape_markdown(url)}]({url})",
            icon=":material/rocket_launch:",
        )
    st.table(calls_rows(calls), hide_index=True)
    with st.expander(
        "The calls as JSON (method, path, query, body)", icon=":material/data_object:"
    ):
        st.code(json.dumps(calls, indent=2), language="json", height=360)
    if problem := outcome.get("audit_problem"):
        st.warning(
            f"**Not written to the audit log** — {escape_markdown(problem)}",
            icon=":material/cloud_off:",
        )
    else:
        st.caption(
            f":material/history: Written to the audit log ({record['workspace_path']}, "
            f"code SHA-256 {record['code_sha256'][:12]}…)."
        )


def render_deploy(pattern_name: str, code: GeneratedCode) -> None:
    """Draw the deploy panel for ``code`` (an sss or sdp target)."""
    target = code.target
    resource = "Job" if target == "sss" else "Pipeline"
    _init_state()
    st.session_state.setdefault(state.CODE_DEPLOY_DRY_RUN, True)
    problems = deploy_problems(st.session_state.to_dict(), target)
    st.caption(
        f"Uploads **{escape_markdown(code.file_name)}** as a notebook and creates (or updates) a "
        f"Databricks {resource} that runs it. A dry run lists every API call and sends nothing."
    )
    _render_options(pattern_name, target, problems)
    dry_run = st.toggle(
        "Dry run",
        key=state.CODE_DEPLOY_DRY_RUN,
        help="On: show exactly the API calls a deployment makes (method, path, JSON body) and "
        "send nothing. Off: deploy for real, after you confirm.",
    )
    confirmed = True
    if not dry_run:
        confirmed = st.checkbox(
            f"I understand: this uploads the code and creates or updates the {resource} in the "
            "workspace, as me (or the app's service principal).",
            key=state.CODE_DEPLOY_CONFIRM,
            help="A real deployment changes the workspace; confirm to enable the button.",
        )
    options: DeployOptions | None = None
    if problems:
        st.error("Fix the options marked above to deploy.", icon=":material/error:")
    else:
        try:
            options = parse_options(deploy_data(st.session_state.to_dict(), target))
        except CepError as e:
            st.error(message_markdown("Invalid deploy options", str(e)), icon=":material/error:")
    clicked = st.button(
        "Dry run" if dry_run else f"Deploy {resource}",
        key=state.CODE_DEPLOY_RUN,
        type="primary",
        icon=":material/checklist:" if dry_run else ":material/rocket_launch:",
        disabled=options is None or not confirmed,
        help="Dry run: list the calls. Deploy: make them, then show the id and a link.",
    )
    if clicked and options is not None:
        _deploy(pattern_name, code, options, dry_run=bool(dry_run))
    outcome = st.session_state.get(state.CODE_DEPLOY_RESULT)
    if outcome and outcome.get("target") == target:
        render_result(outcome, code)
