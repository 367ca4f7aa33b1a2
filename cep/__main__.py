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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        output = _match(args) if args.command == "match" else _explain(args)
    except CepError as error:
        message = " ".join(str(error).split())
        print(f"error: {message}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: {error.filename or ''}: {error.strerror}", file=sys.stderr)
        return 2
    if getattr(args, "out", None):
        Path(args.out).write_text(output, encoding="utf-8")
    else:
        sys.stdout.write(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
