"""Create the history tables: pattern_test_history, user_templates and audit_events.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _json() -> sa.JSON:
    return sa.JSON(none_as_null=True)


def upgrade() -> None:
    """Create the three tables and the indexes of their list queries."""
    op.create_table(
        "pattern_test_history",
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
    )
    op.create_index(
        "ix_pattern_test_history_created", "pattern_test_history", ["created_at", "id"]
    )
    op.create_index(
        "ix_pattern_test_history_owner_created",
        "pattern_test_history",
        ["owner", "created_at", "id"],
    )
    op.create_index(
        "ix_pattern_test_history_kind_created",
        "pattern_test_history",
        ["kind", "created_at", "id"],
    )
    op.create_table(
        "user_templates",
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
    op.create_table(
        "audit_events",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("details", _json(), nullable=False),
    )
    op.create_index("ix_audit_events_created", "audit_events", ["created_at", "id"])
    op.create_index(
        "ix_audit_events_action_created", "audit_events", ["action", "created_at", "id"]
    )
    op.create_index(
        "ix_audit_events_actor_created", "audit_events", ["actor", "created_at", "id"]
    )


def downgrade() -> None:
    """Drop the three tables (and with them every stored run, template and audit event)."""
    op.drop_table("audit_events")
    op.drop_table("user_templates")
    op.drop_table("pattern_test_history")
