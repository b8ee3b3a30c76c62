"""routing page: being built (issue 6)."""

import streamlit as st

st.title("routing")
st.info("This page is being built.")
