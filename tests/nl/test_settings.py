"""NlSettings: endpoint names from the environment, validated model names."""

from __future__ import annotations

import pytest

from cep.errors import CepError
from cep.nl import NlSettings, check_model_name


def test_defaults_are_the_foundation_model_endpoints() -> None:
    s = NlSettings.from_env({})
    assert s.endpoint_for("sonnet") == "databricks-claude-sonnet-4-6"
    assert s.endpoint_for("OPUS ") == "databricks-claude-opus-4-7"
    assert s.configured_models == ()  # no workspace: nothing to call


def test_environment_overrides_endpoints_and_limits() -> None:
    s = NlSettings.from_env({
        "DATABRICKS_HOST": "https://x.cloud.databricks.com",
        "LAKESTREAM_SONNET_ENDPOINT": "my-sonnet", "LAKESTREAM_OPUS_ENDPOINT": "",
        "LAKESTREAM_NL_TIMEOUT_S": "12.5", "LAKESTREAM_NL_MAX_RETRY_AFTER_S": "2",
    })
    assert s.endpoint_for("sonnet") == "my-sonnet"
    assert s.configured_models == ("sonnet",)
    assert (s.timeout_s, s.max_retry_after_s) == (12.5, 2.0)
    with pytest.raises(CepError, match="LAKESTREAM_OPUS_ENDPOINT"):
        s.endpoint_for("opus")


@pytest.mark.parametrize("value", ["gpt-4", "", "offline", "sonnet-4"])
def test_unknown_model_names_are_refused(value: str) -> None:
    with pytest.raises(CepError, match="use 'sonnet' or 'opus'"):
        check_model_name(value)


def test_bad_timeout_is_refused_with_the_variable_name() -> None:
    with pytest.raises(CepError, match="LAKESTREAM_NL_TIMEOUT_S must be a number"):
        NlSettings.from_env({"LAKESTREAM_NL_TIMEOUT_S": "soon"})
