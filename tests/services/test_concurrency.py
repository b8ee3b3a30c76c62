"""Two admins saving the same row at the same moment: one wins, the other is told, nothing is lost."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import db
from app.crypto import KeyRing
from app.errors import ConflictError
from app.models import AuditEntry, Model, Provider
from app.services import models, providers
from app.services.access import Actor

KEY = "sk-test-0123456789abcdefXYZ"
ALICE, BOB = Actor("alice", "admin"), Actor("bob", "admin")


def race(
    read_version: Callable[[Session], int], save: Callable[[Session, Actor, int], Any]
) -> dict[str, BaseException | None]:
    """Alice and Bob each open the row (version N), wait for each other, then both save with N."""
    barrier = threading.Barrier(2, timeout=30)
    outcome: dict[str, BaseException | None] = {}

    def editor(actor: Actor) -> None:
        try:
            with db.Session.begin() as session:
                opened = read_version(session)
                barrier.wait()
                save(session, actor, opened)
            outcome[actor.name] = None
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            outcome[actor.name] = exc

    threads = [threading.Thread(target=editor, args=(actor,)) for actor in (ALICE, BOB)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "an editor hung"
    return outcome


def winner_and_loser(outcome: dict[str, BaseException | None]) -> tuple[str, ConflictError]:
    winners = [name for name, exc in outcome.items() if exc is None]
    losers = [exc for exc in outcome.values() if exc is not None]
    assert len(winners) == 1, f"expected exactly one save to succeed, got {outcome}"
    (loser,) = losers
    assert isinstance(loser, ConflictError), repr(loser)
    return winners[0], loser


def test_concurrent_provider_saves_keep_the_winner_and_tell_the_loser(db_url: str, ring: KeyRing) -> None:
    with db.Session.begin() as session:
        pid = providers.create_provider(
            session, actor=ALICE, ring=ring, name="OpenAI Prod", type="openai", secrets={"api_key": KEY}
        ).id
    rpm = {"alice": 100, "bob": 5}

    def save(session: Session, actor: Actor, opened: int) -> None:
        providers.update_provider(
            session, actor=actor, ring=ring, provider_id=pid, expected_version=opened, rpm=rpm[actor.name]
        )

    outcome = race(lambda s: providers.get_provider(s, provider_id=pid).version, save)

    winner, conflict = winner_and_loser(outcome)
    assert f"changed by {winner} at" in str(conflict)
    assert "since you opened it" in str(conflict)
    with db.Session.begin() as session:
        stored = session.get_one(Provider, pid)
        assert (stored.rpm, stored.updated_by, stored.version) == (rpm[winner], winner, 2)
        updates = session.scalars(select(AuditEntry.actor).where(AuditEntry.action == "provider.update"))
        assert list(updates) == [winner]


def test_concurrent_model_saves_keep_the_winner_and_tell_the_loser(db_url: str, ring: KeyRing) -> None:
    with db.Session.begin() as session:
        pid = providers.create_provider(
            session, actor=ALICE, ring=ring, name="OpenAI Prod", type="openai", secrets={"api_key": KEY}
        ).id
        mid = models.create_model(session, actor=ALICE, provider_id=pid, identifier="gpt-4o-mini").id
    price = {"alice": 0.25, "bob": 9.0}

    def save(session: Session, actor: Actor, opened: int) -> None:
        models.update_model(
            session, actor=actor, model_id=mid, expected_version=opened, input_cost_per_1m=price[actor.name]
        )

    outcome = race(lambda s: s.get_one(Model, mid).version, save)

    winner, conflict = winner_and_loser(outcome)
    assert f"changed by {winner} at" in str(conflict)
    assert "since you opened it" in str(conflict)
    with db.Session.begin() as session:
        stored = session.get_one(Model, mid)
        assert (stored.input_cost_per_1m, stored.updated_by, stored.version) == (price[winner], winner, 2)
        updates = session.scalars(select(AuditEntry.actor).where(AuditEntry.action == "model.update"))
        assert list(updates) == [winner]


def test_a_test_result_is_not_an_edit(db_url: str, ring: KeyRing) -> None:
    with db.Session.begin() as session:
        pid = providers.create_provider(
            session, actor=ALICE, ring=ring, name="OpenAI Prod", type="openai", secrets={"api_key": KEY}
        ).id
    with db.Session.begin() as session:
        opened = providers.get_provider(session, provider_id=pid).version
    with db.Session.begin() as session:
        providers.record_test_result(
            session, actor=Actor("olga", "operator"), provider_id=pid, ok=True, latency_ms=12.5, message="ok"
        )
    with db.Session.begin() as session:
        after = providers.get_provider(session, provider_id=pid)
        assert (after.version, after.last_test_ok, after.last_test_latency_ms) == (opened, True, 12.5)
        assert after.updated_by == "alice"
    # the admin's form opened before the test still saves without a conflict
    with db.Session.begin() as session:
        providers.update_provider(
            session, actor=ALICE, ring=ring, provider_id=pid, expected_version=opened, rpm=60
        )
    with db.Session.begin() as session:
        assert providers.get_provider(session, provider_id=pid).rpm == 60
