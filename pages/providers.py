"""providers page: being built (issue 6)."""

import streamlit as st

st.title("providers")
st.info("This page is being built.")
