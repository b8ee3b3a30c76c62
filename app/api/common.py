"""What every endpoint shares: the acting user from the token, one transaction, pages of a list,
the version a change was read at, and rows as JSON without their secret columns."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from sqlalchemy.orm import Session, class_mapper

from app import db
from app.crypto import KeyRing, load_key_ring
from app.errors import FieldError, LlmAdminError, ValidationError
from app.models import as_utc
from app.services import api_tokens
from app.services.access import Actor
from app.settings import Settings

MAX_PAGE = 500
# columns no response carries: hashes of keys, tokens and passwords, and ciphertexts
SECRET_COLUMNS = frozenset({"password_hash", "key_hash", "previous_hash", "token_hash", "ciphertext"})


class Unauthorized(LlmAdminError):
    """No token, or one that does not let anybody in (401)."""


def current_actor(request: Request, authorization: Annotated[str | None, Header()] = None) -> Actor:
    """The user the request's bearer token belongs to, with the role the database has now."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "send an API token as 'Authorization: Bearer llma_…'; create one with `llm-admin token create`"
        )
    with db.Session.begin() as session:
        found = api_tokens.authenticate(session, token.strip())
    if isinstance(found, str):
        raise Unauthorized(found)
    request.state.actor = found.name
    return found


ActorDep = Annotated[Actor, Depends(current_actor)]


# Dependencies that only read the request are `async def`: FastAPI runs them in the event loop,
# not in a worker thread each (a hand-off per dependency per request); those doing IO stay plain.


async def settings(request: Request) -> Settings:
    current: Settings = request.app.state.settings
    return current


def key_ring(request: Request) -> KeyRing:
    """Read for each request that needs it, so a key rotation is seen at once (may read the key file)."""
    current: Settings = request.app.state.settings
    return load_key_ring(current)


def environ() -> dict[str, str]:
    """Where providers' `*_env` secrets are read, as the dashboard reads them."""
    return dict(os.environ)


SettingsDep = Annotated[Settings, Depends(settings)]
RingDep = Annotated[KeyRing, Depends(key_ring)]


@contextmanager
def transaction() -> Iterator[Session]:
    """One action, one transaction: an error leaves every stored thing as it was."""
    with db.Session.begin() as session:
        yield session


@dataclasses.dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="items per page")] = 100,
    offset: Annotated[int, Query(ge=0, description="items to skip")] = 0,
) -> PageParams:
    return PageParams(limit, offset)


PageDep = Annotated[PageParams, Depends(page_params)]


def page_of(items: Sequence[Any], total: int, page: PageParams) -> dict[str, Any]:
    """A list response: the items of this page, the total, and where the next page starts."""
    following = page.offset + len(items)
    return {
        "items": [as_json(i) for i in items],
        "total": total,
        "limit": page.limit,
        "offset": page.offset,
        "next_offset": following if following < total else None,
    }


def page_ahead(rows: Sequence[Any], page: PageParams) -> dict[str, Any]:
    """A page of a long list read with one row more than the page (`limit + 1`): whether another
    page follows is known without counting them all; `total` is null."""
    shown = page_of(rows[: page.limit], page.offset + len(rows), page)
    shown["total"] = None
    return shown


def paginate(items: Sequence[Any], page: PageParams) -> dict[str, Any]:
    """A page of a list the service returns whole (small lists: routes, budgets, templates)."""
    return page_of(items[page.offset : page.offset + page.limit], len(items), page)


_PLAIN = (str, int, float, bool, type(None))


_SHOWN: dict[type, tuple[str, ...] | None] = {}


def _shown_keys(kind: type) -> tuple[str, ...] | None:
    """What `as_json` shows of a `kind`: a dataclass's fields, a row's columns but the secret ones;
    None for any other type. Found once per type: a page of 500 rows asks 500 times."""
    if kind not in _SHOWN:
        keys: tuple[str, ...] | None = None
        if dataclasses.is_dataclass(kind):
            keys = tuple(f.name for f in dataclasses.fields(kind))
        elif hasattr(kind, "__table__"):
            keys = tuple(c.key for c in class_mapper(kind).column_attrs if c.key not in SECRET_COLUMNS)
        _SHOWN[kind] = keys
    return _SHOWN[kind]


def as_json(value: Any) -> Any:
    """Dataclasses, rows and plain values as JSON values; rows lose their secret columns."""
    if isinstance(value, _PLAIN):  # most values: checked first
        return value
    if isinstance(value, datetime):
        return as_utc(value).isoformat()  # every stored time is UTC; SQLite hands them back naive
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [as_json(v) for v in value]
    keys = _shown_keys(type(value))
    if keys is not None:
        return {key: as_json(getattr(value, key)) for key in keys}
    return value


def expected_version(if_match: str | None, body_version: int | None, current: int) -> int:
    """The version a change was read at: If-Match ("3" or W/"3"), else the body's `version`, else
    the current one (a change sent without either is last-writer-wins, as PUT is idempotent)."""
    if if_match is not None:
        tag = if_match.strip().removeprefix("W/").strip('"')
        if not tag.isdigit():
            raise ValidationError([FieldError("If-Match", 'must be the ETag you read, e.g. "3"')])
        return int(tag)
    return current if body_version is None else body_version


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}
