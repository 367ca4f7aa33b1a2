"""Calling a generator from the Generate page: offline rules, or a Databricks serving endpoint
through a cached ``WorkspaceClient`` that falls back to the rules when it cannot be built."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import streamlit as st

from cep.model import Pattern
from cep.nl import Generation, NlSettings, generate_offline, generate_with_model
from ui.generate_inputs import OFFLINE

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

logger = logging.getLogger(__name__)

HTTP_TIMEOUT_S = 10
"""The SDK's per-request timeout while it configures itself (host metadata, OAuth)."""
RETRY_TIMEOUT_S = 20
"""The SDK's total retry budget while it configures itself."""
_WORKSPACE_PREFIXES = ("DATABRICKS_", "ARM_", "AZURE_", "GOOGLE_")


def workspace_fingerprint(environ: Mapping[str, str] | None = None) -> str:
    """A digest of the variables the databricks-sdk reads: the cache key of the client, so a
    changed workspace gets a new client (the values themselves are never kept).

    >>> workspace_fingerprint({"DATABRICKS_HOST": "a"}) == workspace_fingerprint({"HOME": "/"})
    False
    """
    env = os.environ if environ is None else environ
    items = sorted((k, v) for k, v in env.items() if k.startswith(_WORKSPACE_PREFIXES))
    return hashlib.sha256(repr(items).encode()).hexdigest()


@st.cache_resource(show_spinner=False, max_entries=4)
def _workspace_client(fingerprint: str) -> WorkspaceClient:
    del fingerprint  # in the cache key only
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.config import Config

    return WorkspaceClient(
        config=Config(http_timeout_seconds=HTTP_TIMEOUT_S, retry_timeout_seconds=RETRY_TIMEOUT_S)
    )


def workspace_client() -> WorkspaceClient:
    """The process's Databricks client, built on first use from the SDK's own configuration
    (an App's service principal, a profile, or environment variables).

    Raises:
        Exception: whatever the SDK raises when it cannot configure itself.
    """
    return _workspace_client(workspace_fingerprint())


def _fallback(
    text: str, model: str, reason: str, vocabulary: Mapping[str, Any], current: Pattern | None
) -> Generation:
    offline = generate_offline(text, current=current, **vocabulary)
    warning = f"the {model} model was not used: {reason}; the offline generator answered"
    return offline.model_copy(update={
        "source": "offline-fallback", "model": model, "warnings": (warning, *offline.warnings),
    })


def run_generator(
    text: str,
    *,
    model: str,
    settings: NlSettings,
    vocabulary: Mapping[str, Any],
    current: Pattern | None = None,
) -> Generation:
    """Generate (or, with ``current``, refine) a pattern with the chosen generator.

    A model that cannot be reached — including a Databricks client that cannot be configured —
    gives the offline generator's answer with a warning saying why.

    Raises:
        CepError: ``model`` is not offline/sonnet/opus, or its endpoint is disabled.
    """
    if model == OFFLINE:
        return generate_offline(text, current=current, **vocabulary)
    try:
        workspace = workspace_client()
    except Exception as exc:  # the SDK raises ValueError and others for bad configuration
        logger.warning("Databricks client not configured: %s", type(exc).__name__)
        return _fallback(
            text, model,
            f"the Databricks client could not be configured ({type(exc).__name__}); check the "
            "workspace host and authentication", vocabulary, current)
    return generate_with_model(
        text, preferred_model=model, settings=settings, workspace=workspace, current=current,
        **vocabulary,
    )
