"""Code: a pattern as Spark code (Structured Streaming, Declarative Pipelines or Databricks SQL),
to read, download, compare between targets, and deploy to Databricks."""

import streamlit as st

from ui.code_deploy import render_deploy
from ui.code_options import render_options
from ui.code_source import render_pattern_input
from ui.code_view import generate, offered_targets, render_code, render_diff, render_target_picker

st.title("Code", anchor=False)
st.caption(
    "Turn a pattern into Spark code that finds the same matches on Databricks: read it, "
    "download it, compare targets, and deploy it as a Job or a Pipeline."
)

st.subheader("1 · Pattern", anchor=False)
pattern = render_pattern_input()
if pattern is not None:
    st.subheader("2 · Target and options", anchor=False)
    target = render_target_picker(pattern)
    with st.expander("Job options", expanded=True, icon=":material/tune:"):
        options = render_options(target)
    if options is not None:
        generated = {t: generate(pattern, t, options) for t in offered_targets(pattern)}
        current = generated[target]
        st.subheader("3 · Code", anchor=False)
        render_code(current)
        render_diff(current, {t: g for t, g in generated.items() if t != target})
        if current.code is not None and target in ("sss", "sdp"):
            st.subheader("4 · Deploy", anchor=False)
            with st.expander(
                "Deploy to Databricks", icon=":material/rocket_launch:", expanded=False
            ):
                render_deploy(pattern.name, current.code)
