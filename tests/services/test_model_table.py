"""The Models page's rows and its one save: all edits or none, conflicts named."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import select

from app import db
from app.crypto import KeyRing
from app.errors import ConflictError, PermissionDenied, ValidationError
from app.models import Model
from app.services import model_table, models, providers
from app.services.access import Actor
from app.services.model_table import ModelEdit, ModelFilter


def _seed(ring: KeyRing, admin: Actor) -> dict[str, int]:
    ids = {}
    with db.Session.begin() as session:
        pid = providers.create_provider(
            session,
            actor=admin,
            ring=ring,
            name="OpenAI",
            type="openai",
            secrets={"api_key": "sk-0123456789ab"},
        ).id
        for identifier, enabled in (("gpt-4o", True), ("gpt-4o-mini", False), ("o1", False)):
            ids[identifier] = models.create_model(
                session, actor=admin, provider_id=pid, identifier=identifier, enabled=enabled
            ).id
    return ids


def _get(model_id: int) -> Model:
    with db.Session.begin() as session:
        row = session.get(Model, model_id)
        assert row is not None
        session.expunge(row)
        return row


def test_rows_are_plain_values_with_versions_and_filters_apply(
    db_url: str, ring: KeyRing, admin: Actor
) -> None:
    ids = _seed(ring, admin)
    with db.Session.begin() as session:
        rows = model_table.model_rows(session, filters=ModelFilter(query="4O"))
        disabled = model_table.model_rows(session, filters=ModelFilter(enabled=False))
        limited = model_table.model_rows(session, filters=ModelFilter(), limit=1)
        every = model_table.matching_ids(session, filters=ModelFilter(enabled=False))
    assert [(r["model"], r["version"], r["provider"]) for r in rows] == [
        ("gpt-4o", 1, "OpenAI"),
        ("gpt-4o-mini", 1, "OpenAI"),
    ]
    assert set(rows[0]) == {"id", "version", "provider", "model", *model_table.EDITABLE_COLUMNS}
    assert [r["model"] for r in disabled] == ["gpt-4o-mini", "o1"]
    assert len(limited) == 1
    assert sorted(every) == sorted([ids["gpt-4o-mini"], ids["o1"]])


def test_provider_choices_leave_out_deleted_providers(db_url: str, ring: KeyRing, admin: Actor) -> None:
    _seed(ring, admin)
    with db.Session.begin() as session:
        gone = providers.create_provider(session, actor=admin, ring=ring, name="Gone", type="ollama").id
        providers.delete_provider(session, actor=admin, provider_id=gone)
    with db.Session.begin() as session:
        assert list(model_table.provider_choices(session).values()) == ["OpenAI"]


def test_changed_values_keeps_only_real_changes() -> None:
    row = {"alias": "a", "input_cost_per_1m": 1.0, "enabled": True, "provider": "P"}
    edited = {"alias": "a", "input_cost_per_1m": math.nan, "enabled": False, "provider": "X", "version": 9}
    assert model_table.changed_values(row, edited) == {"input_cost_per_1m": None, "enabled": False}


def test_pending_edits_name_the_rows_and_drop_unchanged_ones() -> None:
    rows = [
        {"id": 7, "version": 3, "provider": "P", "model": "a", "alias": "a", "enabled": False},
        {"id": 9, "version": 1, "provider": "P", "model": "b", "alias": "b", "enabled": True},
    ]
    edits = model_table.pending_edits(rows, {"1": {"enabled": False}, 0: {"alias": "a"}})
    assert edits == [ModelEdit(9, 1, "P/b", {"enabled": False})]


def test_save_applies_every_edit(db_url: str, ring: KeyRing, admin: Actor) -> None:
    ids = _seed(ring, admin)
    edits = [
        ModelEdit(ids["gpt-4o"], 1, "OpenAI/gpt-4o", {"alias": "smart"}),
        ModelEdit(ids["o1"], 1, "OpenAI/o1", {"enabled": True, "context_window": 1000}),
        ModelEdit(ids["gpt-4o-mini"], 1, "OpenAI/gpt-4o-mini", {}),
    ]
    with db.Session.begin() as session:
        assert model_table.save_edits(session, actor=admin, edits=edits) == 2
    assert (_get(ids["gpt-4o"]).alias, _get(ids["o1"]).enabled, _get(ids["o1"]).context_window) == (
        "smart",
        True,
        1000,
    )
    assert _get(ids["gpt-4o-mini"]).version == 1


def test_every_invalid_cell_is_reported_and_nothing_is_saved(
    db_url: str, ring: KeyRing, admin: Actor
) -> None:
    ids = _seed(ring, admin)
    edits = [
        ModelEdit(ids["gpt-4o"], 1, "OpenAI/gpt-4o", {"alias": "fine"}),
        ModelEdit(ids["o1"], 1, "OpenAI/o1", {"alias": "", "output_cost_per_1m": -2}),
        ModelEdit(ids["gpt-4o-mini"], 1, "OpenAI/gpt-4o-mini", {"context_window": 0}),
    ]
    with pytest.raises(ValidationError) as err, db.Session.begin() as session:
        model_table.save_edits(session, actor=admin, edits=edits)
    assert err.value.fields == [
        "OpenAI/o1: alias",
        "OpenAI/o1: output_cost_per_1m",
        "OpenAI/gpt-4o-mini: context_window",
    ]
    assert _get(ids["gpt-4o"]).alias == "gpt-4o"


def test_a_stale_row_is_a_conflict_naming_who_and_nothing_is_saved(
    db_url: str, ring: KeyRing, admin: Actor
) -> None:
    ids = _seed(ring, admin)
    with db.Session.begin() as session:
        models.update_model(
            session, actor=Actor("bob", "admin"), model_id=ids["o1"], expected_version=1, alias="b"
        )
    edits = [
        ModelEdit(ids["gpt-4o"], 1, "OpenAI/gpt-4o", {"enabled": False}),
        ModelEdit(ids["o1"], 1, "OpenAI/o1", {"alias": "mine"}),
    ]
    with pytest.raises(ConflictError, match=r"model 'o1' was changed by bob at .* since you opened it"):
        with db.Session.begin() as session:
            model_table.save_edits(session, actor=admin, edits=edits)
    assert _get(ids["gpt-4o"]).enabled is True
    assert _get(ids["o1"]).alias == "b"


def test_only_admins_save(db_url: str, ring: KeyRing, admin: Actor) -> None:
    ids = _seed(ring, admin)
    with pytest.raises(PermissionDenied), db.Session.begin() as session:
        model_table.save_edits(
            session,
            actor=Actor("o", "operator"),
            edits=[ModelEdit(ids["o1"], 1, "OpenAI/o1", {"enabled": True})],
        )
    with db.Session.begin() as session:
        assert session.scalars(select(Model.enabled).where(Model.id == ids["o1"])).one() is False


def test_a_display_name_is_for_people_and_leaves_the_alias_callers_send(
    db_url: str, ring: KeyRing, admin: Actor
) -> None:
    ids = _seed(ring, admin)
    edits = [ModelEdit(ids["gpt-4o"], 1, "OpenAI/gpt-4o", {"display_name": "  GPT-4o   (team)  "})]
    with db.Session.begin() as session:
        model_table.save_edits(session, actor=admin, edits=edits)
    row = _get(ids["gpt-4o"])
    assert (row.display_name, row.alias) == ("GPT-4o (team)", "gpt-4o")
    with db.Session.begin() as session:
        assert model_table.model_rows(session, filters=ModelFilter(query="gpt-4o"))[0]["display_name"] == (
            "GPT-4o (team)"
        )
    with pytest.raises(ValidationError) as err, db.Session.begin() as session:
        model_table.save_edits(
            session, actor=admin, edits=[ModelEdit(ids["o1"], 1, "OpenAI/o1", {"display_name": "x" * 101})]
        )
    assert err.value.fields == ["OpenAI/o1: display_name"]
    with db.Session.begin() as session:  # emptied: shown as the alias again
        model_table.save_edits(
            session, actor=admin, edits=[ModelEdit(ids["gpt-4o"], 2, "OpenAI/gpt-4o", {"display_name": ""})]
        )
    assert _get(ids["gpt-4o"]).display_name is None
