"""Config: rows → generator → validated, diffed, backed-up, revisioned litellm-config.yaml."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from app import catalog, db
from app.crypto import KeyRing, load_master_key
from app.errors import ConflictError, LlmAdminError, NotFoundError, SecretKeyError
from app.models import ConfigRevision, ConfigSettings, Model, Provider, ProviderCredential, utcnow
from app.services import audit, health
from app.services import routes as route_service
from app.services.access import Actor, authorize
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


def provider_row(provider: Provider) -> build.ProviderRow:
    ptype = catalog.PROVIDER_TYPES[provider.type]
    secrets = tuple(
        build.SecretRow(c.field, None if c.ciphertext else c.env_var)
        for c in provider.credentials
        if c.ciphertext or c.env_var
    )
    secret_fields = {s.field for s in secrets}
    return build.ProviderRow(
        id=provider.id,
        name=provider.name,
        type=provider.type,
        litellm_provider=ptype.litellm_provider,
        base_url=ptype.api_base(provider.base_url),
        endpoints={
            mode: build.Endpoint(ptype.litellm_prefix(mode), ptype.api_base(provider.base_url, mode))
            for mode in {m for m, _ in (*ptype.mode_paths, *ptype.mode_prefixes)}
        },
        params=ptype.deployment_params(dict(provider.params or {}), has_api_key="api_key" in secret_fields),
        secrets=secrets,
        rpm=provider.rpm,
        tpm=provider.tpm,
        timeout_seconds=provider.timeout_seconds,
        is_local=provider.is_local,
    )


def model_row(model: Model) -> build.ModelRow:
    return build.ModelRow(
        id=model.id,
        provider_id=model.provider_id,
        identifier=model.identifier,
        alias=model.alias,
        input_cost_per_1m=model.input_cost_per_1m,
        output_cost_per_1m=model.output_cost_per_1m,
        context_window=model.context_window,
        max_output_tokens=model.max_output_tokens,
        mode=model.mode,
        extra_params=dict(model.extra_params or {}),
        extra_model_info=dict(model.extra_model_info or {}),
    )


def get_settings_row(session: Session) -> ConfigSettings:
    row = session.get(ConfigSettings, 1)
    if row is None:
        row = ConfigSettings(id=1)
        session.add(row)
        session.flush()
    return row


def load_input(session: Session, *, routes: bool = True) -> build.ConfigInput:
    """The generator's input: enabled, non-deleted providers, their enabled models, enabled routes."""
    providers = list(
        session.scalars(
            select(Provider)
            .options(selectinload(Provider.credentials))
            .where(Provider.enabled.is_(True), Provider.deleted_at.is_(None))
        )
    )
    ids = [p.id for p in providers]
    models = session.scalars(select(Model).where(Model.enabled.is_(True), Model.provider_id.in_(ids)))
    row = session.get(ConfigSettings, 1)
    settings = (
        build.GlobalRow(
            router_settings=dict(row.router_settings or {}),
            litellm_settings=dict(row.litellm_settings or {}),
            general_settings=dict(row.general_settings or {}),
            extra=dict(row.extra or {}),
        )
        if row
        else build.GlobalRow()
    )
    down = health.down_provider_ids(session)
    return build.ConfigInput(
        providers=tuple(dataclasses.replace(provider_row(p), down=p.id in down) for p in providers),
        models=tuple(model_row(m) for m in models),
        settings=settings,
        routes=route_service.route_rows(session) if routes else (),
    )


def next_revision_number(session: Session) -> int:
    return int(session.scalar(select(func.max(ConfigRevision.number))) or 0) + 1


def stored_secrets(session: Session, *, ring: KeyRing) -> tuple[set[str], set[str]]:
    """(every stored secret's name, the names this key ring can decrypt)."""
    stored: set[str] = set()
    readable: set[str] = set()
    for pid, field_name, token in session.execute(
        select(ProviderCredential.provider_id, ProviderCredential.field, ProviderCredential.ciphertext).where(
            ProviderCredential.ciphertext.is_not(None)
        )
    ):
        name = build.stored_secret_env(pid, field_name)
        stored.add(name)
        try:
            if ring.can_decrypt(token or ""):
                readable.add(name)
        except SecretKeyError:  # a corrupt row is one more problem to list, not a crash
            pass
    return stored, readable


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


@dataclass(frozen=True)
class Applied:
    """A revision written to disk."""

    number: int
    summary: str
    backup_path: str | None


def apply(
    *,
    actor: Actor,
    settings: Settings,
    ring: KeyRing,
    environ: Mapping[str, str],
    deep: bool = True,
    keep_backups: int = KEEP_BACKUPS,
) -> Applied:
    """Validate, record, back up and write atomically; invalid → nothing written.

    Unlike other services this frames its own transactions: the revision row is committed before
    the file is written, so the proxy supervisor that picks the file up can always find the row.
    """
    authorize(actor, "operate")
    with db.Session.begin() as session:
        result = plan(session, settings=settings, ring=ring, environ=environ, author=actor.name, deep=deep)
        if result.problems:
            raise ConfigInvalid(result.problems)
        _add_revision(
            session,
            actor=actor,
            number=result.number,
            text=result.text,
            summary=result.summary,
            inputs=snapshot.dump_input(result.rows) if result.rows else None,
        )
    return _write_revision(
        settings, number=result.number, summary=result.summary, text=result.text, keep_backups=keep_backups
    )


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
    """Move a revision on, unless the supervisor has already moved it further (to live or failed)."""
    with db.Session.begin() as session:
        session.execute(
            update(ConfigRevision)
            .where(ConfigRevision.number == number, ConfigRevision.status == only_if)
            .values(status=status, message=message, **values)
        )


def history(session: Session, *, limit: int = 50) -> list[ConfigRevision]:
    return list(session.scalars(select(ConfigRevision).order_by(ConfigRevision.number.desc()).limit(limit)))


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
