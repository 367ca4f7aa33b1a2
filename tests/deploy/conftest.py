"""Fixtures for the deploy tests: a fake workspace on loopback and identities that use it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config

from cep.deploy import DeployIdentity
from tests.deploy.fake_workspace import FakeWorkspace

USER = "ana@example.com"
USER_TOKEN = "user-token-7f3a9c1e5b"
SP_ID = "6f1c2d3e-0000-4a4a-9b9b-0123456789ab"
SP_SECRET = "sp-secret-d41d8cd98f00"


@pytest.fixture
def workspace() -> Iterator[FakeWorkspace]:
    with FakeWorkspace() as ws:
        ws.add_token(USER_TOKEN, USER)
        ws.add_oauth_client(SP_ID, SP_SECRET, SP_ID)
        yield ws


def user_client(ws: FakeWorkspace, token: str = USER_TOKEN) -> WorkspaceClient:
    """A client acting as the user, with short timeouts so failures are quick."""
    return WorkspaceClient(config=Config(host=ws.url, token=token, auth_type="pat",
                                         http_timeout_seconds=5, retry_timeout_seconds=2))


@pytest.fixture
def user(workspace: FakeWorkspace) -> DeployIdentity:
    """The signed-in user, deploying with their own token."""
    return DeployIdentity.from_client(user_client(workspace), principal=USER, acting_as="user")
