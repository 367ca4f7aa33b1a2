"""Deploy records: who deployed which pattern's code where, and appending them to the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from cep.deploy.bundle import DeployTarget
from cep.deploy.identity import ActingAs
from cep.deploy.plan import ApiCall

if TYPE_CHECKING:
    from cep.history import AuditEvent, HistoryStore

__all__ = ["DeployAction", "DeployRecord", "DeployResult", "record_deploy"]

DeployAction = Literal["planned", "created", "updated"]
"""``planned`` (dry run), or what a real run did to the Job or Pipeline."""


class DeployRecord(BaseModel):
    """The metadata of one deployment (or dry run); never holds a token or the code itself.

    Attributes:
        actor: who deployed (user e-mail or service principal id).
        acting_as: ``user`` or ``service_principal``.
        pattern_name: the pattern, as named by the user.
        target: ``sss`` or ``sdp``.
        code_sha256: hash of the deployed code.
        file_name: the generated file's name.
        workspace_path: the uploaded notebook.
        resource: ``job`` or ``pipeline``.
        resource_name: its name.
        resource_id: the Job id or Pipeline id (``None`` for a dry run).
        url: ``{host}/jobs/{id}`` or ``{host}/pipelines/{id}`` (``None`` for a dry run).
        action: ``planned``, ``created`` or ``updated``.
        dry_run: whether nothing was called.
        deployed_at: when (UTC).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: str
    acting_as: ActingAs
    pattern_name: str
    target: DeployTarget
    code_sha256: str
    file_name: str
    workspace_path: str
    resource: Literal["job", "pipeline"]
    resource_name: str
    resource_id: str | None
    url: str | None
    action: DeployAction
    dry_run: bool
    deployed_at: datetime

    def to_json_dict(self) -> dict[str, Any]:
        """The record as JSON-ready values (times in ISO-8601)."""
        return self.model_dump(mode="json")


class DeployResult(BaseModel):
    """A deployment's record and its API calls (planned for a dry run, made for a real one).

    Attributes:
        record: the metadata to store.
        calls: for a dry run every call that can be made (``when`` says which are conditional);
            for a real run exactly the calls that were made, in order.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    record: DeployRecord
    calls: tuple[ApiCall, ...]

    def to_json_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values."""
        return self.model_dump(mode="json")


def record_deploy(store: HistoryStore, record: DeployRecord) -> AuditEvent:
    """Append ``record`` to the app database's audit log.

    The action is ``deploy.job`` or ``deploy.pipeline`` (``deploy.job.dry_run`` ... for dry
    runs); the subject is the pattern name; the details are :meth:`DeployRecord.to_json_dict`.

    Raises:
        StoreError: the database could not be written.
    """
    action = f"deploy.{record.resource}" + (".dry_run" if record.dry_run else "")
    return store.append_audit(actor=record.actor, action=action, subject=record.pattern_name,
                              details=record.to_json_dict())
