"""The audit log as the Audit page reads it: a date window, and the actors and target types to filter by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app import db
from app.services import audit
from app.services.access import Actor


def _entry(actor: str, action: str, target_type: str, at: datetime) -> None:
    with db.Session.begin() as session:
        entry = audit.record(session, actor=Actor(actor, "admin"), action=action, target_type=target_type)
        entry.at = at


def test_a_date_window_includes_its_start_and_excludes_its_end(db_url: str) -> None:
    day = datetime(2026, 3, 10, tzinfo=UTC)
    _entry("alice", "route.add", "route", day - timedelta(seconds=1))
    _entry("alice", "route.update", "route", day)
    _entry("bob", "user.create", "user", day + timedelta(hours=23, minutes=59))
    _entry("bob", "user.role", "user", day + timedelta(days=1))
    with db.Session.begin() as session:
        window = audit.list_entries(session, since=day, until=day + timedelta(days=1))
        assert [e.action for e in window] == ["user.create", "route.update"]
        assert [e.action for e in audit.list_entries(session, until=day)] == ["route.add"]


def test_filter_choices_are_the_distinct_actors_and_target_types(db_url: str) -> None:
    now = datetime.now(UTC)
    _entry("bob", "user.create", "user", now)
    _entry("alice", "route.add", "route", now)
    _entry("alice", "route.remove", "route", now)
    with db.Session.begin() as session:
        assert audit.filter_choices(session) == (["alice", "bob"], ["route", "user"])


def test_changes_lists_only_the_fields_that_differ_nested_as_dotted_names() -> None:
    before = {"name": "a", "rpm": None, "params": {"api_version": "1", "org": "x"}, "gone": 1}
    after = {"name": "a", "rpm": 10, "params": {"api_version": "2", "org": "x"}, "new": None}
    assert audit.changes(before, after) == [
        ("gone", 1, None),
        ("new", None, None),  # present on one side only: a change even though both read as None
        ("params.api_version", "1", "2"),
        ("rpm", None, 10),
    ]
    assert audit.changes(before, before) == []
