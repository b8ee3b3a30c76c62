"""users page: being built (issue 6)."""

import streamlit as st

st.title("users")
st.info("This page is being built.")
