"""Settings of natural-language generation: serving endpoint names, timeouts and retry caps.

Read once at the edge (the UI or the CLI) with :meth:`NlSettings.from_env` and passed down; nothing
below this module reads the environment.

>>> s = NlSettings.from_env({"DATABRICKS_HOST": "https://example.cloud.databricks.com"})
>>> s.endpoint_for("opus"), s.configured_models
('databricks-claude-opus-4-7', ('sonnet', 'opus'))
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cep.errors import CepError

__all__ = [
    "DEFAULT_ENDPOINTS",
    "MODEL_CHOICES",
    "ModelName",
    "NlSettings",
    "check_model_name",
]

ModelName = Literal["sonnet", "opus"]
MODEL_CHOICES: tuple[ModelName, ...] = ("sonnet", "opus")
"""The models a user may prefer; ``offline`` is not a model but the embedded generator."""

DEFAULT_ENDPOINTS: dict[ModelName, str] = {
    "sonnet": "databricks-claude-sonnet-4-6",
    "opus": "databricks-claude-opus-4-7",
}
"""Databricks foundation-model endpoint names used when no variable overrides them."""

_ENDPOINT_VARS: dict[ModelName, str] = {
    "sonnet": "LAKESTREAM_SONNET_ENDPOINT",
    "opus": "LAKESTREAM_OPUS_ENDPOINT",
}
# Any of these means the databricks-sdk can find a workspace (env, profile, or an App's identity).
_WORKSPACE_VARS = ("DATABRICKS_HOST", "DATABRICKS_CONFIG_PROFILE", "DATABRICKS_APP_NAME")


def check_model_name(value: str) -> ModelName:
    """``value`` as a model name (``sonnet`` or ``opus``, any case, surrounding spaces ignored).

    Raises:
        CepError: for anything else, naming the accepted values.
    """
    name = value.strip().lower() if isinstance(value, str) else value
    if name == "sonnet":
        return "sonnet"
    if name == "opus":
        return "opus"
    raise CepError(
        f"preferred_model {value!r} is not known; use 'sonnet' or 'opus' "
        "(or the offline generator)"
    )


def _positive(environ: Mapping[str, str], name: str, default: float, limit: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= limit):
        raise CepError(f"{name} must be a number of seconds in (0, {limit:g}], got {raw!r}")
    return value


class NlSettings(BaseModel):
    """Where and how to call the models.

    Attributes:
        endpoints: model → serving endpoint name; an empty name disables that model.
        workspace_configured: whether a Databricks workspace is reachable through the SDK's own
            configuration (``DATABRICKS_HOST``, a profile, or a Databricks App's identity).
        timeout_s: per-request timeout.
        max_retry_after_s: the longest ``Retry-After`` of a 429 that is honoured (once); a longer
            wait falls back to the offline generator.
        max_tokens: completion budget per request.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoints: dict[ModelName, str] = Field(default_factory=lambda: dict(DEFAULT_ENDPOINTS))
    workspace_configured: bool = False
    timeout_s: float = Field(30.0, gt=0, le=600)
    max_retry_after_s: float = Field(5.0, ge=0, le=60)
    max_tokens: int = Field(4000, ge=256, le=64_000)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> NlSettings:
        """Read ``LAKESTREAM_SONNET_ENDPOINT``, ``LAKESTREAM_OPUS_ENDPOINT``,
        ``LAKESTREAM_NL_TIMEOUT_S`` and ``LAKESTREAM_NL_MAX_RETRY_AFTER_S`` from ``environ``.

        Raises:
            CepError: a timeout variable that is not a positive number in range.
        """
        endpoints: dict[ModelName, str] = {}
        for model, var in _ENDPOINT_VARS.items():
            value = environ.get(var)
            endpoints[model] = DEFAULT_ENDPOINTS[model] if value is None else value.strip()
        return cls(
            endpoints=endpoints,
            workspace_configured=any(environ.get(v, "").strip() for v in _WORKSPACE_VARS),
            timeout_s=_positive(environ, "LAKESTREAM_NL_TIMEOUT_S", 30.0, 600.0),
            max_retry_after_s=_positive(environ, "LAKESTREAM_NL_MAX_RETRY_AFTER_S", 5.0, 60.0),
        )

    @property
    def configured_models(self) -> tuple[ModelName, ...]:
        """The models that can be called: a workspace is configured and the endpoint is named."""
        if not self.workspace_configured:
            return ()
        return tuple(m for m in MODEL_CHOICES if self.endpoints.get(m))

    def endpoint_for(self, preferred_model: str) -> str:
        """The endpoint name of ``preferred_model``.

        Raises:
            CepError: an unknown model name, or a model whose endpoint is disabled.
        """
        model = check_model_name(preferred_model)
        endpoint = self.endpoints.get(model, "")
        if not endpoint:
            raise CepError(
                f"no serving endpoint is configured for {model!r}: set "
                f"{_ENDPOINT_VARS[model]} to the endpoint name"
            )
        return endpoint
