"""History: every test run, filterable and paginated; a run's detail, re-run, export, delete;
comparing two runs; and the audit log."""

import streamlit as st

from cep.history import HistoryStore
from ui import state
from ui.history_store import get_history_store
from ui.history_view import (
    list_page,
    render_audit,
    render_compare,
    render_run_filters,
    render_run_list,
    render_spool_status,
)
from ui.widgets import report_errors

st.title("History", anchor=False)
st.caption(
    "Every test run on the Test page is saved here: filter the list, open a run to see its "
    "matches, re-run it on its stored events, compare two runs, export or delete them."
)

store: HistoryStore | None = None
with report_errors("Could not open the history database"):
    store = get_history_store()
if store is None:
    st.stop()

render_spool_status(store)
if notice := st.session_state.pop(state.HISTORY_NOTICE, None):
    st.success(notice, icon=":material/delete:")

runs_tab, compare_tab, audit_tab = st.tabs(["Runs", "Compare", "Audit"])
page = None
with runs_tab:
    filters = render_run_filters()
    with report_errors("Could not list the test runs"):
        page, number = list_page(store, filters)
        render_run_list(store, filters, page, number)
with compare_tab:
    if page is None:
        st.caption("The runs could not be listed (see the **Runs** tab).")
    else:
        with report_errors("Could not compare the runs"):
            render_compare(store, page.items)
with audit_tab, report_errors("Could not read the audit log"):
    render_audit(store)
