"""`llm-admin key ...`: caller keys, one per application, for the proxy's model routes."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from app.cli.common import Context, out, table
from app.errors import FieldError, ValidationError
from app.services import caller_keys
from app.services.caller_keys import KeyInfo


def _expiry(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            [FieldError("expires", f"must be a date or date and time (UTC), e.g. 2027-01-31 (got {text!r})")]
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "never"


def _show_new_key(application: str, key: str) -> None:
    out(key)
    out(f"(the caller key of {application}; shown only now: store it where the application reads it)")


def _describe(info: KeyInfo) -> None:
    out(f"application:  {info.application}")
    out(f"state:        {info.state}")
    out(f"key:          {info.prefix}…")
    if info.previous_prefix:
        out(f"previous key: {info.previous_prefix}… (accepted until {_when(info.previous_valid_until)})")
    out(f"may call:     {caller_keys.scope_text(info.models)}")
    out(f"rpm / tpm:    {info.rpm or 'no limit'} / {info.tpm or 'no limit'}")
    out(f"expires:      {_when(info.expires_at)}")
    out(f"owner:        {info.owner or '-'}")
    if info.description:
        out(f"description:  {info.description}")
    out(f"created:      {_when(info.created_at)} by {info.created_by}")


def cmd_key(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.session() as session:
        if args.action == "create":
            row, key = caller_keys.create_key(
                session,
                actor=ctx.actor,
                application=args.application,
                owner=args.owner or "",
                description=args.description or "",
                models=args.models,
                rpm=args.rpm,
                tpm=args.tpm,
                expires_at=_expiry(args.expires),
            )
            _show_new_key(row.application, key)
            return 0
        if args.action == "rotate":
            row = caller_keys.get_key(session, args.key)
            row, key = caller_keys.rotate_key(
                session, actor=ctx.actor, key_id=row.id, overlap_seconds=args.overlap_seconds
            )
            _show_new_key(row.application, key)
            out(f"the previous key {row.previous_prefix}… works until {_when(row.previous_expires_at)}")
            return 0
        if args.action == "revoke":
            row = caller_keys.revoke_key(
                session, actor=ctx.actor, key_id=caller_keys.get_key(session, args.key).id
            )
            out(f"the caller key of {row.application} is revoked; the proxy refuses it within a few seconds")
            return 0
        if args.action == "set":
            row = caller_keys.get_key(session, args.key)
            changes: dict[str, Any] = {}
            if args.models is not None:
                changes["models"] = args.models
            for name in ("rpm", "tpm"):
                value = getattr(args, name)
                if value is not None:
                    changes[name] = None if value.strip() in ("", "0") else value  # 0 clears the limit
            if args.expires is not None:
                changes["expires_at"] = _expiry(args.expires) if args.expires != "never" else None
            if args.enabled is not None:
                changes["enabled"] = args.enabled
            row = caller_keys.update_key(
                session, actor=ctx.actor, key_id=row.id, expected_version=row.version, **changes
            )
            out(f"the caller key of {row.application} may call {caller_keys.scope_text(row.models)}")
            return 0
        infos = caller_keys.describe_keys(session, actor=ctx.actor)
        if args.action == "show":
            row = caller_keys.get_key(session, args.key)
            _describe(next(i for i in infos if i.id == row.id))
            return 0
    table(
        [
            [
                i.id,
                i.application,
                i.state,
                f"{i.prefix}…",
                caller_keys.scope_text(i.models),
                i.rpm or "-",
                i.tpm or "-",
                _when(i.expires_at),
            ]
            for i in infos
        ],
        ["ID", "APPLICATION", "STATE", "KEY", "MAY CALL", "RPM", "TPM", "EXPIRES"],
    )
    return 0
