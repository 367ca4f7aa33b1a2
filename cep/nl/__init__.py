"""Natural-language pattern generation: the offline rules, the Databricks model serving path,
their shared result type, settings, and example prompts.

    generate_offline(text, schema=..., examples=..., current=...)          -> Generation
    generate_with_model(text, preferred_model=..., settings=..., workspace=...) -> Generation
    NlSettings.from_env(os.environ)                                         (read at the edge)
    list_example_prompts()                                                  industry -> prompts
    audit_details(generation, accepted=..., store_prompt_text=...)          audit log details
"""

from __future__ import annotations

from cep.nl.audit import (
    ACCEPT_ACTION,
    AUDIT_PROMPTS_VAR,
    GENERATE_ACTION,
    audit_details,
    audit_prompts_enabled,
)
from cep.nl.examples import list_example_prompts, load_eval_set, pack_vocabulary
from cep.nl.generation import Generation, Source, pattern_sha256, text_sha256
from cep.nl.offline import MAX_TEXT_CHARS, generate_offline
from cep.nl.serving import generate_with_model
from cep.nl.settings import DEFAULT_ENDPOINTS, MODEL_CHOICES, NlSettings, check_model_name

__all__ = [
    "ACCEPT_ACTION",
    "AUDIT_PROMPTS_VAR",
    "DEFAULT_ENDPOINTS",
    "GENERATE_ACTION",
    "MAX_TEXT_CHARS",
    "MODEL_CHOICES",
    "Generation",
    "NlSettings",
    "Source",
    "audit_details",
    "audit_prompts_enabled",
    "check_model_name",
    "generate_offline",
    "generate_with_model",
    "list_example_prompts",
    "load_eval_set",
    "pack_vocabulary",
    "pattern_sha256",
    "text_sha256",
]
