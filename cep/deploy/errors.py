"""The deploy error: a deployment could not be planned or a Databricks API call failed."""

from __future__ import annotations

from cep.errors import CepError

__all__ = ["DeployError"]


class DeployError(CepError):
    """A deployment to Databricks failed or its options are invalid.

    Messages name the option, or the API call (method and path) and the HTTP status, and say
    what to do; they never contain a token or a secret.

    Attributes:
        call: ``"METHOD /path"`` of the failed API call, when one failed.
        status: its HTTP status, when known.
    """

    def __init__(self, message: str, *, call: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.call = call
        self.status = status
