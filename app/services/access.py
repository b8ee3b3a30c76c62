"""Who is acting, and what each role may do."""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import PermissionDenied

ROLES = ("admin", "operator", "viewer")
# edit: change providers/models/templates; operate: test, apply, reload, acknowledge;
# reveal: see a stored key; manage_users: add, disable, reset, change roles.
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"edit", "operate", "reveal", "manage_users"}),
    "operator": frozenset({"operate"}),
    "viewer": frozenset(),
}


@dataclass(frozen=True)
class Actor:
    """The user (or CLI operator) a change is made by."""

    name: str
    role: str

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())


def authorize(actor: Actor, permission: str) -> None:
    """Refuse the action unless the actor's role allows it."""
    if not actor.can(permission):
        raise PermissionDenied(
            f"{actor.name} has role '{actor.role}', which may not {permission.replace('_', ' ')}; "
            "ask an admin"
        )


def login_source(peer: object, forwarded_for: object = None, *, trust_forwarded: bool = False) -> str:
    """The source a dashboard sign-in is throttled under: the client's address. Behind a reverse
    proxy every client has the proxy's address, so with `trust_forwarded` the address the proxy
    appended to X-Forwarded-For (the last one; earlier ones are the client's own claim) is used."""
    # anything but text (no client in a test harness, say) is one unknown source
    if trust_forwarded and isinstance(forwarded_for, str):
        last = forwarded_for.split(",")[-1].strip()
        if last:
            return f"ip:{last[:80]}"
    return f"ip:{peer[:80]}" if isinstance(peer, str) and peer else "ip:unknown"
