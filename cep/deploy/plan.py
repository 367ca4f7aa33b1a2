"""The deploy plan: every Databricks REST call a deployment makes, as data (method, path, body).

A plan is computed without any network access. A dry run returns :attr:`DeployPlan.calls`;
a real run makes the same calls through databricks-sdk (see :mod:`cep.deploy.runner`), and a
test checks that the requests the server sees are exactly the plan's.

An ``sss`` deployment::

    POST /api/2.0/workspace/mkdirs    {"path": <folder>}
    POST /api/2.0/workspace/import    {"path": <notebook>, "format": "SOURCE", "language": "PYTHON",
                                       "content": <base64 code>, "overwrite": true}
    GET  /api/2.2/jobs/list?name=<job name>
    POST /api/2.2/jobs/create         <job settings>                   if no LakeStream job has it
    POST /api/2.2/jobs/reset          {"job_id": .., "new_settings": ..}  if one does

An ``sdp`` deployment lists pipelines with ``filter=name LIKE '<name>'``, reads each one with
exactly that name (``GET /api/2.0/pipelines/{id}``) to check its LakeStream tags, then creates
(``POST /api/2.0/pipelines``) or updates (``PUT /api/2.0/pipelines/{id}``) it.

Idempotence: a deployment finds its Job or Pipeline by name and by its tags
(``managed_by=lakestream``, ``lakestream_pattern=<slug>``); a Job or Pipeline of the same name
without those tags is never overwritten. No call changes permissions: the deployer becomes the
owner (``IS_OWNER``, which includes managing it) as the creator of any Job does; nobody else gets
access.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from cep.deploy.bundle import DeployBundle, DeployTarget
from cep.deploy.errors import DeployError
from cep.deploy.options import (
    DeployOptions,
    ExistingCluster,
    JobCluster,
    Serverless,
    check_options_for,
    check_resource_name,
    check_workspace_dir,
)

__all__ = [
    "JOB_ID_PLACEHOLDER",
    "MANAGED_BY",
    "PIPELINE_ID_PLACEHOLDER",
    "ApiCall",
    "DeployPlan",
    "When",
    "plan_deploy",
]

MANAGED_BY = "lakestream"
"""Value of the ``managed_by`` tag on every Job and Pipeline this module creates."""

JOB_ID_PLACEHOLDER = "{job_id}"
"""Stands, in a dry run's ``jobs/reset`` body, for the id the lookup finds."""

PIPELINE_ID_PLACEHOLDER = "{pipeline_id}"
"""Stands, in a dry run's pipeline paths and bodies, for the id the lookup finds."""

When = Literal["always", "for_each_candidate", "if_missing", "if_found"]
"""When a planned call is made: always; once per pipeline found with exactly the name; only
when no LakeStream Job/Pipeline of that name exists; only when one does."""

# Spark on Databricks: transformWithStateInPandas needs the RocksDB state store.
_ROCKSDB = {
    "spark.sql.streaming.stateStore.providerClass":
        "com.databricks.sql.streaming.state.RocksDBStateStoreProvider",
}
_TASK_KEY = "cep"
_CLUSTER_KEY = "cep_cluster"


class ApiCall(BaseModel):
    """One REST call: what a dry run shows and what a real run sends.

    Attributes:
        method: HTTP method.
        path: the path after the workspace host.
        query: query parameters (strings, as sent).
        body: the JSON body, or ``None``.
        when: when the call is made (see :data:`When`).
        purpose: what the call is for, in a few words.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["GET", "POST", "PUT"]
    path: str
    query: dict[str, str] = {}
    body: dict[str, Any] | None = None
    when: When = "always"
    purpose: str = ""


class DeployPlan(BaseModel):
    """Everything a deployment will do, computed without calling anything.

    Attributes:
        bundle: what is deployed.
        options: how (validated for the target).
        resource: ``job`` (sss) or ``pipeline`` (sdp).
        resource_name: the Job or Pipeline name.
        workspace_dir: the folder holding the code.
        notebook_path: the uploaded notebook.
        tags: tags that mark the Job or Pipeline as this pattern's.
        settings: the create body (Job settings or Pipeline spec).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    bundle: DeployBundle
    options: DeployOptions
    resource: Literal["job", "pipeline"]
    resource_name: str
    workspace_dir: str
    notebook_path: str
    tags: dict[str, str]
    settings: dict[str, Any]

    @property
    def target(self) -> DeployTarget:
        """The bundle's target."""
        return self.bundle.target

    def mkdirs_call(self) -> ApiCall:
        return ApiCall(method="POST", path="/api/2.0/workspace/mkdirs",
                       body={"path": self.workspace_dir}, purpose="create the code folder")

    def import_call(self) -> ApiCall:
        content = base64.b64encode(self.bundle.code.encode()).decode()
        return ApiCall(
            method="POST", path="/api/2.0/workspace/import",
            body={"path": self.notebook_path, "format": "SOURCE", "language": "PYTHON",
                  "content": content, "overwrite": True},
            purpose="upload the generated code as a Python notebook",
        )

    def lookup_call(self) -> ApiCall:
        if self.resource == "job":
            return ApiCall(method="GET", path="/api/2.2/jobs/list",
                           query={"name": self.resource_name},
                           purpose="find the pattern's job by name")
        quoted = self.resource_name.replace("'", "''")
        return ApiCall(method="GET", path="/api/2.0/pipelines",
                       query={"filter": f"name LIKE '{quoted}'"},
                       purpose="find the pattern's pipeline by name")

    def get_call(self, pipeline_id: str | None = None) -> ApiCall:
        return ApiCall(
            method="GET", path=f"/api/2.0/pipelines/{pipeline_id or PIPELINE_ID_PLACEHOLDER}",
            when="for_each_candidate" if pipeline_id is None else "always",
            purpose="read a pipeline with that exact name to check its tags",
        )

    def create_call(self, *, planned: bool = True) -> ApiCall:
        path = "/api/2.2/jobs/create" if self.resource == "job" else "/api/2.0/pipelines"
        return ApiCall(method="POST", path=path, body=self.settings,
                       when="if_missing" if planned else "always",
                       purpose=f"create the {self.resource}")

    def update_call(self, resource_id: str | None = None) -> ApiCall:
        when: When = "if_found" if resource_id is None else "always"
        if self.resource == "job":
            job_id: int | str = JOB_ID_PLACEHOLDER if resource_id is None else int(resource_id)
            return ApiCall(method="POST", path="/api/2.2/jobs/reset",
                           body={"job_id": job_id, "new_settings": self.settings},
                           when=when, purpose="replace the job's settings")
        pipeline_id = resource_id or PIPELINE_ID_PLACEHOLDER
        return ApiCall(method="PUT", path=f"/api/2.0/pipelines/{pipeline_id}",
                       body={**self.settings, "id": pipeline_id},
                       when=when, purpose="replace the pipeline's settings")

    @property
    def calls(self) -> tuple[ApiCall, ...]:
        """Every call a deployment can make, in order; ``when`` says which are conditional."""
        lookup = [self.lookup_call()]
        if self.resource == "pipeline":
            lookup.append(self.get_call())
        return (self.mkdirs_call(), self.import_call(), *lookup, self.create_call(),
                self.update_call())


def _libraries(libraries: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"whl": lib} if lib.endswith(".whl") else {"pypi": {"package": lib}}
            for lib in libraries]


def _job_settings(bundle: DeployBundle, options: DeployOptions, name: str, notebook: str,
                  tags: dict[str, str]) -> dict[str, Any]:
    task: dict[str, Any] = {
        "task_key": _TASK_KEY,
        "notebook_task": {"notebook_path": notebook, "source": "WORKSPACE"},
    }
    settings: dict[str, Any] = {
        "name": name,
        "description": f"LakeStream CEP pattern {json.dumps(bundle.pattern_name)} "
                       f"({bundle.target}), code sha256 {bundle.code_sha256[:12]}",
        "tags": tags,
        "max_concurrent_runs": 1,
    }
    compute = options.compute
    if isinstance(compute, ExistingCluster):
        task["existing_cluster_id"] = compute.cluster_id
    elif isinstance(compute, JobCluster):
        task["job_cluster_key"] = _CLUSTER_KEY
        cluster: dict[str, Any] = {
            "spark_version": compute.spark_version,
            "node_type_id": compute.node_type_id,
            "num_workers": compute.num_workers,
            "spark_conf": dict(_ROCKSDB),
        }
        if compute.policy_id is not None:
            cluster["policy_id"] = compute.policy_id
        settings["job_clusters"] = [{"job_cluster_key": _CLUSTER_KEY, "new_cluster": cluster}]
    if options.libraries:
        task["libraries"] = _libraries(options.libraries)
    settings["tasks"] = [task]
    if options.schedule is not None:
        settings["schedule"] = {
            "quartz_cron_expression": options.schedule.quartz_cron,
            "timezone_id": options.schedule.timezone_id,
            "pause_status": "PAUSED" if options.schedule.paused else "UNPAUSED",
        }
    if options.continuous:
        settings["continuous"] = {"pause_status": "UNPAUSED"}
    return settings


def _pipeline_spec(options: DeployOptions, name: str, notebook: str,
                   tags: dict[str, str]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "catalog": options.catalog,
        "schema": options.target_schema,
        "continuous": options.continuous,
        "development": options.development,
        "channel": "CURRENT",
        "libraries": [{"notebook": {"path": notebook}}],
        "tags": tags,
    }
    compute = options.compute
    if isinstance(compute, Serverless):
        spec["serverless"] = True
    elif isinstance(compute, JobCluster):
        cluster: dict[str, Any] = {"label": "default", "node_type_id": compute.node_type_id,
                                   "num_workers": compute.num_workers}
        if compute.policy_id is not None:
            cluster["policy_id"] = compute.policy_id
        spec["clusters"] = [cluster]
        spec["edition"] = "ADVANCED"  # expectations need the Advanced edition on classic compute
    return spec


def plan_deploy(
    bundle: DeployBundle, options: DeployOptions | None = None, *, principal: str | None = None
) -> DeployPlan:
    """Plan a deployment: names, folder, bodies, and the calls, without calling anything.

    Args:
        bundle: the generated code to deploy.
        options: deploy options (defaults: serverless, triggered, default names).
        principal: the deployer (user e-mail or service principal application id); names the
            default folder ``/Users/<principal>/lakestream/<slug>``.

    Raises:
        DeployError: options that do not fit the target, or no folder can be chosen.
    """
    options = options or DeployOptions()
    check_options_for(options, bundle.target)
    slug = bundle.slug
    try:
        name = options.name or check_resource_name(f"lakestream-{slug}-{bundle.target}")
        if options.workspace_dir is not None:
            folder = options.workspace_dir
        elif principal:
            folder = check_workspace_dir(f"/Users/{principal}/lakestream/{slug}")
        else:
            raise DeployError(
                "no workspace folder for the code: the deploying identity is unknown; set the "
                "workspace_dir option or LAKESTREAM_DEPLOY_DIR"
            )
    except ValueError as exc:
        raise DeployError(f"cannot derive a deploy name or folder: {exc}") from None
    notebook = f"{folder}/{bundle.notebook_name}"
    tags = {"managed_by": MANAGED_BY, "lakestream_pattern": slug,
            "lakestream_target": bundle.target, "lakestream_code_sha256": bundle.code_sha256[:16]}
    if bundle.target == "sss":
        resource: Literal["job", "pipeline"] = "job"
        settings = _job_settings(bundle, options, name, notebook, tags)
    else:
        resource = "pipeline"
        settings = _pipeline_spec(options, name, notebook, tags)
    try:
        return DeployPlan(bundle=bundle, options=options, resource=resource,
                          resource_name=name, workspace_dir=folder, notebook_path=notebook,
                          tags=tags, settings=settings)
    except ValidationError as exc:  # not expected: every input was validated above
        raise DeployError(f"could not plan the deployment: {exc}") from None
