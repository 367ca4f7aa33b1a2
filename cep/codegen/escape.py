r"""Escaping for generated code: the one place user text becomes a literal or an identifier.

Every value that reaches a template goes through one of these functions and comes out as
:class:`Code` — text that is already safe to paste. The renderer (``cep.codegen.render``) refuses
anything that is not :class:`Code`, so a plain string can never land in generated code unescaped.

* :func:`py_literal` — the single literal-escaping function for Python: ``ascii()`` of a
  ``str``/``int``/``float``/``bool``/``None``, which ``ast.literal_eval`` reads back exactly and
  which contains no newline, no non-ASCII character and no unescaped quote.
* :func:`sql_identifier` / :func:`sql_table` — validated names, back-quoted for Spark SQL.
* :func:`comment_lines` — free text (names, descriptions) as inert comment lines.

>>> print(py_literal('a\nb'))
'a\nb'
>>> sql_identifier("amount")
Code('`amount`')
"""

from __future__ import annotations

import math
import re
import unicodedata

from cep.errors import CepError, PatternError

__all__ = [
    "IDENTIFIER",
    "Code",
    "check_identifier",
    "comment_lines",
    "py_literal",
    "sql_identifier",
    "sql_table",
]

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
"""A column or table-part name the generated code accepts (letters, digits, ``_``)."""


class Code(str):
    """Text that is safe to paste into generated code (produced only by this module)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Code({str.__repr__(self)})"


def py_literal(value: str | int | float | bool | None) -> Code:
    """A Python literal for ``value`` (the one literal-escaping function for Python code).

    ``ascii()`` escapes quotes, backslashes, newlines and every non-ASCII character, so the
    literal is one line that ``ast.literal_eval`` turns back into exactly ``value``.

    Raises:
        CepError: ``value`` is not a plain scalar, or a float that is not finite.
    """
    if value is None or isinstance(value, bool | int | str):
        return Code(ascii(value))
    if isinstance(value, float) and math.isfinite(value):
        return Code(repr(value))
    raise CepError(f"cannot write {type(value).__name__} value {value!r} as a literal")


def check_identifier(name: str, where: str) -> str:
    """``name`` if it is a valid column name for generated code, else a ``PatternError``.

    Args:
        name: the column name.
        where: what the name is, for the message (e.g. ``"partition_by[0]"``).
    """
    if not IDENTIFIER.fullmatch(name):
        raise PatternError(
            f"{where}: column {name!r} cannot be used in generated Spark code; use letters, "
            "digits and '_' (starting with a letter or '_', at most 128 characters), e.g. "
            "rename or alias the column in the source table"
        )
    return name


def sql_identifier(name: str, where: str = "column") -> Code:
    """A validated column name, back-quoted for Spark SQL (``amount`` → ```amount```)."""
    return Code(f"`{check_identifier(name, where)}`")


def sql_table(name: str, where: str = "table") -> Code:
    """A validated ``[catalog.][schema.]table`` name, each part back-quoted.

    Raises:
        CepError: a part is empty or not an identifier, or there are more than three parts.
    """
    parts = name.split(".")
    if not 1 <= len(parts) <= 3 or not all(IDENTIFIER.fullmatch(p) for p in parts):
        raise CepError(
            f"{where}: {name!r} is not a table name; write catalog.schema.table with letters, "
            "digits and '_' in each part"
        )
    return Code(".".join(f"`{p}`" for p in parts))


def _printable(line: str) -> str:
    return "".join(
        c if c.isprintable() and unicodedata.category(c) not in ("Zl", "Zp") else " " for c in line
    ).rstrip()


def comment_lines(text: str, prefix: str) -> Code:
    """``text`` as comment lines, each ``prefix`` + ``" | "`` + one printable line.

    Every character that could end a line or a comment is replaced, and the ``" | "`` margin
    keeps a line from reading as a notebook directive (``# COMMAND ----------``,
    ``# MAGIC %sh``) or a ``--`` SQL hint.
    """
    lines = [_printable(line) for line in text.splitlines()] or [""]
    return Code("\n".join(f"{prefix} | {line}".rstrip() for line in lines))
