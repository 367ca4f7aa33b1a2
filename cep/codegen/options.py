"""Settings of a generated job: source, sink, checkpoint, trigger, watermark, wheel location.

One frozen pydantic model, :class:`CodegenOptions`; every text field is validated here and
escaped again when rendered (``cep.codegen.escape``). Secrets are never values: a Kafka login
names a secret scope and keys, and the generated code reads them with
``dbutils.secrets.get(scope, key)``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from cep.errors import CepError
from cep.model import Duration

__all__ = [
    "SPARK_TYPES",
    "CodegenOptions",
    "DeltaSource",
    "FilesSource",
    "KafkaSource",
    "RateSource",
    "Source",
    "parse_options",
]

_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}(\.[A-Za-z_][A-Za-z0-9_]{0,127}){0,2}")
_PATH = re.compile(r"[A-Za-z0-9_./:@+=~-]{1,1000}")
_SERVERS = re.compile(r"[A-Za-z0-9_.:,\[\]-]{1,2000}")
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
_SECRET = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")

SPARK_TYPES = ("string", "bigint", "int", "double", "float", "boolean", "timestamp", "date")
"""Field types a Kafka JSON schema may use."""


def _matches(pattern: re.Pattern[str], what: str) -> Any:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid {what}")
        return value

    return AfterValidator(check)


Table = Annotated[str, _matches(_TABLE, "table name (catalog.schema.table)")]
Path = Annotated[
    str, _matches(_PATH, "path (letters, digits and / . _ - : @ + = ~ only; no spaces or quotes)")
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeltaSource(_Frozen):
    """A Delta table read as a stream."""

    kind: Literal["delta"] = "delta"
    table: Table = "main.default.events"


class KafkaSource(_Frozen):
    """Kafka messages whose value is one JSON event, parsed with an explicit schema.

    Attributes:
        bootstrap_servers: ``host:port[,host:port...]``.
        topic: the topic to subscribe to.
        schema_fields: field → Spark type; empty: taken from the pattern's fields (strings, the
            event-time column a timestamp).
        secret_scope / username_key / password_key: a SASL login read with
            ``dbutils.secrets.get``; leave empty for no login.
        starting_offsets: ``latest`` or ``earliest``.
    """

    kind: Literal["kafka"] = "kafka"
    bootstrap_servers: Annotated[str, _matches(_SERVERS, "bootstrap server list")]
    topic: Annotated[str, _matches(_TOPIC, "Kafka topic")]
    schema_fields: dict[str, Literal[SPARK_TYPES]] = Field(default_factory=dict)  # type: ignore[valid-type]
    secret_scope: Annotated[str, _matches(_SECRET, "secret scope")] | None = None
    username_key: Annotated[str, _matches(_SECRET, "secret key")] | None = None
    password_key: Annotated[str, _matches(_SECRET, "secret key")] | None = None
    starting_offsets: Literal["latest", "earliest"] = "latest"

    @field_validator("schema_fields")
    @classmethod
    def _columns(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _COLUMN.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid column name (letters, digits, '_')")
        return value

    def model_post_init(self, context: Any, /) -> None:
        """A login needs all three secret fields, or none."""
        given = [self.secret_scope, self.username_key, self.password_key]
        if any(v is not None for v in given) and not all(v is not None for v in given):
            raise ValueError("a Kafka login needs secret_scope, username_key and password_key")


class RateSource(_Frozen):
    """Spark's ``rate`` source, shaped into demo events (for trying a job without data)."""

    kind: Literal["rate"] = "rate"
    rows_per_second: int = Field(10, ge=1, le=1_000_000)
    keys: int = Field(10, ge=1, le=1_000_000)


class FilesSource(_Frozen):
    """Parquet or JSON-lines files in a directory, read as a stream (replays, tests)."""

    kind: Literal["files"] = "files"
    path: Path
    format: Literal["parquet", "json"] = "parquet"
    max_files_per_trigger: int | None = Field(None, ge=1, le=100_000)


Source = Annotated[
    DeltaSource | KafkaSource | RateSource | FilesSource, Field(discriminator="kind")
]


class CodegenOptions(_Frozen):
    """Everything a generated job needs besides the pattern.

    Attributes:
        source: where events come from.
        sink_table: the Delta table matches are appended to.
        checkpoint: the streaming checkpoint location (default: a volume path per pattern).
        trigger: ``available_now`` (process what is there, then stop), ``processing_time``
            (every ``trigger_interval``) or ``continuous_batches`` (as fast as possible).
        trigger_interval: for ``processing_time``.
        watermark_delay: how late (in event time) an event may arrive and still be matched; it
            is Spark's watermark delay and the matcher's allowed lateness.
        source_filter: an optional SQL condition (``cep.expr``) that keeps only the events it
            holds for, applied before matching.
        wheel_path: where the notebook ``%pip install``s this project's wheel from.
        expectations_table: ``sdp`` only: also write a table of events failing basic checks.
    """

    source: Source = Field(default_factory=DeltaSource)
    sink_table: Table = "main.default.cep_matches"
    checkpoint: Path | None = None
    trigger: Literal["available_now", "processing_time", "continuous_batches"] = "processing_time"
    trigger_interval: Duration = Field(default_factory=lambda: Duration("10s"))
    watermark_delay: Duration = Field(default_factory=lambda: Duration("1m"))
    source_filter: str | None = Field(None, max_length=10_000)
    wheel_path: Path = "/Volumes/main/default/wheels/lakestream_cep-0.1.0-py3-none-any.whl"
    expectations_table: bool = True

    @field_validator("trigger_interval", "watermark_delay", mode="before")
    @classmethod
    def _duration(cls, value: object) -> Duration:
        return Duration._validate(value)

    @field_validator("source_filter")
    @classmethod
    def _condition(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from cep.expr import parse_condition

        try:
            parse_condition(value)
        except CepError as exc:
            raise ValueError(f"source_filter: {exc}") from None
        return value


def parse_options(data: CodegenOptions | dict[str, Any] | None) -> CodegenOptions:
    """Validated options from a dict (the JSON form) or ``None`` (the defaults).

    Raises:
        CepError: an option is invalid; the message names it.
    """
    if isinstance(data, CodegenOptions):
        return data
    try:
        return CodegenOptions.model_validate(data or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}"
            for e in exc.errors()[:3]
        )
        raise CepError(f"invalid code generation options: {problems}") from None
