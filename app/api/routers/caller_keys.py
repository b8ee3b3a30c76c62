"""Caller keys: the applications' keys to the proxy. A key is shown once, when created or rotated;
lists show what the caller's role may see (viewers: the application and its state)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.common import ActorDep, PageDep, as_json, etag, expected_version, paginate, transaction
from app.errors import NotFoundError
from app.services import caller_keys
from app.services.access import Actor

router = APIRouter(prefix="/api/caller-keys", tags=["caller keys"])


class KeyFields(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    owner: str | None = None
    description: str | None = None
    models: list[str] | None = None  # aliases and agent/<type> it may call; [] = every one
    rpm: int | None = None
    tpm: int | None = None
    # JSON has no time type: an ISO 8601 string is read as one (the body is strict otherwise)
    expires_at: Annotated[datetime | None, Field(strict=False)] = None


class NewKey(KeyFields):
    application: str


class KeyUpdate(KeyFields):
    enabled: bool | None = None
    version: int | None = None  # the version you read (or send If-Match); stale → 409


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    overlap_seconds: int = caller_keys.DEFAULT_OVERLAP_SECONDS


def _described(session: Any, actor: Actor, key_id: int) -> caller_keys.KeyInfo:
    found = next((k for k in caller_keys.describe_keys(session, actor=actor) if k.id == key_id), None)
    if found is None:
        raise NotFoundError(f"caller key {key_id} does not exist; GET /api/caller-keys lists them")
    return found


@router.get("")
def list_keys(actor: ActorDep, page: PageDep) -> dict[str, Any]:
    with transaction() as session:
        return paginate(caller_keys.describe_keys(session, actor=actor), page)


@router.post("", status_code=201)
def create_key(body: NewKey, actor: ActorDep, response: Response) -> dict[str, Any]:
    """A new application's key: `key` is in this response only, never again."""
    with transaction() as session:
        row, key = caller_keys.create_key(session, actor=actor, **body.model_dump(exclude_none=True))
        shown = as_json(_described(session, actor, row.id))
    response.headers["Location"] = f"/api/caller-keys/{shown['id']}"
    return {**shown, "key": key}


@router.get("/{key_id}")
def get_key(key_id: int, actor: ActorDep, response: Response) -> Any:
    with transaction() as session:
        found = _described(session, actor, key_id)
    if found.version is not None:
        response.headers.update(etag(found.version))
    return as_json(found)


@router.put("/{key_id}")
def update_key(
    key_id: int,
    body: KeyUpdate,
    actor: ActorDep,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> Any:
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    with transaction() as session:
        current = caller_keys.get_key(session, key_id)
        row = caller_keys.update_key(
            session,
            actor=actor,
            key_id=key_id,
            expected_version=expected_version(if_match, body.version, current.version),
            **changes,
        )
        response.headers.update(etag(row.version))
        return as_json(_described(session, actor, row.id))


@router.post("/{key_id}/rotate")
def rotate_key(key_id: int, actor: ActorDep, body: Rotation | None = None) -> dict[str, Any]:
    """A new key (in this response only); the old one keeps working for `overlap_seconds` (the
    body is optional: an hour by default)."""
    options = body or Rotation()
    with transaction() as session:
        row, key = caller_keys.rotate_key(
            session, actor=actor, key_id=key_id, overlap_seconds=options.overlap_seconds
        )
        return {**as_json(_described(session, actor, row.id)), "key": key}


@router.delete("/{key_id}", status_code=204)
def revoke_key(key_id: int, actor: ActorDep) -> None:
    """Revoke the key at once (the row stays, as the audit trail's subject); again: nothing changes."""
    with transaction() as session:
        caller_keys.revoke_key(session, actor=actor, key_id=key_id)
