"""What gets deployed: a pattern's generated code for one target, as data (``DeployBundle``).

The Code page passes what code generation produced; nothing here depends on how it was made.
Pattern names may hold any printable text, so everything that lands in a workspace path, a job
name or a tag uses :func:`pattern_slug`, a lossless-enough safe form of the name.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["MAX_CODE_BYTES", "DeployBundle", "DeployTarget", "pattern_slug"]

DeployTarget = Literal["sss", "sdp"]
"""``sss``: a Job running a Structured Streaming notebook; ``sdp``: a Lakeflow pipeline."""

MAX_CODE_BYTES = 10 * 1024 * 1024
"""The workspace import API's limit on one notebook's source."""

_FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}\.py\Z")
_SLUG_MAX = 48


def pattern_slug(name: str) -> str:
    """A safe form of a pattern name for paths, job names and tags: ``[a-z0-9_]``, at most 57 chars.

    Names that are already safe keep their form (lower-cased); any other name gets a short hash
    of the original so that two different names never share a slug.

    >>> pattern_slug("card_testing")
    'card_testing'
    >>> pattern_slug("Card 'testing'\\nv2")
    'card_testing_v2_6cc635a3'
    """
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "_", folded).strip("_")[:_SLUG_MAX].strip("_") or "pattern"
    if slug == name:
        return slug
    return f"{slug}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"


class DeployBundle(BaseModel):
    """A pattern's generated code for one target, ready to upload.

    Attributes:
        pattern_name: the pattern's name, as the user wrote it.
        target: ``sss`` (Job) or ``sdp`` (Pipeline).
        code: the generated Python source.
        file_name: the generated file's name (``card_testing_sss.py``); the notebook is named
            after its stem.
        code_sha256: hex SHA-256 of ``code`` in UTF-8; computed when left out, checked when given.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    pattern_name: str = Field(min_length=1, max_length=200)
    target: DeployTarget
    code: str = Field(min_length=1)
    file_name: str
    code_sha256: str = ""

    @field_validator("pattern_name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        if any(unicodedata.category(c) == "Cc" for c in value):
            raise ValueError("must not contain control characters (newlines, tabs, ...)")
        return value

    @field_validator("file_name")
    @classmethod
    def _check_file_name(cls, value: str) -> str:
        if not _FILE_NAME.match(value):
            raise ValueError(
                f"{value!r} must be a plain .py file name (letters, digits, '_', '.', '-'; "
                "at most 100 characters before .py)"
            )
        return value

    @field_validator("code")
    @classmethod
    def _check_size(cls, value: str) -> str:
        size = len(value.encode())
        if size > MAX_CODE_BYTES:
            raise ValueError(
                f"is {size:,} bytes; the workspace accepts at most {MAX_CODE_BYTES:,} per notebook"
            )
        return value

    @model_validator(mode="after")
    def _check_hash(self) -> Self:
        actual = hashlib.sha256(self.code.encode()).hexdigest()
        if not self.code_sha256:
            object.__setattr__(self, "code_sha256", actual)
        elif self.code_sha256.lower() != actual:
            raise ValueError(
                "code_sha256 does not match the code; regenerate the code and deploy again"
            )
        return self

    @property
    def slug(self) -> str:
        """:func:`pattern_slug` of the pattern name."""
        return pattern_slug(self.pattern_name)

    @property
    def notebook_name(self) -> str:
        """The notebook's name in the workspace: the file name without ``.py``."""
        return self.file_name.removesuffix(".py")
