"""Overview: the providers and models the proxy can route to."""

from __future__ import annotations

import streamlit as st

from app import db
from app.services import providers

st.title("Overview")
with db.Session.begin() as session:
    rows = providers.list_providers(session)

if not rows:
    st.info(
        "No providers yet. Open **Providers** to add one: provider keys found in the environment and "
        "local servers (Ollama, LocalAI) are offered there in one click."
    )
else:
    left, right = st.columns(2)
    left.metric("Providers", len(rows))
    right.metric("Enabled models", sum(p.enabled_model_count for p in rows))
    st.dataframe(
        [
            {
                "Name": p.name,
                "Type": p.type,
                "Enabled": p.enabled,
                "Models enabled": f"{p.enabled_model_count}/{p.model_count}",
                "Last test": "never" if p.last_test_at is None else ("ok" if p.last_test_ok else "failed"),
            }
            for p in rows
        ],
        hide_index=True,
        key="providers_table",
    )
