"""Errors are values the user can act on: each names the field or setting and the fix."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class LlmAdminError(Exception):
    """Base class for every error shown to a user."""


class SettingsError(LlmAdminError):
    """A setting is missing or unusable."""


class SecretKeyError(LlmAdminError):
    """The key ring cannot read or write a stored secret."""


class NotFoundError(LlmAdminError):
    """The named row does not exist."""


class ConflictError(LlmAdminError):
    """The row changed since the user opened it."""

    @classmethod
    def changed_since(cls, kind: str, name: str, by: str, at: datetime) -> ConflictError:
        """The one message for a lost race between two editors."""
        return cls(
            f"{kind} '{name}' was changed by {by} at {at:%Y-%m-%d %H:%M:%S} UTC since you "
            "opened it; reload it and make your change again"
        )


class PermissionDenied(LlmAdminError):
    """The actor's role does not allow the action."""


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ValidationError(LlmAdminError):
    """One or more fields are invalid; nothing was stored."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))

    @property
    def fields(self) -> list[str]:
        return [e.field for e in self.errors]
