"""The "Delete" button that asks for confirmation before anything is deleted.

One delete is keyed by the "Delete" button's key, ``key``; the rest of its session-state keys
follow from it (``ui.state`` spells each of them out):

- ``key + "_pending"``: the id of the item whose deletion waits for confirmation;
- ``key + "_confirm"``: the "Yes, delete" button;
- ``key + "_cancel"``: the "Cancel" button.

The pending id makes the confirmation belong to one item: opening another item does not show it.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from ui.widgets import report_errors


def _ask(key: str, item_id: str) -> None:
    st.session_state[key + "_pending"] = item_id


def _cancel(key: str) -> None:
    st.session_state.pop(key + "_pending", None)


def render_delete_button(key: str, item_id: str, *, help: str, disabled: bool = False) -> None:
    """Render the "Delete" button: it deletes nothing, it asks `confirm_delete` to ask first.

    Args:
        key: the button's key; the confirmation's keys follow from it.
        item_id: what would be deleted (a template or run id).
        help: the button's help text: what it deletes, and why it is disabled when it is.
        disabled: whether deleting is not allowed here.
    """
    st.button(
        "Delete",
        key=key,
        icon=":material/delete:",
        disabled=disabled,
        on_click=_ask,
        args=(key, item_id),
        help=help,
    )


def confirm_delete(
    key: str, item_id: str, *, question: str, what: str, on_confirm: Callable[[], None]
) -> None:
    """Ask before ``item_id`` is deleted, once its "Delete" button was pressed.

    On "Yes, delete", ``on_confirm`` deletes it (and records what the next render should say);
    then the question closes and the script reruns. A `CepError` from ``on_confirm`` is shown
    and the question stays open.

    Args:
        key: the "Delete" button's key (see `render_delete_button`).
        item_id: the item shown; the question appears only when this item waits for it.
        question: the warning, in Markdown (escape user text); "This cannot be undone." follows.
        what: what is deleted, as a noun ("template", "run"), for the help texts and errors.
        on_confirm: deletes the item.
    """
    if st.session_state.get(key + "_pending") != item_id:
        return
    st.warning(f"{question} This cannot be undone.", icon=":material/warning:")
    with st.container(horizontal=True):
        confirmed = st.button(
            "Yes, delete", key=key + "_confirm", type="primary", help=f"Delete the {what} now."
        )
        st.button(
            "Cancel",
            key=key + "_cancel",
            on_click=_cancel,
            args=(key,),
            help=f"Keep the {what}.",
        )
    if confirmed:
        with report_errors(f"Could not delete the {what}"):
            on_confirm()
            _cancel(key)
            st.rerun()
