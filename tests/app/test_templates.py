"""AppTest checks of user templates: "Save as template" on the Test page, and their cards, detail
view, Open in Test, edit and delete in the Gallery."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cep.history import (
    HistorySettings,
    HistoryStore,
    TemplateDraft,
    UserTemplate,
    create_history_engine,
    resolve_owner,
)
from cep.model import load_pattern, parse_pattern, pattern_to_dict
from ui import state
from ui.gallery_handoff import EVENTS_PACK_SAMPLE
from ui.gallery_templates import template_source
from ui.history_templates import build_draft

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
TIMEOUT_S = 120
HISTORY_ENV = ("LAKESTREAM_DATABASE_URL", "PGHOST", "PGUSER", "PGDATABASE")
TREND = {
    "kind": "trend", "name": "rising_price", "partition_by": ["symbol"], "value_field": "price",
    "direction": "up", "count": 3,
}  # fmt: skip


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HistoryStore:
    """A history database of this test's own, used by the app; and the real store on it."""
    for name in HISTORY_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAKESTREAM_DATA_DIR", str(tmp_path / "lakestream"))
    settings = HistorySettings.from_env(os.environ)
    return HistoryStore(create_history_engine(settings), settings)


def texts(elements: object) -> str:
    return "\n".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def plain(markdown: str) -> str:
    return markdown.replace("\\", "")


def open_page(script: str, at: AppTest | None = None) -> AppTest:
    at = at or AppTest.from_file(ROOT / "app.py", default_timeout=TIMEOUT_S).run()
    at.switch_page(script).run()
    assert not at.exception
    return at


def save_from_test_page(at: AppTest, name: str, tags: str = "", description: str = "") -> AppTest:
    at.text_input(key=state.TEST_TEMPLATE_NAME).input(name)
    at.text_input(key=state.TEST_TEMPLATE_TAGS).input(tags)
    at.text_area(key=state.TEST_TEMPLATE_DESCRIPTION).input(description)
    at.button(key=state.TEST_TEMPLATE_SAVE).click().run()
    assert not at.exception
    return at


def saved(store: HistoryStore, name: str, owner: str | None = None) -> UserTemplate:
    return store.save_template(
        owner or resolve_owner(None),
        TemplateDraft(name=name, tags=("prices",), description="Three rises in a row. Per symbol.",
                      pattern=parse_pattern(TREND)),
    )  # fmt: skip


def open_template(at: AppTest, template: UserTemplate) -> AppTest:
    at.button(key=state.GALLERY_OPEN.format(source="user", ident=template.id)).click().run()
    assert not at.exception
    return at


# ------------------------------------------------------------------------------------------
# Save as template (Test page)


def test_save_as_template_keeps_the_pattern_name_tags_and_description(
    store: HistoryStore,
) -> None:
    at = open_page("pages/test.py")
    at.button(key=state.TEST_LOAD_SAMPLE).click().run()

    save_from_test_page(at, "My V shape", "stocks, dips, stocks", "Dips that recover.")

    assert not at.error, texts(at.error)
    assert "Saved the template **My V shape**" in texts(at.success)
    [template] = store.list_templates()
    assert template.name == "My V shape"
    assert template.tags == ("stocks", "dips")
    assert template.description == "Dips that recover."
    assert template.owner == resolve_owner(None)
    assert template.kind == "match_recognize"
    assert template.pattern == pattern_to_dict(load_pattern(SAMPLES / "v_shape.json"))


def test_every_save_as_template_input_has_help_text(store: HistoryStore) -> None:
    at = open_page("pages/test.py")
    keys = (state.TEST_TEMPLATE_NAME, state.TEST_TEMPLATE_TAGS)
    assert all(at.text_input(key=k).help for k in keys)
    assert at.text_area(key=state.TEST_TEMPLATE_DESCRIPTION).help
    assert at.button(key=state.TEST_TEMPLATE_SAVE).help
    assert store.list_templates() == []


def test_a_blank_template_name_takes_the_pattern_name(store: HistoryStore) -> None:
    at = open_page("pages/test.py")
    at.button(key=state.TEST_LOAD_SAMPLE).click().run()

    save_from_test_page(at, "   ")

    assert [t.name for t in store.list_templates()] == ["v_shape"]


def test_saving_a_name_twice_shows_an_error_and_keeps_the_first(store: HistoryStore) -> None:
    at = open_page("pages/test.py")
    at.button(key=state.TEST_LOAD_SAMPLE).click().run()
    save_from_test_page(at, "Twice", description="first")

    save_from_test_page(at, "Twice", description="second")

    assert "already has a template named 'Twice'" in texts(at.error)
    assert [(t.name, t.description) for t in store.list_templates()] == [("Twice", "first")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Add a pattern first"),
        ('{"kind": "sequence", "name": "x", "steps": []}', "Could not read the pattern"),
        ('{"kind": "match_recognize", "name": "x", "pattern": "A", '
         '"define": {"A": "price >"}}', "Could not read the pattern"),
    ],
    ids=["no-pattern", "no-steps", "bad-condition"],
)  # fmt: skip
def test_saving_an_invalid_pattern_shows_an_error_and_saves_nothing(
    store: HistoryStore, text: str, message: str
) -> None:
    at = open_page("pages/test.py")
    at.text_area(key=state.TEST_PATTERN_TEXT).input(text).run()

    save_from_test_page(at, "Broken")

    assert message in texts(at.error)
    assert store.list_templates() == []


def test_an_overlong_template_name_is_rejected(store: HistoryStore) -> None:
    at = open_page("pages/test.py")
    at.button(key=state.TEST_LOAD_SAMPLE).click().run()

    save_from_test_page(at, "n" * 201)

    assert "template name is 201 characters long; use at most 200" in texts(at.error)
    assert store.list_templates() == []


def test_build_draft_names_the_field_that_is_wrong() -> None:
    pattern = parse_pattern(TREND)
    assert build_draft("", " a, b ,a", " text ", pattern) == TemplateDraft(
        name="rising_price", tags=("a", "b"), description="text", pattern=pattern
    )
    with pytest.raises(Exception, match="description is 5,001 characters long"):
        build_draft("x", "", "d" * 5001, pattern)


# ------------------------------------------------------------------------------------------
# The Gallery: cards, detail, Open in Test


def test_a_saved_template_appears_in_the_gallery_with_its_kind_tags_and_owner(
    store: HistoryStore,
) -> None:
    at = open_page("pages/test.py")
    at.button(key=state.TEST_LOAD_SAMPLE).click().run()
    save_from_test_page(at, "My V shape", "stocks", "Dips that recover. Per symbol.")
    open_page("pages/gallery.py", at)

    assert "Your templates" in texts(at.subheader)
    page = plain(texts(at.markdown))
    assert "**My V shape**" in page
    assert ":violet-badge[match_recognize]" in page
    assert ":gray-badge[#stocks]" in page
    assert "Dips that recover." in page
    assert f"saved by {resolve_owner(None)} · 1 pattern" in plain(texts(at.caption))
    [template] = store.list_templates()
    assert at.button(key=state.GALLERY_OPEN.format(source="user", ident=template.id))


def test_template_detail_shows_the_pattern_in_plain_english(store: HistoryStore) -> None:
    template = saved(store, "Rising prices")
    at = open_template(open_page("pages/gallery.py"), template)

    assert at.header[0].value == "Rising prices"
    page = plain(texts(at.markdown))
    assert "**In plain English**" in page
    assert "3 consecutive rising values of price" in page
    assert "Three rises in a row. Per symbol." in page
    assert f"Saved by {resolve_owner(None)}" in plain(texts(at.caption))
    assert {"Open in Test", "Edit", "Delete"} <= {b.label for b in at.button}


def test_open_in_test_loads_the_pattern_and_lets_the_user_pick_the_events(
    store: HistoryStore,
) -> None:
    template = saved(store, "Rising prices")
    at = open_template(open_page("pages/gallery.py"), template)

    at.button(key=state.GALLERY_TEMPLATE_OPEN_IN_TEST).click().run()

    assert not at.exception
    assert at.title[0].value == "Test a pattern"
    assert json.loads(at.text_area(key=state.TEST_PATTERN_TEXT).value) == template.pattern
    events = at.radio(key=state.TEST_EVENTS_CHOICE)
    assert events.value == "Sample stock ticks"
    assert EVENTS_PACK_SAMPLE not in events.options
    assert not at.metric, "no run until the user presses Run"
    assert f"From **{template_source(template)}**" in plain(texts(at.caption))

    at.switch_page("pages/test.py")  # AppTest would rerun the page it last switched to
    at.button(key=state.TEST_RUN).click().run()
    assert not at.error, texts(at.error)
    assert {m.label: m.value for m in at.metric}["Events"] == "23"


# ------------------------------------------------------------------------------------------
# Edit and delete


def edit(at: AppTest, **fields: str) -> AppTest:
    at.button(key=state.GALLERY_TEMPLATE_EDIT + ".open").click().run()
    keys = {
        "name": ("text_input", state.GALLERY_TEMPLATE_NAME),
        "tags": ("text_input", state.GALLERY_TEMPLATE_TAGS),
        "description": ("text_area", state.GALLERY_TEMPLATE_DESCRIPTION),
        "pattern": ("text_area", state.GALLERY_TEMPLATE_PATTERN),
    }
    for field, value in fields.items():
        widget, key = keys[field]
        getattr(at, widget)(key=key).input(value)
    at.button(key=state.GALLERY_TEMPLATE_SAVE).click().run()
    assert not at.exception
    return at


def test_edit_starts_from_the_template_and_saves_every_field(store: HistoryStore) -> None:
    template = saved(store, "Rising prices")
    at = open_template(open_page("pages/gallery.py"), template)
    at.button(key=state.GALLERY_TEMPLATE_EDIT + ".open").click().run()
    assert at.text_input(key=state.GALLERY_TEMPLATE_NAME).value == "Rising prices"
    assert at.text_input(key=state.GALLERY_TEMPLATE_TAGS).value == "prices"
    assert json.loads(at.text_area(key=state.GALLERY_TEMPLATE_PATTERN).value) == template.pattern
    assert all(t.help for t in at.text_area)
    assert all(t.help for t in at.text_input)

    yaml_pattern = (
        "kind: trend\nname: falling_price\nvalue_field: price\ndirection: down\ncount: 4\n"
    )
    at.text_input(key=state.GALLERY_TEMPLATE_NAME).input("Falling prices")
    at.text_input(key=state.GALLERY_TEMPLATE_TAGS).input("prices, alerts")
    at.text_area(key=state.GALLERY_TEMPLATE_DESCRIPTION).input("Four falls.")
    at.text_area(key=state.GALLERY_TEMPLATE_PATTERN).input(yaml_pattern)
    at.button(key=state.GALLERY_TEMPLATE_SAVE).click().run()

    assert not at.error, texts(at.error)
    assert "Saved the template 'Falling prices'." in texts(at.success)
    updated = store.get_template(template.id)
    assert (updated.name, updated.tags, updated.description) == (
        "Falling prices", ("prices", "alerts"), "Four falls.",
    )  # fmt: skip
    assert updated.pattern == pattern_to_dict(parse_pattern(yaml_pattern))
    assert at.header[0].value == "Falling prices"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"pattern": "kind: trend\nname: x\n"}, "Could not save the template"),
        ({"pattern": "{not json"}, "Could not save the template"),
        ({"name": "  "}, "give it a name"),
    ],
    ids=["missing-fields", "bad-text", "blank-name"],
)
def test_an_invalid_edit_shows_an_error_and_changes_nothing(
    store: HistoryStore, fields: dict[str, str], message: str
) -> None:
    template = saved(store, "Rising prices")
    at = open_template(open_page("pages/gallery.py"), template)

    edit(at, **fields)

    assert message in texts(at.error)
    assert store.get_template(template.id) == template


def test_delete_asks_for_confirmation_then_removes_the_card(store: HistoryStore) -> None:
    template = saved(store, "Rising prices")
    at = open_template(open_page("pages/gallery.py"), template)

    at.button(key=state.GALLERY_TEMPLATE_DELETE).click().run()
    assert "Delete the template **Rising prices**? This cannot be undone." in texts(at.warning)
    at.button(key=state.GALLERY_TEMPLATE_DELETE_CANCEL).click().run()
    assert not at.warning
    assert store.list_templates() == [template]

    at.button(key=state.GALLERY_TEMPLATE_DELETE).click().run()
    at.button(key=state.GALLERY_TEMPLATE_DELETE_CONFIRM).click().run()

    assert not at.exception
    assert store.list_templates() == []
    assert "Deleted the template 'Rising prices'." in texts(at.success)
    assert at.title[0].value == "Template gallery"
    assert not any(b.key and b.key.startswith("gallery.open.user.") for b in at.button)


def test_another_users_template_can_be_opened_but_not_changed(store: HistoryStore) -> None:
    template = saved(store, "Theirs", owner="someone-else@example.com")
    at = open_template(open_page("pages/gallery.py"), template)

    assert at.button(key=state.GALLERY_TEMPLATE_EDIT + ".open").disabled
    assert at.button(key=state.GALLERY_TEMPLATE_DELETE).disabled
    assert not at.button(key=state.GALLERY_TEMPLATE_OPEN_IN_TEST).disabled
    assert "saved by someone-else@example.com" in plain(texts(at.caption)).lower()


def test_gallery_with_an_unreachable_database_still_shows_the_packs(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(
        "LAKESTREAM_DATABASE_URL", f"postgresql+psycopg://postgres@127.0.0.1:{port}/test"
    )
    at = open_page("pages/gallery.py")

    assert "Could not read your saved templates" in texts(at.error)
    packs = [b for b in at.button if b.key and b.key.startswith("gallery.open.pack.")]
    assert packs
    assert f"**{len(packs)} of {len(packs)} packs**" in texts(at.markdown)
