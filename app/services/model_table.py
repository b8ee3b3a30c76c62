"""The Models page's table: rows as plain values, and one save of many edits with conflict detection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import FieldError, ValidationError
from app.models import Provider
from app.services import models
from app.services.access import Actor, authorize

CAPABILITY_COLUMNS = models.CAPABILITIES
EDITABLE_COLUMNS = (
    "enabled",
    "display_name",
    "alias",
    "mode",
    "input_cost_per_1m",
    "output_cost_per_1m",
    "context_window",
    *CAPABILITY_COLUMNS,
)
ROW_LIMIT = 1000


def provider_choices(session: Session) -> dict[int, str]:
    """Provider id → name of the providers not deleted, for the provider filter."""
    query = (
        select(Provider.id, Provider.name).where(Provider.deleted_at.is_(None)).order_by(Provider.name_key)
    )
    return {pid: name for pid, name in session.execute(query)}


@dataclass(frozen=True)
class ModelFilter:
    """What the table shows: a search over identifier and alias, one provider, enabled or not."""

    query: str = ""
    provider_id: int | None = None
    enabled: bool | None = None


def model_rows(
    session: Session, *, filters: ModelFilter, limit: int | None = ROW_LIMIT
) -> list[dict[str, Any]]:
    """The models matching the filter, as the editor shows them, each with the version it was read at."""
    found = models.search_models(
        session,
        provider_id=filters.provider_id,
        query=filters.query or None,
        enabled=filters.enabled,
        limit=limit,
    )
    return [
        {
            "id": m.id,
            "version": m.version,
            "provider": m.provider.name,
            "model": m.identifier,
            **{column: getattr(m, column) for column in EDITABLE_COLUMNS},
        }
        for m in found
    ]


def matching_ids(session: Session, *, filters: ModelFilter) -> list[int]:
    """Every model the filter matches (the table may show only the first ROW_LIMIT)."""
    return [row["id"] for row in model_rows(session, filters=filters, limit=None)]


@dataclass(frozen=True)
class ModelEdit:
    """One row's changes, made on the version the editor loaded."""

    model_id: int
    expected_version: int
    label: str  # provider/model, to name the row in an error
    changes: dict[str, Any]


def changed_values(row: dict[str, Any], edited: dict[str, Any]) -> dict[str, Any]:
    """The editable cells whose value differs from the loaded row (a cleared cell becomes None)."""
    out = {}
    for column, value in edited.items():
        if column not in EDITABLE_COLUMNS:
            continue
        if isinstance(value, float) and value != value:  # NaN: a number cell the user cleared
            value = None
        if value != row.get(column):
            out[column] = value
    return out


def pending_edits(rows: list[dict[str, Any]], edited_rows: dict[Any, dict[str, Any]]) -> list[ModelEdit]:
    """The editor's cell edits (row position → cells) as edits of the loaded rows; no-op edits dropped."""
    edits = []
    for position, cells in sorted(edited_rows.items(), key=lambda item: int(item[0])):
        row = rows[int(position)]
        changes = changed_values(row, cells)
        if changes:
            edits.append(ModelEdit(row["id"], row["version"], f"{row['provider']}/{row['model']}", changes))
    return edits


def save_edits(session: Session, *, actor: Actor, edits: list[ModelEdit]) -> int:
    """Apply every edit in the caller's one transaction; any error or conflict raises, so none is kept.

    Validation errors of all rows are collected and raised together, each field named
    `provider/model: field`; a row changed by someone since it was loaded raises the ConflictError
    that names who changed it and when.
    """
    authorize(actor, "edit")
    errors: list[FieldError] = []
    saved = 0
    for edit in edits:
        if not edit.changes:
            continue
        try:
            models.update_model(
                session,
                actor=actor,
                model_id=edit.model_id,
                expected_version=edit.expected_version,
                **edit.changes,
            )
        except ValidationError as err:
            errors.extend(FieldError(f"{edit.label}: {e.field}", e.message) for e in err.errors)
            continue
        saved += 1
    if errors:
        raise ValidationError(errors)
    return saved
