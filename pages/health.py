"""health page: being built (issue 6)."""

import streamlit as st

st.title("health")
st.info("This page is being built.")
