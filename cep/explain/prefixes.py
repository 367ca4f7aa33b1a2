"""Near misses of ``sequence`` and ``match_recognize`` patterns, found by matching prefixes.

For one key, the pattern is cut after each of its N top-level steps (sequence steps, or the
items of a MATCH_RECOGNIZE concatenation) and each prefix is run by the real matcher with every
start tried and one match kept per start (``SKIP TO NEXT`` / ``AFTER MATCH SKIP TO NEXT ROW``).
A start event's *depth* is the longest prefix that matches from it, and its bound events are
that prefix's match, so
the semantics (contiguity, quantifiers, windows, iterative conditions) are the matcher's own.
Why the next step failed is then asked of the matcher too, by relaxing one rule at a time:

1. ``negated_event_seen``: the next prefix matches once the negated steps before it are left
   out (the breaking event is the first one that fits a negated step);
2. ``window_expired``: the next prefix matches without ``within`` (the breaking event is the
   one that came too late);
3. ``strict_contiguity_broken``: the next step is strict (always so in MATCH_RECOGNIZE) and
   the event right after the bound ones did not fit it;
4. ``threshold_not_reached``: a loop that needs ``times.min`` events got fewer;
5. ``skip_strategy_discarded``: the whole pattern matches from the start event, but the
   pattern's skip strategy dropped it in favour of an overlapping match (a sequence that ends
   with a negated step is first run whole: if that fails, the negated event was seen);
6. otherwise ``window_expired`` when the key's events outlast the window, else ``data_ended``.

Work is bounded: at most ``MAX_KEY_EVENTS`` events of the key, and at most 5 matcher runs per
step (about 5·N runs of the matcher over those events).
"""

from __future__ import annotations

from typing import Any

from cep import expr as E
from cep.errors import CepError
from cep.explain.keyed import ID
from cep.explain.near_misses import KeyView, _t
from cep.explain.payload import NearMiss, NearMissReason
from cep.explain.rules import parse
from cep.explain.snapshot import to_us
from cep.matcher.syntax import Concat, Node, Quant, parse_row_pattern, pattern_variables, to_text
from cep.model import MatchRecognizePattern, SequencePattern, parse_pattern
from cep.results import Match

__all__ = ["step_near_misses"]

_EID = "__explain_id"

Starts = dict[Any, Match]


def _run(data: dict[str, Any], view: KeyView) -> Starts | None:
    """Longest match per start event of a pattern variant (None: the variant is not valid)."""
    from cep.matcher import find_matches

    try:
        variant = parse_pattern({**data, "id_field": _EID})
        columns = [c for c in view.frame.columns if not c.startswith("__")]
        frame = view.frame.select(columns).with_columns(view.frame.get_column(ID).alias(_EID))
        result = find_matches(variant, frame)
    except CepError:
        return None
    out: Starts = {}
    for m in result.matches:
        if not m.event_ids:
            continue
        first = m.event_ids[0]
        if first not in out or len(m.event_ids) > len(out[first].event_ids):
            out[first] = m
    return out


def step_near_misses(pattern: SequencePattern | MatchRecognizePattern, view: KeyView
                     ) -> list[NearMiss]:
    """The near misses of one key (see the module docstring)."""
    plan = _SequencePlan(pattern) if isinstance(pattern, SequencePattern) else _RecognizePlan(
        pattern)
    total = plan.total
    depth: dict[Any, tuple[int, Match]] = {}
    for k in range(1, total + 1):
        found = _run(plan.prefix(k), view)
        if found is None:
            break
        for start, m in found.items():
            if k == 1 or start in depth:
                depth[start] = (k, m)
    real = {m.event_ids[0] for m in view.result.matches if m.event_ids}
    within_us = round(pattern.within.seconds * 1e6) if pattern.within else None
    row = {v: i for i, v in enumerate(view.ids)}
    checks: dict[tuple[int, str], Starts | None] = {}

    def check(k: int, variant: str) -> Starts:
        if (k, variant) not in checks:
            data = plan.variant(k, variant)
            checks[(k, variant)] = _run(data, view) if data is not None else None
        return checks[(k, variant)] or {}

    pending = {p.event_ids[0] for p in view.result.pending if p.event_ids}
    out = []
    for start, (d, m) in depth.items():
        if start in real or start in pending:  # pending ones are reported as data_ended
            continue
        rows = [row[i] for i in m.event_ids]
        labels = list(m.classifiers)
        name = plan.name(d)
        t0 = int(view.ts[rows[0]])
        after = rows[-1] + 1 if rows[-1] + 1 < len(view.ids) else None
        if d == total and plan.has_trailing_guard():
            whole = check(total, "whole")
            if start not in whole:
                hit = plan.trailing_hit(view, rows[-1], t0, within_us)
                out.append(view.miss(
                    step=name, done=d, total=total, rows=rows, classifiers=labels,
                    broken=hit, reason="negated_event_seen",
                    text=(f"All {total} steps matched, but "
                          + (f"event {view.ids[hit]!r}" if hit is not None else "an event")
                          + " matched the negated step that must not follow within the window."),
                    details={"next_step": None}))
                continue
        if d == total:
            cover = _covering(view, start, t0)
            out.append(view.miss(
                step=name, done=d, total=total, rows=rows, classifiers=labels,
                broken=None if cover is None else row[cover.event_ids[-1]],
                reason="skip_strategy_discarded",
                text=(f"It could complete all {total} steps, but the skip strategy "
                      f"({pattern.after_match_skip}) dropped it for the overlapping match "
                      + (f"ending at event {cover.event_ids[-1]!r}." if cover else "before it.")),
                details={"after_match_skip": pattern.after_match_skip}))
            continue
        nxt = plan.name(d + 1)
        reason: NearMissReason
        broken: int | None
        late = check(d + 1, "unguarded").get(start) if plan.has_guard(d + 1) else None
        if late is not None:
            broken = plan.guard_hit(view, d + 1, rows[-1], row[late.event_ids[-1]])
            reason, text = "negated_event_seen", (
                f"After step {name} ({d} of {total}), " + (
                    f"event {view.ids[broken]!r}" if broken is not None else "an event")
                + f" matched a negated step before {nxt} could.")
        elif (late := check(d + 1, "unwindowed").get(start)) is not None:
            broken = row[late.event_ids[-1]]
            closes = t0 + (within_us or 0)
            reason, text = "window_expired", (
                f"Event {view.ids[broken]!r} would complete step {nxt}, but it came at "
                f"{_t(int(view.ts[broken]))}, past the {pattern.within} window that ends "
                f"(exclusive) at {_t(closes)}.")
        elif plan.is_strict(d + 1) and after is not None and (
                check(d + 1, "relaxed").get(start) is not None or isinstance(
                    pattern, MatchRecognizePattern)):
            broken = after
            reason, text = "strict_contiguity_broken", (
                f"After step {name} ({d} of {total}), the very next event "
                f"{view.ids[after]!r} did not fit step {nxt}, which must follow immediately.")
        elif (few := check(d + 1, "min1").get(start)) is not None:
            broken = None
            have = sum(1 for c in few.classifiers if c == nxt)
            reason, text = "threshold_not_reached", (
                f"Step {nxt} got only {have} of the {plan.min_times(d + 1)} events it needs.")
        elif within_us is not None and view.last_us >= t0 + within_us:
            broken = None
            reason, text = "window_expired", (
                f"No event completed step {nxt} within {pattern.within} of {_t(t0)} "
                f"(stuck after {d} of {total} steps).")
        else:
            broken = None
            reason, text = "data_ended", (
                f"The data ended while waiting for step {nxt} (after {d} of {total} steps).")
        ended = t0 + within_us if reason == "window_expired" and broken is None and within_us \
            else None
        out.append(view.miss(step=name, done=d, total=total, rows=rows, classifiers=labels,
                             broken=broken, reason=reason, text=text, ended_us=ended,
                             details={"next_step": nxt}))
    return out


def _covering(view: KeyView, start: Any, t0: int) -> Match | None:
    """The real match that overlapped a start event (it contains it, or spans its time)."""
    for m in view.result.matches:
        if start in m.event_ids:
            return m
    for m in view.result.matches:
        if m.start is not None and m.end is not None and to_us(m.start) <= t0 <= to_us(m.end):
            return m
    return None


class _SequencePlan:
    """Prefixes and variants of a sequence pattern."""

    def __init__(self, pattern: SequencePattern) -> None:
        self.data = pattern.model_dump(mode="json", by_alias=True)
        self.steps = self.data["steps"]
        self.positive = [i for i, s in enumerate(self.steps) if s["negated"] is None]
        self.total = len(self.positive)

    def name(self, k: int) -> str:
        return str(self.steps[self.positive[k - 1]]["name"])

    def _upto(self, k: int) -> list[dict[str, Any]]:
        return [dict(s) for s in self.steps[: self.positive[k - 1] + 1]]

    def prefix(self, k: int) -> dict[str, Any]:
        # SKIP TO NEXT keeps one (the first completed) match per start event: existence per
        # start is all a depth needs, and it keeps followedByAny from enumerating combinations.
        return {**self.data, "steps": self._upto(k), "after_match_skip": "SKIP TO NEXT"}

    def _guards(self, k: int) -> list[dict[str, Any]]:
        lo = self.positive[k - 2] + 1 if k >= 2 else 0
        return [s for s in self.steps[lo: self.positive[k - 1]] if s["negated"] is not None]

    def has_guard(self, k: int) -> bool:
        return bool(self._guards(k))

    def guard_hit(self, view: KeyView, k: int, last_row: int, end_row: int) -> int | None:
        """First event after ``last_row`` (up to ``end_row``) that fits a negated step before
        step k (None when the negated condition reads other steps)."""
        for guard in self._guards(k):
            if not guard["where"]:
                return last_row + 1 if last_row + 1 <= end_row else None
            if not E.is_row_local(parse(guard["where"]), guard["name"]):
                continue
            hits = view.mask(guard["where"])
            for r in range(last_row + 1, end_row + 1):
                if hits[r]:
                    return r
        return None

    def has_trailing_guard(self) -> bool:
        return bool(self.steps[self.positive[-1] + 1:])

    def trailing_hit(self, view: KeyView, last_row: int, t0: int, within_us: int | None
                     ) -> int | None:
        """First event after the last step, inside the window, that fits a trailing negated step."""
        for guard in self.steps[self.positive[-1] + 1:]:
            if guard["where"] and not E.is_row_local(parse(guard["where"]), guard["name"]):
                continue
            hits = view.mask(guard["where"])
            for r in range(last_row + 1, len(view.ids)):
                if within_us is not None and int(view.ts[r]) - t0 >= within_us:
                    break
                if hits[r]:
                    return r
        return None

    def is_strict(self, k: int) -> bool:
        return bool(self.steps[self.positive[k - 1]]["contiguity"] == "strict")

    def min_times(self, k: int) -> int:
        return int(self.steps[self.positive[k - 1]]["times"]["min"])

    def variant(self, k: int, what: str) -> dict[str, Any] | None:
        if what == "whole":
            return {**self.data, "after_match_skip": "SKIP TO NEXT"}
        data = self.prefix(k)
        steps = data["steps"]
        last = steps[-1]
        if what == "unguarded":
            lo = self.positive[k - 2] + 1 if k >= 2 else 0
            data["steps"] = [s for i, s in enumerate(steps) if not (lo <= i and s["negated"])]
        elif what == "unwindowed":
            if data.get("within") is None:
                return None
            data["within"] = None
        elif what == "relaxed":
            if last["contiguity"] != "strict":
                return None
            last["contiguity"] = "relaxed"
        elif what == "min1":
            if last["times"]["min"] <= 1:
                return None
            last["times"] = {"min": 1, "max": last["times"]["max"]}
            data["after_match_skip"] = "NO_SKIP"  # the longest run counts the loop's events
        return data


class _RecognizePlan:
    """Prefixes and variants of a MATCH_RECOGNIZE pattern (top-level concatenation items)."""

    def __init__(self, pattern: MatchRecognizePattern) -> None:
        self.data = pattern.model_dump(mode="json", by_alias=True)
        node = parse_row_pattern(pattern.pattern)
        self.items: list[Node] = list(node.items) if isinstance(node, Concat) else [node]
        self.total = len(self.items)

    def name(self, k: int) -> str:
        return to_text(self.items[k - 1])

    def prefix(self, k: int) -> dict[str, Any]:
        node = Concat(tuple(self.items[:k])) if k > 1 else self.items[0]
        names = {v.upper() for v in pattern_variables(node)}
        define = {v: c for v, c in self.data["define"].items() if v.upper() in names}
        subset = {u: m for u, m in self.data.get("subset", {}).items()
                  if all(x.upper() in names for x in m)}
        return {**self.data, "pattern": to_text(node), "define": define, "subset": subset,
                "measures": {}, "after_match_skip": "TO NEXT ROW", "rows_per_match": "ONE",
                "rows_per_match_option": None}

    def has_guard(self, k: int) -> bool:
        return False

    def has_trailing_guard(self) -> bool:
        return False

    def trailing_hit(self, view: KeyView, last_row: int, t0: int, within_us: int | None
                     ) -> int | None:
        return None

    def guard_hit(self, view: KeyView, k: int, last_row: int, end_row: int) -> int | None:
        return None

    def is_strict(self, k: int) -> bool:
        return True

    def min_times(self, k: int) -> int:
        item = self.items[k - 1]
        return item.min if isinstance(item, Quant) else 1

    def variant(self, k: int, what: str) -> dict[str, Any] | None:
        if what != "unwindowed" or self.data.get("within") is None:
            return None
        return {**self.prefix(k), "within": None}
