"""The one SQL expression language of the product: parse and validate condition text into an AST,
and render that AST as Spark SQL, as a Polars expression, or evaluate it in plain Python.

Grammar (Spark SQL flavour; keywords are case-insensitive; precedence from low to high)::

    expr       := expr OR expr | expr AND expr | NOT expr | predicate
    predicate  := value cmp value                 cmp: = == <> != < <= > >=  (== is =, != is <>)
                | value IS [NOT] NULL
                | value [NOT] IN (expr, ...)
                | value [NOT] BETWEEN value AND value
                | value [NOT] LIKE value | value [NOT] ILIKE value   (% any, _ one, \\ escapes)
    value      := value (+ | - | ||) value | value (* | / | %) value | (- | +) value | primary
    primary    := literal | column | var.column | ( expr )
                | CASE [value] WHEN expr THEN expr ... [ELSE expr] END
                | CAST(expr AS type)                type: BIGINT INT INTEGER DOUBLE FLOAT DECIMAL
                                                          STRING VARCHAR BOOLEAN TIMESTAMP
                | function(expr, ...)               (the allowlist below)
                | [RUNNING | FINAL] PREV|NEXT|FIRST|LAST|LAG|LEAD(expr [, n])   navigation
                | [RUNNING | FINAL] SUM|AVG|COUNT|MIN|MAX(expr) | COUNT(*) | COUNT(var.*)
                | CLASSIFIER() | CLASSIFIER(var) | MATCH_NUMBER()
    literal    := 42 | 4.2 | 1e3 | 'text' ('' or \\' for a quote, \\\\ for a backslash)
                | TRUE | FALSE | NULL | INTERVAL '5' MINUTE (SECOND, MINUTE, HOUR, DAY)
                | TIMESTAMP '2024-01-01 00:00:00' (UTC unless an offset is given)
    column     := name | "quoted name" | `quoted name`

Comparisons do not chain (``a < b < c`` is an error); ``||`` binds like ``+`` (as in Spark).
Navigation, variable references (``A.price``), aggregates and CLASSIFIER/MATCH_NUMBER are only
accepted where :class:`Features` allows them. LAG and LEAD are read as PREV and NEXT.

Scalar function allowlist (SQL three-valued logic: a NULL argument gives NULL unless noted):

    ====================================  ================================================
    function                              result
    ====================================  ================================================
    abs(x)                                absolute value
    round(x[, d])                         half away from zero; d a non-negative integer
    floor(x), ceil(x) / ceiling(x)        rounded down / up
    sqrt(x), exp(x)                       square root (NaN below 0), e to the power x
    ln(x), log10(x)                       logarithms; NULL for x <= 0
    power(x, y) / pow(x, y)               x to the power y, as a DOUBLE
    sign(x)                               -1, 0 or 1
    mod(x, y)                             remainder with the sign of x (like %); NULL if y = 0
    lower(s), upper(s), length(s)         case mapping; length in characters
    trim(s), ltrim(s), rtrim(s)           strip spaces (both ends, left, right)
    substring(s, start[, len]) / substr   1-based; a negative start counts from the end
    concat(s, ...)                        concatenation; NULL if any argument is NULL
    replace(s, search[, repl])            replace every occurrence (repl defaults to '')
    coalesce(x, ...)                      first non-NULL argument
    nullif(x, y)                          NULL if x = y, else x
    greatest(x, y, ...), least(x, y, ...) largest / smallest non-NULL argument
    ====================================  ================================================

Division and ``%`` by zero give NULL (not infinity). Text is limited to
:data:`MAX_LENGTH` characters and :data:`MAX_DEPTH` levels of nesting.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from difflib import get_close_matches
from functools import lru_cache
from typing import Any, Literal, NoReturn, TypeAlias

import polars as pl

from cep.errors import EventDataError, ExpressionError, UnsupportedFeature

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "ROW_CONDITION",
    "Agg",
    "Between",
    "Binary",
    "Case",
    "Cast",
    "Classifier",
    "Col",
    "Expr",
    "Features",
    "Func",
    "InList",
    "IsNull",
    "Like",
    "Lit",
    "MatchNumber",
    "Nav",
    "Unary",
    "eval_row",
    "is_row_local",
    "parse_condition",
    "parse_expression",
    "referenced_columns",
    "referenced_variables",
    "to_polars",
    "to_sql",
    "walk",
]

MAX_LENGTH = 10_000
"""Longest accepted expression text, in characters."""
MAX_DEPTH = 100
"""Deepest accepted nesting (of parentheses, operators and calls)."""

# --------------------------------------------------------------------------------------------
# The AST

LitValue: TypeAlias = bool | int | float | str | timedelta | datetime | None
UnaryOp: TypeAlias = Literal["NOT", "-", "+"]
BinaryOp: TypeAlias = Literal[
    "AND", "OR", "=", "<>", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "||"
]
CastTarget: TypeAlias = Literal["BIGINT", "DOUBLE", "STRING", "BOOLEAN", "TIMESTAMP"]
NavFunc: TypeAlias = Literal["PREV", "NEXT", "FIRST", "LAST"]
AggFunc: TypeAlias = Literal["SUM", "AVG", "COUNT", "MIN", "MAX"]
Semantics: TypeAlias = Literal["RUNNING", "FINAL"]


@dataclass(frozen=True, slots=True)
class Lit:
    """A literal: NULL, boolean, number, string, interval (timedelta) or UTC timestamp."""

    value: LitValue


@dataclass(frozen=True, slots=True)
class Col:
    """A column of the current event, or of the last row bound to variable ``var``."""

    name: str
    var: str | None = None


@dataclass(frozen=True, slots=True)
class Unary:
    """``NOT x``, ``-x`` or ``+x``."""

    op: UnaryOp
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary:
    """A logical, comparison, arithmetic or concatenation operator."""

    op: BinaryOp
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class InList:
    """``operand [NOT] IN (items)``."""

    operand: Expr
    items: tuple[Expr, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Between:
    """``operand [NOT] BETWEEN low AND high`` (bounds included)."""

    operand: Expr
    low: Expr
    high: Expr
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Like:
    """``operand [NOT] LIKE pattern`` (``ILIKE`` when ``case_insensitive``)."""

    operand: Expr
    pattern: Expr
    negated: bool = False
    case_insensitive: bool = False


@dataclass(frozen=True, slots=True)
class IsNull:
    """``operand IS [NOT] NULL``."""

    operand: Expr
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Case:
    """``CASE [operand] WHEN .. THEN .. [ELSE default] END``."""

    operand: Expr | None
    whens: tuple[tuple[Expr, Expr], ...]
    default: Expr | None = None


@dataclass(frozen=True, slots=True)
class Cast:
    """``CAST(operand AS to)``, with the type normalised to one of five targets."""

    operand: Expr
    to: CastTarget


@dataclass(frozen=True, slots=True)
class Func:
    """A call of an allowlisted scalar function (lower-case canonical name)."""

    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Nav:
    """Row pattern navigation: physical PREV/NEXT, logical FIRST/LAST.

    ``offset`` defaults to 1 for PREV/NEXT and to 0 for FIRST/LAST (pass nothing, or -1).
    """

    func: NavFunc
    arg: Expr
    offset: int = -1
    semantics: Semantics = "RUNNING"

    def __post_init__(self) -> None:
        if self.offset == -1:
            object.__setattr__(self, "offset", 1 if self.func in ("PREV", "NEXT") else 0)
        elif self.offset < 0:
            raise ValueError(f"{self.func} offset must be >= 0, got {self.offset}")


@dataclass(frozen=True, slots=True)
class Agg:
    """An aggregate over the rows of a (partial) match.

    ``arg`` is None for ``COUNT(*)`` and ``COUNT(A.*)``; ``var`` is set only by ``COUNT(A.*)``
    (for ``SUM(A.price)`` the variable is in the argument).
    """

    func: AggFunc
    arg: Expr | None = None
    var: str | None = None
    semantics: Semantics = "RUNNING"


@dataclass(frozen=True, slots=True)
class Classifier:
    """``CLASSIFIER()`` (var None) or ``CLASSIFIER(U)`` for a union variable U."""

    var: str | None = None


@dataclass(frozen=True, slots=True)
class MatchNumber:
    """``MATCH_NUMBER()``."""


Expr: TypeAlias = (
    Lit
    | Col
    | Unary
    | Binary
    | InList
    | Between
    | Like
    | IsNull
    | Case
    | Cast
    | Func
    | Nav
    | Agg
    | Classifier
    | MatchNumber
)


@dataclass(frozen=True, slots=True)
class Features:
    """What a condition may use beyond plain row expressions (all off by default)."""

    navigation: bool = False
    var_refs: bool = False
    aggregates: bool = False
    classifier: bool = False


ROW_CONDITION = Features()
"""The features of a plain row condition: none."""

# --------------------------------------------------------------------------------------------
# Vocabulary

# fmt: off
_FUNCTIONS: dict[str, tuple[int, int | None]] = {  # name -> (fewest, most) arguments
    "abs": (1, 1), "round": (1, 2), "floor": (1, 1), "ceil": (1, 1), "sqrt": (1, 1),
    "exp": (1, 1), "ln": (1, 1), "log10": (1, 1), "power": (2, 2), "sign": (1, 1),
    "mod": (2, 2), "lower": (1, 1), "upper": (1, 1), "length": (1, 1), "trim": (1, 1),
    "ltrim": (1, 1), "rtrim": (1, 1), "substring": (2, 3), "concat": (1, None),
    "replace": (2, 3), "coalesce": (1, None), "nullif": (2, 2), "greatest": (2, None),
    "least": (2, None),
}
_FUNCTION_SYNONYMS = {"ceiling": "ceil", "pow": "power", "substr": "substring"}
_NUMERIC_FUNCS = frozenset({"abs", "round", "floor", "ceil", "sqrt", "exp", "ln", "log10",
                            "power", "sign", "mod"})
_STRING_FUNCS = frozenset({"lower", "upper", "trim", "ltrim", "rtrim", "substring", "concat",
                           "replace"})
_NAV_FUNCS: dict[str, NavFunc] = {"PREV": "PREV", "NEXT": "NEXT", "FIRST": "FIRST",
                                  "LAST": "LAST", "LAG": "PREV", "LEAD": "NEXT"}
_AGG_FUNCS: dict[str, AggFunc] = {"SUM": "SUM", "AVG": "AVG", "COUNT": "COUNT", "MIN": "MIN",
                                  "MAX": "MAX"}
_CAST_TYPES: dict[str, CastTarget] = {
    "BIGINT": "BIGINT", "INT": "BIGINT", "INTEGER": "BIGINT", "LONG": "BIGINT",
    "SMALLINT": "BIGINT", "TINYINT": "BIGINT", "DOUBLE": "DOUBLE", "FLOAT": "DOUBLE",
    "REAL": "DOUBLE", "DECIMAL": "DOUBLE", "NUMERIC": "DOUBLE", "STRING": "STRING",
    "VARCHAR": "STRING", "CHAR": "STRING", "TEXT": "STRING", "BOOLEAN": "BOOLEAN",
    "BOOL": "BOOLEAN", "TIMESTAMP": "TIMESTAMP",
}
_INTERVAL_UNITS_US = {"SECOND": 10**6, "MINUTE": 60 * 10**6, "HOUR": 3600 * 10**6,
                      "DAY": 86400 * 10**6}
_COMPARISONS: dict[str, BinaryOp] = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">",
                                     ">=": ">="}
_ADDITIVE: dict[str, BinaryOp] = {"+": "+", "-": "-", "||": "||"}
_MULTIPLICATIVE: dict[str, BinaryOp] = {"*": "*", "/": "/", "%": "%"}
_ARITHMETIC = frozenset({"+", "-", "*", "/", "%"})

# Words that start a statement or a subquery: rejected anywhere outside quotes.
_STATEMENT_WORDS = frozenset({
    "ALTER", "CALL", "COMMIT", "CREATE", "DECLARE", "DELETE", "DESCRIBE", "DROP", "EXEC",
    "EXECUTE", "FROM", "GRANT", "INSERT", "INTO", "MERGE", "REVOKE", "ROLLBACK", "SHOW", "TABLE",
    "TRUNCATE", "UNION", "UPDATE", "WHERE",
})
# Words with a meaning in this grammar, or reserved by Spark: back-quoted when used as names.
_KEYWORDS = frozenset({
    "AND", "OR", "NOT", "IN", "IS", "NULL", "TRUE", "FALSE", "BETWEEN", "LIKE", "ILIKE",
    "ESCAPE", "CASE", "WHEN", "THEN", "ELSE", "END", "CAST", "AS", "INTERVAL", "TIMESTAMP",
    "RUNNING", "FINAL", "SELECT",
})
_SPARK_RESERVED = frozenset({
    "ALL", "ANY", "AUTHORIZATION", "BOTH", "CHECK", "COLLATE", "COLUMN", "CONSTRAINT", "CROSS",
    "CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP", "CURRENT_USER", "DISTINCT", "DIV",
    "EXCEPT", "EXISTS", "FETCH", "FILTER", "FOR", "FOREIGN", "FULL", "GROUP", "HAVING", "INNER",
    "INTERSECT", "JOIN", "LATERAL", "LEADING", "LEFT", "NATURAL", "OFFSET", "ON", "ONLY",
    "ORDER", "OUTER", "OVERLAPS", "PRIMARY", "REFERENCES", "RIGHT", "SESSION_USER", "SOME",
    "TIME", "TO", "TRAILING", "UNIQUE", "UNKNOWN", "USER", "USING", "WITH",
})
_RESERVED = _KEYWORDS | _STATEMENT_WORDS | _SPARK_RESERVED
_NOT_A_START = frozenset({"AND", "OR", "IS", "IN", "BETWEEN", "LIKE", "ILIKE", "ESCAPE", "WHEN",
                          "THEN", "ELSE", "END", "AS"})
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CHAR_HINTS = {
    "&": "use AND", "|": "use OR ('||' concatenates strings)",
    "!": "use NOT, or <> for 'not equal'", "^": "use power(x, y)",
    "?": "parameters are not supported; write the value", "[": "indexing is not supported",
    "{": "braces are not supported", ":": "use CAST(x AS type)",
}
# fmt: on

# Binding powers of the Pratt parser.
_BP_OR, _BP_AND, _BP_NOT, _BP_PRED, _BP_ADD, _BP_MUL, _BP_UNARY = 1, 2, 3, 4, 5, 6, 7

# --------------------------------------------------------------------------------------------
# Tokenizer

_TokenKind: TypeAlias = Literal["num", "str", "ident", "qident", "op", "end"]
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[^\W\d]\w*")
_OPERATORS = (
    "<=",
    ">=",
    "<>",
    "!=",
    "==",
    "||",
    "(",
    ")",
    ",",
    ".",
    "*",
    "+",
    "-",
    "/",
    "%",
    "=",
    "<",
    ">",
)
_OP_ALIASES = {"==": "=", "!=": "<>"}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _TokenKind
    value: str  # decoded string / name, number text, or normalised operator
    pos: int
    end: int


def _snippet(text: str) -> str:
    return f"'{text}'" if len(text) <= 80 else f"'{text[:77]}...'"


class _Parser:
    """A Pratt parser over a token list; every node it builds is checked as it is built."""

    def __init__(
        self,
        text: str,
        *,
        what: str,
        features: Features,
        variables: Collection[str] | None,
        columns: Collection[str] | None,
        case_insensitive_vars: bool,
        allow_final: bool,
    ) -> None:
        self.text = text
        self.what = what
        self.features = features
        self.columns = None if columns is None else frozenset(columns)
        self.variables = None if variables is None else tuple(variables)
        self.case_insensitive_vars = case_insensitive_vars
        self.allow_final = allow_final
        self.nesting = 0
        self.calls: list[str] = []  # enclosing navigation / aggregate calls
        self.spans: dict[int, tuple[int, int, int]] = {}  # id(node) -> (start, end, depth)
        if len(text) > MAX_LENGTH:
            raise ExpressionError(
                f"{what} is too long ({len(text):,} characters; the limit is {MAX_LENGTH:,})",
                MAX_LENGTH,
            )
        self.tokens = self._tokenize()
        self.i = 0

    # -- errors -----------------------------------------------------------------------------

    def fail(self, problem: str, pos: int, hint: str | None = None) -> NoReturn:
        message = f"{problem} at position {pos} in {self.what} {_snippet(self.text)}"
        raise ExpressionError(f"{message}; {hint}" if hint else message, pos)

    def describe(self, tok: _Token) -> str:
        if tok.kind == "end":
            return f"end of {self.what}"
        return f"'{self.text[tok.pos : tok.end]}'"

    def unexpected(self, tok: _Token, hint: str | None = None) -> NoReturn:
        self.fail(f"unexpected {self.describe(tok)}", tok.pos, hint)

    # -- tokens -----------------------------------------------------------------------------

    def _tokenize(self) -> list[_Token]:
        text, n, i = self.text, len(self.text), 0
        tokens: list[_Token] = []
        while i < n:
            c = text[i]
            if c.isspace():
                i += 1
            elif text.startswith(("--", "/*"), i):
                self.fail(f"comment '{text[i : i + 2]}' is not allowed", i, "remove the comment")
            elif c == ";":
                self.fail("';' is not allowed", i, f"a {self.what} is a single expression")
            elif c.isdigit() or (c == "." and text[i + 1 : i + 2].isdigit()):
                m = _NUMBER.match(text, i)
                assert m is not None
                if m.end() < n and (text[m.end()].isalnum() or text[m.end()] == "_"):
                    rest = _IDENT.match(text, m.end())
                    bad = text[i : rest.end() if rest else m.end() + 1]
                    self.fail(f"bad number literal '{bad}'", i)
                tokens.append(_Token("num", m.group(), i, m.end()))
                i = m.end()
            elif c == "'":
                value, end = self._quoted(i, "'", "string literal")
                tokens.append(_Token("str", value, i, end))
                i = end
            elif c in '"`':
                value, end = self._quoted(i, c, "quoted name")
                if not value:
                    self.fail("empty quoted name", i)
                tokens.append(_Token("qident", value, i, end))
                i = end
            elif m := _IDENT.match(text, i):
                word = m.group()
                upper = word.upper()
                if upper == "SELECT":
                    self.fail(
                        "subqueries are not allowed: 'SELECT'",
                        i,
                        f"a {self.what} can only read the fields of events",
                    )
                if upper in _STATEMENT_WORDS:
                    self.fail(
                        f"SQL keyword '{word}' is not allowed",
                        i,
                        f"a {self.what} is an expression, not a statement; quote a column "
                        f"with this name as `{word}`",
                    )
                if word.startswith("__"):
                    self.fail(
                        f"identifier '{word}' is not allowed",
                        i,
                        "names starting with '__' are reserved",
                    )
                tokens.append(_Token("ident", word, i, m.end()))
                i = m.end()
            else:
                op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
                if op is None:
                    self.fail(f"unexpected character '{c}'", i, _CHAR_HINTS.get(c))
                tokens.append(_Token("op", _OP_ALIASES.get(op, op), i, i + len(op)))
                i += len(op)
        tokens.append(_Token("end", "", n, n))
        return tokens

    def _quoted(self, start: int, quote: str, what: str) -> tuple[str, int]:
        """Decode a quoted token: a doubled quote is one quote; in strings ``\\'`` and ``\\\\``
        are escapes too (as in Spark); any other backslash is kept."""
        text, n, i = self.text, len(self.text), start + 1
        out: list[str] = []
        while i < n:
            c = text[i]
            if c == quote:
                if text.startswith(quote * 2, i):
                    out.append(quote)
                    i += 2
                    continue
                return "".join(out), i + 1
            if quote == "'" and c == "\\" and text[i + 1 : i + 2] in ("'", "\\"):
                out.append(text[i + 1])
                i += 2
                continue
            out.append(c)
            i += 1
        self.fail(f"unterminated {what}", start, f"close it with {quote}")

    def peek(self, k: int = 0) -> _Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def is_op(self, tok: _Token, *ops: str) -> bool:
        return tok.kind == "op" and tok.value in ops

    def is_word(self, tok: _Token, *words: str) -> bool:
        return tok.kind == "ident" and tok.value.upper() in words

    def expect_op(self, op: str) -> _Token:
        tok = self.advance()
        if not self.is_op(tok, op):
            self.fail(f"expected '{op}' but found {self.describe(tok)}", tok.pos)
        return tok

    def expect_word(self, word: str) -> _Token:
        tok = self.advance()
        if not self.is_word(tok, word):
            self.fail(f"expected {word} but found {self.describe(tok)}", tok.pos)
        return tok

    # -- nodes ------------------------------------------------------------------------------

    def node(self, e: Expr, start: int, operator_pos: int | None = None) -> Expr:
        """Record where ``e`` starts and ends and how deep it is; reject too-deep trees (at the
        operator that made it too deep, if given)."""
        depth = 1 + max((self.spans[id(c)][2] for c in _children(e)), default=0)
        if depth > MAX_DEPTH:
            self.fail(
                "expression is nested too deeply",
                start if operator_pos is None else operator_pos,
                f"the limit is {MAX_DEPTH} levels; split it or use IN (...)",
            )
        self.spans[id(e)] = (start, self.tokens[self.i - 1].end if self.i else 0, depth)
        return e

    def start(self, e: Expr) -> int:
        return self.spans[id(e)][0]

    def source(self, e: Expr) -> str:
        start, end, _ = self.spans[id(e)]
        return self.text[start:end]

    def require_boolean(self, e: Expr, role: str) -> None:
        kind = _kind(e)
        if kind not in ("bool", None) or (isinstance(e, Binary) and e.op in _ARITHMETIC):
            what = {
                "number": "a number",
                "string": "a string",
                "interval": "an interval",
                "timestamp": "a timestamp",
            }.get(kind or "", "a value")
            subject = role if role == f"the {self.what}" else f"{role} ('{self.source(e)}')"
            self.fail(
                f"{subject} is {what}, not TRUE or FALSE",
                self.start(e),
                "compare it with something, e.g. price > 100",
            )

    # -- grammar ----------------------------------------------------------------------------

    def parse(self) -> Expr:
        if self.peek().kind == "end":
            self.fail(f"empty {self.what}", 0, "write an expression such as price > 100")
        e = self.expr(0)
        if self.peek().kind != "end":
            self.unexpected(self.peek())
        return e

    def expr(self, min_bp: int) -> Expr:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            self.fail(
                "expression is nested too deeply",
                self.peek().pos,
                f"the limit is {MAX_DEPTH} levels",
            )
        left = self.prefix()
        after_predicate = False
        while True:
            tok = self.peek()
            bp = self.infix_power(tok)
            if bp <= min_bp:
                break
            if bp == _BP_PRED and after_predicate:
                self.unexpected(tok, "comparisons cannot be chained; combine them with AND")
            left = self.infix(left, bp)
            after_predicate = bp == _BP_PRED
        self.nesting -= 1
        return left

    def infix_power(self, tok: _Token) -> int:
        if tok.kind == "op":
            if tok.value in _COMPARISONS:
                return _BP_PRED
            if tok.value in _ADDITIVE:
                return _BP_ADD
            if tok.value in _MULTIPLICATIVE:
                return _BP_MUL
            return 0
        if tok.kind != "ident":
            return 0
        word = tok.value.upper()
        if word == "OR":
            return _BP_OR
        if word == "AND":
            return _BP_AND
        if word in ("IS", "IN", "BETWEEN", "LIKE", "ILIKE"):
            return _BP_PRED
        if word == "NOT" and self.is_word(self.peek(1), "IN", "BETWEEN", "LIKE", "ILIKE"):
            return _BP_PRED
        return 0

    def infix(self, left: Expr, bp: int) -> Expr:
        tok = self.advance()
        start, at = self.start(left), tok.pos
        if tok.kind == "op":
            right = self.expr(bp)
            ops = (
                _COMPARISONS if bp == _BP_PRED else _ADDITIVE if bp == _BP_ADD else _MULTIPLICATIVE
            )
            return self.node(Binary(ops[tok.value], left, right), start, at)
        word = tok.value.upper()
        if word in ("AND", "OR"):
            right = self.expr(bp)
            self.require_boolean(left, f"the left side of {word}")
            self.require_boolean(right, f"the right side of {word}")
            return self.node(Binary("AND" if word == "AND" else "OR", left, right), start, at)
        if word == "IS":
            negated = self.is_word(self.peek(), "NOT")
            if negated:
                self.advance()
            what = self.advance()
            if self.is_word(what, "TRUE", "FALSE", "UNKNOWN"):
                self.fail(
                    f"IS {what.value.upper()} is not supported",
                    what.pos,
                    "compare with = TRUE / = FALSE, or use IS NULL",
                )
            if not self.is_word(what, "NULL"):
                self.fail(f"expected NULL but found {self.describe(what)}", what.pos)
            return self.node(IsNull(left, negated), start, at)
        negated = word == "NOT"
        if negated:
            tok = self.advance()
            word = tok.value.upper()
        if word == "IN":
            self.expect_op("(")
            items = [self.expr(0)]
            while self.is_op(self.peek(), ","):
                self.advance()
                items.append(self.expr(0))
            self.expect_op(")")
            return self.node(InList(left, tuple(items), negated), start, at)
        if word == "BETWEEN":
            low = self.expr(_BP_PRED)
            self.expect_word("AND")
            high = self.expr(_BP_PRED)
            return self.node(Between(left, low, high, negated), start, at)
        pattern = self.expr(_BP_PRED)
        if self.is_word(self.peek(), "ESCAPE"):
            self.fail(
                "ESCAPE is not supported", self.peek().pos, "the escape character is always '\\'"
            )
        if (
            isinstance(pattern, Lit)
            and isinstance(pattern.value, str)
            and not _is_valid_like(pattern.value)
        ):
            self.fail(
                f"bad {word} pattern {self.source(pattern)}",
                self.start(pattern),
                "a backslash may only precede %, _ or another backslash",
            )
        return self.node(Like(left, pattern, negated, word == "ILIKE"), start, at)

    def prefix(self) -> Expr:
        tok = self.advance()
        if tok.kind == "num":
            return self.number(tok, negative=False, start=tok.pos)
        if tok.kind == "str":
            return self.node(Lit(tok.value), tok.pos)
        if tok.kind == "qident":
            return self.column(tok)
        if tok.kind == "end":
            self.fail(f"unexpected end of {self.what}", tok.pos, "an operand is missing")
        if tok.kind == "op":
            if tok.value == "(":
                e = self.expr(0)
                self.expect_op(")")
                return e
            if tok.value == "-" and self.peek().kind == "num":
                return self.number(self.advance(), negative=True, start=tok.pos)
            if tok.value in ("-", "+"):
                operand = self.expr(_BP_UNARY)
                return self.node(Unary("-" if tok.value == "-" else "+", operand), tok.pos)
            self.unexpected(tok)
        return self.word(tok)

    def word(self, tok: _Token) -> Expr:
        upper = tok.value.upper()
        nxt = self.peek()
        if upper in ("TRUE", "FALSE"):
            return self.node(Lit(upper == "TRUE"), tok.pos)
        if upper == "NULL":
            return self.node(Lit(None), tok.pos)
        if upper == "NOT":
            operand = self.expr(_BP_NOT)
            self.require_boolean(operand, "the operand of NOT")
            return self.node(Unary("NOT", operand), tok.pos)
        if upper == "CASE":
            return self.case(tok)
        if upper == "CAST" and self.is_op(nxt, "("):
            return self.cast(tok)
        if upper == "INTERVAL" and nxt.kind in ("str", "num"):
            return self.interval(tok)
        if upper == "TIMESTAMP" and nxt.kind == "str":
            return self.timestamp(tok)
        if (
            upper in ("RUNNING", "FINAL")
            and nxt.kind == "ident"
            and (nxt.value.upper() in _NAV_FUNCS or nxt.value.upper() in _AGG_FUNCS)
            and self.is_op(self.peek(1), "(")
        ):
            if upper == "FINAL" and not self.allow_final:
                self.fail(
                    "FINAL is not allowed in a condition",
                    tok.pos,
                    "FINAL is only meaningful in MEASURES",
                )
            return self.call(self.advance(), "FINAL" if upper == "FINAL" else "RUNNING", tok.pos)
        if upper in _NOT_A_START:
            self.unexpected(tok, "an operand is missing")
        if self.is_op(nxt, "("):
            return self.call(tok, "RUNNING", tok.pos)
        return self.column(tok)

    def number(self, tok: _Token, *, negative: bool, start: int) -> Expr:
        text = ("-" if negative else "") + tok.value
        if any(c in tok.value for c in ".eE"):
            value: int | float = float(text)
            if not math.isfinite(value):
                self.fail(f"number literal '{tok.value}' is out of range", tok.pos)
        else:
            value = int(text)
            if not -(2**63) <= value < 2**63:
                self.fail(
                    f"integer literal '{tok.value}' is out of range for BIGINT",
                    tok.pos,
                    "write it as a decimal, e.g. 1e20",
                )
        return self.node(Lit(value), start)

    def column(self, tok: _Token) -> Expr:
        if not self.is_op(self.peek(), "."):
            self.check_column(tok.value, tok.pos)
            return self.node(Col(tok.value), tok.pos)
        self.advance()
        name = self.advance()
        if self.is_op(name, "*"):
            self.fail(f"'{tok.value}.*' is only allowed in COUNT({tok.value}.*)", tok.pos)
        if name.kind not in ("ident", "qident"):
            self.fail(
                f"expected a column name after '{tok.value}.' but found {self.describe(name)}",
                name.pos,
            )
        if self.is_op(self.peek(), "."):
            self.fail(
                "names with more than one '.' are not supported",
                self.peek().pos,
                "write variable.column",
            )
        if self.is_op(self.peek(), "("):
            self.unexpected(self.peek(), "methods cannot be called; use an allowed function")
        self.check_variable(tok.value, tok.pos, f"variable reference '{tok.value}.{name.value}'")
        self.check_column(name.value, name.pos)
        return self.node(Col(name.value, tok.value), tok.pos)

    def check_column(self, name: str, pos: int) -> None:
        if self.columns is None or name in self.columns:
            return
        close = [c for c in self.columns if c.lower() == name.lower()]
        close = close or get_close_matches(name, sorted(self.columns), n=1)
        hint = (
            f"did you mean '{close[0]}'?"
            if close
            else ("known columns: " + ", ".join(sorted(self.columns)[:20]))
        )
        self.fail(f"unknown column '{name}'", pos, hint)

    def check_variable(self, var: str, pos: int, what: str) -> None:
        if not self.features.var_refs:
            self.fail(
                f"{what} is not allowed in this {self.what}",
                pos,
                "only the current event's fields can be used here",
            )
        if self.variables is None:
            return
        if self.case_insensitive_vars:
            known = var.upper() in {v.upper() for v in self.variables}
        else:
            known = var in self.variables
        if not known:
            self.fail(
                f"unknown variable '{var}'",
                pos,
                "known variables: " + (", ".join(self.variables) or "none"),
            )

    def call(self, tok: _Token, semantics: Semantics, start: int) -> Expr:
        upper = tok.value.upper()
        if upper in _NAV_FUNCS:
            return self.navigation(tok, _NAV_FUNCS[upper], semantics, start)
        if upper in _AGG_FUNCS:
            return self.aggregate(tok, _AGG_FUNCS[upper], semantics, start)
        if upper in ("CLASSIFIER", "MATCH_NUMBER"):
            if not self.features.classifier:
                self.fail(f"{upper} is not allowed in this {self.what}", tok.pos)
            self.expect_op("(")
            if upper == "MATCH_NUMBER":
                self.expect_op(")")
                return self.node(MatchNumber(), start)
            var = None
            if self.peek().kind in ("ident", "qident"):
                var_tok = self.advance()
                self.check_variable(var_tok.value, var_tok.pos, f"CLASSIFIER({var_tok.value})")
                var = var_tok.value
            self.expect_op(")")
            return self.node(Classifier(var), start)
        name = _FUNCTION_SYNONYMS.get(tok.value.lower(), tok.value.lower())
        if name not in _FUNCTIONS:
            self.fail(
                f"function '{tok.value}' is not allowed",
                tok.pos,
                "allowed functions: " + ", ".join(sorted(_FUNCTIONS)),
            )
        self.expect_op("(")
        args: list[Expr] = []
        if not self.is_op(self.peek(), ")"):
            args.append(self.expr(0))
            while self.is_op(self.peek(), ","):
                self.advance()
                args.append(self.expr(0))
        self.expect_op(")")
        low, high = _FUNCTIONS[name]
        if len(args) < low or (high is not None and len(args) > high):
            expected = (
                str(low)
                if low == high
                else (f"at least {low}" if high is None else f"{low} to {high}")
            )
            self.fail(
                f"{tok.value}() takes {expected} argument{'s' * (expected != '1')}, "
                f"got {len(args)}",
                tok.pos,
            )
        if (
            name == "round"
            and len(args) == 2
            and not (isinstance(args[1], Lit) and type(args[1].value) is int and args[1].value >= 0)
        ):
            self.fail(
                "the number of decimals of round() must be a non-negative integer",
                self.start(args[1]),
            )
        return self.node(Func(name, tuple(args)), start)

    def navigation(self, tok: _Token, func: NavFunc, semantics: Semantics, start: int) -> Expr:
        name = tok.value.upper()
        if not self.features.navigation:
            self.fail(
                f"{name} is not allowed in this {self.what}",
                tok.pos,
                "navigation is available in match_recognize DEFINE and MEASURES",
            )
        for outer in self.calls:  # only FIRST/LAST may sit inside PREV/NEXT
            if outer in _AGG_FUNCS or outer in ("FIRST", "LAST"):
                hint = (
                    "write PREV(FIRST(...)), not FIRST(PREV(...))"
                    if outer in ("FIRST", "LAST")
                    else None
                )
                self.fail(f"{name} cannot be used inside {outer}", tok.pos, hint)
            if func in ("PREV", "NEXT"):
                self.fail(
                    f"{name} cannot be nested inside {outer}",
                    tok.pos,
                    f"use an offset instead, e.g. {name}(price, 2)",
                )
        self.expect_op("(")
        self.calls.append(func)
        arg = self.expr(0)
        self.calls.pop()
        offset = -1
        if self.is_op(self.peek(), ","):
            self.advance()
            off = self.advance()
            if off.kind != "num" or not off.value.isdigit():
                self.fail(f"the offset of {name} must be a non-negative integer literal", off.pos)
            offset = int(off.value)
        self.expect_op(")")
        refs = [n for n in walk(arg) if isinstance(n, Col | Classifier)]
        if not refs:
            self.fail(f"{name} needs a column to navigate", self.start(arg), f"e.g. {name}(price)")
        self.check_single_variable(arg, name, tok.pos)
        return self.node(Nav(func, arg, offset, semantics), start)

    def aggregate(self, tok: _Token, func: AggFunc, semantics: Semantics, start: int) -> Expr:
        name = tok.value.upper()
        if not self.features.aggregates:
            self.fail(
                f"{name} is not allowed in this {self.what}",
                tok.pos,
                "aggregates are available in match_recognize DEFINE and MEASURES",
            )
        for outer in self.calls:
            if outer in _AGG_FUNCS:
                self.fail(f"aggregate {name} cannot be nested inside {outer}", tok.pos)
            self.fail(f"{name} cannot be used inside {outer}", tok.pos)
        self.expect_op("(")
        nxt = self.peek()
        star_var: _Token | None = None
        if (
            nxt.kind in ("ident", "qident")
            and self.is_op(self.peek(1), ".")
            and self.is_op(self.peek(2), "*")
        ):
            star_var = nxt
        if self.is_op(nxt, "*") or star_var is not None:
            if func != "COUNT":
                self.fail(f"only COUNT accepts '*', not {name}", nxt.pos)
            var = None
            if star_var is not None:
                self.check_variable(star_var.value, star_var.pos, f"COUNT({star_var.value}.*)")
                var = star_var.value
                self.advance()
                self.advance()
            self.advance()
            self.expect_op(")")
            return self.node(Agg("COUNT", None, var, semantics), start)
        if self.is_word(nxt, "DISTINCT"):
            self.fail(f"{name}(DISTINCT ...) is not supported", nxt.pos)
        self.calls.append(func)
        arg = self.expr(0)
        self.calls.pop()
        if self.is_op(self.peek(), ","):
            hint = (
                f"for the {'larger' if func == 'MAX' else 'smaller'} of several values use "
                f"{'greatest' if func == 'MAX' else 'least'}(a, b)"
                if func in ("MIN", "MAX")
                else None
            )
            self.fail(f"{name}() takes 1 argument", self.peek().pos, hint)
        self.expect_op(")")
        self.check_single_variable(arg, name, tok.pos)
        return self.node(Agg(func, arg, None, semantics), start)

    def check_single_variable(self, arg: Expr, name: str, pos: int) -> None:
        fold = str.upper if self.case_insensitive_vars else str
        found = {fold(n.var) if n.var else None for n in walk(arg) if isinstance(n, Col)}
        if len(found) > 1:
            names = ", ".join(sorted(v or "(current row)" for v in found))
            self.fail(
                f"all columns inside {name} must refer to the same variable, found {names}", pos
            )

    def case(self, tok: _Token) -> Expr:
        operand = None if self.is_word(self.peek(), "WHEN") else self.expr(0)
        whens: list[tuple[Expr, Expr]] = []
        while self.is_word(self.peek(), "WHEN"):
            self.advance()
            cond = self.expr(0)
            if operand is None:
                self.require_boolean(cond, "the WHEN condition")
            self.expect_word("THEN")
            whens.append((cond, self.expr(0)))
        if not whens:
            self.fail(f"expected WHEN but found {self.describe(self.peek())}", self.peek().pos)
        default = None
        if self.is_word(self.peek(), "ELSE"):
            self.advance()
            default = self.expr(0)
        self.expect_word("END")
        return self.node(Case(operand, tuple(whens), default), tok.pos)

    def cast(self, tok: _Token) -> Expr:
        self.expect_op("(")
        operand = self.expr(0)
        self.expect_word("AS")
        target = self.advance()
        to = _CAST_TYPES.get(target.value.upper()) if target.kind == "ident" else None
        if to is None:
            self.fail(
                f"unknown CAST type {self.describe(target)}",
                target.pos,
                "use BIGINT, DOUBLE, STRING, BOOLEAN or TIMESTAMP",
            )
        if self.is_op(self.peek(), "("):  # DECIMAL(10, 2), VARCHAR(20): the size is irrelevant
            self.advance()
            while self.peek().kind == "num" or self.is_op(self.peek(), ","):
                self.advance()
            self.expect_op(")")
        self.expect_op(")")
        return self.node(Cast(operand, to), tok.pos)

    def interval(self, tok: _Token) -> Expr:
        amount = self.advance()
        unit_tok = self.advance()
        unit = unit_tok.value.upper().removesuffix("S") if unit_tok.kind == "ident" else ""
        if unit not in _INTERVAL_UNITS_US:
            self.fail(
                f"unknown INTERVAL unit {self.describe(unit_tok)}",
                unit_tok.pos,
                "use SECOND, MINUTE, HOUR or DAY",
            )
        try:
            micros = Decimal(amount.value.strip()) * _INTERVAL_UNITS_US[unit]
            if not micros.is_finite() or micros != micros.to_integral_value():
                raise InvalidOperation
            value = timedelta(microseconds=int(micros))
        except (InvalidOperation, OverflowError):
            self.fail(
                f"bad INTERVAL value {self.describe(amount)}",
                amount.pos,
                "write a number of whole microseconds or more, e.g. INTERVAL '5' MINUTE",
            )
        return self.node(Lit(value), tok.pos)

    def timestamp(self, tok: _Token) -> Expr:
        literal = self.advance()
        try:
            value = datetime.fromisoformat(literal.value.strip())
        except ValueError:
            self.fail(
                f"bad TIMESTAMP literal {self.describe(literal)}",
                literal.pos,
                "write TIMESTAMP 'YYYY-MM-DD HH:MM:SS'",
            )
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return self.node(Lit(value), tok.pos)


def _is_valid_like(pattern: str) -> bool:
    """True if every backslash in ``pattern`` escapes %, _ or a backslash (as Spark requires)."""
    escapes = [p for p in _like_parts(pattern) if p.startswith("\\")]
    return all(len(p) == 2 and p[1] in "%_\\" for p in escapes)


# --------------------------------------------------------------------------------------------
# Public parsing API


def parse_condition(
    text: str,
    *,
    features: Features = ROW_CONDITION,
    variables: Collection[str] | None = None,
    columns: Collection[str] | None = None,
    case_insensitive_vars: bool = False,
) -> Expr:
    """Parse and validate a boolean SQL condition.

    Args:
        text: The condition, e.g. ``"amount > 1000 AND country <> home_country"``.
        features: What the condition may use beyond the current row's fields.
        variables: The known pattern variables; qualifiers outside it are rejected.
        columns: The known columns; other column names are rejected.
        case_insensitive_vars: Compare qualifiers with ``variables`` ignoring case (SQL).

    Returns:
        The AST.

    Raises:
        ExpressionError: naming the offending token and its 0-based position.

    >>> parse_condition("price > PREV(price)", features=Features(navigation=True))
    Binary(op='>', left=Col(name='price', var=None), right=Nav(func='PREV', \
arg=Col(name='price', var=None), offset=1, semantics='RUNNING'))
    """
    parser = _Parser(
        text,
        what="condition",
        features=features,
        variables=variables,
        columns=columns,
        case_insensitive_vars=case_insensitive_vars,
        allow_final=False,
    )
    e = parser.parse()
    parser.require_boolean(e, "the condition")
    return e


def parse_expression(
    text: str,
    *,
    features: Features = ROW_CONDITION,
    variables: Collection[str] | None = None,
    columns: Collection[str] | None = None,
    case_insensitive_vars: bool = False,
) -> Expr:
    """Parse and validate any SQL value expression (for MEASURES and ``having``).

    Takes the same arguments as :func:`parse_condition`; the result need not be boolean, and
    ``FINAL`` is accepted before navigation and aggregates.

    >>> parse_expression("FINAL LAST(B.price)", features=Features(navigation=True, var_refs=True))
    Nav(func='LAST', arg=Col(name='price', var='B'), offset=0, semantics='FINAL')
    """
    parser = _Parser(
        text,
        what="expression",
        features=features,
        variables=variables,
        columns=columns,
        case_insensitive_vars=case_insensitive_vars,
        allow_final=True,
    )
    return parser.parse()


# --------------------------------------------------------------------------------------------
# Walking


def _children(e: Expr) -> tuple[Expr, ...]:
    match e:
        case Unary(_, operand) | IsNull(operand) | Cast(operand) | Nav(_, operand):
            return (operand,)
        case Binary(_, left, right) | Like(left, right):
            return (left, right)
        case InList(operand, items):
            return (operand, *items)
        case Between(operand, low, high):
            return (operand, low, high)
        case Case(operand, whens, default):
            parts = [operand] + [x for pair in whens for x in pair] + [default]
            return tuple(p for p in parts if p is not None)
        case Func(_, args):
            return args
        case Agg(_, arg) if arg is not None:
            return (arg,)
    return ()


def walk(e: Expr) -> Iterator[Expr]:
    """Yield every node of ``e``, parents before children, left to right."""
    stack = [e]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(_children(node)))


def referenced_columns(e: Expr) -> set[str]:
    """The column names ``e`` reads, whatever variable qualifies them."""
    return {n.name for n in walk(e) if isinstance(n, Col)}


def referenced_variables(e: Expr) -> set[str]:
    """The pattern variables ``e`` names: qualifiers, ``COUNT(V.*)`` and ``CLASSIFIER(V)``."""
    found: set[str] = set()
    for n in walk(e):
        if isinstance(n, Col | Agg | Classifier) and n.var is not None:
            found.add(n.var)
    return found


def _same_var(a: str | None, b: str | None, case_insensitive: bool) -> bool:
    if a is None or b is None:
        return a is b
    return a.upper() == b.upper() if case_insensitive else a == b


def is_row_local(e: Expr, row_var: str | None = None, case_insensitive_vars: bool = False) -> bool:
    """True if ``e`` reads only the current row and its physical neighbours (PREV/NEXT).

    Columns qualified by ``row_var`` are the current row; any other qualifier, FIRST/LAST,
    aggregates, CLASSIFIER and MATCH_NUMBER need the match state.
    """
    for n in walk(e):
        if isinstance(n, Agg | Classifier | MatchNumber):
            return False
        if isinstance(n, Nav) and n.func in ("FIRST", "LAST"):
            return False
        if (
            isinstance(n, Col)
            and n.var is not None
            and not _same_var(n.var, row_var, case_insensitive_vars)
        ):
            return False
    return True


# --------------------------------------------------------------------------------------------
# Spark SQL

_PREC_ATOM = 8


def _prec(e: Expr) -> int:
    match e:
        case Binary(op="OR"):
            return _BP_OR
        case Binary(op="AND"):
            return _BP_AND
        case Unary(op="NOT"):
            return _BP_NOT
        case Binary(op=op) if op in _COMPARISONS:
            return _BP_PRED
        case InList() | Between() | Like() | IsNull():
            return _BP_PRED
        case Binary(op=op) if op in _ADDITIVE:
            return _BP_ADD
        case Binary():
            return _BP_MUL
        case Unary():
            return _BP_UNARY
        case Lit(int() | float() as value) if not isinstance(value, bool):
            return _BP_UNARY if math.copysign(1, value) < 0 else _PREC_ATOM
    return _PREC_ATOM


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _quote_name(name: str) -> str:
    if _PLAIN_NAME.fullmatch(name) and name.upper() not in _RESERVED and not name.startswith("__"):
        return name
    return "`" + name.replace("`", "``") + "`"


def _sql_string(s: str) -> str:
    # Spark reads backslash escapes and has no '' escape ('a''b' concatenates two literals).
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sql_interval(td: timedelta) -> str:
    micros = (td.days * 86400 + td.seconds) * 10**6 + td.microseconds
    for unit in ("DAY", "HOUR", "MINUTE", "SECOND"):
        size = _INTERVAL_UNITS_US[unit]
        if micros % size == 0:
            return f"INTERVAL '{micros // size}' {unit}"
    sign = "-" if micros < 0 else ""
    seconds, rest = divmod(abs(micros), 10**6)
    return f"INTERVAL '{sign}{seconds}.{rest:06d}".rstrip("0") + "' SECOND"


def _sql_literal(value: LitValue) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnsupportedFeature(f"the number {value} has no Spark SQL literal")
        return repr(value)
    if isinstance(value, str):
        return _sql_string(value)
    if isinstance(value, timedelta):
        return _sql_interval(value)
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return "TIMESTAMP '" + aware.astimezone(UTC).isoformat(sep=" ") + "'"


def _wrap(e: Expr, min_prec: int) -> str:
    s = to_sql(e)
    return f"({s})" if _prec(e) < min_prec else s


def _prefix_semantics(semantics: Semantics) -> str:
    return "FINAL " if semantics == "FINAL" else ""


def to_sql(e: Expr) -> str:
    """Render ``e`` as Spark SQL text that parses back to the same AST.

    Names that are not plain identifiers, or are reserved words, are back-quoted; strings use
    Spark's backslash escapes; intervals use their largest exact unit.

    >>> to_sql(parse_condition("ts - PREV(ts) > interval '300' second",
    ...                        features=Features(navigation=True)))
    "ts - PREV(ts) > INTERVAL '5' MINUTE"
    """
    match e:
        case Lit(value):
            return _sql_literal(value)
        case Col(name, var):
            return _quote_name(name) if var is None else f"{_quote_name(var)}.{_quote_name(name)}"
        case Unary("NOT", operand):
            return f"NOT {_wrap(operand, _BP_NOT)}"
        case Unary(op, operand):
            inner = to_sql(operand)
            if _prec(operand) < _PREC_ATOM or (
                isinstance(operand, Lit) and _is_number(operand.value)
            ):
                inner = f"({inner})"
            return f"{op}{inner}"
        case Binary(op, left, right):
            p = _prec(e)
            left_min = p + 1 if p == _BP_PRED else p
            return f"{_wrap(left, left_min)} {op} {_wrap(right, p + 1)}"
        case InList(operand, items, negated):
            listed = ", ".join(to_sql(i) for i in items)
            return f"{_wrap(operand, _BP_PRED + 1)} {'NOT ' * negated}IN ({listed})"
        case Between(operand, low, high, negated):
            bounds = f"{_wrap(low, _BP_PRED + 1)} AND {_wrap(high, _BP_PRED + 1)}"
            return f"{_wrap(operand, _BP_PRED + 1)} {'NOT ' * negated}BETWEEN {bounds}"
        case Like(operand, pattern, negated, case_insensitive):
            word = "ILIKE" if case_insensitive else "LIKE"
            return f"{_wrap(operand, _BP_PRED + 1)} {'NOT ' * negated}{word} {_wrap(pattern, _BP_PRED + 1)}"
        case IsNull(operand, negated):
            return f"{_wrap(operand, _BP_PRED + 1)} IS {'NOT ' * negated}NULL"
        case Case(operand, whens, default):
            parts = ["CASE"] + ([to_sql(operand)] if operand is not None else [])
            parts += [f"WHEN {to_sql(c)} THEN {to_sql(v)}" for c, v in whens]
            parts += [f"ELSE {to_sql(default)}"] if default is not None else []
            return " ".join([*parts, "END"])
        case Cast(operand, to):
            return f"CAST({to_sql(operand)} AS {to})"
        case Func(name, args):
            return f"{name}({', '.join(to_sql(a) for a in args)})"
        case Nav(func, arg, offset, semantics):
            usual = 1 if func in ("PREV", "NEXT") else 0
            extra = f", {offset}" if offset != usual else ""
            return f"{_prefix_semantics(semantics)}{func}({to_sql(arg)}{extra})"
        case Agg(func, arg, var, semantics):
            inner = (
                to_sql(arg) if arg is not None else "*" if var is None else f"{_quote_name(var)}.*"
            )
            return f"{_prefix_semantics(semantics)}{func}({inner})"
        case Classifier(var):
            return f"CLASSIFIER({'' if var is None else _quote_name(var)})"
        case MatchNumber():
            return "MATCH_NUMBER()"
    raise TypeError(f"not an expression node: {e!r}")


# --------------------------------------------------------------------------------------------
# Static kinds: "bool", "number", "string", "interval", "timestamp", "value" (not boolean, type
# unknown) or None (unknown, may be boolean).

_Kind: TypeAlias = str | None
_NOT_NULL_FUNCS = frozenset({"coalesce", "greatest", "least", "nullif"})


def _lit_kind(value: LitValue) -> _Kind:
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "interval" if isinstance(value, timedelta) else "timestamp"


def _first_kind(nodes: Collection[Expr]) -> _Kind:
    return next((k for k in map(_kind, nodes) if k is not None), None)


def _kind(e: Expr) -> _Kind:
    match e:
        case Lit(value):
            return _lit_kind(value)
        case Unary("NOT", _) | InList() | Between() | Like() | IsNull():
            return "bool"
        case Unary(_, operand):
            return _kind(operand) or "value"
        case Binary(op) if op in ("AND", "OR") or op in _COMPARISONS:
            return "bool"
        case Binary("||"):
            return "string"
        case Binary(op, left, right):
            kinds = {_kind(left), _kind(right)}
            if "timestamp" in kinds:
                return "interval" if kinds == {"timestamp"} and op == "-" else "timestamp"
            return "interval" if "interval" in kinds else "number" if "number" in kinds else "value"
        case Case(_, whens, default):
            return _first_kind([v for _, v in whens] + ([default] if default else []))
        case Cast(_, to):
            return {
                "BIGINT": "number",
                "DOUBLE": "number",
                "STRING": "string",
                "BOOLEAN": "bool",
                "TIMESTAMP": "timestamp",
            }[to]
        case Func(name, args):
            if name in _NUMERIC_FUNCS or name == "length":
                return "number"
            return "string" if name in _STRING_FUNCS else _first_kind(args)
        case Nav(_, arg):
            return _kind(arg)
        case Agg(func, arg):
            return _kind(arg) if func in ("MIN", "MAX") and arg is not None else "number"
        case Classifier():
            return "string"
        case MatchNumber():
            return "number"
    return None


def _always_null(e: Expr) -> bool:
    """True if ``e`` is NULL whatever the row (so Polars must get a typed NULL literal)."""
    match e:
        case Lit(value):
            return value is None
        case Unary(_, operand) | Cast(operand) | Nav(_, operand):
            return _always_null(operand)
        case Binary(op, left, right) if op in ("AND", "OR"):
            return _always_null(left) and _always_null(right)
        case Binary(_, left, right) | Like(left, right):
            return _always_null(left) or _always_null(right)
        case InList(operand) | Between(operand):
            return _always_null(operand)
        case Case(_, whens, default):
            return all(_always_null(v) for _, v in whens) and (
                default is None or _always_null(default)
            )
        case Func(name, args):
            if name == "nullif":
                return _always_null(args[0])
            test = all if name in _NOT_NULL_FUNCS else any
            return test(_always_null(a) for a in args)
    return False


# --------------------------------------------------------------------------------------------
# Polars

_DTYPES: dict[str, pl.DataType] = {
    "bool": pl.Boolean(),
    "number": pl.Float64(),
    "string": pl.String(),
    "interval": pl.Duration("us"),
    "timestamp": pl.Datetime("us", "UTC"),
}
_COMPARE_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq, "<>": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
    ">=": operator.ge,
}  # fmt: skip
_MIRRORED = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_STATE_NODE_NAMES = {"Classifier": "CLASSIFIER", "MatchNumber": "MATCH_NUMBER"}
_TRUE_WORDS = ["t", "true", "y", "yes", "1"]
_FALSE_WORDS = ["f", "false", "n", "no", "0"]


def _rust_regex_literal(c: str) -> str:
    return c if c.isalnum() else f"\\x{{{ord(c):X}}}"


def _like_parts(pattern: str) -> list[str]:
    """Split a LIKE pattern into '%', '_' and single literal characters (escapes resolved)."""
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            parts.append("\\" + pattern[i + 1])
            i += 2
            continue
        parts.append(c)
        i += 1
    return parts


def _like_regex(pattern: str, *, case_insensitive: bool, rust: bool) -> str:
    escape = _rust_regex_literal if rust else re.escape
    body = "".join(
        ".*" if p == "%" else "." if p == "_" else escape(p[-1]) for p in _like_parts(pattern)
    )
    start, end = ("^", "$") if rust else ("\\A", "\\Z")  # Python's $ also matches before a final \n
    return ("(?si)" if case_insensitive else "(?s)") + start + body + end


def _polars_like(operand: pl.Expr, pattern: str, case_insensitive: bool) -> pl.Expr:
    parts = _like_parts(pattern)
    if not case_insensitive and "_" not in parts:  # fast paths for the common shapes
        segments = [""]
        for p in parts:
            if p == "%":
                segments.append("")
            else:
                segments[-1] += p[-1]
        head, inner, tail = segments[0], [s for s in segments[1:-1] if s], segments[-1]
        if len(segments) == 1:
            return operand == pl.lit(head)
        if not inner and not head and not tail:
            return pl.when(operand.is_not_null()).then(pl.lit(True))
        if not inner and not tail:
            return operand.str.starts_with(head)
        if not inner and not head:
            return operand.str.ends_with(tail)
        if len(inner) == 1 and not head and not tail:
            return operand.str.contains(inner[0], literal=True)
    regex = _like_regex(pattern, case_insensitive=case_insensitive, rust=True)
    return operand.str.contains(regex)


@dataclass(frozen=True, slots=True)
class _PolarsCompiler:
    partition_col: str | None
    row_var: str | None
    case_insensitive_vars: bool

    def bool_(self, e: Expr) -> pl.Expr:
        return self.compile(e).cast(pl.Boolean) if _always_null(e) else self.compile(e)

    def compile(self, e: Expr) -> pl.Expr:
        if _always_null(e):
            return pl.lit(None, dtype=_DTYPES.get(_kind(e) or "", pl.Null()))
        match e:
            case Lit(value):
                return pl.lit(value)
            case Col(name, var):
                if var is not None and not _same_var(var, self.row_var, self.case_insensitive_vars):
                    raise UnsupportedFeature(
                        f"'{var}.{name}' reads another pattern variable and is not row-local; "
                        "the Polars compiler handles the current row and PREV/NEXT only"
                    )
                return pl.col(name)
            case Unary("NOT", operand):
                return ~self.bool_(operand)
            case Unary("-", operand):
                return -self.compile(operand)
            case Unary(_, operand):
                return self.compile(operand)
            case Binary(op, left, right):
                return self.binary(op, left, right)
            case InList(operand, items, negated):
                found = pl.any_horizontal([self.compare("=", operand, i) for i in items])
                return ~found if negated else found
            case Between(operand, low, high, negated):
                inside = self.compare(">=", operand, low) & self.compare("<=", operand, high)
                return ~inside if negated else inside
            case Like(operand, pattern, negated, case_insensitive):
                if not (isinstance(pattern, Lit) and isinstance(pattern.value, str)):
                    raise UnsupportedFeature(
                        "LIKE with a pattern that is not a string literal is not supported by "
                        "the Polars compiler"
                    )
                text = self.compile(operand).cast(pl.String)
                matched = _polars_like(text, pattern.value, case_insensitive)
                return ~matched if negated else matched
            case IsNull(operand, negated):
                x = self.compile(operand)
                return x.is_not_null() if negated else x.is_null()
            case Case(operand, whens, default):
                result = pl.lit(None) if default is None else self.compile(default)
                for cond, then in reversed(whens):
                    test = self.bool_(cond) if operand is None else self.compare("=", operand, cond)
                    result = pl.when(test).then(self.compile(then)).otherwise(result)
                return result
            case Cast(operand, to):
                return self.cast(operand, to)
            case Func(name, args):
                return self.func(name, args)
            case Nav(func, arg, offset) if func in ("PREV", "NEXT"):
                x = _per_row(self.compile(arg)) if _is_scalar(arg) else self.compile(arg)
                return self.shift(x, offset if func == "PREV" else -offset)
            case _:
                name = e.func if isinstance(e, Nav | Agg) else _STATE_NODE_NAMES[type(e).__name__]
                raise UnsupportedFeature(
                    f"{name} is not row-local; the Polars compiler handles the current "
                    "row and PREV/NEXT only"
                )

    def shift(self, x: pl.Expr, n: int) -> pl.Expr:
        if n == 0:
            return x
        if self.partition_col is None:
            return x.shift(n)
        key = pl.col(self.partition_col)
        return pl.when(key.eq_missing(key.shift(n))).then(x.shift(n))

    def compare(self, op: str, left: Expr, right: Expr) -> pl.Expr:
        x, y = self.compile(left), self.compile(right)
        if _is_scalar(left) and not _is_scalar(right):
            # Polars 2.1 returns one row for 'literal = column' when the column is internally a
            # repeated scalar (e.g. coalesce over an all-NULL column); keep literals on the right.
            op, x, y = _MIRRORED[op], y, x
        compared: pl.Expr = _COMPARE_OPS[op](x, y)
        return compared

    def binary(self, op: BinaryOp, left: Expr, right: Expr) -> pl.Expr:
        if op in ("AND", "OR"):
            a, b = self.bool_(left), self.bool_(right)
            return a & b if op == "AND" else a | b
        if op in _COMPARISONS:
            return self.compare(op, left, right)
        x, y = self.compile(left), self.compile(right)
        match op:
            case "+":
                return x + y
            case "-":
                return x - y
            case "*":
                return x * y
            case "/":
                return pl.when(y != 0).then(x / y)
            case "%":
                return _polars_mod(x, y)
        return pl.concat_str([x, y])

    def cast(self, operand: Expr, to: CastTarget) -> pl.Expr:
        x, kind = self.compile(operand), _kind(operand)
        if to == "BIGINT":
            return x.cast(pl.Int64, strict=False)
        if to == "DOUBLE":
            return x.cast(pl.Float64, strict=False)
        if to == "STRING":
            return x.cast(pl.String)
        if to == "BOOLEAN":
            if kind in ("number", "bool"):
                return x.cast(pl.Boolean, strict=False)
            # The column type is unknown here and Polars cannot cast text to Boolean: read the
            # words first, then any other number as <> 0 (text or not).
            word = x.cast(pl.String).str.strip_chars().str.to_lowercase()
            truthy, falsy = word.is_in(_TRUE_WORDS), word.is_in(_FALSE_WORDS)
            number = x.cast(pl.Float64, strict=False)
            return (
                pl.when(truthy)
                .then(pl.lit(True))
                .when(falsy)
                .then(pl.lit(False))
                .otherwise(number != 0)
            )
        if kind == "string":
            return x.str.to_datetime(time_unit="us", time_zone="UTC", strict=False)
        if kind == "number":
            return (x.cast(pl.Float64) * 1e6).cast(pl.Int64).cast(pl.Datetime("us", "UTC"))
        return x.cast(pl.Datetime("us", "UTC"), strict=False)

    def func(self, name: str, args: tuple[Expr, ...]) -> pl.Expr:
        xs = [self.compile(a) for a in args]
        if name in _STRING_FUNCS and name != "substring":
            xs = [x.cast(pl.String) for x in xs]
        if name in ("substring", "replace") and _is_scalar(args[0]):
            xs[0] = _per_row(xs[0])
        x = xs[0]
        match name:
            case "abs":
                return x.abs()
            case "round":
                decimals = args[1].value if len(args) == 2 and isinstance(args[1], Lit) else 0
                assert isinstance(decimals, int)
                return x.round(decimals, mode="half_away_from_zero")
            case "floor":
                return x.floor()
            case "ceil":
                return x.ceil()
            case "sqrt":
                return x.sqrt()
            case "exp":
                return x.cast(pl.Float64).exp()
            case "ln":
                return pl.when(x > 0).then(x.cast(pl.Float64).log())
            case "log10":
                return pl.when(x > 0).then(x.cast(pl.Float64).log10())
            case "power":
                return x.cast(pl.Float64).pow(xs[1])
            case "sign":
                return x.sign()
            case "mod":
                return _polars_mod(x, xs[1])
            case "lower":
                return x.str.to_lowercase()
            case "upper":
                return x.str.to_uppercase()
            case "length":
                return x.cast(pl.String).str.len_chars().cast(pl.Int64)
            case "trim":
                return x.str.strip_chars(" ")
            case "ltrim":
                return x.str.strip_chars_start(" ")
            case "rtrim":
                return x.str.strip_chars_end(" ")
            case "substring":
                return _polars_substring(x.cast(pl.String), xs[1], xs[2] if len(xs) == 3 else None)
            case "concat":
                return pl.concat_str(xs)
            case "replace":
                search = args[1]
                if not (isinstance(search, Lit) and isinstance(search.value, str)):
                    raise UnsupportedFeature(
                        "replace() with a search text that is not a string literal is not "
                        "supported by the Polars compiler"
                    )
                repl = xs[2] if len(xs) == 3 else pl.lit("")
                replaced = (
                    x.str.replace_all(search.value, repl.fill_null(""), literal=True)
                    if search.value
                    else x
                )
                return pl.when(repl.is_not_null()).then(replaced)
            case "coalesce":
                return pl.coalesce(xs)
            case "nullif":
                return pl.when(self.compare("=", args[0], args[1])).then(None).otherwise(x)
            case "greatest":
                return pl.max_horizontal(xs)
            case "least":
                return pl.min_horizontal(xs)
        raise UnsupportedFeature(f"function {name}() is not supported by the Polars compiler")


def _is_scalar(e: Expr) -> bool:
    """True if ``e`` compiles to a Polars literal (one value, not one per row)."""
    if _always_null(e):
        return True
    if isinstance(e, Col | Nav | Agg | Classifier | MatchNumber):
        return False
    return all(_is_scalar(c) for c in _children(e))


def _per_row(scalar: pl.Expr) -> pl.Expr:
    # Shifts and string methods with column arguments need a column, not a literal, as subject.
    return pl.when(pl.int_range(pl.len()) >= 0).then(scalar)


def _polars_mod(x: pl.Expr, y: pl.Expr) -> pl.Expr:
    # SQL's remainder takes the sign of the dividend; Polars' % is floored (sign of the divisor).
    # Exact for integers; for floats Polars may differ from fmod in the last bits.
    rest = x.abs() % y.abs()
    return pl.when(y != 0).then(pl.when(x < 0).then(-rest).otherwise(rest))


def _polars_substring(s: pl.Expr, pos: pl.Expr, length: pl.Expr | None) -> pl.Expr:
    # Spark: start = pos-1 (pos > 0), len+pos (pos < 0) or 0; then clip to the string.
    pos = pos.cast(pl.Int64)
    n = s.str.len_chars().cast(pl.Int64)
    start = pl.when(pos > 0).then(pos - 1).when(pos < 0).then(n + pos).otherwise(0)
    end = n if length is None else start + length.cast(pl.Int64)
    begin = start.clip(lower_bound=0)
    count = (end - begin).clip(lower_bound=0)
    valid = pos.is_not_null() if length is None else pos.is_not_null() & length.is_not_null()
    return pl.when(valid).then(s.str.slice(begin, count))


def to_polars(
    e: Expr,
    *,
    partition_col: str | None = None,
    row_var: str | None = None,
    case_insensitive_vars: bool = False,
) -> pl.Expr:
    """Compile a row-local expression to a Polars expression with SQL NULL semantics.

    PREV(x, n) and NEXT(x, n) become shifts by n rows that are NULL where ``partition_col``
    changes (the frame must be sorted by partition, then time). Conditions come out with
    three-valued logic; callers use ``fill_null(False)``.

    Args:
        e: The expression (see :func:`is_row_local`).
        partition_col: The column whose change marks a partition boundary, if any.
        row_var: The variable the current row is tested for: ``row_var.col`` is the current row.
        case_insensitive_vars: Compare ``row_var`` with qualifiers ignoring case.

    Raises:
        UnsupportedFeature: for other variables, FIRST/LAST, aggregates, CLASSIFIER,
            MATCH_NUMBER, and LIKE or replace() with a non-literal pattern.

    Column types are not known here, so a few results follow Polars rather than Spark: ``%`` on
    floating-point numbers may differ from an exact remainder in the last bits; ``round(x, d)``
    with d > 0 rounds the binary value (``round(1.005, 2)`` is 1.0, Spark says 1.01);
    ``CAST(col AS BOOLEAN)`` reads true/t/yes/y/1 and false/f/no/n/0 (any case), then any other
    number as ``<> 0``; ``CAST(col AS TIMESTAMP)`` of a text column fails in Polars (cast a
    string literal, or load the column as a timestamp).

    >>> frame = pl.DataFrame({"k": [1, 1, 2], "price": [10, 12, 11]})
    >>> cond = parse_condition("price > PREV(price)", features=Features(navigation=True))
    >>> frame.select(to_polars(cond, partition_col="k").alias("up"))["up"].to_list()
    [None, True, None]
    """
    return _PolarsCompiler(partition_col, row_var, case_insensitive_vars).compile(e)


# --------------------------------------------------------------------------------------------
# Plain Python (reference) evaluation

_INT_TEXT = re.compile(r"[+-]?\d+")
_FLOAT_TEXT = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)", re.I)


def _and(a: Any, b: Any) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a: Any, b: Any) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def _not(a: Any) -> bool | None:
    return None if a is None else not a


def _compare(op: str, a: Any, b: Any) -> bool | None:
    return None if a is None or b is None else bool(_COMPARE_OPS[op](a, b))


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _mod(a: Any, b: Any) -> Any:
    if b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        r = abs(a) % abs(b)
        return -r if a < 0 else r
    return math.fmod(a, b)


def _round(x: Any, decimals: int = 0) -> Any:
    if isinstance(x, int) or not math.isfinite(x):
        return x
    quantum = Decimal(1).scaleb(-decimals)
    return float(Decimal(repr(x)).quantize(quantum, rounding=ROUND_HALF_UP))


def _floor_ceil(fn: Callable[[float], int]) -> Callable[[Any], Any]:
    return lambda x: x if isinstance(x, int) or not math.isfinite(x) else float(fn(x))


def _exp(x: Any) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _power(x: Any, y: Any) -> float:
    if x == 0 and y < 0:
        return math.inf
    try:
        return math.pow(x, y)
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


def _sign(x: Any) -> Any:
    if isinstance(x, float) and math.isnan(x):
        return x
    s = (x > 0) - (x < 0)
    return float(s) if isinstance(x, float) else s


def _substring(s: Any, pos: Any, length: Any = None) -> str:
    text, pos, length = _text(s), int(pos), None if length is None else int(length)
    start = pos - 1 if pos > 0 else len(text) + pos if pos < 0 else 0
    end = len(text) if length is None else start + length
    begin = max(start, 0)
    return text[begin:end] if end > begin else ""


def _replace(s: Any, search: Any, repl: Any = "") -> str:
    text, needle = _text(s), _text(search)
    return text.replace(needle, _text(repl)) if needle else text


_PY_STRICT_FUNCS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "round": _round,
    "floor": _floor_ceil(math.floor),
    "ceil": _floor_ceil(math.ceil),
    "sqrt": lambda x: math.sqrt(x) if x >= 0 else math.nan,
    "exp": _exp,
    "ln": lambda x: math.log(x) if x > 0 else None,
    "log10": lambda x: math.log10(x) if x > 0 else None,
    "power": _power,
    "sign": _sign,
    "mod": _mod,
    "lower": lambda s: _text(s).lower(),
    "upper": lambda s: _text(s).upper(),
    "length": lambda s: len(_text(s)),
    "trim": lambda s: _text(s).strip(" "),
    "ltrim": lambda s: _text(s).lstrip(" "),
    "rtrim": lambda s: _text(s).rstrip(" "),
    "substring": _substring,
    "concat": lambda *xs: "".join(map(_text, xs)),
    "replace": _replace,
}


def _py_cast(v: Any, to: CastTarget) -> Any:
    if v is None:
        return None
    if to == "STRING":
        return _text(v)
    if to == "BIGINT":
        if isinstance(v, str):
            return int(v) if _INT_TEXT.fullmatch(v) else None
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return int(v)
    if to == "DOUBLE":
        if isinstance(v, str):
            return float(v) if _FLOAT_TEXT.fullmatch(v) else None
        return float(v)
    if to == "BOOLEAN":
        if isinstance(v, str):
            word = v.strip().lower()
            if word in _TRUE_WORDS or word in _FALSE_WORDS:
                return word in _TRUE_WORDS
            return float(v) != 0 if _FLOAT_TEXT.fullmatch(v) else None
        return bool(v)
    if isinstance(v, datetime):
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
    if isinstance(v, str):
        try:
            parsed = datetime.fromisoformat(v.strip())
        except ValueError:
            return None
        return _py_cast(parsed, "TIMESTAMP")
    if _is_number(v):
        return datetime.fromtimestamp(v, UTC)
    return None


@lru_cache(maxsize=256)
def _py_like(pattern: str, case_insensitive: bool) -> re.Pattern[str]:
    return re.compile(_like_regex(pattern, case_insensitive=case_insensitive, rust=False))


@dataclass(frozen=True, slots=True)
class _RowEvaluator:
    row: Mapping[str, Any]
    resolve: Callable[[Expr], Any] | None
    row_var: str | None
    case_insensitive_vars: bool

    def external(self, e: Expr, what: str) -> Any:
        if self.resolve is None:
            raise UnsupportedFeature(f"{what} needs the match state; pass resolve= to eval_row")
        return self.resolve(e)

    def ev(self, e: Expr) -> Any:
        match e:
            case Lit(value):
                return value
            case Col(name, var):
                if var is not None and not _same_var(var, self.row_var, self.case_insensitive_vars):
                    return self.external(e, f"'{var}.{name}'")
                if name not in self.row:
                    raise EventDataError(f"the event has no field '{name}'")
                return self.row[name]
            case Unary("NOT", operand):
                return _not(self.ev(operand))
            case Unary(op, operand):
                v = self.ev(operand)
                return None if v is None else -v if op == "-" else v
            case Binary(op, left, right):
                return self.binary(op, self.ev(left), self.ev(right))
            case InList(operand, items, negated):
                v = self.ev(operand)
                found: bool | None = False
                for item in items:
                    found = _or(found, _compare("=", v, self.ev(item)))
                return _not(found) if negated else found
            case Between(operand, low, high, negated):
                v = self.ev(operand)
                inside = _and(_compare(">=", v, self.ev(low)), _compare("<=", v, self.ev(high)))
                return _not(inside) if negated else inside
            case Like(operand, pattern, negated, case_insensitive):
                v, p = self.ev(operand), self.ev(pattern)
                if v is None or p is None:
                    return None
                matched = _py_like(_text(p), case_insensitive).match(_text(v)) is not None
                return not matched if negated else matched
            case IsNull(operand, negated):
                return (self.ev(operand) is None) != negated
            case Case(operand, whens, default):
                subject = None if operand is None else self.ev(operand)
                for cond, then in whens:
                    c = self.ev(cond)
                    if (c if operand is None else _compare("=", subject, c)) is True:
                        return self.ev(then)
                return None if default is None else self.ev(default)
            case Cast(operand, to):
                return _py_cast(self.ev(operand), to)
            case Func(name, args):
                return self.func(name, [self.ev(a) for a in args])
            case Nav() | Agg() | Classifier() | MatchNumber():
                return self.external(e, to_sql(e))
        raise TypeError(f"not an expression node: {e!r}")

    def binary(self, op: BinaryOp, a: Any, b: Any) -> Any:
        if op == "AND":
            return _and(a, b)
        if op == "OR":
            return _or(a, b)
        if a is None or b is None:
            return None
        if op in _COMPARE_OPS:
            return _compare(op, a, b)
        match op:
            case "+":
                return a + b
            case "-":
                return a - b
            case "*":
                return a * b
            case "/":
                return None if b == 0 else a / b
            case "%":
                return _mod(a, b)
        return _text(a) + _text(b)

    def func(self, name: str, xs: list[Any]) -> Any:
        values = [x for x in xs if x is not None]
        match name:
            case "coalesce":
                return values[0] if values else None
            case "greatest":
                return max(values) if values else None
            case "least":
                return min(values) if values else None
            case "nullif":
                return None if _compare("=", xs[0], xs[1]) is True else xs[0]
        if len(values) < len(xs):
            return None
        return _PY_STRICT_FUNCS[name](*xs)


def eval_row(
    e: Expr,
    row: Mapping[str, Any],
    *,
    resolve: Callable[[Expr], Any] | None = None,
    row_var: str | None = None,
    case_insensitive_vars: bool = False,
) -> Any:
    """Evaluate ``e`` over one event in plain Python, with SQL three-valued logic (None = NULL).

    Slow and simple, it is the reference for :func:`to_polars` and serves reference matchers
    and explanations.

    Args:
        e: The expression.
        row: The current event's fields.
        resolve: Called with each node that needs the match state (a Col of another variable,
            Nav, Agg, Classifier, MatchNumber); returns its value.
        row_var: The variable the current row is tested for: ``row_var.col`` reads ``row``.
        case_insensitive_vars: Compare ``row_var`` with qualifiers ignoring case.

    Raises:
        UnsupportedFeature: if a node needs ``resolve`` and none is given.
        EventDataError: if the event lacks a field.
        ExpressionError: if values of incompatible types meet (e.g. ``'a' < 1``).

    >>> eval_row(parse_condition("a > 1 OR b = 'x'"), {"a": None, "b": "x"})
    True
    """
    evaluator = _RowEvaluator(row, resolve, row_var, case_insensitive_vars)
    try:
        return evaluator.ev(e)
    except TypeError as exc:
        raise ExpressionError(f"cannot evaluate {to_sql(e)!r} on this event: {exc}") from exc
