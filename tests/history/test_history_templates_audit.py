"""User templates (CRUD) and the audit log, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from cep.errors import StoreError
from cep.history import AuditFilters, HistoryStore, TemplateDraft
from cep.model import parse_pattern
from tests.history.helpers import V_SHAPE

HEARTBEAT = parse_pattern({"kind": "heartbeat", "name": "hb", "interval": "1m"})


def _draft(name: str = "V dip", tags: tuple[str, ...] = ("trading",), pattern: object = None) -> TemplateDraft:
    return TemplateDraft(
        name=name,
        description="a dip and a recovery",
        tags=tags,
        pattern=pattern or parse_pattern(V_SHAPE),
    )


def test_a_saved_template_reads_back(store: HistoryStore) -> None:
    saved = store.save_template("ana", _draft(tags=(" trading ", "dip", "trading")))
    got = store.get_template(saved.id)
    assert got == saved
    assert (got.owner, got.name, got.kind) == ("ana", "V dip", "match_recognize")
    assert got.tags == ("trading", "dip")
    assert got.parsed_pattern() == parse_pattern(V_SHAPE)
    assert got.created_at == got.updated_at


def test_template_names_are_unique_per_owner(store: HistoryStore) -> None:
    store.save_template("ana", _draft())
    store.save_template("bo", _draft())
    with pytest.raises(StoreError, match="ana already has a template named 'V dip'"):
        store.save_template("ana", _draft())


def test_update_replaces_the_content_and_keeps_the_creation_time(store: HistoryStore) -> None:
    saved = store.save_template("ana", _draft())
    updated = store.update_template(saved.id, _draft(name="Heartbeat", tags=(), pattern=HEARTBEAT))
    got = store.get_template(saved.id)
    assert got == updated
    assert (got.name, got.kind, got.tags) == ("Heartbeat", "heartbeat", ())
    assert got.created_at == saved.created_at
    assert got.updated_at >= saved.updated_at


def test_update_to_a_taken_name_is_refused(store: HistoryStore) -> None:
    store.save_template("ana", _draft(name="one"))
    two = store.save_template("ana", _draft(name="two"))
    with pytest.raises(StoreError, match="already has a template named 'one'"):
        store.update_template(two.id, _draft(name="one"))
    assert store.get_template(two.id).name == "two"


def test_list_templates_filters_by_owner_kind_and_tag(store: HistoryStore) -> None:
    a = store.save_template("ana", _draft(name="b-dip", tags=("trading",)))
    b = store.save_template("ana", _draft(name="a-beat", tags=("iot",), pattern=HEARTBEAT))
    c = store.save_template("bo", _draft(name="c-dip", tags=("trading", "dip")))
    assert [t.id for t in store.list_templates()] == [b.id, a.id, c.id]
    assert [t.id for t in store.list_templates(owner="ana")] == [b.id, a.id]
    assert [t.id for t in store.list_templates(kind="heartbeat")] == [b.id]
    assert [t.id for t in store.list_templates(tag="trading")] == [a.id, c.id]


def test_delete_template(store: HistoryStore) -> None:
    saved = store.save_template("ana", _draft())
    assert store.delete_template(saved.id) is True
    assert store.delete_template(saved.id) is False
    with pytest.raises(StoreError, match="no user template with id"):
        store.get_template(saved.id)


def test_audit_entries_drop_secret_keys(store: HistoryStore) -> None:
    event = store.append_audit(
        actor="ana",
        action="nl.generate",
        subject="card testing",
        details={"model": "sonnet", "input_tokens": 42, "api_key": "dapi-123", "auth": {"token": "t"}},
    )
    listed = store.list_audit().items
    assert listed == (event,)
    assert event.details == {"model": "sonnet", "input_tokens": 42, "auth": {}}


def test_audit_list_filters_and_pages(store: HistoryStore) -> None:
    made = [
        store.append_audit(actor="ana", action="nl.generate", subject="p1"),
        store.append_audit(actor="bo", action="deploy.job", subject="job-7"),
        store.append_audit(actor="ana", action="nl.refine", subject="p1"),
        store.append_audit(actor="ana", action="deploy.pipeline", subject="pl-2"),
    ]
    newest_first = [e.id for e in made][::-1]
    assert [e.id for e in store.list_audit().items] == newest_first
    assert [e.id for e in store.list_audit(AuditFilters(actor="bo")).items] == [made[1].id]
    assert [e.id for e in store.list_audit(AuditFilters(action="nl.")).items] == [
        made[2].id, made[0].id,
    ]
    assert [e.id for e in store.list_audit(AuditFilters(action="nl")).items] == []
    assert [e.id for e in store.list_audit(AuditFilters(subject="p1")).items] == [
        made[2].id, made[0].id,
    ]
    first = store.list_audit(limit=3)
    second = store.list_audit(cursor=first.next_cursor, limit=3)
    assert [e.id for e in first.items + second.items] == newest_first
    assert second.next_cursor is None


@pytest.mark.parametrize("action", ["", "NL.Generate", "nl generate", "nl..x", ".nl"])
def test_badly_named_audit_actions_are_refused(store: HistoryStore, action: str) -> None:
    with pytest.raises(StoreError, match="dotted lower-case words"):
        store.append_audit(actor="ana", action=action)
