"""The jinja2 environment of code generation: templates in this package, only escaped values.

Every ``{{ value }}`` in a template must be :class:`cep.codegen.escape.Code` (made by the
escaping functions); anything else — a plain string from a pattern, say — stops rendering with
an error instead of reaching the generated code.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2

from cep.codegen.escape import Code
from cep.errors import CepError

__all__ = ["render_template"]


def _only_code(value: Any) -> Code:
    if isinstance(value, Code):
        return value
    raise CepError(f"internal: unescaped value {value!r} reached a code template")


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("cep.codegen", "templates"),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        finalize=_only_code,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_template(name: str, context: dict[str, Any]) -> str:
    """Render the package template ``name`` with ``context`` (values must be ``Code``)."""
    return _environment().get_template(name).render(**context)
