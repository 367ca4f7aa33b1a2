"""The history store: record, list, compare, re-run, export and purge test runs; templates; audit.

:class:`HistoryStore` takes its engine (``create_history_engine``) and settings as parameters.
It applies the migrations on first use, not in the constructor, so building a store never
fails because the database is down; every method other than :meth:`HistoryStore.record_run`
raises :class:`~cep.errors.StoreError` when the database cannot be used.

Lists are keyset-paginated on ``(created_at, id)``, newest first: the cursor names the last row
of a page, so pages stay stable while new runs arrive.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from cep.errors import StoreError
from cep.history.engine import SQLITE_BEGIN_OPTION, describe_error
from cep.history.export import ExportFormat, render_runs
from cep.history.migrate import upgrade_schema
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
from cep.history.redact import drop_secrets
from cep.history.rows import (
    as_utc,
    audit_from_row,
    run_row,
    stored_run_from_row,
    summary_from_row,
    template_from_row,
)
from cep.history.schema import audit_events, pattern_test_history, user_templates
from cep.history.settings import HistorySettings
from cep.history.spool import Spool, SpooledRow
from cep.model import dump_pattern
from cep.results import MatchResult

__all__ = ["MAX_EXPORT_RUNS", "MAX_PAGE_SIZE", "HistoryStore"]

MAX_PAGE_SIZE = 500
RETRY_AFTER_S = 30.0
"""After a failed write, ``record_run`` spools directly for this long instead of waiting on a
database that just failed (an unreachable host costs a full connect timeout per attempt)."""
MAX_EXPORT_RUNS = 10_000
_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
_TABLES = {t.name: t for t in (pattern_test_history, user_templates, audit_events)}
_TIME_COLUMNS = ("created_at", "updated_at")

_H = pattern_test_history.c
_HAS_EVENTS = _H.events.is_not(None).label("has_events")
_SUMMARY_COLUMNS = (
    _H.id, _H.created_at, _H.owner, _H.pattern_name, _H.kind, _H.event_source, _H.event_count,
    _H.match_count, _H.duration_ms, _HAS_EVENTS,
)
_DETAIL_COLUMNS = (*tuple(c for c in pattern_test_history.c if c.name != "events"), _HAS_EVENTS)


class HistoryStore:
    """Persisted test runs, user templates and the audit log, on one database.

    Args:
        engine: from :func:`~cep.history.engine.create_history_engine`.
        settings: redaction, size bounds, retention, spool folder (default: built-in defaults).
        clock: the current UTC time (injectable for tests).
    """

    def __init__(
        self,
        engine: Engine,
        settings: HistorySettings | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._settings = settings or HistorySettings()
        self._clock = clock
        self._spool = Spool(self._settings.spool_dir)
        self._schema_lock = threading.Lock()
        self._schema_ready = False
        self._down_until = 0.0
        self._down_reason = ""

    @property
    def engine(self) -> Engine:
        """The engine this store writes through."""
        return self._engine

    @property
    def settings(self) -> HistorySettings:
        """The settings this store applies."""
        return self._settings

    # --- plumbing ------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Apply pending migrations now (otherwise done on first use).

        Raises:
            StoreError: the database cannot be reached or migrated.
        """
        with self._schema_lock:
            if not self._schema_ready:
                upgrade_schema(self._engine, schema=self._settings.db_schema)
                self._schema_ready = True

    @contextlib.contextmanager
    def _transaction(self, action: str, *, write: bool = False) -> Iterator[Connection]:
        self.ensure_schema()
        try:
            with self._engine.connect() as conn:
                if write:
                    conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
                with conn.begin():
                    yield conn
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            raise StoreError(describe_error(exc, self._engine, action)) from exc

    def _insert_ignore(self, conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        """Insert rows, skipping any whose id is already stored (spool replays stay idempotent)."""
        if not rows:
            return
        if conn.dialect.name == "postgresql":
            pg_stmt = pg_insert(table).on_conflict_do_nothing(index_elements=["id"])
            conn.execute(pg_stmt, rows)
        elif conn.dialect.name == "sqlite":
            lite_stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=["id"])
            conn.execute(lite_stmt, rows)
        else:  # pragma: no cover - the settings only produce SQLite and PostgreSQL engines
            ids = [r["id"] for r in rows]
            known = set(conn.scalars(sa.select(table.c.id).where(table.c.id.in_(ids))))
            fresh = [r for r in rows if r["id"] not in known]
            if fresh:
                conn.execute(sa.insert(table), fresh)

    def _now(self) -> datetime:
        return as_utc(self._clock())

    # --- recording -----------------------------------------------------------------------

    def record_run(self, run: RunRecord) -> RecordOutcome:
        """Store one test run; never raises because the database is unreachable.

        The run is redacted and bounded first. If the database cannot be written, the row goes
        to the local spool file and the outcome says ``spooled``; it is written by the next
        successful :meth:`record_run` or by :meth:`flush_spool`. For ``RETRY_AFTER_S`` after a
        failure, runs go straight to the spool (no wait on a database that just failed).

        Raises:
            StoreError: the database is down *and* the spool file cannot be written either.
        """
        row = run_row(run, self._settings, now=self._now())
        try:
            if time.monotonic() < self._down_until:
                raise StoreError(f"{self._down_reason} (retrying within {RETRY_AFTER_S:.0f} s)")
            with self._transaction("record the test run", write=True) as conn:
                self._insert_ignore(conn, pattern_test_history, [row])
        except StoreError as exc:
            if time.monotonic() >= self._down_until:
                self._down_until = time.monotonic() + RETRY_AFTER_S
                self._down_reason = str(exc)
            try:
                self._spool.append(pattern_test_history.name, _to_spool(row))
            except OSError as spool_exc:
                raise StoreError(
                    f"{exc}; and the spool file {self._spool.path} cannot be written either "
                    f"({spool_exc.strerror or spool_exc}): the run was not saved"
                ) from exc
            return RecordOutcome(id=row["id"], status="spooled", detail=str(exc))
        self._down_until = 0.0
        with contextlib.suppress(StoreError, OSError):
            self._flush_if_pending()
        return RecordOutcome(id=row["id"], status="stored")

    def record_runs(self, runs: Iterable[RunRecord], *, batch_size: int = 1_000) -> list[str]:
        """Store many runs in batches (imports and benchmarks); no spooling.

        Returns:
            The new ids, in input order.

        Raises:
            StoreError: the database cannot be written (batches already written stay).
        """
        ids: list[str] = []
        batch: list[dict[str, Any]] = []
        for run in runs:
            batch.append(run_row(run, self._settings, now=self._now()))
            if len(batch) >= batch_size:
                ids.extend(self._write_batch(batch))
                batch = []
        if batch:
            ids.extend(self._write_batch(batch))
        return ids

    def _write_batch(self, rows: list[dict[str, Any]]) -> list[str]:
        with self._transaction("record the test runs", write=True) as conn:
            self._insert_ignore(conn, pattern_test_history, rows)
        return [r["id"] for r in rows]

    def pending_spooled(self) -> int:
        """How many records wait in the spool file for the database."""
        return self._spool.pending()

    def flush_spool(self) -> int:
        """Write every spooled record to the database; idempotent and safe to call any time.

        Returns:
            The number of spooled records handed to the database (0 when the spool is empty).

        Raises:
            StoreError: the database is still unreachable (the spool is kept as it was).
        """
        try:
            count = self._spool.drain(self._write_spooled)
        except OSError as exc:
            raise StoreError(
                f"history store: cannot read the spool file {self._spool.path}: "
                f"{exc.strerror or exc}"
            ) from exc
        self._down_until = 0.0  # the database answered: record_run may try it again
        return count

    def _flush_if_pending(self) -> None:
        path = self._spool.path
        if path.exists() and path.stat().st_size > 0:
            self.flush_spool()

    def _write_spooled(self, records: list[SpooledRow]) -> None:
        by_table: dict[str, list[dict[str, Any]]] = {}
        for table, row in records:
            if table not in _TABLES:
                raise StoreError(f"spool file {self._spool.path} names unknown table {table!r}")
            by_table.setdefault(table, []).append(_from_spool(row))
        with self._transaction("write the spooled records", write=True) as conn:
            for table, rows in by_table.items():
                self._insert_ignore(conn, _TABLES[table], rows)

    # --- reading runs --------------------------------------------------------------------

    def list_runs(
        self, filters: RunFilters | None = None, *, cursor: str | None = None, limit: int = 50
    ) -> Page[RunSummary]:
        """One page of runs, newest first, matching every given filter.

        Args:
            filters: pattern name substring, kind, owner, time range, has matches.
            cursor: ``next_cursor`` of the previous page (``None``: the first page).
            limit: rows per page (1 to 500).
        """
        f = filters or RunFilters()
        query = sa.select(*_SUMMARY_COLUMNS)
        if f.pattern_name:
            query = query.where(
                sa.func.lower(_H.pattern_name).contains(f.pattern_name.lower(), autoescape=True)
            )
        if f.kind is not None:
            query = query.where(_H.kind == f.kind)
        if f.owner is not None:
            query = query.where(_H.owner == f.owner)
        if f.created_from is not None:
            query = query.where(_H.created_at >= as_utc(f.created_from))
        if f.created_to is not None:
            query = query.where(_H.created_at < as_utc(f.created_to))
        if f.has_matches is not None:
            query = query.where(_H.match_count > 0 if f.has_matches else _H.match_count == 0)
        rows = self._page(query, pattern_test_history, cursor, limit, "list the test runs")
        return _make_page([summary_from_row(r) for r in rows], limit)

    def get_run(self, run_id: str) -> StoredRun:
        """The full record of one run (matches, explanations, pattern; not the events).

        Raises:
            StoreError: no run has this id, or the database cannot be read.
        """
        key = _check_id(run_id, "test run")
        with self._transaction("read the test run") as conn:
            row = conn.execute(sa.select(*_DETAIL_COLUMNS).where(_H.id == key)).mappings().first()
        if row is None:
            raise StoreError(f"no test run with id {key} in the history (deleted or purged?)")
        return stored_run_from_row(row)

    def get_run_events(self, run_id: str) -> list[dict[str, Any]] | None:
        """The stored (redacted) events of a run, or ``None`` when they were not stored."""
        key = _check_id(run_id, "test run")
        with self._transaction("read the stored events") as conn:
            row = conn.execute(sa.select(_H.id, _H.events).where(_H.id == key)).first()
        if row is None:
            raise StoreError(f"no test run with id {key} in the history (deleted or purged?)")
        events = row[1]
        return None if events is None else list(events)

    def compare_runs(self, a: str, b: str) -> RunComparison:
        """Which matches run ``b`` added, removed or kept relative to run ``a``.

        Matches are identified by their key and bound event ids (so a re-run of the same
        events with an edited pattern compares meaningfully).
        """
        run_a, run_b = self.get_run(a), self.get_run(b)
        keys_a = {_match_identity(m) for m in run_a.matches}
        keys_b = {_match_identity(m) for m in run_b.matches}
        return RunComparison(
            a_id=run_a.id,
            b_id=run_b.id,
            added=tuple(m for m in run_b.matches if _match_identity(m) not in keys_a),
            removed=tuple(m for m in run_a.matches if _match_identity(m) not in keys_b),
            unchanged=tuple(m for m in run_b.matches if _match_identity(m) in keys_a),
            is_partial=run_a.matches_truncated or run_b.matches_truncated,
        )

    def rerun(self, run_id: str) -> MatchResult:
        """Run the stored pattern again on the stored events (redacted values stay pseudonyms).

        Raises:
            StoreError: the run does not exist or its events were not stored (the message says
                why: storage switched off, too large, not passed).
            PatternError: the stored pattern no longer validates.
        """
        run = self.get_run(run_id)
        events = self.get_run_events(run_id)
        if events is None:
            raise StoreError(
                f"test run {run.id} cannot be re-run: its events were not stored "
                f"({run.events_note or 'unknown reason'})"
            )
        from cep.events import load_events  # Polars and the matcher load only for a re-run
        from cep.matcher import find_matches

        pattern = run.parsed_pattern()
        if not events:
            raise StoreError(f"test run {run.id} cannot be re-run: it stored no events")
        text = "\n".join(json.dumps(e, ensure_ascii=False) for e in events).encode("utf-8")
        frame = load_events(
            text,
            fmt="ndjson",
            time_field=pattern.order_by,
            max_rows=None,
            max_bytes=None,
            source_name=f"events of history run {run.id}",
        )
        return find_matches(pattern, frame)

    def export_runs(
        self, selection: Sequence[str] | RunFilters, fmt: ExportFormat = "json"
    ) -> bytes:
        """Export runs (by ids, or every run matching filters) as JSON or CSV bytes.

        Raises:
            StoreError: an id is unknown, more than 10,000 runs match, or ``fmt`` is unknown.
        """
        if isinstance(selection, RunFilters):
            ids: list[str] = []
            cursor: str | None = None
            while True:
                page = self.list_runs(selection, cursor=cursor, limit=MAX_PAGE_SIZE)
                ids.extend(item.id for item in page.items)
                if len(ids) > MAX_EXPORT_RUNS:
                    raise StoreError(
                        f"more than {MAX_EXPORT_RUNS:,} runs match; narrow the filters to export"
                    )
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
        else:
            ids = [selection] if isinstance(selection, str) else list(selection)
        return render_runs([self.get_run(i) for i in ids], fmt)

    def delete_run(self, run_id: str) -> bool:
        """Delete one run; whether it existed."""
        key = _check_id(run_id, "test run")
        with self._transaction("delete the test run", write=True) as conn:
            deleted = conn.execute(sa.delete(pattern_test_history).where(_H.id == key)).rowcount
        return bool(deleted)

    def purge_older_than(self, days: float) -> int:
        """Delete runs created more than ``days`` days ago; how many were deleted."""
        if days < 0:
            raise StoreError(f"purge_older_than: days must be 0 or more, got {days}")
        cutoff = self._now() - timedelta(days=days)
        with self._transaction("purge old test runs", write=True) as conn:
            deleted = conn.execute(
                sa.delete(pattern_test_history).where(_H.created_at < cutoff)
            ).rowcount
        return int(deleted)

    def purge_expired(self) -> int:
        """Apply the configured retention (``retention_days``); 0 when runs are kept forever."""
        days = self._settings.retention_days
        return 0 if days is None else self.purge_older_than(days)

    # --- templates -----------------------------------------------------------------------

    def save_template(self, owner: str, draft: TemplateDraft) -> UserTemplate:
        """Save a new template for ``owner``.

        Raises:
            StoreError: the owner already has a template of this name.
        """
        now = self._now()
        row = {
            "id": str(uuid.uuid4()),
            "owner": owner,
            "name": draft.name,
            "description": draft.description,
            "tags": list(draft.tags),
            "pattern": dump_pattern(draft.pattern),
            "kind": draft.pattern.kind,
            "created_at": now,
            "updated_at": now,
        }
        self._write_template(row, insert=True)
        return template_from_row(row)

    def update_template(self, template_id: str, draft: TemplateDraft) -> UserTemplate:
        """Replace a template's name, description, tags and pattern.

        Raises:
            StoreError: no such template, or the new name is taken by another of the owner's.
        """
        current = self.get_template(template_id)
        row = {
            "id": current.id,
            "owner": current.owner,
            "name": draft.name,
            "description": draft.description,
            "tags": list(draft.tags),
            "pattern": dump_pattern(draft.pattern),
            "kind": draft.pattern.kind,
            "created_at": current.created_at,
            "updated_at": self._now(),
        }
        self._write_template(row, insert=False)
        return template_from_row(row)

    def _write_template(self, row: dict[str, Any], *, insert: bool) -> None:
        self.ensure_schema()
        try:
            with self._engine.connect() as conn:
                conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
                with conn.begin():
                    if insert:
                        conn.execute(sa.insert(user_templates), row)
                    else:
                        values = {k: v for k, v in row.items() if k not in ("id", "created_at")}
                        conn.execute(
                            sa.update(user_templates)
                            .where(user_templates.c.id == row["id"])
                            .values(**values)
                        )
        except sa.exc.IntegrityError as exc:
            raise StoreError(
                f"{row['owner']} already has a template named {row['name']!r}; "
                "choose another name or update that template"
            ) from exc
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            raise StoreError(describe_error(exc, self._engine, "save the template")) from exc

    def get_template(self, template_id: str) -> UserTemplate:
        """One template by id (``StoreError`` when there is none)."""
        key = _check_id(template_id, "template")
        with self._transaction("read the template") as conn:
            row = conn.execute(
                sa.select(user_templates).where(user_templates.c.id == key)
            ).mappings().first()
        if row is None:
            raise StoreError(f"no user template with id {key}")
        return template_from_row(row)

    def list_templates(
        self, *, owner: str | None = None, kind: str | None = None, tag: str | None = None
    ) -> list[UserTemplate]:
        """Templates by name (then owner), optionally only one owner's, one kind or one tag."""
        query = sa.select(user_templates).order_by(user_templates.c.name, user_templates.c.owner)
        if owner is not None:
            query = query.where(user_templates.c.owner == owner)
        if kind is not None:
            query = query.where(user_templates.c.kind == kind)
        with self._transaction("list the templates") as conn:
            rows = conn.execute(query).mappings().all()
        templates = [template_from_row(r) for r in rows]
        return templates if tag is None else [t for t in templates if tag in t.tags]

    def delete_template(self, template_id: str) -> bool:
        """Delete a template; whether it existed."""
        key = _check_id(template_id, "template")
        with self._transaction("delete the template", write=True) as conn:
            deleted = conn.execute(
                sa.delete(user_templates).where(user_templates.c.id == key)
            ).rowcount
        return bool(deleted)

    # --- audit ---------------------------------------------------------------------------

    def append_audit(
        self,
        *,
        actor: str,
        action: str,
        subject: str = "",
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Append one audit entry; secret-looking keys in ``details`` are dropped.

        Callers must still keep secrets out of values (an URL with a token in its query, say):
        the log is never meant to hold them.

        Args:
            actor: who did it (``resolve_owner``).
            action: dotted lower-case name, e.g. ``nl.generate``, ``deploy.job``.
            subject: what it was done to.
            details: JSON-ready facts.
        """
        if not _ACTION.match(action) or len(action) > 100:
            raise StoreError(
                f"audit action {action!r} must be dotted lower-case words, e.g. 'nl.generate'"
            )
        row = {
            "id": str(uuid.uuid4()),
            "created_at": self._now(),
            "actor": actor[:320],
            "action": action,
            "subject": subject[:500],
            "details": drop_secrets(json.loads(json.dumps(details or {}, default=str))),
        }
        with self._transaction("append to the audit log", write=True) as conn:
            conn.execute(sa.insert(audit_events), row)
        return audit_from_row(row)

    def list_audit(
        self, filters: AuditFilters | None = None, *, cursor: str | None = None, limit: int = 50
    ) -> Page[AuditEvent]:
        """One page of audit entries, newest first."""
        f = filters or AuditFilters()
        c = audit_events.c
        query = sa.select(audit_events)
        if f.actor is not None:
            query = query.where(c.actor == f.actor)
        if f.action is not None:
            if f.action.endswith("."):
                query = query.where(c.action.startswith(f.action, autoescape=True))
            else:
                query = query.where(c.action == f.action)
        if f.subject is not None:
            query = query.where(c.subject == f.subject)
        if f.created_from is not None:
            query = query.where(c.created_at >= as_utc(f.created_from))
        if f.created_to is not None:
            query = query.where(c.created_at < as_utc(f.created_to))
        rows = self._page(query, audit_events, cursor, limit, "list the audit log")
        return _make_page([audit_from_row(r) for r in rows], limit)

    # --- paging --------------------------------------------------------------------------

    def _page(
        self,
        query: sa.Select[Any],
        table: sa.Table,
        cursor: str | None,
        limit: int,
        action: str,
    ) -> list[Any]:
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise StoreError(f"page size must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
        if cursor is not None:
            after_time, after_id = _decode_cursor(cursor)
            query = query.where(
                sa.tuple_(table.c.created_at, table.c.id) < sa.tuple_(
                    sa.literal(after_time, table.c.created_at.type),
                    sa.literal(after_id, table.c.id.type),
                )
            )
        query = query.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit + 1)
        with self._transaction(action) as conn:
            return list(conn.execute(query).mappings().all())


def _make_page(items: list[Any], limit: int) -> Page[Any]:
    if len(items) <= limit:
        return Page(items=tuple(items), next_cursor=None)
    items = items[:limit]
    last = items[-1]
    return Page(items=tuple(items), next_cursor=_encode_cursor(last.created_at, last.id))


def _encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = json.dumps([as_utc(created_at).isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        text_time, row_id = json.loads(raw)
        return as_utc(datetime.fromisoformat(text_time)), str(row_id)
    except (ValueError, TypeError, binascii.Error):
        raise StoreError(
            "the page cursor is not one this store issued; start again from the first page"
        ) from None


def _check_id(value: str, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise StoreError(f"{value!r} is not a valid {what} id (expected a UUID)") from None


def _match_identity(match: dict[str, Any]) -> str:
    return json.dumps([match.get("key"), match.get("event_ids")], sort_keys=True, default=str)


def _to_spool(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def _from_spool(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name in _TIME_COLUMNS:
        if isinstance(out.get(name), str):
            out[name] = as_utc(datetime.fromisoformat(out[name]))
    return out
