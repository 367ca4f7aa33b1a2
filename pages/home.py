"""Home: what LakeStream CEP Builder does and where to start."""

import streamlit as st

from ui.navigation import feature_pages
from ui.widgets import PRODUCT_NAME

st.title(PRODUCT_NAME)
st.markdown(
    "Find **complex events** in your event data — a price that falls and then recovers, "
    "three failed logins followed by a large transfer. Describe the pattern once, as JSON, "
    "YAML or `MATCH_RECOGNIZE` SQL, and see every place it matches, event by event."
)

st.subheader("Start here")
for spec in feature_pages():
    with st.container(border=True):
        st.page_link(spec.path, label=f"**{spec.title}**", icon=spec.icon, help=spec.summary)
        st.caption(spec.summary)
st.caption(
    "New here? Open **Test**, press **Load sample**, then **Run**. Or start from an industry "
    "scenario in the **Gallery** — card fraud, account security, predictive maintenance and "
    "more — and press **Open in Test** on any of its patterns."
)

st.subheader("How a test works")
steps = st.columns(3)
steps[0].markdown(
    "**1. Pattern**  \nLoad the V-shape sample, upload a `.json`, `.yaml` or `.sql` file, "
    "paste the text, build a sequence or any of the 11 detectors with a form, or open one "
    "from a template pack in the Gallery."
)
steps[1].markdown(
    "**2. Events**  \nUse the sample stock ticks, a template pack's generated sample, or "
    "upload CSV, JSON, NDJSON or Parquet with a time column."
)
steps[2].markdown(
    "**3. Matches**  \nEach match with its key, time span, events and the variable each "
    "event was bound to — as a table, a timeline, and JSON or CSV downloads."
)

with st.expander("What the matcher follows", icon=":material/menu_book:"):
    st.markdown(
        "`match_recognize` patterns follow SQL:2016 row pattern recognition, as Trino and "
        "Oracle implement it: `PARTITION BY`, `ORDER BY`, `PATTERN`, `DEFINE` with `PREV`, "
        "`NEXT`, `FIRST`, `LAST`, `MEASURES` and `AFTER MATCH SKIP`. Conditions are SQL "
        "expressions checked against an allowlist; nothing you type is ever executed as code.\n\n"
        "`sequence` patterns follow Flink CEP: strict, relaxed and non-deterministic "
        "contiguity, loops, `greedy`, `until`, negation, `within` and the five skip "
        "strategies.\n\n"
        "The 11 detectors (absence, count threshold, velocity, trend, outlier, session, dedup, "
        "geofence, temporal correlation, heartbeat, state machine) work per key in event time; "
        "a deadline that the data has not reached yet is shown as pending, never as a match. "
        "Every kind can also be replayed as a stream and gives the same matches."
    )
