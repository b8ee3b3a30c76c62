"""The dashboard's server: Streamlit running streamlit_app.py, with the two routes that set and clear
the session cookie beside it (app.dashboard_routes). `streamlit run dashboard.py` serves both;
AppTest runs streamlit_app.py itself."""

import streamlit as st

from app.dashboard_routes import routes

streamlit_app = st.App("streamlit_app.py", routes=routes)
