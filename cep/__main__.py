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
    explain = commands.add_parser("explain", help="describe a pattern in plain English")
    explain.add_argument("pattern", help="pattern file: .json, .yaml/.yml or .sql")
    explain.add_argument("events", nargs="?", help="optional events file: also explain each match")
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
    sample.add_argument("--out", required=True,
                        help="output file: .csv, .jsonl/.ndjson or .parquet")
    sample.add_argument("--incidents", help="also write the planted incidents to this JSON file")
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
    from cep.explain import describe_pattern
    from cep.matcher import find_matches

    pattern, events = _load(args.pattern, args.events)
    text = describe_pattern(pattern) + "\n"
    if events is not None:
        result = find_matches(pattern, events)
        text += f"\n{len(result.matches)} matches in {events.height} events:\n"
        for m in result.matches:
            bound = ", ".join(f"{i}:{c}" for i, c in zip(m.event_ids, m.classifiers, strict=True))
            key = ", ".join(f"{k}={v}" for k, v in m.key.items()) or "all events"
            text += f"- {key}: {m.start} → {m.end}: {bound or 'empty match'}\n"
    return text


def _packs(args: argparse.Namespace) -> str:
    import json

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
    check_sample_path(Path(args.out))
    frame, planted = generate_sample(pack, events=args.events, seed=args.seed, keys=args.keys)
    out = Path(args.out)
    write_sample(frame, out)
    if args.incidents:
        Path(args.incidents).write_text(json.dumps(
            [{"id": i.id, "kind": i.kind, "role": i.role, "pattern": i.pattern, "key": i.key,
              "event_ids": list(i.event_ids)} for i in planted], indent=2) + "\n",
            encoding="utf-8")
    return f"wrote {frame.height} events of {pack.name} (seed {args.seed}) to {out}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "packs":
            output = _packs(args)
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
