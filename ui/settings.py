"""Application settings, read once from the environment at the edge and passed down to cep."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES_DIR = ROOT / "samples"

DEFAULT_MAX_UPLOAD_MB = 25


@dataclass(frozen=True)
class Settings:
    """What the app reads from the environment.

    Attributes:
        version: the product version shown in the sidebar.
        max_upload_mb: per-file upload limit of the Test page's uploaders, in megabytes
            (`LAKESTREAM_MAX_UPLOAD_MB`, default 25).
        max_events: the most events an interactive test may load (`LAKESTREAM_MAX_EVENTS`);
            None keeps the cep default.
        samples_dir: where the sample pattern and events live.
    """

    version: str
    max_upload_mb: int
    max_events: int | None
    samples_dir: Path = SAMPLES_DIR


def _read_version() -> str:
    try:
        return importlib.metadata.version("lakestream-cep")
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        with (ROOT / "pyproject.toml").open("rb") as f:
            return str(tomllib.load(f)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "dev"


def _positive_int(name: str, default: int | None) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        return default
    return value if value > 0 else default


@functools.cache
def get_settings() -> Settings:
    """Return the settings, reading the environment on the first call only."""
    return Settings(
        version=_read_version(),
        max_upload_mb=_positive_int("LAKESTREAM_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)
        or DEFAULT_MAX_UPLOAD_MB,
        max_events=_positive_int("LAKESTREAM_MAX_EVENTS", None),
    )
