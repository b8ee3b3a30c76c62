"""Health and alerts: each provider's status and latency over time, and the alert feed."""

from __future__ import annotations

from datetime import timedelta

import altair as alt
import pandas as pd
import streamlit as st

from app import db, ui
from app.errors import LlmAdminError
from app.models import utcnow
from app.services import alerts, health, provider_status

# window → (hours, seconds per chart point): about a hundred points whatever the window
WINDOWS = {"1 hour": (1, 60), "6 hours": (6, 300), "24 hours": (24, 900), "7 days": (24 * 7, 6 * 3600)}
CHARTED = 8  # providers charted by default

actor = st.session_state.actor


def _chart(frame: pd.DataFrame, column: str, title: str, *, percent: bool = False) -> alt.Chart:
    """One line per provider in clearly distinct colours; times in UTC, 24-hour, like the tables."""
    scale = alt.Scale(domain=[0, 100]) if percent else alt.Scale(zero=True)
    return (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("utcyearmonthdatehoursminutes(at):T", title="time (UTC)", axis=alt.Axis(format="%H:%M")),
            y=alt.Y(f"{column}:Q", title=title, scale=scale),
            color=alt.Color("provider:N", title="provider", scale=alt.Scale(scheme="category10")),
            tooltip=[
                alt.Tooltip("provider:N"),
                alt.Tooltip(
                    "utcyearmonthdatehoursminutes(at):T", title="time (UTC)", format="%Y-%m-%d %H:%M"
                ),
                alt.Tooltip(f"{column}:Q", title=title, format=".0f"),
            ],
        )
    )


st.title("Health and alerts")

with db.Session.begin() as session:
    current = health.list_health(session)
    # the one status every page shows (the monitor's verdict when it has one)
    status = {pid: s.label for pid, s in provider_status.statuses(session).items()}
if not current:
    st.info("No providers yet: add one on the Providers page; `llm-admin monitor` then probes it.")
else:
    st.dataframe(
        [
            {
                "Provider": h.name,
                "Status": status.get(h.provider_id, "⚪ untested"),
                "Latency (ms)": None if h.latency_ms is None else round(h.latency_ms),
                "Failures in a row": h.consecutive_failures,
                "Checked (UTC)": h.checked_at.strftime("%Y-%m-%d %H:%M:%S") if h.checked_at else "never",
                "Last error": h.error or "",
            }
            for h in current
        ],
        hide_index=True,
        key="health_table",
    )

    names = {h.provider_id: h.name for h in current}
    picked = st.multiselect(
        "Providers to chart",
        list(names),
        default=list(names)[:CHARTED],  # worst first: the ones worth a look
        format_func=names.__getitem__,
        key="health_providers",
    )
    window = st.segmented_control("Over the last", list(WINDOWS), default="24 hours", key="health_window")
    hours, bucket = WINDOWS[window or "24 hours"]
    with db.Session.begin() as session:
        series = health.health_series(
            session, provider_ids=picked, since=utcnow() - timedelta(hours=hours), bucket_seconds=bucket
        )
    if not series:
        st.caption("No probes in this window yet: the monitor probes every 30 seconds when it runs.")
    else:
        frame = pd.DataFrame(
            {
                "at": b.start,
                "provider": b.provider,
                "latency": b.latency_ms,  # None when no probe of the bucket succeeded: a gap, not 0
                "succeeded": 100 * b.ok_share,
            }
            for b in series
        )
        st.subheader("Latency of the successful probes")
        st.altair_chart(_chart(frame, "latency", "latency (ms)"), width="stretch")
        st.subheader("Probes that succeeded")
        st.altair_chart(_chart(frame, "succeeded", "probes succeeded (%)", percent=True), width="stretch")

st.header("Alerts")
show_all = st.toggle("Include acknowledged", key="alerts_all")
with db.Session.begin() as session:
    feed = alerts.list_alerts(session, include_acknowledged=show_all)
    rows = [(a.id, a.at, a.severity, a.kind, a.message, a.occurrences, a.acknowledged_by) for a in feed]
if not rows:
    st.success("No open alerts.")
for alert_id, at, severity, kind, message, seen, acked_by in rows:
    with st.container(border=True):
        left, right = st.columns([5, 1])
        left.markdown(f"**{severity.upper()}** · {kind} · {at:%Y-%m-%d %H:%M} UTC · seen {seen}×")
        left.markdown(ui.text(message))
        if acked_by:
            right.caption(f"acknowledged by {ui.text(acked_by)}")
        elif actor.can("operate") and right.button("Acknowledge", key=f"ack_{alert_id}"):
            try:
                with db.Session.begin() as session:
                    alerts.acknowledge(session, actor=actor, alert_id=alert_id)
            except LlmAdminError as exc:
                st.error(ui.text(exc))
            else:
                st.rerun()
