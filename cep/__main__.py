"""Command line: ``python -m cep match|explain ...`` (DESIGN.md §5.1).

Exit status 0 on success, 2 on bad input or a run-time pattern error, with one line on stderr
that says what is wrong and where.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cep.errors import CepError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cep", description="LakeStream CEP command line")
    commands = parser.add_subparsers(dest="command", required=True)
    match = commands.add_parser("match", help="find the matches of a pattern in an events file")
    match.add_argument("pattern", help="pattern file: .json, .yaml/.yml or .sql (MATCH_RECOGNIZE)")
    match.add_argument("events", help="events file: .jsonl/.ndjson, .json, .csv or .parquet")
    match.add_argument("--format", choices=["json", "table", "csv"], default="json")
    match.add_argument("--out", help="write the output to this file instead of stdout")
    match.add_argument("--max-rows", type=int, default=None,
                       help="refuse event files with more rows than this (default: no limit)")
    explain = commands.add_parser(
        "explain", help="describe a pattern in plain English; with events, explain its matches "
                        "and near misses")
    explain.add_argument("pattern", help="pattern file: .json, .yaml/.yml or .sql")
    explain.add_argument("events", nargs="?", help="optional events file: also explain each match")
    explain.add_argument("--key", help="near misses of this key: a value (one partition column) "
                                       "or col=v,col2=w (default: the first keys that have any)")
    explain.add_argument("--format", choices=["text", "json"], default="text")
    packs = commands.add_parser("packs", help="list, show and sample the template packs")
    pack_commands = packs.add_subparsers(dest="packs_command", required=True)
    pack_commands.add_parser("list", help="list the packs")
    show = pack_commands.add_parser("show", help="describe one pack")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="print the description as JSON")
    sample = pack_commands.add_parser("sample", help="generate a pack's synthetic events")
    sample.add_argument("name")
    sample.add_argument("--events", type=int, default=200, help="number of events (default 200)")
    sample.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sample.add_argument("--keys", type=int, default=None, help="number of background keys")
    sample.add_argument("--duration", help="how long the stream lasts, e.g. 2h or 30m (default: "
                                           "from the pack's event rate)")
    sample.add_argument("--out", required=True,
                        help="output file: .csv, .jsonl/.ndjson or .parquet")
    sample.add_argument("--incidents", help="also write the planted incidents to this JSON file")
    nl = commands.add_parser("nl", help="turn an English description into a pattern")
    nl.add_argument("text", help='what to detect, e.g. "5 failed logins per user within 10 minutes"')
    grounding = nl.add_mutually_exclusive_group()
    grounding.add_argument("--pack",
                           help="ground field names and values in this template pack's schema")
    grounding.add_argument("--schema", metavar="EVENTS",
                           help="ground field names and values in this events file (time column "
                                "ts)")
    nl.add_argument("--model", choices=["offline", "sonnet", "opus"], default="offline",
                    help="offline rules (default) or a Databricks serving endpoint")
    nl.add_argument("--format", choices=["json", "yaml", "text"], default="json")
    codegen = commands.add_parser("codegen", help="generate Spark code for a pattern")
    codegen.add_argument("pattern", help="pattern file: .json, .yaml/.yml or .sql")
    codegen.add_argument("--target", choices=["sss", "sdp", "sql"], required=True,
                         help="sss: Structured Streaming notebook; sdp: Declarative Pipelines; "
                              "sql: Databricks SQL MATCH_RECOGNIZE")
    codegen.add_argument("--out", help="write the code to this file instead of stdout")
    codegen.add_argument("--options", metavar="JSON_FILE",
                         help="code generation options (cep.codegen.CodegenOptions as JSON)")
    codegen.add_argument("--source-table", help="read events from this Delta table")
    codegen.add_argument("--sink-table", help="append matches to this Delta table")
    codegen.add_argument("--checkpoint", help="streaming checkpoint location")
    codegen.add_argument("--watermark-delay", help="allowed lateness, e.g. 1m (default 1m)")
    codegen.add_argument("--wheel-path", help="where the notebook installs the cep wheel from")
    return parser


def _load(pattern_path: str, events_path: str | None, max_rows: int | None = None) -> tuple[Any, Any]:
    """The pattern and (when a path is given) the events, with the pattern's time field."""
    from cep.events import load_events
    from cep.model import load_pattern

    pattern = load_pattern(Path(pattern_path))
    events = None
    if events_path is not None:
        events = load_events(Path(events_path), time_field=pattern.order_by, max_rows=max_rows,
                             max_bytes=None)
    return pattern, events


def _table(result_json: dict[str, Any]) -> str:
    headers = ["key", "start", "end", "event_ids", "classifiers", "measures"]
    rows = []
    for m in result_json["matches"]:
        rows.append([
            ", ".join(f"{k}={v}" for k, v in m["key"].items()),
            str(m["start"]),
            str(m["end"]),
            " ".join(str(i) for i in m["event_ids"]),
            " ".join(m["classifiers"]),
            ", ".join(f"{k}={v}" for k, v in m["measures"].items()),
        ])
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    stats = result_json["stats"]
    lines.append(f"{stats['matches']} matches in {stats['events']} events ({stats['elapsed_ms']} ms)")
    return "\n".join(lines) + "\n"


def _match(args: argparse.Namespace) -> str:
    from cep.matcher import find_matches

    pattern, events = _load(args.pattern, args.events, args.max_rows)
    assert events is not None
    result = find_matches(pattern, events)
    if args.format == "json":
        return result.to_json() + "\n"
    if args.format == "csv":
        return result.to_csv()
    return _table(result.to_json_dict())


def _explain(args: argparse.Namespace) -> str:
    import json

    from cep.explain import (
        describe_pattern,
        explain_result,
        find_near_misses,
        find_near_misses_by_key,
        parse_key,
    )
    from cep.explain.text import render_explanations
    from cep.matcher import find_matches

    pattern, events = _load(args.pattern, args.events)
    description = describe_pattern(pattern)
    if events is None:
        if args.key is not None:
            raise CepError("--key needs an events file")
        if args.format == "json":
            return json.dumps({"description": description}, indent=2) + "\n"
        return description + "\n"
    result = find_matches(pattern, events)
    explanations = explain_result(pattern, events, result)
    if args.key is not None:
        key = parse_key(pattern, events, args.key)
        near = [(key, find_near_misses(pattern, events, key=key, limit=20))]
    else:
        near = find_near_misses_by_key(pattern, events, max_keys=3, limit=10)
    if args.format == "json":
        return json.dumps({
            "description": description,
            "events": events.height,
            "matches": explanations.to_json_dicts(),
            "near_misses": [m.to_json_dict() for _, misses in near for m in misses],
        }, indent=2, default=str) + "\n"
    return render_explanations(description, events.height, explanations, near,
                               key_given=args.key is not None)


def _packs(args: argparse.Namespace) -> str:
    import json

    from cep.model import Duration
    from cep.packs import (
        check_sample_path,
        describe_pack,
        generate_sample,
        list_packs,
        load_pack,
        write_sample,
    )

    if args.packs_command == "list":
        rows = [(p.name, p.meta.industry, p.meta.difficulty,
                 ", ".join(sorted({pat.kind for pat in p.patterns.values()})))
                for p in list_packs()]
        headers = ("name", "industry", "difficulty", "kinds")
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                 for r in (headers, tuple("-" * w for w in widths), *rows)]
        return "\n".join(lines) + "\n"
    pack = load_pack(args.name)
    if args.packs_command == "show":
        info = describe_pack(pack)
        if args.json:
            return json.dumps(info, indent=2, ensure_ascii=False) + "\n"
        lines = [f"{pack.meta.title} ({pack.name}) — {pack.meta.industry}, {pack.meta.difficulty}",
                 f"use cases: {', '.join(pack.meta.use_cases)}",
                 f"tags: {', '.join(pack.meta.tags)}", "", pack.meta.why_it_matters, "",
                 "patterns:"]
        for name, pattern in pack.patterns.items():
            lines.append(f"  {name} ({pattern.kind}): {pack.meta.alerts[name]}")
        lines += ["", "fields:"]
        for name, spec in pack.schema.fields.items():
            unit = f" [{spec.unit}]" if spec.unit else ""
            examples = ", ".join(str(e) for e in spec.examples)
            lines.append(f"  {name}: {spec.type}{unit}" + (f" e.g. {examples}" if examples else ""))
        return "\n".join(lines) + "\n"
    if args.events < 1:
        raise CepError(f"--events must be at least 1, got {args.events}")
    duration_s = None
    if args.duration is not None:
        try:
            duration_s = Duration(args.duration).seconds
        except CepError as error:
            raise CepError(f"--duration: {error}") from None
    check_sample_path(Path(args.out))
    frame, planted = generate_sample(pack, events=args.events, seed=args.seed, keys=args.keys,
                                     duration=duration_s)
    out = Path(args.out)
    write_sample(frame, out)
    if args.incidents:
        Path(args.incidents).write_text(json.dumps(
            [{"id": i.id, "kind": i.kind, "role": i.role, "pattern": i.pattern, "key": i.key,
              "event_ids": list(i.event_ids)} for i in planted], indent=2) + "\n",
            encoding="utf-8")
    return f"wrote {frame.height} events of {pack.name} (seed {args.seed}) to {out}\n"


def _events_vocabulary(path: str) -> dict[str, Any]:
    """``schema`` and ``examples`` for a generator from an events file's columns and values."""
    from cep.events import load_events

    frame = load_events(Path(path), max_rows=None, max_bytes=None)
    schema: dict[str, str] = {}
    examples: dict[str, list[Any]] = {}
    for name, dtype in frame.schema.items():
        if dtype.is_integer():
            schema[name] = "int"
        elif dtype.is_float():
            schema[name] = "float"
        elif dtype.is_temporal():
            schema[name] = "datetime"
        elif str(dtype) == "Boolean":
            schema[name] = "bool"
        else:
            schema[name] = "string"
            values = frame[name].drop_nulls().unique(maintain_order=True).head(50).to_list()
            examples[name] = [str(v) for v in values]
    return {"schema": schema, "examples": examples}


def _nl_generate(args: argparse.Namespace) -> Any:
    """The generation the arguments ask for (offline, or a model with an offline fallback)."""
    import os

    from cep.nl import NlSettings, generate_offline, generate_with_model, pack_vocabulary
    from cep.packs import load_pack

    vocabulary: dict[str, Any] = {}
    if args.pack:
        vocabulary = pack_vocabulary(load_pack(args.pack))
    elif args.schema:
        vocabulary = _events_vocabulary(args.schema)
    if args.model == "offline":
        return generate_offline(args.text, **vocabulary)
    settings = NlSettings.from_env(os.environ)
    if not settings.workspace_configured:
        raise CepError(f"--model {args.model} needs a Databricks workspace: set DATABRICKS_HOST "
                       "(with its authentication) or DATABRICKS_CONFIG_PROFILE, or use "
                       "--model offline")
    settings.endpoint_for(args.model)  # a disabled endpoint is bad input, not a fallback
    try:
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.config import Config

        workspace = WorkspaceClient(config=Config(http_timeout_seconds=10,
                                                  retry_timeout_seconds=20))
    except Exception as exc:  # the SDK raises ValueError and others for bad configuration
        offline = generate_offline(args.text, **vocabulary)
        warning = (f"the {args.model} model was not used: the Databricks client could not be "
                   f"configured ({type(exc).__name__}); the offline generator answered")
        return offline.model_copy(update={"source": "offline-fallback", "model": args.model,
                                          "warnings": (warning, *offline.warnings)})
    return generate_with_model(args.text, preferred_model=args.model, settings=settings,
                               workspace=workspace, **vocabulary)


def _nl(args: argparse.Namespace) -> int:
    """Print the generated pattern (DESIGN.md §5.1); 2 with the question on stderr when none."""
    import json

    import yaml

    from cep.explain import describe_pattern
    from cep.model import pattern_to_dict

    gen = _nl_generate(args)
    pattern = gen.pattern
    model_used = gen.model if gen.source in ("model", "model+repair") and gen.model else "offline"
    doc = {
        "pattern": pattern_to_dict(pattern) if pattern is not None else None,
        "description": describe_pattern(pattern) if pattern is not None else "",
        "assumptions": list(gen.assumptions),
        "warnings": list(gen.warnings),
        "question": gen.question,
        "model_used": model_used,
    }
    if args.format == "json":
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    elif args.format == "yaml":
        sys.stdout.write(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    elif pattern is not None:
        lines = [str(doc["description"]), "", "pattern:", json.dumps(doc["pattern"], indent=2)]
        for title in ("assumptions", "warnings"):
            if doc[title]:
                lines += ["", f"{title}:", *(f"  - {item}" for item in doc[title])]
        lines += ["", f"model: {model_used}"]
        sys.stdout.write("\n".join(lines) + "\n")
    if pattern is None:
        question = " ".join((gen.question or "the text was refused").split())
        print(f"question: {question}", file=sys.stderr)
        return 2
    return 0


def _codegen(args: argparse.Namespace) -> str:
    import json

    from cep.codegen.generate import generate_code
    from cep.explain import describe_pattern
    from cep.model import load_pattern

    pattern = load_pattern(Path(args.pattern))
    options: dict[str, Any] = {}
    if args.options:
        try:
            options = json.loads(Path(args.options).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CepError(f"{args.options}: not JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(options, dict):
            raise CepError(f"{args.options}: expected a JSON object of options")
    flags = {"sink_table": args.sink_table, "checkpoint": args.checkpoint,
             "watermark_delay": args.watermark_delay, "wheel_path": args.wheel_path}
    options.update({k: v for k, v in flags.items() if v is not None})
    if args.source_table is not None:
        options["source"] = {"kind": "delta", "table": args.source_table}
    code = generate_code(pattern, args.target, options, description=describe_pattern(pattern))
    return code.text


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "nl":
            return _nl(args)
        if args.command == "packs":
            output = _packs(args)
        elif args.command == "codegen":
            output = _codegen(args)
        else:
            output = _match(args) if args.command == "match" else _explain(args)
    except CepError as error:
        message = " ".join(str(error).split())
        print(f"error: {message}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: {error.filename or ''}: {error.strerror}", file=sys.stderr)
        return 2
    if getattr(args, "out", None) and args.command != "packs":
        Path(args.out).write_text(output, encoding="utf-8")
    else:
        sys.stdout.write(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
