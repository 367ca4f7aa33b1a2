"""The model path: ask a Databricks serving endpoint (Claude Sonnet / Opus) for a pattern,
check the answer, repair it once, and fall back to the offline generator when the endpoint
cannot help.

The request goes to ``POST {host}/serving-endpoints/{name}/invocations`` with the headers the
databricks-sdk's own authentication produces (``WorkspaceClient.config.authenticate()``: an
App's service principal, a profile, or environment variables; no personal token is needed). It
is sent with httpx, as the SDK's own serving helper does, so that this module owns the timeout
and the 429 policy: the SDK's generic retry loop would otherwise wait up to five minutes.

Failures and what happens:

    timeout, connection error, 5xx, 404, 401/403, auth error  -> offline fallback + warning
    429 with Retry-After <= max_retry_after_s                  -> wait, retry once
    429 otherwise                                              -> offline fallback + warning
    answer not JSON / not a valid pattern / unsafe condition   -> one repair request, then
                                                                  offline fallback + warning
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from cep.model import Pattern
from cep.nl.answers import AnswerError, check_answer, extract_json
from cep.nl.generation import Generation, pattern_sha256, text_sha256
from cep.nl.offline import MAX_TEXT_CHARS, generate_offline
from cep.nl.prompting import build_messages, repair_message
from cep.nl.settings import NlSettings, check_model_name

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

__all__ = ["EndpointUnavailable", "generate_with_model", "query_endpoint"]


class EndpointUnavailable(Exception):
    """The endpoint could not answer; ``reason`` is shown to the user (never a secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _retry_after_s(value: str | None) -> float | None:
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _content(body: Any) -> str:
    """The text of a chat-completions answer (string content or a list of text blocks)."""
    try:
        message = body["choices"][0]["message"]
        content = message["content"]
    except (KeyError, IndexError, TypeError):
        raise EndpointUnavailable("the endpoint's answer has no choices[0].message.content") \
            from None
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return str(content)


def query_endpoint(
    workspace: WorkspaceClient,
    endpoint: str,
    messages: Sequence[Mapping[str, str]],
    *,
    settings: NlSettings,
    http: httpx.Client,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, dict[str, int]]:
    """Send chat ``messages`` to ``endpoint``; the answer's text and its token usage.

    Raises:
        EndpointUnavailable: timeout, connection failure, an error status, throttling longer
            than the cap, or failed authentication.
    """
    try:
        headers = dict(workspace.config.authenticate())
        host = str(workspace.config.host or "").rstrip("/")
        workspace_id = workspace.config.workspace_id
    except Exception as exc:  # the SDK raises ValueError and others for bad configuration
        raise EndpointUnavailable(
            f"Databricks authentication failed ({type(exc).__name__}); check the workspace "
            "configuration"
        ) from None
    if not host:
        raise EndpointUnavailable("no Databricks host is configured")
    headers.update({"Content-Type": "application/json", "Accept": "application/json",
                    "User-Agent": "lakestream-cep-nl"})
    if workspace_id:  # as the SDK's own serving_endpoints.query sends it
        headers["X-Databricks-Workspace-Id"] = str(workspace_id)
    url = f"{host}/serving-endpoints/{quote(endpoint, safe='')}/invocations"
    body = {"messages": list(messages), "max_tokens": settings.max_tokens, "temperature": 0.0}
    retried = False
    while True:
        try:
            response = http.post(url, json=body, headers=headers, timeout=settings.timeout_s)
        except httpx.TimeoutException:
            raise EndpointUnavailable(
                f"endpoint {endpoint!r} did not answer within {settings.timeout_s:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise EndpointUnavailable(
                f"could not reach endpoint {endpoint!r} ({type(exc).__name__})"
            ) from None
        status = response.status_code
        if status == 429:
            wait = _retry_after_s(response.headers.get("Retry-After"))
            if not retried and wait is not None and wait <= settings.max_retry_after_s:
                sleep(wait)
                retried = True
                continue
            shown = f"{wait:g} s" if wait is not None else "an unknown time"
            raise EndpointUnavailable(
                f"endpoint {endpoint!r} is throttling requests (429, retry after {shown})"
            )
        if status == 404:
            raise EndpointUnavailable(f"serving endpoint {endpoint!r} does not exist (404)")
        if status in (401, 403):
            raise EndpointUnavailable(
                f"not authorised to query endpoint {endpoint!r} ({status}); grant CAN QUERY "
                "to the app's service principal"
            )
        if status >= 500:
            raise EndpointUnavailable(f"endpoint {endpoint!r} failed ({status})")
        if status >= 400:
            raise EndpointUnavailable(f"endpoint {endpoint!r} rejected the request ({status})")
        try:
            data = response.json()
        except ValueError:
            raise EndpointUnavailable(f"endpoint {endpoint!r} did not answer with JSON") \
                from None
        usage = data.get("usage") if isinstance(data, dict) else None
        tokens = {
            k: int(v) for k, v in (usage or {}).items()
            if k in ("prompt_tokens", "completion_tokens") and isinstance(v, int)
        }
        return _content(data), tokens


def _question_of(answer: str) -> str | None:
    try:
        data = extract_json(answer)
    except AnswerError:
        return None
    question = data.get("question")
    if "kind" not in data and isinstance(question, str) and question.strip():
        return question.strip()[:2_000]
    return None


def generate_with_model(
    text: str,
    *,
    preferred_model: str,
    settings: NlSettings,
    workspace: WorkspaceClient,
    schema: Mapping[str, str] | None = None,
    examples: Mapping[str, Sequence[Any]] | None = None,
    current: Pattern | None = None,
    units: Mapping[str, str] | None = None,
    http: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Generation:
    """Generate (or, with ``current``, refine) a pattern with a serving endpoint.

    Args:
        text: the user's description or edit instruction.
        preferred_model: ``sonnet`` or ``opus``.
        settings: endpoint names and limits (:meth:`NlSettings.from_env`).
        workspace: a ``databricks.sdk.WorkspaceClient``; only its host and authentication
            are used.
        schema, examples, units: the event schema given to the model (and to the fallback).
        current: the pattern to edit.
        http: the httpx client to send with (a new one by default).
        sleep: how to wait for a 429's Retry-After.

    Raises:
        CepError: ``preferred_model`` is not ``sonnet``/``opus`` or its endpoint is disabled.
    """
    check_model_name(preferred_model)
    endpoint = settings.endpoint_for(preferred_model)
    model = preferred_model.strip().lower()
    meta: dict[str, Any] = {
        "model": model, "endpoint": endpoint, "prompt_sha256": text_sha256(text),
        "prompt_chars": len(text),
    }

    def fallback(reason: str, extra: Mapping[str, Any]) -> Generation:
        offline = generate_offline(text, schema=schema, examples=examples, current=current,
                                   units=units)
        warning = f"the {model} model was not used: {reason}; the offline generator answered"
        return offline.model_copy(update={
            **meta, **extra, "source": "offline-fallback",
            "warnings": (warning, *offline.warnings),
        })

    if len(text) > MAX_TEXT_CHARS or not text.strip():
        return fallback("the text is empty or too long for the model", {})
    messages = build_messages(text, schema=schema, examples=examples, current=current)
    own_client = http is None
    client = http if http is not None else httpx.Client(timeout=settings.timeout_s)
    started = time.perf_counter()
    tokens: dict[str, int] = {}

    def timing() -> dict[str, Any]:
        return {"latency_ms": round((time.perf_counter() - started) * 1000, 3),
                "prompt_tokens": tokens.get("prompt_tokens"),
                "completion_tokens": tokens.get("completion_tokens")}

    def add(usage: Mapping[str, int]) -> None:
        for k, v in usage.items():
            tokens[k] = tokens.get(k, 0) + v

    try:
        try:
            answer, usage = query_endpoint(workspace, endpoint, messages, settings=settings,
                                           http=client, sleep=sleep)
            add(usage)
            question = _question_of(answer)
            if question is not None:
                return Generation(question=question, source="model", **meta, **timing())
            try:
                pattern, clamps = check_answer(answer)
                source = "model"
            except AnswerError as first:
                repair = [*messages, *repair_message(answer, str(first))]
                answer, usage = query_endpoint(workspace, endpoint, repair, settings=settings,
                                               http=client, sleep=sleep)
                add(usage)
                question = _question_of(answer)
                if question is not None:
                    return Generation(question=question, source="model+repair", **meta,
                                      **timing())
                try:
                    pattern, clamps = check_answer(answer)
                except AnswerError as second:
                    return fallback(f"its answer was rejected twice ({second})", timing())
                source = "model+repair"
        except EndpointUnavailable as exc:
            return fallback(exc.reason, timing())
    finally:
        if own_client:
            client.close()
    return Generation(
        pattern=pattern,
        warnings=tuple(clamps),
        source=source,  # type: ignore[arg-type]
        pattern_sha256=pattern_sha256(pattern),
        **meta,
        **timing(),
    )


