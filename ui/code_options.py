"""The Code page's job options (source, sink, checkpoint, trigger, wheel): inputs, each checked on
its own so that a mistake is shown under the input that holds it."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st

from cep.codegen import CodegenOptions, parse_options
from cep.errors import CepError
from ui import state

SOURCE_LABELS = {"delta": "Delta table", "kafka": "Kafka (JSON)", "rate": "Rate (demo data)"}
"""Event sources offered, with their labels."""
TRIGGER_LABELS = {
    "processing_time": "Every interval",
    "available_now": "Available now, then stop",
    "continuous_batches": "As fast as possible",
}
"""Triggers of an sss job, with their labels."""

DEFAULTS: dict[str, Any] = {
    "source_kind": "delta",
    "source_table": "main.default.events",
    "kafka_servers": "",
    "kafka_topic": "",
    "kafka_offsets": "latest",
    "kafka_scope": "",
    "kafka_user_key": "",
    "kafka_password_key": "",
    "rate_rows": 10,
    "rate_keys": 10,
    "sink_table": "main.default.cep_matches",
    "checkpoint": "",
    "trigger": "processing_time",
    "trigger_interval": "10s",
    "watermark_delay": "1m",
    "wheel_path": "/Volumes/main/default/wheels/lakestream_cep-0.1.0-py3-none-any.whl",
    "expectations_table": True,
}
"""Every option input's starting value (the code generator's defaults)."""

# Valid stand-ins for the other fields while one Kafka field is checked on its own (a login
# needs all three of its parts, checked together afterwards).
_KAFKA_BASE = {
    "kind": "kafka",
    "bootstrap_servers": "localhost:9092",
    "topic": "events",
    "secret_scope": "scope",
    "username_key": "user",
    "password_key": "password",
}
_KAFKA_LOGIN = ("kafka_scope", "kafka_user_key", "kafka_password_key")
_KAFKA_FIELDS = {
    "kafka_servers": "bootstrap_servers",
    "kafka_topic": "topic",
    "kafka_scope": "secret_scope",
    "kafka_user_key": "username_key",
    "kafka_password_key": "password_key",
}
_PREFIX = re.compile(r"^invalid [a-z ]+options: ")
_LOCATION = re.compile(r"^[A-Za-z0-9_.\[\]]+: ")

Parse = Callable[[dict[str, Any]], object]


def option_key(field: str) -> str:
    """The session-state key of one option input.

    >>> option_key("sink_table")
    'code.option.sink_table'
    """
    return state.CODE_OPTION.format(field=field)


def problem_of(parse: Parse, data: dict[str, Any]) -> str | None:
    """Return why ``parse(data)`` fails, without the "invalid ... options: field:" prefix, or
    None when it passes.

    >>> problem_of(lambda d: parse_options(d), {"sink_table": "a b"})
    "'a b' is not a valid table name (catalog.schema.table)"
    >>> problem_of(lambda d: parse_options(d), {"sink_table": "main.s.t"}) is None
    True
    """
    try:
        parse(data)
    except CepError as e:
        message = _PREFIX.sub("", str(e), count=1)
        return _LOCATION.sub("", message, count=1).replace("Value error, ", "")
    return None


def _text(values: Mapping[str, Any], field: str) -> str:
    return str(values.get(option_key(field), DEFAULTS[field]) or "").strip()


def _value(values: Mapping[str, Any], field: str) -> Any:
    return values.get(option_key(field), DEFAULTS[field])


def source_data(values: Mapping[str, Any]) -> dict[str, Any]:
    """The source option's JSON value from the inputs."""
    kind = _value(values, "source_kind")
    if kind == "kafka":
        data: dict[str, Any] = {
            "kind": "kafka",
            "bootstrap_servers": _text(values, "kafka_servers"),
            "topic": _text(values, "kafka_topic"),
            "starting_offsets": _value(values, "kafka_offsets"),
        }
        login = {
            "secret_scope": _text(values, "kafka_scope"),
            "username_key": _text(values, "kafka_user_key"),
            "password_key": _text(values, "kafka_password_key"),
        }
        data.update({k: v for k, v in login.items() if v})
        return data
    if kind == "rate":
        return {
            "kind": "rate",
            "rows_per_second": int(_value(values, "rate_rows")),
            "keys": int(_value(values, "rate_keys")),
        }
    return {"kind": "delta", "table": _text(values, "source_table")}


def options_data(values: Mapping[str, Any]) -> dict[str, Any]:
    """All the options' JSON value (the form `cep.codegen.parse_options` reads) from the inputs;
    a blank checkpoint is left out (the generator picks one per pattern).

    >>> options_data({})["sink_table"], "checkpoint" in options_data({})
    ('main.default.cep_matches', False)
    """
    data: dict[str, Any] = {
        "source": source_data(values),
        "sink_table": _text(values, "sink_table"),
        "trigger": _value(values, "trigger"),
        "trigger_interval": _text(values, "trigger_interval"),
        "watermark_delay": _text(values, "watermark_delay"),
        "wheel_path": _text(values, "wheel_path"),
        "expectations_table": bool(_value(values, "expectations_table")),
    }
    if checkpoint := _text(values, "checkpoint"):
        data["checkpoint"] = checkpoint
    return data


def field_problems(values: Mapping[str, Any], target: str) -> dict[str, str]:
    """Return, per input that applies to ``target``, why its value is not valid.

    >>> field_problems({"code.option.sink_table": "x;drop", "code.option.watermark_delay": "soon"},
    ...                "sss").keys()
    dict_keys(['sink_table', 'watermark_delay'])
    """
    data = options_data(values)
    source = data["source"]
    checks: dict[str, dict[str, Any]] = {}
    if source["kind"] == "delta":
        checks["source_table"] = {"source": source}
    elif source["kind"] == "kafka":
        for field, name in _KAFKA_FIELDS.items():
            if name in source:
                checks[field] = {"source": {**_KAFKA_BASE, name: source[name]}}
    if target != "sql":
        checks["sink_table"] = {"sink_table": data["sink_table"]}
        checks["watermark_delay"] = {"watermark_delay": data["watermark_delay"]}
        checks["wheel_path"] = {"wheel_path": data["wheel_path"]}
    if target == "sss":
        if "checkpoint" in data:
            checks["checkpoint"] = {"checkpoint": data["checkpoint"]}
        if data["trigger"] == "processing_time":
            checks["trigger_interval"] = {"trigger_interval": data["trigger_interval"]}
    problems = {
        field: problem
        for field, partial in checks.items()
        if (problem := problem_of(parse_options, partial)) is not None
    }
    if source["kind"] == "kafka" and not any(f.startswith("kafka_") for f in problems):
        problem = problem_of(parse_options, {"source": source})
        if problem is not None:  # a login with one or two of its three parts
            missing = [f for f in _KAFKA_LOGIN if _KAFKA_FIELDS[f] not in source]
            problems[missing[0] if missing else "kafka_scope"] = problem
    return problems


def _show_problem(problems: Mapping[str, str], field: str) -> None:
    if field in problems:
        st.error(problems[field], icon=":material/error:")


def _init_state() -> None:
    for field, value in DEFAULTS.items():
        st.session_state.setdefault(option_key(field), value)


def _text_input(
    field: str, label: str, problems: Mapping[str, str], help_text: str, placeholder: str = ""
) -> None:
    st.text_input(
        label,
        key=option_key(field),
        help=help_text,
        placeholder=placeholder,
        persist_state="session",
    )
    _show_problem(problems, field)


def _render_source(problems: Mapping[str, str], target: str) -> None:
    kind = st.selectbox(
        "Event source",
        list(SOURCE_LABELS),
        format_func=SOURCE_LABELS.__getitem__,
        key=option_key("source_kind"),
        help="Where the job reads events. Delta table: a table read as a stream (the sql target "
        "reads it as a batch). Kafka: one JSON event per message, parsed with a schema taken "
        "from the pattern's fields. Rate: Spark's rate source shaped into demo events, to try a "
        "job without data.",
        persist_state="session",
    )
    if kind == "delta":
        _text_input(
            "source_table", "Source table", problems,
            "The Delta table of events, as catalog.schema.table. It needs the pattern's "
            "fields, its time column and key columns.",
        )  # fmt: skip
    elif kind == "kafka":
        _text_input(
            "kafka_servers", "Bootstrap servers", problems,
            "host:port[,host:port...] of the Kafka brokers.", placeholder="broker-1:9092",
        )  # fmt: skip
        _text_input("kafka_topic", "Topic", problems, "The topic to subscribe to.")
        st.selectbox(
            "Starting offsets",
            ["latest", "earliest"],
            key=option_key("kafka_offsets"),
            help="Where a new job starts reading: only new messages (latest) or the whole "
            "retained topic (earliest). A restarted job resumes from its checkpoint.",
            persist_state="session",
        )
        scope_col, user_col, password_col = st.columns(3)
        with scope_col:
            _text_input(
                "kafka_scope", "Secret scope", problems,
                "Optional SASL login: the Databricks secret scope holding the user name and "
                "password. Give all three or none; the code reads them with "
                "dbutils.secrets.get, never as text.",
            )  # fmt: skip
        with user_col:
            _text_input(
                "kafka_user_key", "User name key", problems,
                "The key of the user name in the secret scope.",
            )  # fmt: skip
        with password_col:
            _text_input(
                "kafka_password_key", "Password key", problems,
                "The key of the password in the secret scope.",
            )  # fmt: skip
    elif kind == "rate":
        rows_col, keys_col = st.columns(2)
        rows_col.number_input(
            "Events per second",
            min_value=1,
            max_value=1_000_000,
            step=1,
            key=option_key("rate_rows"),
            help="Rows the rate source makes each second.",
            persist_state="session",
        )
        keys_col.number_input(
            "Keys",
            min_value=1,
            max_value=1_000_000,
            step=1,
            key=option_key("rate_keys"),
            help="How many distinct key values the demo events cycle through.",
            persist_state="session",
        )


def _render_job(problems: Mapping[str, str], target: str) -> None:
    _text_input(
        "sink_table", "Sink table", problems,
        "The Delta table matches are appended to, as catalog.schema.table (columns: pattern, "
        "keys, start, end, event_ids, classifiers, measures, emitted_at).",
    )  # fmt: skip
    if target == "sss":
        _text_input(
            "checkpoint", "Checkpoint location", problems,
            "Where the streaming query keeps its progress and state (a volume path). Blank: "
            "/Volumes/main/default/checkpoints/<pattern>. Use a new location after changing "
            "the pattern.",
            placeholder="/Volumes/main/default/checkpoints/<pattern>",
        )  # fmt: skip
        trigger_col, interval_col = st.columns(2)
        trigger = trigger_col.selectbox(
            "Trigger",
            list(TRIGGER_LABELS),
            format_func=TRIGGER_LABELS.__getitem__,
            key=option_key("trigger"),
            help="When micro-batches run: every interval; once over what is there, then stop "
            "(for scheduled jobs); or one after another as fast as possible.",
            persist_state="session",
        )
        if trigger == "processing_time":
            with interval_col:
                _text_input(
                    "trigger_interval", "Trigger interval", problems,
                    "How often a micro-batch starts: 30s, 5m, 1h or ISO-8601 (PT30S).",
                )  # fmt: skip
    _text_input(
        "watermark_delay", "Allowed lateness (watermark delay)", problems,
        "How late, in event time, an event may arrive and still be matched: 30s, 5m, 1h or "
        "ISO-8601. Spark's watermark trails the latest event time by this much.",
    )  # fmt: skip
    _text_input(
        "wheel_path", "Wheel path", problems,
        "Where the notebook installs this project's wheel from (make wheel), e.g. a Unity "
        "Catalog volume. The job runs the app's own matcher from it.",
    )  # fmt: skip
    if target == "sdp":
        st.checkbox(
            "Expectations table",
            key=option_key("expectations_table"),
            help="Also write <sink table>_rejected: the events that fail basic checks (no time, "
            "no key), instead of dropping them silently.",
            persist_state="session",
        )


def render_options(target: str) -> CodegenOptions | None:
    """Draw the inputs that apply to ``target``, each with its problem under it; return the
    validated options, or None when an input is not valid (after saying so)."""
    _init_state()
    problems = field_problems(st.session_state.to_dict(), target)
    _render_source(problems, target)
    if target == "sql":
        st.caption(
            "The sql target is a batch query over the source table: no other option applies."
        )
    else:
        _render_job(problems, target)
    if problems:
        return None
    options: CodegenOptions | None = None
    try:
        options = parse_options(options_data(st.session_state.to_dict()))
    except CepError as e:
        st.error(str(e), icon=":material/error:")
    return options
