"""Example prompts and event vocabularies: what the Generate page offers, read from the
evaluation set that ships with this package (``cep/nl/eval_set.yaml``)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from cep.errors import CepError

__all__ = ["EVAL_SET_PATH", "list_example_prompts", "load_eval_set", "pack_vocabulary"]

EVAL_SET_PATH = Path(__file__).with_name("eval_set.yaml")


@functools.cache
def load_eval_set(path: Path = EVAL_SET_PATH) -> tuple[dict[str, Any], ...]:
    """The evaluation cases: ``id``, ``pack`` (or an inline ``schema``), ``text`` and
    ``expect`` (a pattern without name/description) or ``refuse: true``.

    Raises:
        CepError: the file is missing or not a list of cases.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CepError(f"{path}: cannot read the evaluation set: {exc}") from None
    cases = data.get("cases") if isinstance(data, dict) else None
    if not isinstance(cases, list) or not all(isinstance(c, dict) for c in cases):
        raise CepError(f"{path}: expected a mapping with a list 'cases'")
    return tuple(cases)


def list_example_prompts(per_industry: int = 6) -> dict[str, list[str]]:
    """Industry → example prompts that the offline generator turns into a pattern."""
    out: dict[str, list[str]] = {}
    for case in load_eval_set():
        if case.get("refuse") or not case.get("example"):
            continue
        items = out.setdefault(str(case.get("industry", "general")), [])
        if len(items) < per_industry:
            items.append(str(case["text"]))
    return out


def pack_vocabulary(pack: Any) -> dict[str, Any]:
    """``schema``, ``examples`` and ``units`` keyword arguments for a generator, from a
    :class:`cep.packs.Pack`: the schema's fields and examples plus the generator's choices."""
    schema = {name: info.type for name, info in pack.schema.fields.items()}
    examples: dict[str, list[Any]] = {n: list(i.examples) for n, i in pack.schema.fields.items()}
    for name, spec in pack.generator.fields.items():
        if spec.choices:
            examples[name] = list(dict.fromkeys([*examples.get(name, []), *spec.choices]))
    units = {n: i.unit for n, i in pack.schema.fields.items() if i.unit}
    return {"schema": schema, "examples": examples, "units": units}
