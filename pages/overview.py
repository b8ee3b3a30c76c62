"""Overview: open critical alerts first, then the providers (with the one status every page shows)
and the models the proxy can route to."""

from __future__ import annotations

import streamlit as st

from app import db, ui
from app.services import alerts, provider_status, providers

st.title("Overview")
flash = st.session_state.pop("overview_flash", None)
if flash:
    st.success(flash)
with db.Session.begin() as session:
    rows = providers.list_providers(session)
    status = provider_status.statuses(session)
    critical = [a for a in alerts.list_alerts(session) if a.severity == "critical"]
    shown = [(a.at, a.message) for a in critical[:3]]

if critical:
    lines = "\n".join(f"- {at:%Y-%m-%d %H:%M} UTC: {ui.text(message)}" for at, message in shown)
    more = f"\n\n…and {len(critical) - len(shown)} more." if len(critical) > len(shown) else ""
    st.error(
        f"**{len(critical)} open critical alert{'s' * (len(critical) != 1)}** (see Health and alerts):\n"
        f"{lines}{more}",
        icon="🚨",
    )

if not rows:
    st.info(
        "No providers yet. Open **Providers** to add one: provider keys found in the environment and "
        "local servers (Ollama, LocalAI) are offered there in one click."
    )
else:
    left, middle, right = st.columns(3)
    left.metric("Providers", f"{len(rows):,}")
    middle.metric("Enabled models", f"{sum(p.enabled_model_count for p in rows):,}")
    right.metric("Disconnected", sum(status[p.id].status == "disconnected" for p in rows))
    st.dataframe(
        [
            {
                "Name": p.name,
                "Type": p.type,
                "Status": status[p.id].label,
                "Last check": status[p.id].tested,
                "Enabled": p.enabled,
                "Models enabled": f"{p.enabled_model_count:,}/{p.model_count:,}",
            }
            for p in rows
        ],
        hide_index=True,
        key="providers_table",
    )
