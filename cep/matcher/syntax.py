"""The row-pattern language of MATCH_RECOGNIZE: parse PATTERN text into a small tree.

Grammar (SEMANTICS.md §1.3), precedence from high to low::

    primary    := VAR | "()" | "^" | "$" | "(" alt ")" | "{-" alt "-}" | PERMUTE "(" alt, ... ")"
    quantified := primary [ ("*" | "+" | "?" | "{n}" | "{n,}" | "{,m}" | "{n,m}" | "{,}") ["?"] ]
    concat     := quantified quantified ...
    alt        := concat "|" concat ...

Unquoted variable names are upper-cased, as SQL folds identifiers; ``"quoted"`` names keep
their case.

>>> to_text(parse_row_pattern("a b+? (c | d){2,}"))
'A B+? (C | D){2,}'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cep.errors import PatternError

__all__ = [
    "Alt",
    "Anchor",
    "Concat",
    "Empty",
    "Exclude",
    "Node",
    "Permute",
    "Quant",
    "Var",
    "parse_row_pattern",
    "pattern_variables",
    "to_text",
]

MAX_PATTERN_CHARS = 2_000
MAX_QUANTIFIER = 10_000


@dataclass(frozen=True)
class Var:
    """One pattern variable: matches one row for which the variable's DEFINE holds."""

    name: str


@dataclass(frozen=True)
class Empty:
    """``()``: the empty pattern, matching no rows."""


@dataclass(frozen=True)
class Anchor:
    """``^`` (partition start) or ``$`` (partition end); matches no rows."""

    kind: Literal["start", "end"]


@dataclass(frozen=True)
class Concat:
    """Rows matched by each item in turn (strict contiguity)."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Alt:
    """The first item (in order of preference) that leads to a complete match."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Quant:
    """``node`` repeated ``min``..``max`` times (``max`` None = unbounded)."""

    node: Node
    min: int
    max: int | None
    greedy: bool = True


@dataclass(frozen=True)
class Exclude:
    """``{- node -}``: matched as usual, left out of ALL ROWS PER MATCH output."""

    node: Node


@dataclass(frozen=True)
class Permute:
    """``PERMUTE(a, b, ...)``: every order of the items, in lexicographic preference."""

    items: tuple[Node, ...]


Node = Var | Empty | Anchor | Concat | Alt | Quant | Exclude | Permute


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str, pos: int | None = None) -> PatternError:
        at = self.pos if pos is None else pos
        return PatternError(f"PATTERN {self.text!r}: {message} at position {at}")

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self, token: str) -> bool:
        self.skip_ws()
        return self.text.startswith(token, self.pos)

    def take(self, token: str) -> bool:
        if self.peek(token):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: str) -> None:
        if not self.take(token):
            found = self.text[self.pos] if self.pos < len(self.text) else "end of pattern"
            raise self.fail(f"expected {token!r}, found {found!r}")

    def parse(self) -> Node:
        node = self.alt()
        self.skip_ws()
        if self.pos < len(self.text):
            raise self.fail(f"unexpected {self.text[self.pos]!r}")
        return node

    def alt(self) -> Node:
        items = [self.concat()]
        while self.take("|"):
            items.append(self.concat())
        return items[0] if len(items) == 1 else Alt(tuple(items))

    def at_concat_end(self) -> bool:
        self.skip_ws()
        return self.pos >= len(self.text) or self.text[self.pos] in "|),-"

    def concat(self) -> Node:
        start = self.pos
        items: list[Node] = []
        while not self.at_concat_end():
            items.append(self.quantified())
        if not items:
            raise self.fail("expected a pattern variable or '(' (write () for the empty pattern)", start)
        return items[0] if len(items) == 1 else Concat(tuple(items))

    def quantified(self) -> Node:
        node = self.primary()
        self.skip_ws()
        bounds = self.quantifier()
        if bounds is None:
            return node
        low, high = bounds
        greedy = not self.take("?")
        if high is not None and high == low:
            greedy = True  # {n}? behaves like {n}
        if self.peek("*") or self.peek("+") or self.peek("?") or (self.peek("{") and not self.peek("{-")):
            raise self.fail("a quantifier cannot follow a quantifier; use parentheses")
        return Quant(node, low, high, greedy)

    def quantifier(self) -> tuple[int, int | None] | None:
        if self.take("*"):
            return 0, None
        if self.take("+"):
            return 1, None
        if self.take("?"):
            return 0, 1
        if self.peek("{") and not self.peek("{-"):
            start = self.pos
            close = self.text.find("}", self.pos)
            if close < 0:
                raise self.fail("unterminated quantifier '{'", start)
            body = self.text[self.pos + 1 : close].replace(" ", "")
            self.pos = close + 1
            low_text, comma, high_text = body.partition(",")
            if not all(part == "" or part.isdigit() for part in (low_text, high_text)) or (
                not comma and not low_text
            ):
                raise self.fail(f"bad quantifier '{{{body}}}'", start)
            low = int(low_text) if low_text else 0
            high = (int(high_text) if high_text else None) if comma else low
            if high is not None and high < low:
                raise self.fail(f"quantifier '{{{body}}}' has its maximum below its minimum", start)
            if max(low, high or 0) > MAX_QUANTIFIER:
                raise self.fail(f"quantifier bound above the limit {MAX_QUANTIFIER}", start)
            return low, high
        return None

    def primary(self) -> Node:
        self.skip_ws()
        start = self.pos
        if self.take("{-"):
            inner = self.alt()
            self.expect("-}")
            return Exclude(inner)
        if self.take("^"):
            return Anchor("start")
        if self.take("$"):
            return Anchor("end")
        if self.take("("):
            if self.take(")"):
                return Empty()
            inner = self.alt()
            self.expect(")")
            return inner
        name = self.identifier()
        if name is None:
            raise self.fail(f"unexpected {self.text[start]!r}", start)
        if name.upper() == "PERMUTE" and self.peek("("):
            self.expect("(")
            items = [self.alt()]
            while self.take(","):
                items.append(self.alt())
            self.expect(")")
            return Permute(tuple(items))
        return Var(name)

    def identifier(self) -> str | None:
        text, pos = self.text, self.pos
        if pos < len(text) and text[pos] == '"':
            close = text.find('"', pos + 1)
            if close <= pos + 1:
                raise self.fail("unterminated or empty quoted variable name", pos)
            self.pos = close + 1
            return text[pos + 1 : close]
        end = pos
        while end < len(text) and (text[end].isalnum() or text[end] == "_"):
            end += 1
        if end == pos or text[pos].isdigit():
            return None
        self.pos = end
        return text[pos:end].upper()


def parse_row_pattern(text: str) -> Node:
    """Parse PATTERN text (without the surrounding ``PATTERN ( )``).

    Raises:
        PatternError: naming the position of the first problem.
    """
    if not text or not text.strip():
        raise PatternError("PATTERN is empty; write at least one pattern variable, e.g. 'A B+'")
    if len(text) > MAX_PATTERN_CHARS:
        raise PatternError(f"PATTERN is longer than {MAX_PATTERN_CHARS} characters")
    return _Parser(text).parse()


def pattern_variables(node: Node) -> list[str]:
    """The variables of a pattern in order of first appearance."""
    seen: dict[str, None] = {}

    def visit(n: Node) -> None:
        if isinstance(n, Var):
            seen.setdefault(n.name)
        elif isinstance(n, Concat | Alt | Permute):
            for item in n.items:
                visit(item)
        elif isinstance(n, Quant | Exclude):
            visit(n.node)

    visit(node)
    return list(seen)


def _quote(name: str) -> str:
    plain = name.isidentifier() and name == name.upper() and name.upper() != "PERMUTE"
    return name if plain else '"' + name + '"'


def to_text(node: Node) -> str:
    """Render a pattern tree as canonical PATTERN text (parses back to the same tree)."""
    if isinstance(node, Var):
        return _quote(node.name)
    if isinstance(node, Empty):
        return "()"
    if isinstance(node, Anchor):
        return "^" if node.kind == "start" else "$"
    if isinstance(node, Concat):
        return " ".join(f"({to_text(i)})" if isinstance(i, Alt) else to_text(i) for i in node.items)
    if isinstance(node, Alt):
        return " | ".join(to_text(i) for i in node.items)
    if isinstance(node, Exclude):
        return "{- " + to_text(node.node) + " -}"
    if isinstance(node, Permute):
        return "PERMUTE(" + ", ".join(to_text(i) for i in node.items) + ")"
    inner = to_text(node.node)
    if not isinstance(node.node, Var | Empty | Exclude | Permute):
        inner = f"({inner})"
    return inner + _quantifier_text(node)


def _quantifier_text(node: Quant) -> str:
    low, high = node.min, node.max
    if (low, high) == (0, None):
        text = "*"
    elif (low, high) == (1, None):
        text = "+"
    elif (low, high) == (0, 1):
        text = "?"
    elif high is None:
        text = f"{{{low},}}"
    elif low == high:
        return f"{{{low}}}"
    else:
        text = f"{{{low},{high}}}"
    return text if node.greedy else text + "?"
