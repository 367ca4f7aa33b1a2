"""Who deploys: the signed-in user (Apps user authorization) or the app's service principal.

Inside a Databricks App with user authorization, each request carries the user's OAuth token in
``X-Forwarded-Access-Token`` (and the user's e-mail in ``X-Forwarded-Email``); deployments then
act as that user, with that user's permissions. Without it (or with
``LAKESTREAM_DEPLOY_AS_USER=0``), they act as the app's service principal through the SDK's
default authentication (``DATABRICKS_CLIENT_ID`` / ``DATABRICKS_CLIENT_SECRET`` in an App, or a
profile / environment locally).

The workspace client is created lazily, on the first real API call: a dry run never touches
the network. Tokens live only inside the client's configuration; ``repr`` of an identity or
of its settings never shows them.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cep.deploy.errors import DeployError
from cep.deploy.secrets import describe_exception

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

__all__ = [
    "ACCESS_TOKEN_HEADER",
    "ActingAs",
    "DeployIdentity",
    "DeploySettings",
    "client_for_request",
]

ACCESS_TOKEN_HEADER = "X-Forwarded-Access-Token"
"""The header in which Databricks Apps forwards the signed-in user's token."""

_EMAIL_HEADERS = ("X-Forwarded-Email", "X-Forwarded-Preferred-Username")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

ActingAs = Literal["user", "service_principal"]


class DeploySettings(BaseModel):
    """Deployment settings, read once at the edge with :meth:`from_env`.

    Attributes:
        host: the workspace URL (``DATABRICKS_HOST``); ``None`` lets the SDK find it.
        app_client_id: the app's service principal (``DATABRICKS_CLIENT_ID``), its identity
            when no user token is used.
        act_as_user: use the forwarded user token when present (``LAKESTREAM_DEPLOY_AS_USER``,
            default on).
        deploy_dir: folder for generated code (``LAKESTREAM_DEPLOY_DIR``); ``None``: the
            deployer's ``/Users/<name>/lakestream/<pattern>``.
        http_timeout_s: per-request timeout (``LAKESTREAM_DEPLOY_TIMEOUT_S``).
        retry_timeout_s: how long the SDK keeps retrying 429/503 answers
            (``LAKESTREAM_DEPLOY_RETRY_S``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str | None = None
    app_client_id: str | None = None
    act_as_user: bool = True
    deploy_dir: str | None = None
    http_timeout_s: float = Field(30.0, gt=0, le=600)
    retry_timeout_s: float = Field(60.0, gt=0, le=1800)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> DeploySettings:
        """Read the settings from environment variables (see the attributes).

        Raises:
            DeployError: a variable holds a value that cannot be used; the message names it.

        >>> DeploySettings.from_env({"LAKESTREAM_DEPLOY_AS_USER": "0"}).act_as_user
        False
        """
        raw_flag = environ.get("LAKESTREAM_DEPLOY_AS_USER", "").strip().lower()
        if raw_flag and raw_flag not in _TRUE | _FALSE:
            raise DeployError(f"LAKESTREAM_DEPLOY_AS_USER must be 1 or 0, got {raw_flag!r}")
        return cls(
            host=environ.get("DATABRICKS_HOST", "").strip() or None,
            app_client_id=environ.get("DATABRICKS_CLIENT_ID", "").strip() or None,
            act_as_user=raw_flag not in _FALSE,
            deploy_dir=environ.get("LAKESTREAM_DEPLOY_DIR", "").strip() or None,
            http_timeout_s=_seconds(environ, "LAKESTREAM_DEPLOY_TIMEOUT_S", 30.0, 600.0),
            retry_timeout_s=_seconds(environ, "LAKESTREAM_DEPLOY_RETRY_S", 60.0, 1800.0),
        )


def _seconds(environ: Mapping[str, str], name: str, default: float, limit: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= limit):
        raise DeployError(f"{name} must be a number of seconds in (0, {limit:g}], got {raw!r}")
    return value


@dataclass(frozen=True)
class DeployIdentity:
    """The identity a deployment acts as, and a lazily created workspace client for it.

    Attributes:
        principal: the user's e-mail, or the service principal's application id; ``None``
            when unknown (then a workspace folder must be given).
        acting_as: ``user`` or ``service_principal``.
    """

    principal: str | None
    acting_as: ActingAs
    _factory: Callable[[], WorkspaceClient] = field(repr=False, compare=False)
    _secret: str | None = field(default=None, repr=False, compare=False)
    _cache: dict[str, WorkspaceClient] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def from_client(
        cls, client: WorkspaceClient, *, principal: str | None, acting_as: ActingAs
    ) -> DeployIdentity:
        """An identity around an existing client (tests, the CLI)."""
        return cls(principal=principal, acting_as=acting_as, _factory=lambda: client)

    @property
    def actor(self) -> str:
        """Who to record: the principal, or a description of the unknown one."""
        if self.principal:
            return self.principal
        return "unknown user" if self.acting_as == "user" else "app service principal"

    @property
    def known_secrets(self) -> tuple[str, ...]:
        """Secrets to scrub from messages (the forwarded user token, when there is one)."""
        return () if self._secret is None else (self._secret,)

    def client(self) -> WorkspaceClient:
        """The workspace client, created on first use.

        Raises:
            DeployError: the SDK cannot be configured (no host, no credentials, ...).
        """
        with self._lock:
            if "client" not in self._cache:
                try:
                    self._cache["client"] = self._factory()
                except Exception as exc:
                    who = "signed-in user" if self.acting_as == "user" else (
                        "app's service principal")
                    raise DeployError(
                        f"cannot connect to the Databricks workspace as the {who}: "
                        f"{type(exc).__name__}: {describe_exception(exc, self.known_secrets)}; "
                        "check DATABRICKS_HOST and the app's authentication"
                    ) from None
            return self._cache["client"]


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower() and value and value.strip():
            return value.strip()
    return None


def client_for_request(
    headers: Mapping[str, str] | None, settings: DeploySettings
) -> DeployIdentity:
    """The identity to deploy as for one request.

    With ``settings.act_as_user`` and an ``X-Forwarded-Access-Token`` header, the signed-in user
    (a ``WorkspaceClient`` with that token, ``auth_type="pat"`` so that the app's own client
    credentials in the environment are not mixed in); otherwise the app's service principal
    through the SDK's default authentication.

    Args:
        headers: the request headers (``st.context.headers``); any letter case.
        settings: from :meth:`DeploySettings.from_env`.

    >>> ident = client_for_request({"x-forwarded-access-token": "t0k", "x-forwarded-email": "a@x"},
    ...                            DeploySettings(host="https://example.cloud.databricks.com"))
    >>> ident.acting_as, ident.principal, "t0k" in repr(ident)
    ('user', 'a@x', False)
    """
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    timeouts: dict[str, Any] = {
        "http_timeout_seconds": settings.http_timeout_s,
        "retry_timeout_seconds": max(1, round(settings.retry_timeout_s)),
    }
    token = _header(headers, ACCESS_TOKEN_HEADER)
    if settings.act_as_user and token:
        email = next((v for h in _EMAIL_HEADERS if (v := _header(headers, h))), None)

        def user_client() -> WorkspaceClient:
            return WorkspaceClient(config=Config(host=settings.host, token=token,
                                                 auth_type="pat", **timeouts))

        return DeployIdentity(principal=email, acting_as="user", _factory=user_client,
                              _secret=token)

    def app_client() -> WorkspaceClient:
        return WorkspaceClient(config=Config(host=settings.host, **timeouts))

    return DeployIdentity(principal=settings.app_client_id, acting_as="service_principal",
                          _factory=app_client)
