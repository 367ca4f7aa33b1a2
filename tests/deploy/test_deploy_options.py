"""Deploy options and bundles: validation with clear messages, and the plan they produce."""

from __future__ import annotations

import doctest
import hashlib
import importlib
from typing import Any

import pytest

import cep.deploy
from cep.deploy import (
    DeployError,
    DeployOptions,
    JobCluster,
    Serverless,
    make_bundle,
    parse_options,
    pattern_slug,
    plan_deploy,
)

CODE = "print('x')\n"


def bundle(target: str = "sss", name: str = "card_testing") -> cep.deploy.DeployBundle:
    return make_bundle(pattern_name=name, target=target, code=CODE, file_name=f"p_{target}.py")


def test_public_api_is_pinned() -> None:
    assert sorted(cep.deploy.__all__) == sorted([
        "ACCESS_TOKEN_HEADER", "CLUSTER_PROFILES", "DEFAULT_SPARK_VERSION", "MAX_CODE_BYTES",
        "ApiCall", "DeployBundle", "DeployError", "DeployIdentity", "DeployOptions", "DeployPlan",
        "DeployRecord", "DeployResult", "DeploySettings", "DeployTarget", "ExistingCluster",
        "JobCluster", "Schedule", "Serverless", "client_for_request", "deploy_bundle",
        "make_bundle", "parse_options", "pattern_slug", "plan_deploy", "record_deploy",
    ])
    assert issubclass(cep.deploy.DeployError, cep.errors.CepError)


@pytest.mark.parametrize(
    "name",
    ["cep.deploy.bundle", "cep.deploy.options", "cep.deploy.identity", "cep.deploy.secrets"],
)
def test_docstring_examples_hold(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0


# --- bundle ---------------------------------------------------------------------------------------


def test_bundle_hashes_its_code_and_checks_a_given_hash() -> None:
    b = bundle()
    assert b.code_sha256 == hashlib.sha256(CODE.encode()).hexdigest()
    same = make_bundle(pattern_name="card_testing", target="sss", code=CODE,
                       file_name="p_sss.py", code_sha256=b.code_sha256.upper())
    assert same.code_sha256 == b.code_sha256.upper()
    with pytest.raises(DeployError, match="code_sha256 does not match the code"):
        make_bundle(pattern_name="card_testing", target="sss", code=CODE, file_name="p_sss.py",
                    code_sha256="0" * 64)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("pattern_name", "two\nlines", "pattern_name: must not contain control characters"),
        ("pattern_name", "   ", "pattern_name: must not be blank"),
        ("target", "sql", "target: Input should be 'sss' or 'sdp'"),
        ("file_name", "../../etc/passwd.py", "file_name: '../../etc/passwd.py' must be a plain"),
        ("file_name", "x'; rm -rf.py", "file_name: "),
        ("file_name", "notebook.ipynb", "file_name: 'notebook.ipynb' must be a plain .py"),
        ("file_name", "p.py\n", "file_name: 'p.py\\n' must be a plain .py"),
        ("code", "", "code: String should have at least 1 character"),
    ],
    ids=["newline", "blank", "sql-target", "path", "quote", "ipynb", "file-newline",
         "empty-code"],
)
def test_bad_bundles_are_rejected_naming_the_field(field: str, value: str, message: str) -> None:
    data: dict[str, Any] = {"pattern_name": "p", "target": "sss", "code": CODE,
                            "file_name": "p.py", field: value}
    with pytest.raises(DeployError, match="invalid deploy bundle: ") as info:
        make_bundle(**data)
    assert message in str(info.value)


def test_code_larger_than_the_import_limit_is_rejected() -> None:
    with pytest.raises(DeployError, match=r"code: .*at most 10,485,760 per notebook"):
        make_bundle(pattern_name="p", target="sss", code="#" * (10 * 1024 * 1024 + 1),
                    file_name="p.py")


@pytest.mark.parametrize(
    ("name", "slug"),
    [("card_testing", "card_testing"), ("spend-velocity", "spend_velocity_"),
     ("Ünïcode Näme", "unicode_name_"), ("'; DROP TABLE jobs; --", "drop_table_jobs_"),
     ("!!!", "pattern_")],
)
def test_slugs_are_safe_and_distinct_for_different_names(name: str, slug: str) -> None:
    got = pattern_slug(name)
    assert got.startswith(slug)
    assert all(c.isascii() and (c.isalnum() or c == "_") for c in got)
    assert got == slug or len(got) == len(slug) + 8
    assert len(got) <= 57
    assert pattern_slug("a b") != pattern_slug("a_b") != pattern_slug("a-b")


# --- options --------------------------------------------------------------------------------------


def test_defaults_are_serverless_triggered_with_default_names() -> None:
    options = parse_options(None)
    assert options == DeployOptions()
    assert options.compute == Serverless()
    assert (options.schedule, options.continuous) == (None, False)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"schedule": {"quartz_cron": "0 0 * * * ?"}, "continuous": True},
         "choose either a schedule or continuous mode, not both"),
        ({"schedule": {"quartz_cron": "*/5 * * * *"}}, "schedule.quartz_cron: '*/5 * * * *' is "
         "not a Quartz cron expression"),
        ({"schedule": {"quartz_cron": "0 0 * * * ?\nX"}}, "schedule.quartz_cron: "),
        ({"schedule": {"quartz_cron": "0 0 * * * ?", "timezone_id": "Mars/Base"}},
         "schedule.timezone_id: 'Mars/Base' is not a time zone name"),
        ({"compute": {"kind": "gpu"}}, "compute: Input tag 'gpu'"),
        ({"compute": {"kind": "existing_cluster", "cluster_id": "abc'; --"}},
         "compute.existing_cluster.cluster_id: \"abc'; --\" is not a cluster id"),
        ({"compute": {"kind": "job_cluster", "node_type_id": "m5d.large", "profile": "huge"}},
         "compute.job_cluster.profile: Input should be 'small' or 'medium'"),
        ({"compute": {"kind": "job_cluster"}}, "compute.job_cluster.node_type_id: Field required"),
        ({"workspace_dir": "/etc/passwd"}, "workspace_dir: '/etc/passwd' must be an absolute"),
        ({"workspace_dir": "/Users/a/../../Shared"}, "workspace_dir: "),
        ({"workspace_dir": "/Users/a'b"}, "workspace_dir: "),
        ({"name": "x\ny"}, "name: the name must not contain the control character '\\n'"),
        ({"name": "it's"}, "name: \"it's\" is not allowed"),
        ({"name": "a" * 101}, "name: "),
        ({"catalog": "main.cep"}, "catalog: 'main.cep' is not a plain Unity Catalog name"),
        ({"libraries": ["pkg; curl evil"]}, "libraries: 'pkg; curl evil' is not a pip"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"compute": {"kind": "existing_cluster", "cluster_id": "0123-456789-abcde123\n"}},
         "is not a cluster id"),
        ({"compute": {"kind": "job_cluster", "node_type_id": "m5d.large\n"}},
         "is not a node type id"),
        ({"catalog": "main\n"}, "is not a plain Unity Catalog name"),
    ],
    ids=["both-triggers", "unix-cron", "cron-newline", "zone", "compute-kind", "cluster-id",
         "profile", "node-type", "dir-outside", "dir-dotdot", "dir-quote", "name-newline",
         "name-quote", "name-long", "catalog", "library", "unknown", "cluster-id-newline",
         "node-type-newline", "catalog-newline"],
)
def test_bad_options_are_rejected_naming_the_option(data: dict[str, Any], message: str) -> None:
    with pytest.raises(DeployError, match=r"^invalid deploy options: ") as info:
        parse_options(data)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("target", "data", "message"),
    [
        ("sss", {"catalog": "main"}, "catalog applies to sdp pipelines"),
        ("sss", {"development": True}, "development applies to sdp pipelines"),
        ("sss", {"libraries": ["pyarrow"]}, "libraries need a cluster"),
        ("sdp", {"catalog": "main", "target_schema": "cep",
                 "schedule": {"quartz_cron": "0 0 * * * ?"}}, "schedule applies to sss jobs"),
        ("sdp", {"catalog": "main", "target_schema": "cep",
                 "compute": {"kind": "existing_cluster", "cluster_id": "0123-456789-abcde123"}},
         "a pipeline runs on its own compute"),
        ("sdp", {"target_schema": "cep"}, "catalog is required for an sdp pipeline"),
        ("sdp", {"catalog": "main"}, "target_schema is required for an sdp pipeline"),
    ],
    ids=["catalog-on-job", "development-on-job", "libraries-serverless", "schedule-pipeline",
         "cluster-pipeline", "no-catalog", "no-schema"],
)
def test_options_that_do_not_fit_the_target_are_rejected(
    target: str, data: dict[str, Any], message: str
) -> None:
    with pytest.raises(DeployError, match=f"invalid deploy options for target '{target}'") as info:
        plan_deploy(bundle(target), parse_options(data), principal="ana@example.com")
    assert message in str(info.value)


# --- plan -----------------------------------------------------------------------------------------


def test_plan_names_the_folder_after_the_deployer_and_the_pattern() -> None:
    plan = plan_deploy(bundle(), None, principal="ana@example.com")
    assert plan.workspace_dir == "/Users/ana@example.com/lakestream/card_testing"
    assert plan.notebook_path == "/Users/ana@example.com/lakestream/card_testing/p_sss"
    assert plan.resource_name == "lakestream-card_testing-sss"
    explicit = plan_deploy(bundle(), parse_options({"workspace_dir": "/Shared/cep/",
                                                    "name": "CEP card testing (prod)"}))
    assert explicit.workspace_dir == "/Shared/cep"
    assert explicit.resource_name == "CEP card testing (prod)"


def test_plan_without_a_known_deployer_asks_for_a_folder() -> None:
    with pytest.raises(DeployError, match="set the workspace_dir option or LAKESTREAM_DEPLOY_DIR"):
        plan_deploy(bundle(), None, principal=None)


def test_a_forged_principal_cannot_steer_the_folder() -> None:
    with pytest.raises(DeployError, match="cannot derive a deploy name or folder"):
        plan_deploy(bundle(), None, principal="../../Shared/x")
    with pytest.raises(DeployError, match="cannot derive a deploy name or folder"):
        plan_deploy(bundle(), None, principal="a'b@example.com")


def test_pattern_name_reaches_the_job_only_json_encoded() -> None:
    name = 'Say "hi"; \\ done'
    plan = plan_deploy(bundle(name=name), None, principal="ana@example.com")
    assert plan.settings["description"].startswith('LakeStream CEP pattern "Say \\"hi\\"; ')
    assert plan.tags["lakestream_pattern"] == pattern_slug(name)
    assert plan.resource_name == f"lakestream-{pattern_slug(name)}-sss"


def test_job_cluster_profiles_size_the_cluster() -> None:
    small = JobCluster(node_type_id="n2-highmem-4")
    medium = JobCluster(node_type_id="n2-highmem-4", profile="medium")
    assert (small.num_workers, medium.num_workers) == (1, 4)
    assert small.spark_version == cep.deploy.DEFAULT_SPARK_VERSION
