"""Dashboard users (admins only, as on the Users page) and API tokens (your own; admins: anyone's)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, SkipValidation

from app.api.common import ActorDep, PageDep, as_json, paginate, transaction
from app.models import User
from app.services import api_tokens, users
from app.services.access import authorize

router = APIRouter(prefix="/api", tags=["users"])


class NewUser(BaseModel):
    """The service checks each field (types included): one 422 lists every problem in its words."""

    model_config = ConfigDict(extra="forbid", strict=True)
    username: SkipValidation[str]
    password: SkipValidation[str]
    role: SkipValidation[str]


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    role: SkipValidation[str | None] = None
    disabled: bool | None = None
    password: SkipValidation[str | None] = None


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    current: str
    password: str


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: SkipValidation[str]
    username: str | None = None  # default: yourself; another user's: admins only
    days: SkipValidation[int] = api_tokens.DEFAULT_DAYS


def _user(row: User) -> dict[str, Any]:
    return as_json(row)  # the password hash is a secret column: never in a response


@router.get("/users")
def list_users(actor: ActorDep, page: PageDep) -> dict[str, Any]:
    authorize(actor, "manage_users")
    with transaction() as session:
        return paginate([_user(u) for u in users.list_users(session)], page)


@router.post("/users", status_code=201)
def create_user(body: NewUser, actor: ActorDep, response: Response) -> dict[str, Any]:
    with transaction() as session:
        created = _user(users.create_user(session, actor=actor, **body.model_dump(warnings=False)))
    response.headers["Location"] = f"/api/users/{created['id']}"
    return created


@router.get("/users/{user_id}")
def get_user(user_id: int, actor: ActorDep) -> dict[str, Any]:
    authorize(actor, "manage_users")
    with transaction() as session:
        return _user(users.get_user(session, user_id=user_id))


@router.put("/users/{user_id}")
def update_user(user_id: int, body: UserUpdate, actor: ActorDep) -> dict[str, Any]:
    """Change a role, disable or enable, set a password (your own, or anyone's as an admin); the
    change reaches open dashboard sessions and API tokens at their next request."""
    with transaction() as session:
        user: User | None = None
        if body.role is not None:
            user = users.set_role(session, actor=actor, user_id=user_id, role=body.role)
        if body.disabled is not None:
            user = users.set_disabled(session, actor=actor, user_id=user_id, disabled=body.disabled)
        if body.password is not None:
            user = users.change_password(session, actor=actor, user_id=user_id, password=body.password)
        if user is None:
            authorize(actor, "manage_users")
            user = users.get_user(session, user_id=user_id)
        return _user(user)


@router.post("/users/{username}/unlock")
def unlock(username: str, actor: ActorDep) -> dict[str, int]:
    """Clear the sign-in backoff on this account from every source."""
    with transaction() as session:
        return {"sources_cleared": users.unlock(session, actor=actor, username=username)}


@router.post("/account/password", tags=["account"])
def change_my_password(body: PasswordChange, actor: ActorDep) -> dict[str, Any]:
    """Change the token user's own password, proven with the current one (any role)."""
    with transaction() as session:
        return _user(
            users.change_own_password(session, actor=actor, current=body.current, password=body.password)
        )


@router.get("/account", tags=["account"])
def my_account(actor: ActorDep) -> dict[str, Any]:
    """Who the token acts as: the user, their role, and whether their password must be changed."""
    with transaction() as session:
        must_change = users.must_change_password(session, username=actor.name)
    return {"username": actor.name, "role": actor.role, "must_change_password": must_change}


@router.get("/tokens", tags=["tokens"])
def list_tokens(actor: ActorDep, page: PageDep, username: str | None = None) -> dict[str, Any]:
    """Your tokens (admins: everyone's, or one user's); never the token itself."""
    with transaction() as session:
        return paginate(api_tokens.list_tokens(session, actor=actor, username=username), page)


@router.post("/tokens", status_code=201, tags=["tokens"])
def create_token(body: NewToken, actor: ActorDep) -> dict[str, Any]:
    """A new token: `token` is in this response only, never again."""
    with transaction() as session:
        info, token = api_tokens.create_token(session, actor=actor, **body.model_dump(warnings=False))
    return {**as_json(info), "token": token}


@router.delete("/tokens/{token_id}", status_code=204, tags=["tokens"])
def revoke_token(token_id: int, actor: ActorDep) -> None:
    """Revoke at once; revoking it again changes nothing."""
    with transaction() as session:
        api_tokens.revoke_token(session, actor=actor, token_id=token_id)
