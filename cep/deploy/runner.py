"""Deploying: run a plan's calls through databricks-sdk, or return them untouched for a dry run.

A real run uploads the code, then creates the Job/Pipeline or updates the one this pattern
deployed before (found by name and LakeStream tags), and returns its id and URL. Every SDK or
HTTP failure becomes a :class:`~cep.deploy.errors.DeployError` naming the call
(``POST /api/2.2/jobs/create``) and the HTTP status, with tokens scrubbed from the message.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from cep.deploy.bundle import DeployBundle
from cep.deploy.errors import DeployError
from cep.deploy.identity import DeployIdentity
from cep.deploy.options import DeployOptions, parse_options
from cep.deploy.plan import MANAGED_BY, ApiCall, DeployPlan, plan_deploy
from cep.deploy.record import DeployAction, DeployRecord, DeployResult
from cep.deploy.secrets import describe_exception

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

__all__ = ["deploy_bundle"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
_PIPELINE_ID = re.compile(r"^[A-Za-z0-9-]{1,64}\Z")

_HINTS = {
    400: "the request was rejected; check the deploy options",
    401: "the credentials were rejected (expired or revoked?): sign in again, or check the "
         "app's service principal",
    403: "the deploying identity lacks a permission it needs (create jobs/pipelines, write the "
         "workspace folder, use the cluster or the catalog); ask a workspace admin",
    404: "something it refers to does not exist (folder, cluster, job or pipeline)",
    409: "a conflicting change happened at the same time; try again",
    429: "Databricks is rate limiting requests; try again in a minute",
}


def _status_of(exc: BaseException) -> int | None:
    from databricks.sdk.errors.platform import STATUS_CODE_MAPPING

    for status, cls in STATUS_CODE_MAPPING.items():
        if type(exc) is cls:
            return status
    for status, cls in STATUS_CODE_MAPPING.items():
        if isinstance(exc, cls):
            return status
    return None


class _Calls:
    """Makes SDK calls one at a time, recording each and wrapping its failures."""

    def __init__(self, client: WorkspaceClient, identity: DeployIdentity) -> None:
        self.client = client
        self.made: list[ApiCall] = []
        self._secrets = list(identity.known_secrets)
        for attr in ("token", "client_secret", "password"):
            value = getattr(client.config, attr, None)
            if isinstance(value, str) and value:
                self._secrets.append(value)

    def _current_secrets(self) -> list[str]:
        secrets = list(self._secrets)
        try:  # the service principal's OAuth token changes; take the one in use now
            header = str(self.client.config.authenticate().get("Authorization", ""))
            secrets.append(header.partition(" ")[2])
        except Exception:  # scrubbing must never fail the error path
            pass
        return secrets

    def run(self, call: ApiCall, action: Callable[[], _T]) -> _T:
        self.made.append(call)
        label = f"{call.method} {call.path}"
        try:
            return action()
        except Exception as exc:
            from databricks.sdk.errors.base import DatabricksError

            secrets = self._current_secrets()
            detail = describe_exception(exc, secrets)
            if isinstance(exc, DatabricksError):
                status = _status_of(exc)
                code = exc.error_code or "ERROR"
                hint = _HINTS.get(status or 0, "Databricks failed; try again later"
                                  if (status or 0) >= 500 else "see the message")
                raise DeployError(
                    f"{label} ({call.purpose}) failed with HTTP {status or '?'} {code}: {detail}; "
                    f"{hint}",
                    call=label, status=status,
                ) from None
            raise DeployError(
                f"{label} ({call.purpose}) failed: {type(exc).__name__}: {detail}; check that "
                "the workspace is reachable",
                call=label,
            ) from None


def _tags_say_ours(tags: dict[str, str] | None, plan: DeployPlan) -> bool:
    tags = tags or {}
    return (tags.get("managed_by") == MANAGED_BY
            and tags.get("lakestream_pattern") == plan.tags["lakestream_pattern"])


def _choose(plan: DeployPlan, ours: list[str], others: list[str]) -> str | None:
    kind = plan.resource
    if len(ours) > 1:
        raise DeployError(
            f"several LakeStream {kind}s are named {plan.resource_name!r} (ids {', '.join(ours)}); "
            f"delete all but one, then deploy again"
        )
    if ours:
        return ours[0]
    if others:
        raise DeployError(
            f"a {kind} named {plan.resource_name!r} already exists (id {', '.join(others)}) but "
            f"was not deployed by LakeStream for this pattern; it is left alone: choose another "
            f"name (the name option) or remove that {kind}"
        )
    return None


def _deploy_job(calls: _Calls, plan: DeployPlan) -> tuple[str, DeployAction]:
    from databricks.sdk.service.jobs import JobSettings

    client = calls.client
    found = calls.run(plan.lookup_call(),
                      lambda: list(client.jobs.list(name=plan.resource_name)))
    ours: list[str] = []
    others: list[str] = []
    for job in found:
        settings = job.settings
        if settings is None or (settings.name or "").lower() != plan.resource_name.lower():
            continue
        (ours if _tags_say_ours(settings.tags, plan) else others).append(str(job.job_id))
    existing = _choose(plan, ours, others)
    settings = JobSettings.from_dict(plan.settings)
    if existing is None:
        kwargs: dict[str, Any] = {k: getattr(settings, k) for k in plan.settings}
        created = calls.run(plan.create_call(planned=False), lambda: client.jobs.create(**kwargs))
        if created.job_id is None:
            raise DeployError("POST /api/2.2/jobs/create answered without a job_id",
                              call="POST /api/2.2/jobs/create")
        return str(int(created.job_id)), "created"
    calls.run(plan.update_call(existing), lambda: client.jobs.reset(int(existing), settings))
    return existing, "updated"


def _pipeline_id(value: str | None, call: str) -> str:
    if value is None or not _PIPELINE_ID.match(value):
        raise DeployError(f"{call} answered with an unexpected pipeline id {value!r}", call=call)
    return value


def _deploy_pipeline(calls: _Calls, plan: DeployPlan) -> tuple[str, DeployAction]:
    from databricks.sdk.service.pipelines import PipelineSpec

    client = calls.client
    lookup = plan.lookup_call()
    statuses = calls.run(
        lookup, lambda: list(client.pipelines.list_pipelines(filter=lookup.query["filter"])))
    ours: list[str] = []
    others: list[str] = []
    for status in statuses:
        if status.name != plan.resource_name:
            continue
        pid = _pipeline_id(status.pipeline_id, "GET /api/2.0/pipelines")
        got = calls.run(plan.get_call(pid), functools.partial(client.pipelines.get, pid))
        tags = got.spec.tags if got.spec is not None else None
        (ours if _tags_say_ours(tags, plan) else others).append(pid)
    existing = _choose(plan, ours, others)
    spec = PipelineSpec.from_dict(plan.settings)
    kwargs: dict[str, Any] = {k: getattr(spec, k) for k in plan.settings}
    if existing is None:
        created = calls.run(plan.create_call(planned=False),
                            lambda: client.pipelines.create(**kwargs))
        return _pipeline_id(created.pipeline_id, "POST /api/2.0/pipelines"), "created"
    calls.run(plan.update_call(existing),
              lambda: client.pipelines.update(existing, **kwargs, id=existing))
    return existing, "updated"


def deploy_bundle(
    bundle: DeployBundle,
    options: DeployOptions | None,
    identity: DeployIdentity,
    *,
    dry_run: bool = True,
    deploy_root: str | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DeployResult:
    """Deploy a pattern's generated code as a Job (``sss``) or a Pipeline (``sdp``).

    Args:
        bundle: the generated code.
        options: deploy options (``None``: serverless, triggered, default names).
        identity: who deploys (:func:`~cep.deploy.identity.client_for_request`).
        dry_run: return the planned calls without calling anything (the default).
        deploy_root: parent folder of the per-pattern code folders (``LAKESTREAM_DEPLOY_DIR``),
            used when ``options.workspace_dir`` is not set.
        clock: the current UTC time.

    Returns:
        The record and the calls: planned ones for a dry run (no network access at all), the
        ones made for a real run.

    Raises:
        DeployError: invalid options, or a failed API call (naming it and its HTTP status).
    """
    options = options or DeployOptions()
    if options.workspace_dir is None and deploy_root is not None:
        folder = f"{deploy_root.rstrip('/')}/{bundle.slug}"
        options = parse_options({**options.model_dump(), "workspace_dir": folder})
    plan = plan_deploy(bundle, options, principal=identity.principal)
    record = {
        "actor": identity.actor, "acting_as": identity.acting_as,
        "pattern_name": bundle.pattern_name, "target": bundle.target,
        "code_sha256": bundle.code_sha256, "file_name": bundle.file_name,
        "workspace_path": plan.notebook_path, "resource": plan.resource,
        "resource_name": plan.resource_name,
    }
    if dry_run:
        return DeployResult(
            record=DeployRecord(**record, resource_id=None, url=None, action="planned",
                                dry_run=True, deployed_at=clock()),
            calls=plan.calls,
        )
    from databricks.sdk.service.workspace import ImportFormat, Language

    client = identity.client()
    calls = _Calls(client, identity)
    calls.run(plan.mkdirs_call(), lambda: client.workspace.mkdirs(plan.workspace_dir))
    upload = plan.import_call()
    content = str((upload.body or {})["content"])
    calls.run(upload, lambda: client.workspace.import_(
        plan.notebook_path, content=content, format=ImportFormat.SOURCE,
        language=Language.PYTHON, overwrite=True))
    deploy = _deploy_job if plan.resource == "job" else _deploy_pipeline
    resource_id, action = deploy(calls, plan)
    host = str(client.config.host or "").rstrip("/")
    url = f"{host}/{plan.resource}s/{resource_id}"
    _log.info("deployed pattern %r (%s) as %s %s %s by %s", bundle.pattern_name, bundle.target,
              plan.resource, resource_id, action, identity.actor)
    return DeployResult(
        record=DeployRecord(**record, resource_id=resource_id, url=url, action=action,
                            dry_run=False, deployed_at=clock()),
        calls=tuple(calls.made),
    )
