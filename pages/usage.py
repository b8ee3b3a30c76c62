"""usage page: being built (issue 6)."""

import streamlit as st

st.title("usage")
st.info("This page is being built.")
