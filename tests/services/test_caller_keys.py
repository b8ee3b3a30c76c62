"""Caller keys: shown once, stored as a hash, validated, rotated with an overlap, revoked, audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app import db
from app.errors import PermissionDenied, ValidationError
from app.models import AuditEntry, CallerKey, UsageApplicationRollup
from app.runtime import usage as usage_sink
from app.services import caller_keys, usage
from app.services.access import Actor

NOW = datetime(2031, 5, 14, 12, 0, tzinfo=UTC)


def test_a_new_key_is_returned_once_and_stored_only_as_its_hash(db_url: str, admin: Actor) -> None:
    with db.Session.begin() as session:
        row, key = caller_keys.create_key(session, actor=admin, application="billing-bot", rpm=60)
    assert key.startswith("llmk_") and len(key) == 48
    with db.Session() as session:
        stored = session.scalars(select(CallerKey)).one()
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "caller_key.create")).one()
        dumped = json.dumps([str(getattr(stored, c.name)) for c in CallerKey.__table__.columns])
        assert key not in dumped and stored.key_hash == caller_keys.hash_key(key)
        assert stored.prefix == key[:13] and stored.rpm == 60
        assert key not in json.dumps(audit.details) and stored.key_hash not in json.dumps(audit.details)
        assert caller_keys.verdict_for(session, caller_keys.hash_key(key)).application == "billing-bot"  # type: ignore[union-attr]


def test_bad_input_names_each_field_and_stores_nothing(db_url: str, admin: Actor) -> None:
    with db.Session.begin() as session:
        caller_keys.create_key(session, actor=admin, application="Billing Bot")
    with pytest.raises(ValidationError) as caught, db.Session.begin() as session:
        caller_keys.create_key(
            session,
            actor=admin,
            application="billing  bot",
            models=["no-such-model"],
            rpm="many",
            tpm=0,
            expires_at=NOW - timedelta(days=1),
            now=NOW,
        )
    assert caught.value.fields == ["application", "models", "rpm", "tpm", "expires_at"]
    assert "rotate that one instead" in str(caught.value) and "'no-such-model'" in str(caught.value)
    with db.Session() as session:
        assert len(session.scalars(select(CallerKey)).all()) == 1


def test_only_admins_make_keys_and_viewers_see_names_only(db_url: str, admin: Actor) -> None:
    with pytest.raises(PermissionDenied), db.Session.begin() as session:
        caller_keys.create_key(session, actor=Actor("op", "operator"), application="x")
    with db.Session.begin() as session:
        caller_keys.create_key(session, actor=admin, application="x", rpm=5)
    with db.Session() as session:
        viewer = caller_keys.describe_keys(session, actor=Actor("v", "viewer"))
        operator = caller_keys.describe_keys(session, actor=Actor("op", "operator"))
    assert (viewer[0].application, viewer[0].state, viewer[0].prefix, viewer[0].rpm) == (
        "x",
        "active",
        None,
        None,
    )
    assert operator[0].rpm == 5 and operator[0].prefix is not None


def test_a_rotated_key_keeps_the_old_one_for_the_overlap_only(db_url: str, admin: Actor) -> None:
    with db.Session.begin() as session:
        row, old = caller_keys.create_key(session, actor=admin, application="app")
        row, new = caller_keys.rotate_key(session, actor=admin, key_id=row.id, overlap_seconds=60, now=NOW)
    with db.Session() as session:
        snapshot = caller_keys.verdicts(session)
    previous = snapshot[caller_keys.hash_key(old)]
    assert previous.refusal(NOW + timedelta(seconds=59)) is None
    assert "was rotated; its overlap ended" in str(previous.refusal(NOW + timedelta(seconds=60)))
    assert snapshot[caller_keys.hash_key(new)].refusal(NOW + timedelta(days=1)) is None


def test_a_revoked_key_is_refused_and_cannot_be_enabled_again(db_url: str, admin: Actor) -> None:
    with db.Session.begin() as session:
        row, key = caller_keys.create_key(session, actor=admin, application="app")
        caller_keys.revoke_key(session, actor=admin, key_id=row.id)
    with db.Session() as session:
        verdict = caller_keys.verdict_for(session, caller_keys.hash_key(key))
        assert verdict is not None and "was revoked" in str(verdict.refusal(NOW))
        version = session.get(CallerKey, row.id).version  # type: ignore[union-attr]
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["caller_key.create", "caller_key.revoke"]
    with pytest.raises(ValidationError, match="stays revoked"), db.Session.begin() as session:
        caller_keys.update_key(session, actor=admin, key_id=row.id, expected_version=version, enabled=True)


def test_usage_is_summed_per_application_and_refusals_are_not_failures(db_url: str) -> None:
    base = {"at": NOW, "prompt_tokens": 1, "completion_tokens": 2, "cost_usd": 0.5, "latency_ms": 10.0}
    with db.Session.begin() as session:
        usage_sink.record_events(
            session,
            [
                {**base, "status": "success", "application": "a", "provider": "p"},
                {**base, "status": "refused", "application": "a", "cost_usd": 0.0, "latency_ms": None},
                {**base, "status": "failure", "application": None, "provider": "p"},
            ],
        )
    with db.Session() as session:
        rows = {
            r.application: (r.requests, r.failures, r.refused, r.cost_usd)
            for r in session.scalars(select(UsageApplicationRollup))
        }
        report = usage.usage_report(session, start=NOW.date(), end=NOW.date())
    assert rows == {"a": (2, 0, 1, 0.5), "": (1, 1, 0, 0.5)}
    assert report.totals.failures == 1
