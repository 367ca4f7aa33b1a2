"""Session-wide test settings: the app's database never lands in the repository's .lakestream/."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_app_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in ("LAKESTREAM_DATA_DIR",
                                                      "LAKESTREAM_DATABASE_URL")}
    os.environ["LAKESTREAM_DATA_DIR"] = str(tmp_path_factory.mktemp("lakestream_data"))
    os.environ.pop("LAKESTREAM_DATABASE_URL", None)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
