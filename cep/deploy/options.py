"""Deploy options: names, workspace folder, compute, schedule or continuous mode, pipeline target.

Validated by frozen pydantic models; :func:`parse_options` and :func:`make_bundle` turn a
validation failure into a :class:`~cep.deploy.errors.DeployError` that names the option. Every
value that reaches a Databricks API is checked against a narrow allowlist (no quotes, no
newlines), so names can never break out of a list filter or a path.

Compute choices:

    serverless        Jobs: the notebook task runs on serverless compute (no cluster spec).
                      Pipelines: ``serverless: true``.
    existing_cluster  Jobs only: an all-purpose cluster by id.
    job_cluster       a new cluster per run from a small profile (``small`` = 1 worker,
                      ``medium`` = 4 workers) of a node type you name (it is cloud-specific).
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cep.deploy.bundle import DeployBundle, DeployTarget
from cep.deploy.errors import DeployError

__all__ = [
    "CLUSTER_PROFILES",
    "DEFAULT_SPARK_VERSION",
    "Compute",
    "DeployOptions",
    "ExistingCluster",
    "JobCluster",
    "Schedule",
    "Serverless",
    "check_options_for",
    "check_resource_name",
    "check_workspace_dir",
    "make_bundle",
    "parse_options",
]

DEFAULT_SPARK_VERSION = "16.4.x-scala2.12"
"""Databricks Runtime 16.4 LTS: ``transformWithStateInPandas`` needs DBR 16.2 or later."""

CLUSTER_PROFILES: dict[str, int] = {"small": 1, "medium": 4}
"""Cluster profile → number of workers."""

_RESOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:@+=()-]{0,99}\Z")
_CLUSTER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{3,63}\Z")
_NODE_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")
_SPARK_VERSION = re.compile(r"^[0-9][0-9a-z._-]{0,63}\Z")
_POLICY_ID = re.compile(r"^[A-Za-z0-9]{1,64}\Z")
_UC_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,254}\Z")
_WORKSPACE_DIR = re.compile(r"^/(Users|Workspace|Shared|Repos)(/[A-Za-z0-9 _.@+=:,()-]+)+\Z")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?/,#\-LW]+\Z")
_LIBRARY = re.compile(r"^[A-Za-z0-9_.\-\[\],<>=!~ /@:+]{1,300}\Z")

_M = TypeVar("_M", bound=BaseModel)


def _plain_text(value: str, what: str) -> None:
    bad = next((c for c in value if unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"}), None)
    if bad is not None:
        raise ValueError(f"{what} must not contain the control character {bad!r}")


def check_resource_name(value: str) -> str:
    """``value`` if it is a safe Job/Pipeline name; ``ValueError`` saying what is allowed."""
    _plain_text(value, "the name")
    if not _RESOURCE_NAME.match(value):
        raise ValueError(
            f"{value!r} is not allowed: use 1-100 letters, digits, spaces and _ . : @ + = ( ) -, "
            "starting with a letter or digit (no quotes)"
        )
    return value


def check_workspace_dir(value: str) -> str:
    """``value`` without a trailing ``/`` if it is a safe absolute workspace folder, else
    ``ValueError``."""
    _plain_text(value, "the folder")
    value = value.rstrip("/")
    if not _WORKSPACE_DIR.match(value) or any(p in {".", ".."} for p in value.split("/")):
        raise ValueError(
            f"{value!r} must be an absolute workspace folder under /Users, /Workspace, /Shared or "
            "/Repos, made of letters, digits, spaces and _ . @ + = : , ( ) - (no '..', no quotes)"
        )
    return value


class Serverless(BaseModel):
    """Serverless compute (Jobs: no cluster spec; Pipelines: ``serverless: true``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["serverless"] = "serverless"


class ExistingCluster(BaseModel):
    """An existing all-purpose cluster (Jobs only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["existing_cluster"] = "existing_cluster"
    cluster_id: str

    @field_validator("cluster_id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _CLUSTER_ID.match(value):
            raise ValueError(f"{value!r} is not a cluster id (e.g. '0123-456789-abcde123')")
        return value


class JobCluster(BaseModel):
    """A new cluster for each run, sized by a profile.

    Attributes:
        profile: ``small`` (1 worker) or ``medium`` (4 workers).
        node_type_id: the cloud's node type, e.g. ``m5d.large`` (AWS), ``Standard_D4ds_v5``
            (Azure), ``n2-highmem-4`` (GCP).
        spark_version: Databricks Runtime key (Jobs only; pipelines pick their own runtime).
        policy_id: an optional cluster policy to apply.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["job_cluster"] = "job_cluster"
    profile: Literal["small", "medium"] = "small"
    node_type_id: str
    spark_version: str = DEFAULT_SPARK_VERSION
    policy_id: str | None = None

    @field_validator("node_type_id")
    @classmethod
    def _check_node(cls, value: str) -> str:
        if not _NODE_TYPE.match(value):
            raise ValueError(f"{value!r} is not a node type id (e.g. 'm5d.large')")
        return value

    @field_validator("spark_version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        if not _SPARK_VERSION.match(value):
            raise ValueError(f"{value!r} is not a runtime key (e.g. '{DEFAULT_SPARK_VERSION}')")
        return value

    @field_validator("policy_id")
    @classmethod
    def _check_policy(cls, value: str | None) -> str | None:
        if value is not None and not _POLICY_ID.match(value):
            raise ValueError(f"{value!r} is not a cluster policy id (letters and digits)")
        return value

    @property
    def num_workers(self) -> int:
        """Workers of the profile."""
        return CLUSTER_PROFILES[self.profile]


Compute = Annotated[Serverless | ExistingCluster | JobCluster, Field(discriminator="kind")]


class Schedule(BaseModel):
    """A Quartz cron schedule for a Job.

    Attributes:
        quartz_cron: six or seven fields, seconds first (``0 0/15 * * * ?`` = every 15 minutes).
        timezone_id: an IANA time zone (``UTC``, ``Europe/Paris``).
        paused: create the schedule paused.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    quartz_cron: str
    timezone_id: str = "UTC"
    paused: bool = False

    @field_validator("quartz_cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        _plain_text(value, "the cron expression")
        fields = value.split()
        if len(fields) not in (6, 7) or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError(
                f"{value!r} is not a Quartz cron expression: six or seven space-separated fields, "
                "seconds first, e.g. '0 0/15 * * * ?' (every 15 minutes)"
            )
        return " ".join(fields)

    @field_validator("timezone_id")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        if value not in zoneinfo.available_timezones():
            raise ValueError(f"{value!r} is not a time zone name (e.g. 'UTC', 'Europe/Paris')")
        return value


class DeployOptions(BaseModel):
    """How to deploy: names, folder, compute, triggering, and the pipeline's target.

    Attributes:
        name: the Job or Pipeline name; default ``lakestream-<pattern slug>-<target>``.
        workspace_dir: folder for the code; default ``/Users/<deployer>/lakestream/<slug>``.
        compute: serverless (default), an existing cluster (Jobs), or a job cluster profile.
        schedule: run a Job on a Quartz cron schedule (Jobs only).
        continuous: keep the Job running (restarted on failure) or run the Pipeline
            continuously; otherwise the Job runs when triggered and the Pipeline is triggered.
        catalog: Unity Catalog catalog of the Pipeline's tables (required for ``sdp``).
        target_schema: schema of the Pipeline's tables (required for ``sdp``).
        development: Pipeline development mode (no retries, cluster kept warm).
        libraries: pip requirements or ``.whl`` paths (``/Volumes/...``, ``/Workspace/...``)
            installed on the job cluster or existing cluster.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    workspace_dir: str | None = None
    compute: Compute = Field(default_factory=Serverless)
    schedule: Schedule | None = None
    continuous: bool = False
    catalog: str | None = None
    target_schema: str | None = None
    development: bool = False
    libraries: tuple[str, ...] = ()

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        return None if value is None else check_resource_name(value)

    @field_validator("workspace_dir")
    @classmethod
    def _check_dir(cls, value: str | None) -> str | None:
        return None if value is None else check_workspace_dir(value)

    @field_validator("catalog", "target_schema")
    @classmethod
    def _check_uc_name(cls, value: str | None) -> str | None:
        if value is not None and not _UC_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a plain Unity Catalog name (letters, digits, '_', '-')"
            )
        return value

    @field_validator("libraries")
    @classmethod
    def _check_libraries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for lib in value:
            _plain_text(lib, "a library")
            if not _LIBRARY.match(lib):
                raise ValueError(
                    f"{lib!r} is not a pip requirement ('pkg==1.2') or a .whl path"
                )
        return value

    @model_validator(mode="after")
    def _one_trigger(self) -> Self:
        if self.schedule is not None and self.continuous:
            raise ValueError(
                "choose either a schedule or continuous mode, not both (continuous runs all the "
                "time; a schedule starts runs at the cron times)"
            )
        return self


def _validation_message(exc: ValidationError, what: str) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return f"invalid {what}: " + "; ".join(problems)


def _build(model: type[_M], data: Mapping[str, Any], what: str) -> _M:
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise DeployError(_validation_message(exc, what)) from None


def parse_options(data: Mapping[str, Any] | DeployOptions | None = None) -> DeployOptions:
    """Validate deploy options given as a mapping (the UI's form values or JSON).

    Raises:
        DeployError: naming each invalid option and why.

    >>> parse_options({"schedule": {"quartz_cron": "0 0 * * * ?"}}).schedule.timezone_id
    'UTC'
    """
    if isinstance(data, DeployOptions):
        return data
    return _build(DeployOptions, data or {}, "deploy options")


def make_bundle(
    *, pattern_name: str, target: str, code: str, file_name: str, code_sha256: str = ""
) -> DeployBundle:
    """A :class:`DeployBundle`, with validation errors raised as :class:`DeployError`."""
    data = {"pattern_name": pattern_name, "target": target, "code": code,
            "file_name": file_name, "code_sha256": code_sha256}
    return _build(DeployBundle, data, "deploy bundle")


def check_options_for(options: DeployOptions, target: DeployTarget) -> None:
    """Check that ``options`` make sense for ``target``.

    Raises:
        DeployError: an option that does not apply to the target, or a missing one.
    """
    problems: list[str] = []
    if target == "sss":
        for field in ("catalog", "target_schema"):
            if getattr(options, field) is not None:
                problems.append(f"{field} applies to sdp pipelines; leave it out for an sss job")
        if options.development:
            problems.append("development applies to sdp pipelines; leave it out for an sss job")
        if options.libraries and isinstance(options.compute, Serverless):
            problems.append(
                "libraries need a cluster: on serverless compute a notebook installs its own "
                "dependencies (%pip install); choose job_cluster or existing_cluster"
            )
    else:
        if options.schedule is not None:
            problems.append(
                "schedule applies to sss jobs; a pipeline is continuous or triggered (start a "
                "triggered pipeline from a scheduled job if needed)"
            )
        if isinstance(options.compute, ExistingCluster):
            problems.append(
                "a pipeline runs on its own compute: choose serverless or job_cluster, not "
                "existing_cluster"
            )
        if options.libraries:
            problems.append("libraries apply to sss jobs; a pipeline's code brings its own")
        for field in ("catalog", "target_schema"):
            if getattr(options, field) is None:
                problems.append(f"{field} is required for an sdp pipeline (where its tables go)")
    if problems:
        raise DeployError(f"invalid deploy options for target {target!r}: " + "; ".join(problems))
