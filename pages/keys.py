"""Caller keys: one scoped key per application for the proxy's model routes.

Admins create, scope, limit, rotate and revoke; operators see every key but change nothing; viewers
see application names and their usage only. A new key is shown in the one run that made it (a local
variable, never session state) and is stored only as its hash.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

from app import db, ui
from app.errors import LlmAdminError, ValidationError
from app.services import caller_keys, usage
from app.services.access import Actor

USAGE_DAYS = 30
FIELDS = ("application", "owner", "description", "models", "rpm", "tpm", "expires_at")

actor: Actor = st.session_state.actor
can_edit = actor.can("edit")
sees_all = can_edit or actor.can("operate")
state = st.session_state


def _errors(scope: str, field: str | None = None) -> None:
    """The errors of the last `scope` action (those of one field, or those of no form field)."""
    for name, message in state.get(f"{scope}_errors", {}).items():
        if name == field or (field is None and name not in FIELDS and name != "overlap_seconds"):
            st.error(ui.text(message), icon="⚠️")


def _call(scope: str, change: Callable[[Session], Any]) -> Any:
    """One caller_keys service call in one transaction; its errors kept for the page to show inline."""
    try:
        with db.Session.begin() as session:
            result = change(session)
    except ValidationError as exc:
        state[f"{scope}_errors"] = {e.field: e.message for e in exc.errors}
        return None
    except LlmAdminError as exc:
        state[f"{scope}_errors"] = {"form": str(exc)}
        return None
    state[f"{scope}_errors"] = {}
    return result


def _expiry(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time(), UTC)


def _create() -> tuple[str, str] | None:
    made = _call(
        "keys_create",
        lambda s: caller_keys.create_key(
            s,
            actor=state.actor,
            application=state.keys_new_application,
            owner=state.keys_new_owner,
            description=state.keys_new_description,
            models=list(state.keys_new_models),
            rpm=state.keys_new_rpm,
            tpm=state.keys_new_tpm,
            expires_at=_expiry(state.keys_new_expires),
        ),
    )
    if made is None:
        return None
    row, key = made
    for name in ("application", "owner", "description", "rpm", "tpm"):
        state[f"keys_new_{name}"] = ""
    state.keys_new_models, state.keys_new_expires = [], None
    return row.application, key


def _rotate(key_id: int) -> tuple[str, str] | None:
    made = _call(
        "keys_rotate",
        lambda s: caller_keys.rotate_key(
            s, actor=state.actor, key_id=key_id, overlap_seconds=state.keys_overlap
        ),
    )
    state.keys_confirm_rotate = None
    if made is None:
        return None
    row, key = made
    state.keys_edit_for = None  # the form re-reads the key's new version
    return row.application, key


def _changed(fields: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
    """Only what the form changed, so an unchanged (say, already past) expiry is not judged again."""
    return {name: new for name, (new, old) in fields.items() if new != old}


def _save(info: caller_keys.KeyInfo) -> None:
    changes = _changed(
        {
            "owner": (state.keys_owner, info.owner or ""),
            "description": (state.keys_description, info.description or ""),
            "models": (sorted(state.keys_models), sorted(info.models or ())),
            "rpm": (state.keys_rpm.strip(), "" if info.rpm is None else str(info.rpm)),
            "tpm": (state.keys_tpm.strip(), "" if info.tpm is None else str(info.tpm)),
            "expires_at": (state.keys_expires, info.expires_at.date() if info.expires_at else None),
            "enabled": (state.keys_enabled, info.state != "disabled"),
        }
    )
    if "expires_at" in changes:
        changes["expires_at"] = _expiry(changes["expires_at"])
    assert info.version is not None  # admins see every field
    row = _call(
        "keys_edit",
        lambda s: caller_keys.update_key(
            s, actor=state.actor, key_id=info.id, expected_version=info.version, **changes
        ),
    )
    if row is not None:
        state.keys_flash = f"{ui.text(row.application)}: saved; the proxy applies it within seconds."
        state.keys_edit_for = None


def _revoke(key_id: int) -> None:
    row = _call("keys_revoke", lambda s: caller_keys.revoke_key(s, actor=state.actor, key_id=key_id))
    state.keys_confirm_revoke = None
    if row is not None:
        state.keys_flash = f"{ui.text(row.application)}: revoked; the proxy refuses its key within seconds."
        state.keys_edit_for = None


st.title("Caller keys")
st.caption(
    "Each application calls the proxy's model routes (`/v1/chat/completions`, `/v1/embeddings`, …) "
    "with its own key, sent as `Authorization: Bearer <key>`; the master key stays with ops."
)

# Admins' create and rotate run here, before any widget: the new key lives in this run only.
new_key: tuple[str, str] | None = None
if can_edit and state.get("keys_create"):
    new_key = _create()
elif can_edit and state.get("keys_rotate_confirm") and state.get("keys_confirm_rotate") is not None:
    new_key = _rotate(state.keys_confirm_rotate)

if new_key is not None:
    application, plain = new_key
    st.success(
        f"The caller key of {ui.text(application)}. Copy it now with the copy icon at the right of the "
        "key: it is shown only this once and kept only as a hash."
    )
    st.code(plain, language=None)
flash = state.pop("keys_flash", None)
if flash:
    st.success(flash)

today = datetime.now(UTC).date()
with db.Session.begin() as session:
    infos = caller_keys.describe_keys(session, actor=actor)
    spent = {
        u.application: u
        for u in usage.usage_by_application(session, start=today - timedelta(days=USAGE_DAYS - 1), end=today)
    }
    callable_names = sorted(caller_keys.callable_names(session)) if can_edit else []


def _when(moment: datetime | None, empty: str = "never") -> str:
    return empty if moment is None else f"{moment:%Y-%m-%d %H:%M}"


def _row(info: caller_keys.KeyInfo) -> dict[str, Any]:
    used = spent.get(info.application, usage.ApplicationUsage(info.application))
    row: dict[str, Any] = {"Application": info.application, "State": info.state}
    if sees_all:
        row |= {
            "Key": f"{info.prefix}…",
            "Owner": info.owner,
            "May call": caller_keys.scope_text(info.models),
            "RPM": info.rpm,
            "TPM": info.tpm,
            "Expires (UTC)": _when(info.expires_at),
            "Previous key until (UTC)": _when(info.previous_valid_until, ""),
        }
    row |= {
        f"Requests ({USAGE_DAYS} d)": used.requests,
        f"Cost ({USAGE_DAYS} d)": used.cost_usd,
        "Errors": used.failures,
        "Refused": used.refused,
    }
    if sees_all:
        row |= {"Description": info.description, "Created by": info.created_by}
    return row


if not infos:
    st.info(
        "No caller keys yet. "
        + ("Create one below for each application." if can_edit else "An admin creates them.")
    )
else:
    st.dataframe(
        pd.DataFrame([_row(i) for i in infos]),
        key="keys_table",
        hide_index=True,
        column_config={
            f"Cost ({USAGE_DAYS} d)": st.column_config.NumberColumn(format="$%.4f"),
            "Refused": st.column_config.NumberColumn(
                help="refused by the proxy for this caller (scope, limits, budget): not provider errors"
            ),
        },
    )
if not can_edit:
    st.caption("Only admins create, change, rotate or revoke caller keys.")
    st.stop()

st.subheader("Create a key")
with st.form("keys_create_form"):
    st.text_input("Application or team", key="keys_new_application", help="e.g. billing-bot; one key each")
    _errors("keys_create", "application")
    st.text_input("Owner", key="keys_new_owner", help="who to ask about this application")
    st.text_input("Description", key="keys_new_description")
    st.multiselect(
        "May call",
        callable_names,
        key="keys_new_models",
        placeholder="every model and route",
        help="model aliases and agent/<type> routes; leave empty for all",
    )
    _errors("keys_create", "models")
    left, right = st.columns(2)
    with left:
        st.text_input("Requests per minute", key="keys_new_rpm", help="empty: no limit")
        _errors("keys_create", "rpm")
    with right:
        st.text_input("Tokens per minute", key="keys_new_tpm", help="empty: no limit")
        _errors("keys_create", "tpm")
    st.date_input(
        "Expires (UTC, at 00:00)",
        value=None,
        key="keys_new_expires",
        format="YYYY-MM-DD",
        help="empty: never",
    )
    _errors("keys_create", "expires_at")
    st.form_submit_button("Create key", key="keys_create", type="primary")
_errors("keys_create")

if not infos:
    st.stop()

st.subheader("Change a key")
by_id = {i.id: i for i in infos}
picked = st.selectbox(
    "Key", list(by_id), key="keys_pick", format_func=lambda i: f"{by_id[i].application} ({by_id[i].state})"
)
info = by_id[picked]
if state.get("keys_edit_for") != (picked, info.version):
    state.keys_edit_for = (picked, info.version)
    state.keys_owner, state.keys_description = info.owner or "", info.description or ""
    state.keys_models = [m for m in info.models or () if m in callable_names]
    state.keys_rpm = "" if info.rpm is None else str(info.rpm)
    state.keys_tpm = "" if info.tpm is None else str(info.tpm)
    state.keys_expires = info.expires_at.date() if info.expires_at else None
    state.keys_enabled = info.state != "disabled"
    state.setdefault("keys_overlap", str(caller_keys.DEFAULT_OVERLAP_SECONDS))
    for scope in ("keys_edit", "keys_rotate", "keys_revoke"):
        state[f"{scope}_errors"] = {}
    state.keys_confirm_rotate = state.keys_confirm_revoke = None

if info.state == "revoked":
    st.info(f"The key of {ui.text(info.application)} is revoked for good; create a new key instead.")
    st.stop()

with st.form("keys_edit_form"):
    st.text_input("Owner", key="keys_owner")
    st.text_input("Description", key="keys_description")
    st.multiselect("May call", callable_names, key="keys_models", placeholder="every model and route")
    _errors("keys_edit", "models")
    left, right = st.columns(2)
    with left:
        st.text_input("Requests per minute", key="keys_rpm", help="empty: no limit")
        _errors("keys_edit", "rpm")
    with right:
        st.text_input("Tokens per minute", key="keys_tpm", help="empty: no limit")
        _errors("keys_edit", "tpm")
    st.date_input("Expires (UTC, at 00:00)", key="keys_expires", format="YYYY-MM-DD", help="empty: never")
    _errors("keys_edit", "expires_at")
    st.checkbox("Enabled", key="keys_enabled", help="a disabled key is refused until enabled again")
    st.form_submit_button("Save changes", key="keys_save", on_click=_save, args=(info,))
_errors("keys_edit")

st.text_input(
    "Overlap when rotating (seconds)",
    key="keys_overlap",
    help=f"how long the current key keeps working after a rotation (0 to {caller_keys.MAX_OVERLAP_SECONDS})",
)
_errors("keys_rotate", "overlap_seconds")
rotate, revoke = st.columns(2)
if rotate.button("Rotate…", key="keys_rotate"):
    state.keys_confirm_rotate, state.keys_confirm_revoke = picked, None
if revoke.button("Revoke…", key="keys_revoke"):
    state.keys_confirm_revoke, state.keys_confirm_rotate = picked, None

if state.get("keys_confirm_rotate") == picked:
    st.warning(
        f"Rotate the key of {ui.text(info.application)}? A new key is shown once; the current one "
        f"({ui.text(info.prefix)}…) keeps working for {ui.text(state.keys_overlap)} seconds, then stops."
    )
    yes, no = st.columns(2)
    yes.button("Yes, rotate", key="keys_rotate_confirm", type="primary")
    if no.button("Cancel", key="keys_rotate_cancel"):
        state.keys_confirm_rotate = None
        st.rerun()
if state.get("keys_confirm_revoke") == picked:
    st.warning(
        f"Revoke the key of {ui.text(info.application)}? The proxy refuses it within seconds, for good: "
        "the application needs a new key."
    )
    yes, no = st.columns(2)
    yes.button("Yes, revoke", key="keys_revoke_confirm", type="primary", on_click=_revoke, args=(picked,))
    if no.button("Cancel", key="keys_revoke_cancel"):
        state.keys_confirm_revoke = None
        st.rerun()
_errors("keys_rotate")
_errors("keys_revoke")
