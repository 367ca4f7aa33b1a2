"""The history tables as SQLAlchemy Core ``Table`` objects (the shape the migrations build).

SQLAlchemy Core, not the ORM: the store moves plain rows (bulk inserts, insert-or-ignore,
keyset pages) and hands out frozen pydantic records, so mapped classes would add a second
object model without buying anything. ``tests/history`` checks that the migrations produce
exactly these tables.

JSON documents are stored with the portable ``JSON`` type (``json`` on PostgreSQL, text on
SQLite); the pattern is kept as its JSON text (``cep.model.dump_pattern``) so it reads back
byte for byte. Times are UTC (``timestamp with time zone`` on PostgreSQL).
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "VERSION_TABLE",
    "audit_events",
    "metadata",
    "pattern_test_history",
    "user_templates",
]

VERSION_TABLE = "lakestream_alembic_version"
"""Alembic's version table, named so it never collides with another app's in a shared database."""

metadata = sa.MetaData()


def _json() -> sa.JSON:
    return sa.JSON(none_as_null=True)


pattern_test_history = sa.Table(
    "pattern_test_history",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("owner", sa.String(320), nullable=False),
    sa.Column("pattern_name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("pattern", sa.Text(), nullable=False),
    sa.Column("event_source", sa.String(500), nullable=False),
    sa.Column("event_count", sa.Integer(), nullable=False),
    sa.Column("match_count", sa.Integer(), nullable=False),
    sa.Column("duration_ms", sa.Float(), nullable=False),
    sa.Column("matches", _json(), nullable=False),
    sa.Column("matches_truncated", sa.Boolean(), nullable=False),
    sa.Column("explanations", _json(), nullable=True),
    sa.Column("explanations_truncated", sa.Boolean(), nullable=False),
    sa.Column("events", _json(), nullable=True),
    sa.Column("events_note", sa.String(300), nullable=True),
    sa.Column("redacted_fields", _json(), nullable=False),
    sa.Column("run_settings", _json(), nullable=False),
    sa.Index("ix_pattern_test_history_created", "created_at", "id"),
    sa.Index("ix_pattern_test_history_owner_created", "owner", "created_at", "id"),
    sa.Index("ix_pattern_test_history_kind_created", "kind", "created_at", "id"),
)
"""One row per test run (DESIGN.md §5.5); ``events`` is null when they were not stored."""

user_templates = sa.Table(
    "user_templates",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("owner", sa.String(320), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("tags", _json(), nullable=False),
    sa.Column("pattern", sa.Text(), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("owner", "name", name="uq_user_templates_owner_name"),
)
"""Templates users saved from their own patterns (issue 5); names are unique per owner."""

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(320), nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("subject", sa.String(500), nullable=False),
    sa.Column("details", _json(), nullable=False),
    sa.Index("ix_audit_events_created", "created_at", "id"),
    sa.Index("ix_audit_events_action_created", "action", "created_at", "id"),
    sa.Index("ix_audit_events_actor_created", "actor", "created_at", "id"),
)
"""Generic append-only audit log (NL generations, deploys, ...); never holds secrets."""
