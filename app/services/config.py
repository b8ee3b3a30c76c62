"""Config: rows → generator → validated, diffed, backed-up, revisioned litellm-config.yaml."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import db
from app.crypto import KeyRing, load_master_key
from app.errors import ConflictError, LlmAdminError, NotFoundError
from app.models import ConfigRevision, utcnow
from app.runtime import revisions
from app.runtime.secrets import stored_secrets
from app.services import audit, health
from app.services.access import Actor, authorize
from app.services.config_input import get_settings_row as get_settings_row  # re-exported: the settings row
from app.services.config_input import load_input
from app.settings import Settings
from generator import build, diff, files, render, snapshot, validate

KEEP_BACKUPS = 20
# revisions an admin's apply (or rollback) reached the file with: steering starts from the newest
WRITTEN = ("applied", "live", "superseded")


class ConfigInvalid(LlmAdminError):
    """The config has problems; nothing was written."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"the config has {len(problems)} problem(s); nothing was written:\n{listed}")


@dataclass(frozen=True)
class Plan:
    """What an apply would write and what it would change."""

    number: int
    config: dict[str, Any]
    text: str
    summary: str
    diff: str
    problems: list[str]
    warnings: list[str] = field(default_factory=list)
    rows: build.ConfigInput | None = None  # what it was rendered from


def next_revision_number(session: Session) -> int:
    return int(session.scalar(select(func.max(ConfigRevision.number))) or 0) + 1


def plan(
    session: Session,
    *,
    settings: Settings,
    ring: KeyRing,
    environ: Mapping[str, str],
    author: str,
    at: datetime | None = None,
    deep: bool = False,
    rows: build.ConfigInput | None = None,
) -> Plan:
    """Render the next revision (from the rows, or these `rows`), validate it, diff it against the file."""
    number = next_revision_number(session)
    moment = at or utcnow()
    rows = load_input(session) if rows is None else rows
    if settings.redis_host:
        redis = build.RedisRow(settings.redis_host, settings.redis_port, settings.redis_password_env or None)
        rows = dataclasses.replace(rows, redis=redis)
    build_problems: list[str] = []
    try:
        config = build.build_config(rows, revision=number, managed=settings.proxy_mode == "supervised")
    except build.BuildError as exc:  # keep checking what could be built: report every problem at once
        config, build_problems = exc.config, exc.problems
    text = render.render_config(config, revision=number, author=author, at=moment)
    stored, readable = stored_secrets(session, ring=ring)
    # A stored secret must be readable with our key ring: an error. An environment variable need only
    # exist where the proxy runs (checked again by the supervisor there): a warning from here.
    problems = build_problems + validate.structural_problems(
        config, resolvable=lambda name: name not in stored or name in readable
    )
    if deep and not problems:
        problems = validate.litellm_problems(config)
    exported = {**environ, build.MASTER_KEY_ENV: load_master_key(settings) or ""}
    warnings = [
        f"secret {name}: not set in this environment; make sure the proxy's environment has {name}"
        for name in sorted(validate.secret_refs(config) - stored)
        if not exported.get(name)
    ]
    summary, unified = diff.diff_texts(files.read_text(settings.config_path), text)
    return Plan(number, config, text, summary, unified, problems, warnings, rows)


def unchanged(result: Plan, settings: Settings) -> bool:
    """Nothing to apply: the file on disk already is what the rows render."""
    return result.summary == "no changes" and settings.config_path.exists()


@dataclass(frozen=True)
class Applied:
    """A revision written to disk."""

    number: int
    summary: str
    backup_path: str | None
    warnings: tuple[str, ...] = ()  # what the plan warned of (a secret not set where this ran)


def apply(
    *,
    actor: Actor,
    settings: Settings,
    ring: KeyRing,
    environ: Mapping[str, str],
    deep: bool = True,
    keep_backups: int = KEEP_BACKUPS,
    if_changed: bool = False,
) -> Applied | None:
    """Validate, record, back up and write atomically; invalid → nothing written. With `if_changed`,
    a config the file already holds is not applied again (None): one plan, not a preview and then
    the apply's own.

    Unlike other services this frames its own transactions: the revision row is committed before
    the file is written, so the proxy supervisor that picks the file up can always find the row.
    """
    authorize(actor, "operate")
    with db.Session.begin() as session:
        result = plan(session, settings=settings, ring=ring, environ=environ, author=actor.name, deep=deep)
        if result.problems:
            raise ConfigInvalid(result.problems)
        if if_changed and unchanged(result, settings):
            return None
        _add_revision(
            session,
            actor=actor,
            number=result.number,
            text=result.text,
            summary=result.summary,
            inputs=snapshot.dump_input(result.rows) if result.rows else None,
        )
    written = _write_revision(
        settings, number=result.number, summary=result.summary, text=result.text, keep_backups=keep_backups
    )
    return dataclasses.replace(written, warnings=tuple(result.warnings))


def _add_revision(
    session: Session,
    *,
    actor: Actor,
    number: int,
    text: str,
    summary: str,
    inputs: dict[str, Any] | None,
    rollback_of: int | None = None,
    action: str = "config.apply",
) -> None:
    session.add(
        ConfigRevision(
            number=number,
            sha256=hashlib.sha256(text.encode()).hexdigest(),
            yaml_text=text,
            author=actor.name,
            summary=summary,
            status="rendered",
            rollback_of=rollback_of,
            inputs=inputs,
        )
    )
    audit.record(
        session,
        actor=actor,
        action="config.rollback" if rollback_of else action,
        target_type="config_revision",
        target_id=number,
        details={"summary": summary, "rollback_of": rollback_of},
    )
    try:
        session.flush()  # a concurrent apply that took this number fails here, before any file is touched
    except IntegrityError:
        raise ConflictError(
            f"revision {number} was just taken by another apply; nothing was written, run the apply again"
        ) from None


def _write_revision(
    settings: Settings, *, number: int, summary: str, text: str, keep_backups: int
) -> Applied:
    path = settings.config_path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if settings.proxy_mode == "supervised":
            files.write_shims(path)
        backup = files.write_with_backup(path, text, at=utcnow(), keep=keep_backups)
    except (files.WriteError, OSError) as exc:
        _set_status(number, "failed", str(exc), only_if="rendered")
        raise LlmAdminError(str(exc)) from None
    _set_status(number, "applied", None, only_if="rendered", backup_path=str(backup) if backup else None)
    return Applied(number, summary, str(backup) if backup else None)


def _set_status(number: int, status: str, message: str | None, *, only_if: str, **values: Any) -> None:
    with db.Session.begin() as session:
        revisions.set_status(session, number, status, message, only_if=only_if, **values)


def history(session: Session, *, limit: int = 50, offset: int = 0) -> list[ConfigRevision]:
    """Revisions, newest first."""
    query = select(ConfigRevision).order_by(ConfigRevision.number.desc()).offset(offset).limit(limit)
    return list(session.scalars(query))


def count_revisions(session: Session) -> int:
    return session.scalar(select(func.count(ConfigRevision.id))) or 0


def get_revision(session: Session, *, number: int) -> ConfigRevision:
    revision = session.scalars(select(ConfigRevision).where(ConfigRevision.number == number)).one_or_none()
    if revision is None:
        raise NotFoundError(f"no config revision {number}; `llm-admin config history` lists them")
    return revision


def restamp(text: str, *, number: int, author: str, at: datetime) -> tuple[dict[str, Any], str]:
    """An old revision's config, stamped with a new revision number."""
    config = render.load_yaml(text)
    for deployment in config.get("model_list") or []:
        deployment.setdefault("model_info", {})[build.REVISION_KEY] = number
    return config, render.render_config(config, revision=number, author=author, at=at)


def rollback(*, actor: Actor, settings: Settings, number: int, keep_backups: int = KEEP_BACKUPS) -> Applied:
    """Write an earlier revision's config again, as a new revision (the rows are not changed)."""
    authorize(actor, "operate")
    with db.Session.begin() as session:
        old = get_revision(session, number=number)
        new_number = next_revision_number(session)
        config, text = restamp(old.yaml_text, number=new_number, author=actor.name, at=utcnow())
        problems = validate.structural_problems(config)
        if problems:
            raise ConfigInvalid(problems)
        summary, _ = diff.diff_texts(files.read_text(settings.config_path), text)
        summary = f"rollback to revision {number}: {summary}"
        _add_revision(
            session,
            actor=actor,
            number=new_number,
            text=text,
            summary=summary,
            inputs=old.inputs,
            rollback_of=number,
        )
    return _write_revision(settings, number=new_number, summary=summary, text=text, keep_backups=keep_backups)


def steering_input(session: Session) -> tuple[build.ConfigInput, ConfigRevision]:
    """The input of the newest revision an admin wrote, with the health monitor's current verdicts."""
    base = session.scalars(
        select(ConfigRevision)
        .where(ConfigRevision.status.in_(WRITTEN))
        .order_by(ConfigRevision.number.desc())
        .limit(1)
    ).first()
    if base is None:
        raise LlmAdminError("no config applied yet: nothing to steer (run `llm-admin config apply`)")
    if base.inputs is None:
        raise LlmAdminError(
            f"revision {base.number} was written before revisions kept their inputs, so the monitor "
            "cannot steer without publishing pending edits; apply once (`llm-admin config apply`)"
        )
    rows = snapshot.load_input(base.inputs)
    down = health.down_provider_ids(session)
    providers = tuple(dataclasses.replace(p, down=p.id in down) for p in rows.providers)
    return dataclasses.replace(rows, providers=providers), base


def steering_reason(rows: build.ConfigInput, base: int) -> str:
    """Why a steering revision was written: which providers are left out, from which revision."""
    down = sorted((p.name for p in rows.providers if p.down), key=str.casefold)
    what = f"{', '.join(down)} down, left out where another provider serves" if down else "no provider down"
    return f"monitor steering of revision {base}: {what}"


def steer(*, actor: Actor, settings: Settings, ring: KeyRing, environ: Mapping[str, str]) -> Applied | None:
    """Re-render the last applied revision's input around the down providers; None when nothing changes.

    Pending edits in the rows stay pending: only which deployments are left out changes.
    """
    authorize(actor, "operate")
    with db.Session.begin() as session:
        rows, base = steering_input(session)
        result = plan(session, settings=settings, ring=ring, environ=environ, author=actor.name, rows=rows)
        if result.problems:
            raise ConfigInvalid(result.problems)
        if result.summary == "no changes":
            return None
        summary = f"{steering_reason(rows, base.number)}; {result.summary}"
        _add_revision(
            session,
            actor=actor,
            number=result.number,
            text=result.text,
            summary=summary,
            inputs=base.inputs,
            action="config.steer",
        )
    return _write_revision(
        settings, number=result.number, summary=summary, text=result.text, keep_backups=KEEP_BACKUPS
    )


def write_rendered(path: Path, text: str) -> None:
    """`config render --out FILE`: the text alone, atomically, 0600."""
    files.write_atomic(path, text)
