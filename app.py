"""Entry point of LakeStream CEP Builder: page config, navigation, shared sidebar, then the page."""

import streamlit as st

from ui.navigation import build_pages
from ui.settings import get_settings
from ui.widgets import PRODUCT_NAME, render_sidebar

st.set_page_config(page_title=PRODUCT_NAME, page_icon=":material/timeline:", layout="wide")

page = st.navigation(build_pages(), position="sidebar")
render_sidebar(get_settings())
page.run()
