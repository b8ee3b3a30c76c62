"""Audit: who did what, when, to which row; before and after, secrets masked."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from app import db
from app.models import AuditEntry, as_utc
from app.services import audit

ANY = "(any)"
LIMIT = 500

st.title("Audit")
st.caption("Every change, newest first. Secret values are masked when recorded and again when shown.")

with db.Session.begin() as session:
    actors, target_types = audit.filter_choices(session)

by_actor, by_action, by_type, by_date = st.columns(4)
actor = by_actor.selectbox("Actor", [ANY, *actors], key="audit_actor")
action = by_action.text_input(
    "Action starts with", key="audit_action", placeholder="e.g. route. or user.role"
)
target_type = by_type.selectbox("Target type", [ANY, *target_types], key="audit_target_type")
days = by_date.date_input("Dates (UTC)", value=(), key="audit_dates", help="A day, or a first and last day.")

since = until = None
if days:
    first, last = days[0], days[-1]
    since = datetime.combine(first, time.min, tzinfo=UTC)
    until = datetime.combine(last, time.min, tzinfo=UTC) + timedelta(days=1)

with db.Session.begin() as session:
    entries = audit.list_entries(
        session,
        actor=None if actor == ANY else actor,
        action=action.strip() or None,
        target_type=None if target_type == ANY else target_type,
        since=since,
        until=until,
        limit=LIMIT,
    )

if not entries:
    st.info("No entries match these filters.")
    st.stop()

count = f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
st.caption(
    count + (f", the newest {LIMIT}: narrow the filters to see older ones" if len(entries) == LIMIT else "")
)


def _show(column: DeltaGenerator, value: object) -> None:
    """A JSON value as a tree, a plain one as text."""
    if isinstance(value, dict | list):
        column.json(value, expanded=True)
    else:
        column.code("—" if value is None else str(value), language=None)


def _cell(value: object) -> str:
    return "—" if value is None else json.dumps(value, ensure_ascii=False, default=str)


def _target(entry: AuditEntry) -> str:
    name = entry.target_name or ("" if entry.target_id is None else f"#{entry.target_id}")
    return f"{entry.target_type} {name}".strip()


st.dataframe(
    [
        {
            "Time (UTC)": f"{as_utc(e.at):%Y-%m-%d %H:%M:%S}",
            "Actor": e.actor,
            "Action": e.action,
            "Target": _target(e),
            "Details": json.dumps(audit.mask_details(e.details or {}), ensure_ascii=False, default=str)[:200],
        }
        for e in entries
    ],
    hide_index=True,
    key="audit_table",
)

by_id = {e.id: e for e in entries}
picked = st.selectbox(
    "Entry",
    list(by_id),
    key="audit_pick",
    format_func=lambda i: (
        f"{as_utc(by_id[i].at):%Y-%m-%d %H:%M:%S} · {by_id[i].actor} · {by_id[i].action} · "
        f"{_target(by_id[i])}"
    ),
)
details = audit.mask_details(by_id[picked].details or {})
if "before" in details or "after" in details:
    changed = audit.changes(details.get("before") or {}, details.get("after") or {})
    st.markdown(f"**What changed** ({len(changed)} field{'s' * (len(changed) != 1)})")
    if changed:
        st.dataframe(
            [{"Field": f, "Before": _cell(old), "After": _cell(new)} for f, old, new in changed],
            hide_index=True,
            key="audit_changes",
        )
    before_col, after_col = st.columns(2)
    before_col.markdown("**Before**")
    _show(before_col, details.get("before"))
    after_col.markdown("**After**")
    _show(after_col, details.get("after"))
    rest = {k: v for k, v in details.items() if k not in ("before", "after")}
    if rest:
        st.json(rest, expanded=True)
else:
    st.json(details, expanded=True)
