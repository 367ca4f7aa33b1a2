"""Import a ``SELECT ... FROM t MATCH_RECOGNIZE (...)`` query as a ``match_recognize`` pattern.

Reads the Trino, Snowflake, Oracle, Flink and Databricks spellings of the clause
(SEMANTICS.md §1.1, §1.9): ``PARTITION BY``, ``ORDER BY`` (one time column), ``MEASURES``,
``ONE ROW PER MATCH`` / ``ALL ROWS PER MATCH [SHOW EMPTY MATCHES | OMIT EMPTY MATCHES |
WITH UNMATCHED ROWS]``, ``AFTER MATCH SKIP ...``, ``PATTERN (...)``, Flink's ``WITHIN INTERVAL``,
``SUBSET`` and ``DEFINE``, in any order. ``--`` and ``/* */`` comments are dropped. The text
is split into clauses by a small tokenizer that respects parentheses and quotes; conditions
and PATTERN text are kept as written and validated by the pattern model (nothing is evaluated).

>>> p = import_match_recognize('''
...     SELECT * FROM ticker MATCH_RECOGNIZE (
...         PARTITION BY symbol ORDER BY ts
...         PATTERN (A B+) WITHIN INTERVAL '5' MINUTE
...         DEFINE B AS price < PREV(price))''')
>>> p.name, p.partition_by, p.define, str(p.within)
('ticker', ('symbol',), {'B': 'price < PREV(price)'}, '5m')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, cast

from pydantic import ValidationError

from cep.errors import PatternError, UnsupportedFeature
from cep.model import MAX_PATTERN_BYTES, MatchRecognizePattern, _error_parts

__all__ = ["UnsupportedSql", "import_match_recognize"]


class UnsupportedSql(PatternError, UnsupportedFeature):
    """Valid MATCH_RECOGNIZE SQL using something the pattern model cannot express."""


TokenKind = Literal["word", "qident", "string", "number", "punct"]


@dataclass(frozen=True)
class _Token:
    kind: TokenKind
    text: str
    start: int
    end: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""

    @property
    def name(self) -> str:
        """The identifier this token spells (quotes removed), as written."""
        if self.kind == "qident":
            quote = self.text[0]
            return self.text[1:-1].replace(quote * 2, quote)
        return self.text


_TOKEN = re.compile(
    r"""
    (?P<string>'(?:[^']|'')*')
  | (?P<qident>"(?:[^"]|"")*"|`(?:[^`]|``)*`)
  | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<word>[^\W\d][\w$#]*)
  | (?P<punct><=|>=|<>|!=|\|\||::|=>|\{-|-\}|\S)
    """,
    re.VERBOSE,
)

_CLAUSES = (
    "PARTITION BY",
    "ORDER BY",
    "MEASURES",
    "ONE ROW PER MATCH",
    "ALL ROWS PER MATCH",
    "AFTER MATCH SKIP",
    "PATTERN",
    "WITHIN",
    "SUBSET",
    "DEFINE",
)
_NOT_ALIASES = {
    "WHERE", "ORDER", "GROUP", "HAVING", "LIMIT", "UNION", "EXCEPT", "INTERSECT", "WINDOW",
    "QUALIFY", "JOIN", "INNER", "LEFT", "RIGHT", "FULL", "CROSS", "OFFSET", "FETCH", "ON",
}  # fmt: skip
_EXPECTED = {
    "PARTITION BY": "column names",
    "ORDER BY": "the event-time column",
    "MEASURES": "'expression AS name, ...'",
    "SUBSET": "'name = (v1, v2, ...)'",
    "DEFINE": "'variable AS condition, ...'",
}
_INTERVAL_UNITS = {
    "MILLISECOND": "ms",
    "SECOND": "s",
    "MINUTE": "m",
    "HOUR": "h",
    "DAY": "d",
    "WEEK": "w",
}


class _Sql:
    """The comment-free text, its tokens and error helpers (positions → line and column)."""

    def __init__(self, sql: str, source: str) -> None:
        self.source = source
        self.text = _strip_comments(sql, source)
        self.tokens = [
            _Token(cast(TokenKind, kind), m.group(kind), m.start(), m.end())
            for m in _TOKEN.finditer(self.text)
            for kind in (m.lastgroup,)
            if kind is not None
        ]

    def where(self, pos: int) -> str:
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return f"line {line}, column {column}"

    def line(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1

    def error(
        self, clause: str, message: str, pos: int | None, cls: type[PatternError] = PatternError
    ) -> PatternError:
        at = f" at {self.where(pos)}" if pos is not None else ""
        return cls(f"{self.source}: {clause}: {message}{at}")

    def span(self, first: _Token, last: _Token) -> str:
        return _squash(self.text[first.start : last.end])


def _strip_comments(sql: str, source: str) -> str:
    """Replace ``--`` and ``/* */`` comments by spaces, keeping newlines (and so line numbers)."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"`":
            end = i + 1
            while True:
                end = sql.find(c, end)
                if end < 0:
                    line = sql.count("\n", 0, i) + 1
                    raise PatternError(
                        f"{source}: unterminated {c}...{c} quote starting at line {line}"
                    )
                if end + 1 < n and sql[end + 1] == c:
                    end += 2
                    continue
                break
            out.append(sql[i : end + 1])
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                line = sql.count("\n", 0, i) + 1
                raise PatternError(f"{source}: unterminated /* comment starting at line {line}")
            out.append(re.sub(r"[^\n]", " ", sql[i : end + 2]))
            i = end + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _squash(text: str) -> str:
    """Collapse runs of whitespace outside quotes to one space, and trim."""
    parts = re.split(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`)", text)
    return "".join(p if i % 2 else re.sub(r"\s+", " ", p) for i, p in enumerate(parts)).strip()


def _matching_paren(tokens: list[_Token], open_index: int) -> int | None:
    depth = 0
    for i in range(open_index, len(tokens)):
        if tokens[i].text == "(" and tokens[i].kind == "punct":
            depth += 1
        elif tokens[i].text == ")" and tokens[i].kind == "punct":
            depth -= 1
            if depth == 0:
                return i
    return None


def _split_commas(tokens: list[_Token]) -> tuple[list[list[_Token]], list[_Token]]:
    """Split at commas outside parentheses: the items, and the commas between them."""
    items: list[list[_Token]] = [[]]
    commas: list[_Token] = []
    depth = 0
    for tok in tokens:
        if tok.kind == "punct" and tok.text == "(":
            depth += 1
        elif tok.kind == "punct" and tok.text == ")":
            depth -= 1
        if depth == 0 and tok.kind == "punct" and tok.text == ",":
            items.append([])
            commas.append(tok)
        else:
            items[-1].append(tok)
    return items, commas


def _is_ident(tok: _Token | None) -> bool:
    return tok is not None and tok.kind in ("word", "qident")


def _words(tokens: list[_Token], i: int, phrase: str) -> bool:
    words = phrase.split()
    return len(tokens) >= i + len(words) and all(
        tokens[i + k].upper == w for k, w in enumerate(words)
    )


def _clause_at(tokens: list[_Token], i: int, seen: set[str]) -> str | None:
    """The clause starting at ``tokens[i]`` (each clause keyword is recognised once)."""
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    for clause in _CLAUSES:
        if clause in seen or not _words(tokens, i, clause):
            continue
        if clause == "PATTERN" and (nxt is None or nxt.text != "("):
            continue
        if clause == "WITHIN" and (nxt is None or nxt.upper != "INTERVAL"):
            continue
        if clause == "SUBSET" and not _is_ident(nxt):
            continue
        return clause
    return None


class _Importer:
    def __init__(self, sql: _Sql) -> None:
        self.sql = sql
        self.lines: dict[str, tuple[str, int]] = {}  # model field path -> (SQL clause, line)
        self.dialect: str | None = None
        self.notes: list[str] = []

    def fail(self, clause: str, message: str, tok: _Token | None) -> PatternError:
        return self.sql.error(clause, message, tok.start if tok else None)

    def unsupported(self, clause: str, message: str, tok: _Token | None) -> PatternError:
        return self.sql.error(clause, message, tok.start if tok else None, UnsupportedSql)

    def note(self, path: str, clause: str, tok: _Token) -> None:
        self.lines[path] = (clause, self.sql.line(tok.start))

    def items(self, clause: str, anchor: _Token, tokens: list[_Token]) -> list[list[_Token]]:
        """The comma-separated items of a clause; an empty one is an error at its comma."""
        items, commas = _split_commas(tokens)
        for k, item in enumerate(items):
            if not item:
                if not commas:
                    raise self.fail(clause, f"expected {_EXPECTED[clause]}", anchor)
                at = commas[min(k, len(commas) - 1)]
                raise self.fail(clause, "empty item (is there a stray comma?)", at)
        return items

    # -- the statement around the clause -------------------------------------------------

    def locate(self) -> tuple[int, int, str | None]:
        """Index of ``(`` and ``)`` of the MATCH_RECOGNIZE body, and the name the query suggests."""
        tokens = self.sql.tokens
        found = [i for i, t in enumerate(tokens) if t.upper == "MATCH_RECOGNIZE"]
        if not found:
            raise self.fail("MATCH_RECOGNIZE", "no MATCH_RECOGNIZE clause found", None)
        if len(found) > 1:
            raise self.unsupported(
                "MATCH_RECOGNIZE",
                "more than one MATCH_RECOGNIZE clause; import one at a time",
                tokens[found[1]],
            )
        mr = found[0]
        if mr + 1 >= len(tokens) or tokens[mr + 1].text != "(":
            raise self.fail("MATCH_RECOGNIZE", "expected '(' after MATCH_RECOGNIZE", tokens[mr])
        close = _matching_paren(tokens, mr + 1)
        if close is None:
            raise self.fail(
                "MATCH_RECOGNIZE", "the '(' opened here is never closed", tokens[mr + 1]
            )
        semis = [i for i, t in enumerate(tokens) if t.kind == "punct" and t.text == ";"]
        if semis and (len(semis) > 1 or semis[0] != len(tokens) - 1):
            raise self.fail(
                "SQL", "only one statement is allowed (one trailing ';' at most)", tokens[semis[0]]
            )
        return mr + 1, close, self.alias(close) or self.table(mr)

    def alias(self, close: int) -> str | None:
        tokens = self.sql.tokens
        rest = tokens[close + 1 :]
        if len(rest) >= 2 and rest[0].upper == "AS" and _is_ident(rest[1]):
            return rest[1].name
        if rest and _is_ident(rest[0]) and rest[0].upper not in _NOT_ALIASES:
            return rest[0].name
        return None

    def table(self, mr: int) -> str | None:
        tokens = self.sql.tokens
        if mr == 0:
            return None
        before = tokens[mr - 1]
        if before.text == ")":
            self.notes.append(
                "The query reads FROM a subquery; its filters and projections are not part of "
                "this pattern."
            )
            return None
        if _is_ident(before) and before.upper not in ("FROM", "SELECT"):
            return before.name
        return None

    # -- clauses -------------------------------------------------------------------------

    def split(self, body: list[_Token]) -> dict[str, tuple[_Token, list[_Token]]]:
        clauses: dict[str, tuple[_Token, list[_Token]]] = {}
        current: str | None = None
        depth, i = 0, 0
        while i < len(body):
            tok = body[i]
            clause = _clause_at(body, i, set(clauses)) if depth == 0 else None
            if clause is not None:
                clauses[clause] = (tok, [])
                current = clause
                i += len(clause.split())
                continue
            if tok.kind == "punct" and tok.text in "()":
                depth += 1 if tok.text == "(" else -1
            if current is None:
                raise self.fail(
                    "MATCH_RECOGNIZE",
                    f"unexpected {tok.text!r}; expected one of {', '.join(_CLAUSES)}",
                    tok,
                )
            clauses[current][1].append(tok)
            i += 1
        return clauses

    def column(self, clause: str, item: list[_Token], anchor: _Token) -> str:
        idents = item[0::2]
        dots = item[1::2]
        if (
            len(item) % 2 == 1
            and all(_is_ident(t) for t in idents)
            and all(t.text == "." for t in dots)
        ):
            return idents[-1].name
        text = self.sql.span(item[0], item[-1])
        if any(t.text == "(" for t in item):
            raise self.unsupported(
                clause, f"only plain column names are supported, not {text!r}", item[0]
            )
        raise self.fail(clause, f"expected a column name, found {text!r}", item[0])

    def partition_by(self, anchor: _Token, tokens: list[_Token]) -> list[str]:
        items = self.items("PARTITION BY", anchor, tokens)
        return [self.column("PARTITION BY", item, anchor) for item in items]

    def order_by(self, anchor: _Token, tokens: list[_Token]) -> str:
        items = self.items("ORDER BY", anchor, tokens)
        first = items[0]
        while first and first[-1].upper in ("ASC", "DESC", "FIRST", "LAST", "NULLS"):
            if first[-1].upper == "DESC":
                raise self.unsupported(
                    "ORDER BY",
                    "descending order is not supported; events are matched in ascending time order",
                    first[-1],
                )
            if (
                first[-1].upper in ("FIRST", "LAST")
                and len(first) >= 2
                and first[-2].upper == "NULLS"
            ):
                raise self.unsupported("ORDER BY", "NULLS FIRST/LAST is not supported", first[-2])
            first = first[:-1]
        column = self.column("ORDER BY", first, anchor)
        if len(items) > 1:
            extra = ", ".join(
                self.sql.span(item[0], item[-1]) if item else "?" for item in items[1:]
            )
            raise self.unsupported(
                "ORDER BY",
                f"only the event-time column is supported, not the tie-break column(s) {extra}; "
                "events with equal times keep their input order",
                items[1][0] if items[1] else anchor,
            )
        return column

    def measures(self, anchor: _Token, tokens: list[_Token]) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.items("MEASURES", anchor, tokens):
            if len(item) < 3 or item[-2].upper != "AS" or not _is_ident(item[-1]):
                raise self.fail(
                    "MEASURES", "expected 'expression AS name'", item[-1] if item else anchor
                )
            name = item[-1].name
            if name in out:
                raise self.fail("MEASURES", f"measure {name!r} is given twice", item[-1])
            out[name] = self.sql.span(item[0], item[-3])
            self.note(f"measures.{name}", "MEASURES", item[0])
            if any(t.upper in ("LAG", "LEAD", "MATCH_SEQUENCE_NUMBER") for t in item):
                self.dialect = "Snowflake"
        return out

    def rows(self, clause: str, anchor: _Token, tokens: list[_Token]) -> tuple[str, str | None]:
        if clause == "ONE ROW PER MATCH":
            if tokens:
                raise self.fail(clause, f"unexpected {tokens[0].text!r}", tokens[0])
            return "ONE", None
        words = " ".join(t.upper or t.text for t in tokens)
        options = ("SHOW EMPTY MATCHES", "OMIT EMPTY MATCHES", "WITH UNMATCHED ROWS")
        if words and words not in options:
            raise self.fail(
                clause, f"unexpected {words!r}; expected {', '.join(options)} or nothing", tokens[0]
            )
        self.note("rows_per_match_option", clause, anchor)
        return "ALL", words or None

    def skip(self, anchor: _Token, tokens: list[_Token]) -> str:
        if not tokens:
            raise self.fail(
                "AFTER MATCH SKIP",
                "expected PAST LAST ROW, TO NEXT ROW or TO [FIRST|LAST] v",
                anchor,
            )
        self.note("after_match_skip", "AFTER MATCH SKIP", anchor)
        return " ".join(t.text for t in tokens)

    def pattern(self, anchor: _Token, tokens: list[_Token]) -> str:
        close = _matching_paren(tokens, 0)
        if close is None:
            raise self.fail("PATTERN", "the '(' after PATTERN is never closed", tokens[0])
        if close + 1 < len(tokens):
            raise self.fail("PATTERN", f"unexpected {tokens[close + 1].text!r}", tokens[close + 1])
        self.note("pattern", "PATTERN", anchor)
        if close == 1:
            return "()"
        text = self.sql.span(tokens[1], tokens[close - 1])
        from cep.matcher.syntax import parse_row_pattern, to_text

        try:  # SQL folds unquoted names to upper case; the canonical text says so
            return to_text(parse_row_pattern(text))
        except PatternError:
            return text  # the model reports the problem, with the clause and line

    def within(self, anchor: _Token, tokens: list[_Token]) -> str:
        # Flink writes INTERVAL '10' MINUTE; INTERVAL 10 MINUTES and '10 minutes' are Spark's.
        spark = len(tokens) > 1 and (tokens[1].kind == "number" or len(tokens) == 2)
        self.dialect = "Databricks" if spark else "Flink"
        self.note("within", "WITHIN", anchor)
        rest = tokens[1:]  # after INTERVAL
        expected = "expected INTERVAL '10' MINUTE (or INTERVAL 10 MINUTES, INTERVAL '10 minutes')"
        if not rest:
            raise self.fail("WITHIN", expected, anchor)
        amount: str
        if rest[0].kind == "string" and len(rest) == 1:
            m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*", rest[0].text[1:-1])
            if m is None:
                raise self.fail("WITHIN", expected, rest[0])
            amount, unit_tok, unit_word = m.group(1), rest[0], m.group(2).upper()
            tail: list[_Token] = []
        elif rest[0].kind in ("string", "number") and len(rest) >= 2 and rest[1].kind == "word":
            amount = rest[0].text.strip("'").strip()
            unit_tok, unit_word, tail = rest[1], rest[1].upper, rest[2:]
        else:
            raise self.fail("WITHIN", expected, rest[0])
        if tail[:1] and tail[0].text == "(":  # Flink's precision: SECOND(3)
            close = _matching_paren(tail, 0)
            tail = tail[(close + 1 if close is not None else len(tail)) :]
        if tail:
            if tail[0].upper == "TO":
                raise self.unsupported("WITHIN", "INTERVAL ... TO ... is not supported", tail[0])
            raise self.fail("WITHIN", f"unexpected {tail[0].text!r}", tail[0])
        unit = _INTERVAL_UNITS.get(unit_word.removesuffix("S"))
        if unit is None:
            raise self.fail(
                "WITHIN",
                f"unknown interval unit {unit_word!r}; use SECOND, MINUTE, HOUR, DAY or WEEK",
                unit_tok,
            )
        try:
            value = Decimal(amount)
        except ArithmeticError:
            raise self.fail("WITHIN", f"{amount!r} is not a number", rest[0]) from None
        return f"{value.normalize():f}{unit}"

    def subset(self, anchor: _Token, tokens: list[_Token]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for item in self.items("SUBSET", anchor, tokens):
            if not _is_ident(item[0]):
                raise self.fail("SUBSET", "expected a union variable name", item[0])
            union = _var_name(item[0])
            if len(item) < 2 or item[1].text != "=":
                raise self.fail("SUBSET", f"expected '=' after {union}", item[-1])
            if len(item) < 3 or item[2].text != "(" or item[-1].text != ")":
                raise self.fail(
                    "SUBSET",
                    f"expected '(v1, v2, ...)' after '{union} ='",
                    item[min(2, len(item) - 1)],
                )
            members = self.items("SUBSET", item[2], item[3:-1]) if len(item) > 4 else []
            if not members:
                raise self.fail("SUBSET", f"{union} = () lists no variables", item[2])
            names: list[str] = []
            for member in members:
                if len(member) != 1 or not _is_ident(member[0]):
                    raise self.fail(
                        "SUBSET",
                        f"expected a pattern variable in {union}'s list",
                        member[0] if member else item[2],
                    )
                names.append(_var_name(member[0]))
            out[union] = names
            self.note(f"subset.{union}", "SUBSET", item[0])
        return out

    def define(self, anchor: _Token, tokens: list[_Token]) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.items("DEFINE", anchor, tokens):
            if not _is_ident(item[0]):
                raise self.fail(
                    "DEFINE", f"expected a pattern variable, found {item[0].text!r}", item[0]
                )
            var = _var_name(item[0])
            if len(item) < 2 or item[1].upper != "AS":
                bad = item[1] if len(item) > 1 else item[0]
                raise self.fail("DEFINE", f"expected 'AS' after variable {var}", bad)
            if len(item) < 3:
                raise self.fail("DEFINE", f"missing condition after '{var} AS'", item[1])
            if var in out:
                raise self.fail("DEFINE", f"variable {var} is defined twice", item[0])
            if any(t.upper in ("LAG", "LEAD") for t in item):
                self.dialect = "Snowflake"
            out[var] = self.sql.span(item[2], item[-1])
            self.note(f"define.{var}", "DEFINE", item[0])
        return out

    def run(self, name: str | None) -> dict[str, Any]:
        open_i, close_i, suggested = self.locate()
        tokens = self.sql.tokens
        body = tokens[open_i + 1 : close_i]
        clauses = self.split(body)
        if "PATTERN" not in clauses:
            raise self.fail("MATCH_RECOGNIZE", "the PATTERN clause is missing", tokens[open_i])
        if "ORDER BY" not in clauses:
            raise self.fail(
                "MATCH_RECOGNIZE",
                "ORDER BY is missing; add ORDER BY <event-time column>",
                tokens[open_i],
            )
        if any(t.kind == "qident" and t.text.startswith("`") for t in tokens) and not self.dialect:
            self.dialect = "Databricks"
        data: dict[str, Any] = {"kind": "match_recognize"}
        for clause, (anchor, toks) in clauses.items():
            if clause == "PARTITION BY":
                data["partition_by"] = self.partition_by(anchor, toks)
                self.note("partition_by", clause, anchor)
            elif clause == "ORDER BY":
                data["order_by"] = self.order_by(anchor, toks)
                self.note("order_by", clause, anchor)
            elif clause == "MEASURES":
                data["measures"] = self.measures(anchor, toks)
            elif clause in ("ONE ROW PER MATCH", "ALL ROWS PER MATCH"):
                if "rows_per_match" in data:
                    raise self.fail(
                        clause, "give ONE ROW PER MATCH or ALL ROWS PER MATCH, not both", anchor
                    )
                data["rows_per_match"], option = self.rows(clause, anchor, toks)
                if option:
                    data["rows_per_match_option"] = option
            elif clause == "AFTER MATCH SKIP":
                data["after_match_skip"] = self.skip(anchor, toks)
            elif clause == "PATTERN":
                data["pattern"] = self.pattern(anchor, toks)
            elif clause == "WITHIN":
                data["within"] = self.within(anchor, toks)
            elif clause == "SUBSET":
                data["subset"] = self.subset(anchor, toks)
            elif clause == "DEFINE":
                data["define"] = self.define(anchor, toks)
        data["name"] = name or suggested or "match_recognize"
        spelling = f" ({self.dialect} spelling)" if self.dialect else ""
        data["description"] = " ".join(
            [f"Imported from a MATCH_RECOGNIZE query{spelling}.", *self.notes]
        )
        return data


def _var_name(tok: _Token) -> str:
    """A pattern variable as SQL reads it: unquoted names fold to upper case."""
    return tok.name if tok.kind == "qident" else tok.text.upper()


def import_match_recognize(
    sql: str, *, source: str = "<sql>", name: str | None = None
) -> MatchRecognizePattern:
    """Turn a query with one ``MATCH_RECOGNIZE`` clause into a ``match_recognize`` pattern.

    Args:
        sql: the query; one statement, an optional trailing ``;``, comments allowed.
        source: the name used in error messages (usually the file name).
        name: the pattern's name; by default the MATCH_RECOGNIZE alias (``... ) AS v``), else the
            FROM table, else ``match_recognize``.

    Raises:
        PatternError: naming the clause and the line, e.g.
            ``DEFINE: expected 'AS' after variable B at line 7, column 11``;
            :class:`UnsupportedSql` (also an :class:`~cep.errors.UnsupportedFeature`) for valid
            SQL the model cannot express (tie-break ORDER BY columns, DESC, expressions in
            PARTITION BY).
    """
    if len(sql) > MAX_PATTERN_BYTES:
        raise PatternError(f"{source}: the query is longer than {MAX_PATTERN_BYTES} characters")
    importer = _Importer(_Sql(sql, source))
    data = importer.run(name)
    try:
        return MatchRecognizePattern.model_validate(data)
    except ValidationError as exc:
        messages = []
        for path, message in _error_parts(exc, root=MatchRecognizePattern):
            clause = importer.lines.get(path) or importer.lines.get(path.split(".")[0])
            where = f" ({clause[0]} at line {clause[1]})" if clause else ""
            messages.append(f"{path}{where}: {message}" if path else message)
        raise PatternError(f"{source}: {'; '.join(messages[:3])}") from None
    except PatternError as exc:  # raised outside pydantic's error handling (configuration)
        raise PatternError(f"{source}: {exc}") from None
