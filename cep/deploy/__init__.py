"""Deploying a pattern's generated Spark code to Databricks as a Job (sss) or a Pipeline (sdp).

Typical use (settings read once at the edge; dry run by default)::

    settings = DeploySettings.from_env(os.environ)
    identity = client_for_request(st.context.headers, settings)
    bundle = make_bundle(pattern_name=p.name, target="sss", code=code, file_name="p_sss.py")
    options = parse_options({"compute": {"kind": "serverless"}, "continuous": True})
    result = deploy_bundle(bundle, options, identity, dry_run=True,
                           deploy_root=settings.deploy_dir)
    result.calls             # every REST call, with method, path, query and JSON body
    result = deploy_bundle(bundle, options, identity, dry_run=False, ...)
    result.record.url        # {host}/jobs/{id} or {host}/pipelines/{id}
    record_deploy(store, result.record)   # the app database's audit log

Public API:

- what and how: :class:`DeployBundle` (:func:`make_bundle`), :class:`DeployOptions`
  (:func:`parse_options`) with :class:`Serverless`, :class:`ExistingCluster`,
  :class:`JobCluster` and :class:`Schedule`;
- who: :class:`DeploySettings`, :func:`client_for_request` → :class:`DeployIdentity`;
- doing it: :func:`plan_deploy` → :class:`DeployPlan` (pure), :func:`deploy_bundle` →
  :class:`DeployResult` (``record`` and ``calls``: :class:`ApiCall`);
- keeping it: :class:`DeployRecord` (``to_json_dict``), :func:`record_deploy`;
- failures: :class:`DeployError` (a :class:`~cep.errors.CepError`).

Security: the deployer acts either as the signed-in user (their token, their permissions) or
as the app's service principal; no call changes permissions (the creator owns what it
creates); tokens never appear in messages, logs, records or the returned calls; names and
paths are validated against narrow allowlists before they reach an API.
"""

from __future__ import annotations

from cep.deploy.bundle import MAX_CODE_BYTES, DeployBundle, DeployTarget, pattern_slug
from cep.deploy.errors import DeployError
from cep.deploy.identity import (
    ACCESS_TOKEN_HEADER,
    DeployIdentity,
    DeploySettings,
    client_for_request,
)
from cep.deploy.options import (
    CLUSTER_PROFILES,
    DEFAULT_SPARK_VERSION,
    DeployOptions,
    ExistingCluster,
    JobCluster,
    Schedule,
    Serverless,
    make_bundle,
    parse_options,
)
from cep.deploy.plan import ApiCall, DeployPlan, plan_deploy
from cep.deploy.record import DeployRecord, DeployResult, record_deploy
from cep.deploy.runner import deploy_bundle

__all__ = [
    "ACCESS_TOKEN_HEADER",
    "CLUSTER_PROFILES",
    "DEFAULT_SPARK_VERSION",
    "MAX_CODE_BYTES",
    "ApiCall",
    "DeployBundle",
    "DeployError",
    "DeployIdentity",
    "DeployOptions",
    "DeployPlan",
    "DeployRecord",
    "DeployResult",
    "DeploySettings",
    "DeployTarget",
    "ExistingCluster",
    "JobCluster",
    "Schedule",
    "Serverless",
    "client_for_request",
    "deploy_bundle",
    "make_bundle",
    "parse_options",
    "pattern_slug",
    "plan_deploy",
    "record_deploy",
]
