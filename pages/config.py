"""config page: being built (issue 6)."""

import streamlit as st

st.title("config")
st.info("This page is being built.")
