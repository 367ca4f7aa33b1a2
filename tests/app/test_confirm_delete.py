"""AppTests of the shared "Delete" button and its confirmation (ui/confirm.py), on a demo page
that deletes items from a list kept in the session state."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

TIMEOUT_S = 60
KEY = "demo.delete"


def demo_page() -> None:
    """One item shown at a time (``demo.shown``); ``demo.fail`` makes the deletion fail."""
    import streamlit as st

    from cep.errors import StoreError
    from ui.confirm import confirm_delete, render_delete_button

    items: list[str] = st.session_state.setdefault("demo.items", ["a", "b"])
    shown = st.session_state.setdefault("demo.shown", "a")

    def delete() -> None:
        if st.session_state.get("demo.fail"):
            raise StoreError("the database is unreachable")
        items.remove(shown)
        st.session_state["demo.shown"] = items[0] if items else None

    st.write("Items: " + ", ".join(items))
    render_delete_button("demo.delete", shown, help="Delete this item (asks first).")
    confirm_delete(
        "demo.delete", shown, question=f"Delete the item **{shown}**?", what="item",
        on_confirm=delete,
    )  # fmt: skip


def open_demo() -> AppTest:
    return AppTest.from_function(demo_page, default_timeout=TIMEOUT_S).run()


def test_delete_asks_first_and_cancel_keeps_the_item() -> None:
    at = open_demo()
    assert not at.warning

    at.button(key=KEY).click().run()
    assert [w.value for w in at.warning] == ["Delete the item **a**? This cannot be undone."]
    assert at.session_state["demo.items"] == ["a", "b"]

    at.button(key=KEY + "_cancel").click().run()
    assert not at.warning
    assert at.session_state["demo.items"] == ["a", "b"]


def test_yes_deletes_the_item_and_closes_the_question() -> None:
    at = open_demo()
    at.button(key=KEY).click().run()
    at.button(key=KEY + "_confirm").click().run()

    assert not at.exception
    assert at.session_state["demo.items"] == ["b"]
    assert not at.warning
    assert KEY + "_pending" not in at.session_state


def test_the_question_belongs_to_the_item_it_was_asked_for() -> None:
    at = open_demo()
    at.button(key=KEY).click().run()

    at.session_state["demo.shown"] = "b"
    at.run()

    assert not at.warning
    assert KEY + "_confirm" not in {b.key for b in at.button}


def test_a_failed_delete_shows_the_error_and_keeps_the_question_open() -> None:
    at = open_demo()
    at.button(key=KEY).click().run()
    at.session_state["demo.fail"] = True
    at.button(key=KEY + "_confirm").click().run()

    assert not at.exception
    assert "**Could not delete the item**" in at.error[0].value
    assert "the database is unreachable" in at.error[0].value
    assert at.session_state["demo.items"] == ["a", "b"]
    assert at.session_state[KEY + "_pending"] == "a"


def test_every_button_has_help_text() -> None:
    at = open_demo()
    at.button(key=KEY).click().run()

    assert {b.key: b.help for b in at.button} == {
        KEY: "Delete this item (asks first).",
        KEY + "_confirm": "Delete the item now.",
        KEY + "_cancel": "Keep the item.",
    }
