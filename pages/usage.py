"""Usage and costs: spend by provider, model group, route, caller application and day; requests, tokens,
errors, latency; cheaper models; the aggregated rows as CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import partial

import pandas as pd
import streamlit as st

from app import db, ui
from app.services import recommendations, usage

DEFAULT_DAYS = 30
TOP = 15  # bars per chart; the table under it lists them all
NO_APPLICATION = "(no caller key)"  # the master key, or a key the proxy did not know


@st.cache_data(ttl=300, show_spinner=False)
def cheaper_models(database_url: str) -> list[recommendations.Recommendation]:
    """The recommendations over the last 30 days; they read the raw events, so kept for 5 minutes."""
    with db.Session.begin() as session:
        return recommendations.recommend(session, days=30)


def usage_csv(start: date, end: date, provider: str | None, route: str | None) -> str:
    """The aggregated rows, made when the download button is clicked (on a thread of its own)."""
    with db.Session.begin() as session:
        return usage.export_csv(session, start=start, end=end, provider=provider, route=route)


def application_csv(start: date, end: date) -> str:
    with db.Session.begin() as session:
        return usage.export_application_csv(session, start=start, end=end)


def application_label(name: str) -> str:
    return name or NO_APPLICATION


def applications(rows: list[usage.ApplicationUsage], filtered: bool) -> None:
    """Usage per caller application; requests the proxy refused for the caller apart from errors."""
    if filtered:
        st.caption("Per application over every provider and route: the filters above do not apply here.")
    frame = pd.DataFrame(
        {
            "Application": [application_label(r.application) for r in rows],
            "Cost (USD)": [r.cost_usd for r in rows],
            "Requests": [r.requests for r in rows],
            "Tokens": [r.tokens for r in rows],
            "Errors": [r.failures for r in rows],
            "Error rate": [r.error_rate for r in rows],
            "Refused": [r.refused for r in rows],
            "Mean latency (ms)": [r.mean_latency_ms for r in rows],
        }
    )
    if rows:
        st.bar_chart(frame.head(TOP), x="Application", y="Cost (USD)", horizontal=True, sort="-Cost (USD)")
    st.dataframe(
        frame,
        key="usage_by_application",
        hide_index=True,
        column_config={
            "Cost (USD)": st.column_config.NumberColumn(format="$%.4f"),
            "Errors": st.column_config.NumberColumn(help="the providers' errors"),
            "Error rate": st.column_config.NumberColumn(
                format="percent", help="errors of the requests sent on to a provider"
            ),
            "Refused": st.column_config.NumberColumn(
                help="refused by the proxy for the caller (key, scope, limits, budget): not provider errors"
            ),
            "Mean latency (ms)": st.column_config.NumberColumn(format="%.0f", help="successful requests"),
        },
    )


def provider_label(name: str | None) -> str:
    return "All providers" if name is None else (name or "(unknown provider)")


def route_label(name: str | None) -> str:
    return "All routes" if name is None else (name or "(no route)")


def table(rows: list[usage.UsageRow], name: str, label: str = "") -> pd.DataFrame:
    return pd.DataFrame(
        {
            name: [str(r.key) or label for r in rows],
            "Cost (USD)": [r.cost_usd for r in rows],
            "Requests": [r.requests for r in rows],
            "Tokens": [r.tokens for r in rows],
            "Errors": [r.failures for r in rows],
            "Error rate": [r.error_rate for r in rows],
            "Fallbacks": [r.fallbacks for r in rows],
        }
    )


def breakdown(rows: list[usage.UsageRow], name: str, label: str, key: str) -> None:
    frame = table(rows, name, label)
    st.bar_chart(frame.head(TOP), x=name, y="Cost (USD)", horizontal=True, sort="-Cost (USD)")
    st.dataframe(
        frame,
        key=key,
        hide_index=True,
        column_config={
            "Cost (USD)": st.column_config.NumberColumn(format="$%.4f"),
            "Error rate": st.column_config.NumberColumn(format="percent"),
        },
    )


def latency(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms"


st.title("Usage and costs")
today = datetime.now(UTC).date()
default = (today - timedelta(days=DEFAULT_DAYS - 1), today)
picked = st.date_input("Dates (UTC)", value=default, max_value=today, format="YYYY-MM-DD", key="usage_dates")
# while a range is being picked the widget holds only its first day; cleared, none
dates = [d for d in (picked if isinstance(picked, tuple) else (picked,)) if isinstance(d, date)]
start, end = (dates[0], dates[-1]) if dates else default

with db.Session.begin() as session:
    provider_names, route_names = usage.filter_options(session, start=start, end=end)
left, right = st.columns(2)
provider = left.selectbox(
    "Provider", [None, *provider_names], format_func=provider_label, key="usage_provider"
)
route = right.selectbox("Route", [None, *route_names], format_func=route_label, key="usage_route")

with db.Session.begin() as session:
    report = usage.usage_report(session, start=start, end=end, provider=provider, route=route)
    by_application = usage.usage_by_application(session, start=start, end=end)

totals = report.totals
cells = st.columns(6)
cells[0].metric("Requests", f"{totals.requests:,}")
cells[1].metric("Tokens", f"{totals.tokens:,}")
cells[2].metric("Cost", ui.usd(totals.cost_usd))
cells[3].metric("Error rate", "–" if totals.error_rate is None else f"{totals.error_rate:.1%}")
cells[4].metric("p50 latency", latency(report.p50_ms), help="successful requests, to within 0.5%")
cells[5].metric("p95 latency", latency(report.p95_ms), help="successful requests, to within 0.5%")

scope = "" if provider is None else f" for {ui.text(provider_label(provider))}"
scope += "" if route is None else f" through {ui.text(route_label(route))}"
if report.empty:
    st.info(
        f"No requests from {start:%Y-%m-%d} to {end:%Y-%m-%d}{scope}. Requests through the proxy show "
        "here about a second after they are served; pick a wider date range to see older ones."
    )
else:
    st.subheader("Spend by day")
    days = pd.DataFrame(
        {"Day": [r.key for r in report.by_day], "Cost (USD)": [r.cost_usd for r in report.by_day]}
    )
    st.line_chart(days, x="Day", y="Cost (USD)")
    by_provider, by_group, by_route, by_app = st.tabs(
        ["By provider", "By model group", "By route", "By application"]
    )
    with by_provider:
        breakdown(report.by_provider, "Provider", "(unknown provider)", "usage_by_provider")
    with by_group:
        breakdown(report.by_model_group, "Model group", "(unknown)", "usage_by_model_group")
    with by_route:
        breakdown(report.by_route, "Route", "(no route)", "usage_by_route")
    with by_app:
        applications(by_application, filtered=provider is not None or route is not None)
    csv_left, csv_right = st.columns(2)
    with csv_left:
        st.download_button(
            "Download CSV",
            data=partial(usage_csv, start, end, provider, route),
            file_name=f"usage-{start:%Y%m%d}-{end:%Y%m%d}.csv",
            mime="text/csv",
            on_click="ignore",
            key="usage_csv",
        )
    with csv_right:
        st.download_button(
            "Download CSV by application",
            data=partial(application_csv, start, end),
            file_name=f"usage-by-application-{start:%Y%m%d}-{end:%Y%m%d}.csv",
            mime="text/csv",
            on_click="ignore",
            key="usage_application_csv",
            help="one line per day and caller application, over every provider and route",
        )

st.subheader("Cheaper models")
# on demand: it weighs every enabled model against each route's last 30 days of raw events
asked = st.session_state.get("usage_cheaper_shown") or st.button(
    "Find cheaper models for each route", key="usage_find_cheaper"
)
if not asked:
    found = None
else:
    st.session_state.usage_cheaper_shown = True
    with st.spinner("Comparing each route's last 30 days with every enabled model…"):
        found = cheaper_models(ui.settings().database_url)
if found is None:
    pass
elif not found:
    st.caption("No cheaper model fits any route's traffic and capabilities over the last 30 days.")
else:
    st.dataframe(
        pd.DataFrame(
            {
                "Route": [r.route for r in found],
                "Now": [r.current for r in found],
                "Cheaper": [r.candidate for r in found],
                "Providers": [", ".join(r.providers) for r in found],
                "$/1M in": [r.input_cost_per_1m for r in found],
                "$/1M out": [r.output_cost_per_1m for r in found],
                "Requests (30 d)": [r.requests for r in found],
                "Cost (30 d)": [r.actual_cost_usd for r in found],
                "Would cost": [r.estimated_cost_usd for r in found],
                "Saving": [r.saving_usd for r in found],
            }
        ),
        key="usage_recommendations",
        hide_index=True,
    )
