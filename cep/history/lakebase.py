"""Lakebase OAuth tokens: fetch, cache and refresh the token used as the PostgreSQL password.

Databricks Lakebase accepts a workspace OAuth access token as the password of ``PGUSER``. Tokens
live about an hour, so :class:`TokenCache` hands out the cached token until it is within
``refresh_margin`` of its expiry, and :meth:`TokenCache.refresh` fetches a new one on demand
(the engine calls it when the server rejects a connection's credentials). Token values never
appear in ``repr`` or in error messages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

from cep.errors import StoreError

__all__ = [
    "DEFAULT_REFRESH_MARGIN",
    "UNKNOWN_EXPIRY_LIFETIME",
    "OAuthToken",
    "TokenCache",
    "TokenProvider",
    "databricks_token_provider",
]

DEFAULT_REFRESH_MARGIN = timedelta(minutes=5)
"""A token this close to its expiry is replaced before it is used for a new connection."""

UNKNOWN_EXPIRY_LIFETIME = timedelta(minutes=30)
"""How long a token whose expiry is unknown (e.g. a personal access token) is reused."""


class OAuthToken(BaseModel):
    """An access token and when it expires.

    Attributes:
        value: the token (a secret: hidden in ``repr``).
        expires_at: its expiry (UTC); ``None`` when the issuer does not say.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: SecretStr
    expires_at: datetime | None = None


TokenProvider = Callable[[], OAuthToken]
"""Fetches a fresh token; called by :class:`TokenCache` when its token is missing or stale."""


class TokenCache:
    """Thread-safe cache of one OAuth token, refreshed before it expires.

    Args:
        provider: fetches a fresh token.
        refresh_margin: refresh when the token expires within this margin.
        clock: the current UTC time (injectable for tests).
    """

    def __init__(
        self,
        provider: TokenProvider,
        *,
        refresh_margin: timedelta = DEFAULT_REFRESH_MARGIN,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._provider = provider
        self._margin = refresh_margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token: OAuthToken | None = None
        self._fetched_at: datetime | None = None

    def current(self) -> str:
        """The token to use now: the cached one unless it is missing or about to expire."""
        with self._lock:
            if self._token is None or self._is_stale(self._token):
                self._fetch()
            assert self._token is not None
            return self._token.value.get_secret_value()

    def refresh(self) -> str:
        """Fetch a new token whatever the cached one's expiry (after an authentication failure)."""
        with self._lock:
            self._fetch()
            assert self._token is not None
            return self._token.value.get_secret_value()

    def secrets(self) -> tuple[str, ...]:
        """The cached token value, for scrubbing error messages (empty before the first fetch)."""
        token = self._token
        return () if token is None else (token.value.get_secret_value(),)

    def _is_stale(self, token: OAuthToken) -> bool:
        now = self._clock()
        if token.expires_at is None:
            fetched = self._fetched_at or now
            return now >= fetched + UNKNOWN_EXPIRY_LIFETIME - self._margin
        expires = token.expires_at
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        return now >= expires - self._margin

    def _fetch(self) -> None:
        try:
            token = self._provider()
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(
                f"could not get an OAuth token for the Lakebase database: {type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}; check the Databricks "
                "authentication of this app (DATABRICKS_HOST, client id/secret)"
            ) from None
        if not token.value.get_secret_value():
            raise StoreError("the Lakebase token provider returned an empty token")
        self._token = token
        self._fetched_at = self._clock()


def databricks_token_provider(workspace_client: Any = None) -> TokenProvider:
    """A provider that asks databricks-sdk for the workspace OAuth token.

    Uses ``WorkspaceClient().config.oauth_token()`` (OAuth authentication, as inside a
    Databricks App); when the configured authentication is not OAuth, falls back to the bearer
    token of ``config.authenticate()`` with an unknown expiry. The client is created on the
    first call, so building an engine needs no network.

    Args:
        workspace_client: an existing ``databricks.sdk.WorkspaceClient`` (created when ``None``).
    """
    state: dict[str, Any] = {"client": workspace_client}

    def provide() -> OAuthToken:
        if state["client"] is None:
            from databricks.sdk import WorkspaceClient

            state["client"] = WorkspaceClient()
        config = state["client"].config
        try:
            token = config.oauth_token()
        except ValueError:
            header = str(config.authenticate().get("Authorization", ""))
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value:
                raise StoreError(
                    "the Databricks authentication of this app gives no bearer token to use as "
                    "the Lakebase password; configure OAuth (client id and secret)"
                ) from None
            return OAuthToken(value=SecretStr(value))
        expiry = token.expiry
        if expiry is not None and expiry.tzinfo is None:
            expiry = expiry.astimezone(UTC)  # the SDK computes a naive local expiry
        return OAuthToken(value=SecretStr(token.access_token), expires_at=expiry)

    return provide
