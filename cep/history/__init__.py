"""Persisted test runs, user templates and the audit log (SQLite, PostgreSQL or Lakebase).

The only home of SQLAlchemy and Alembic in ``cep``. Built on SQLAlchemy Core (see
:mod:`cep.history.schema` for why not the ORM); the schema is created and upgraded by the
Alembic migrations shipped in ``cep/history/migrations``, applied in code on first use.

Typical use (settings read once at the edge)::

    settings = HistorySettings.from_env(os.environ)
    store = HistoryStore(create_history_engine(settings), settings)
    outcome = store.record_run(RunRecord.from_run(pattern, result, owner=resolve_owner(headers),
                                                  events=df, event_source="trades.csv"))
    page = store.list_runs(RunFilters(kind="sequence", has_matches=True))
    more = store.list_runs(RunFilters(kind="sequence", has_matches=True), cursor=page.next_cursor)

Public API:

- settings and wiring: :class:`HistorySettings` (``from_env``), :func:`create_history_engine`,
  :class:`HistoryStore`, :func:`resolve_owner`, :func:`upgrade_schema`;
- Lakebase tokens: :class:`OAuthToken`, :class:`TokenCache`, :func:`databricks_token_provider`;
- runs: ``record_run`` → :class:`RecordOutcome` (``stored`` or ``spooled``), ``record_runs``,
  ``flush_spool``, ``list_runs`` → :class:`Page` of :class:`RunSummary`, ``get_run`` →
  :class:`StoredRun`, ``get_run_events``, ``compare_runs`` → :class:`RunComparison`, ``rerun``
  → ``MatchResult``, ``export_runs`` (JSON/CSV bytes), ``delete_run``, ``purge_older_than``,
  ``purge_expired``;
- templates: ``save_template`` (:class:`TemplateDraft`) → :class:`UserTemplate`,
  ``get_template``, ``list_templates``, ``update_template``, ``delete_template``;
- audit: ``append_audit`` → :class:`AuditEvent`, ``list_audit`` (:class:`AuditFilters`);
  :func:`drop_secrets` / :func:`looks_secret` for callers that log details.

Privacy: configured event fields (``LAKESTREAM_REDACT_FIELDS``) are replaced by per-run
pseudonyms in stored events, matches, explanations and the spool; raw events are stored only
when ``LAKESTREAM_STORE_EVENTS`` allows and they fit ``LAKESTREAM_MAX_STORED_BYTES``;
``purge_expired`` applies ``LAKESTREAM_RETENTION_DAYS``. The audit log never stores secrets:
callers redact, and secret-looking keys (token, password, secret, authorization, ...) are
dropped on the way in. Error messages never contain the database password or token.

Faults: when the database is unreachable, ``record_run`` keeps the run in a JSON-lines spool
under ``<data_dir>/spool/`` and reports ``spooled``; spooled runs are written (insert-or-ignore
on the id, so never twice) by the next successful ``record_run`` or by ``flush_spool``.
"""

from __future__ import annotations

from cep.history.engine import create_history_engine
from cep.history.lakebase import OAuthToken, TokenCache, TokenProvider, databricks_token_provider
from cep.history.migrate import upgrade_schema
from cep.history.owner import resolve_owner
from cep.history.records import (
    AuditEvent,
    AuditFilters,
    Page,
    RecordOutcome,
    RunComparison,
    RunFilters,
    RunRecord,
    RunSummary,
    StoredRun,
    TemplateDraft,
    UserTemplate,
)
from cep.history.redact import drop_secrets, looks_secret
from cep.history.settings import HistorySettings, LakebaseSettings
from cep.history.store import HistoryStore

__all__ = [
    "AuditEvent",
    "AuditFilters",
    "HistorySettings",
    "HistoryStore",
    "LakebaseSettings",
    "OAuthToken",
    "Page",
    "RecordOutcome",
    "RunComparison",
    "RunFilters",
    "RunRecord",
    "RunSummary",
    "StoredRun",
    "TemplateDraft",
    "TokenCache",
    "TokenProvider",
    "UserTemplate",
    "create_history_engine",
    "databricks_token_provider",
    "drop_secrets",
    "looks_secret",
    "resolve_owner",
    "upgrade_schema",
]
