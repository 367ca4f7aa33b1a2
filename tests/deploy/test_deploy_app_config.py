"""app.yaml and databricks.yml parse and agree: every valueFrom names a resource of the app."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from cep.history import HistorySettings
from cep.nl import NlSettings

ROOT = Path(__file__).resolve().parents[2]
RESOURCE_KINDS = {"serving_endpoint", "database", "secret", "sql_warehouse", "job",
                  "uc_securable", "genie_space", "experiment", "app", "postgres"}


def load(name: str) -> Any:
    return yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def app_yaml() -> dict[str, Any]:
    data = load("app.yaml")
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    data = load("databricks.yml")
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def app(bundle: dict[str, Any]) -> dict[str, Any]:
    apps = bundle["resources"]["apps"]
    assert list(apps) == ["lakestream"]
    return apps["lakestream"]


def env_of(app_yaml: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {item["name"]: item for item in app_yaml["env"]}


def test_app_yaml_runs_the_streamlit_entry_point(app_yaml: dict[str, Any]) -> None:
    command = app_yaml["command"]
    assert command[:3] == ["streamlit", "run", "app.py"]
    assert (ROOT / "app.py").is_file()
    flags = dict(arg.removeprefix("--").split("=", 1) for arg in command[3:])
    assert flags == {"server.headless": "true", "server.enableXsrfProtection": "false",
                     "server.enableCORS": "false", "browser.gatherUsageStats": "false"}
    # Port and address are the platform's (STREAMLIT_SERVER_PORT/ADDRESS); never hard-coded.
    assert not [a for a in command if "port" in a.lower() or "address" in a.lower()]


def test_every_env_entry_has_exactly_one_source_and_a_unique_name(
    app_yaml: dict[str, Any],
) -> None:
    names = [item["name"] for item in app_yaml["env"]]
    assert len(names) == len(set(names))
    for item in app_yaml["env"]:
        assert set(item) in ({"name", "value"}, {"name", "valueFrom"}), item
        if "value" in item:
            assert isinstance(item["value"], str), f"{item['name']}: quote the value"


def test_value_from_names_are_the_bundle_app_resources(
    app_yaml: dict[str, Any], app: dict[str, Any]
) -> None:
    declared = {r["name"] for r in app["resources"]}
    used = {item["valueFrom"] for item in app_yaml["env"] if "valueFrom" in item}
    assert used <= declared, f"valueFrom names without a resource: {sorted(used - declared)}"
    assert declared <= used, f"resources no variable reads: {sorted(declared - used)}"
    for resource in app["resources"]:
        kinds = set(resource) & RESOURCE_KINDS
        assert len(kinds) == 1, resource
        assert set(resource) <= {"name", "description"} | kinds


def test_resources_cover_the_endpoint_database_and_secret_the_app_reads(
    app_yaml: dict[str, Any], app: dict[str, Any]
) -> None:
    env = env_of(app_yaml)
    by_name = {r["name"]: r for r in app["resources"]}

    def resource_for(var: str) -> dict[str, Any]:
        return by_name[env[var]["valueFrom"]]

    assert resource_for("LAKESTREAM_SONNET_ENDPOINT")["serving_endpoint"]["permission"] == (
        "CAN_QUERY")
    assert resource_for("LAKESTREAM_OPUS_ENDPOINT")["serving_endpoint"]["permission"] == (
        "CAN_QUERY")
    assert resource_for("PGHOST")["database"]["permission"] == "CAN_CONNECT_AND_CREATE"
    secret = resource_for("LAKESTREAM_WEBHOOK_SIGNING_SECRET")["secret"]
    assert secret["permission"] == "READ"  # least privilege: never WRITE or MANAGE
    # The variables are the ones the library reads.
    nl = NlSettings.from_env({"LAKESTREAM_SONNET_ENDPOINT": "s", "LAKESTREAM_OPUS_ENDPOINT": "o",
                              "DATABRICKS_HOST": "https://h"})
    assert nl.endpoints == {"sonnet": "s", "opus": "o"}
    lakebase = HistorySettings.from_env({"PGHOST": "h", "PGUSER": "u", "PGDATABASE": "d"})
    assert lakebase.backend == "lakebase"


def test_bundle_variables_are_declared_and_the_targets_are_dev_and_prod(
    bundle: dict[str, Any],
) -> None:
    text = (ROOT / "databricks.yml").read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{var\.([A-Za-z0-9_-]+)\}", text))
    assert used
    assert used == set(bundle["variables"])
    for var in bundle["variables"].values():
        assert var.get("default")
        assert var.get("description")
    targets = bundle["targets"]
    assert set(targets) == {"dev", "prod"}
    assert targets["dev"] == {"mode": "development", "default": True}
    prod = targets["prod"]
    assert prod["mode"] == "production"
    assert prod["workspace"]["root_path"].startswith(
        "/Workspace/Users/${workspace.current_user.userName}/")
    assert prod["permissions"] == [{"level": "CAN_MANAGE",
                                    "user_name": "${workspace.current_user.userName}"}]


def test_bundle_app_ships_this_folder_with_its_app_yaml(
    bundle: dict[str, Any], app: dict[str, Any]
) -> None:
    source = (ROOT / app["source_code_path"]).resolve()
    assert source == ROOT
    assert (source / "app.yaml").is_file()
    assert (source / "requirements.txt").is_file()
    assert re.fullmatch(r"[a-z0-9-]+", bundle["variables"]["app_name"]["default"])
    excluded = bundle["sync"]["exclude"]
    assert not [p for p in excluded if p.startswith(("app", "cep", "pages", "ui", "packs"))]
