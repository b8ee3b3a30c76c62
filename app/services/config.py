"""Config: rows → generator → validated, diffed, backed-up, revisioned litellm-config.yaml."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app import catalog
from app.crypto import KeyRing, load_master_key
from app.errors import LlmAdminError, NotFoundError
from app.models import ConfigRevision, ConfigSettings, Model, Provider, ProviderCredential, utcnow
from app.services import audit
from app.services.access import Actor, authorize
from app.settings import Settings
from generator import build, diff, files, render, validate

KEEP_BACKUPS = 20


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


def provider_row(provider: Provider) -> build.ProviderRow:
    ptype = catalog.PROVIDER_TYPES[provider.type]
    return build.ProviderRow(
        id=provider.id,
        name=provider.name,
        type=provider.type,
        litellm_provider=ptype.litellm_provider,
        base_url=provider.base_url,
        params=dict(provider.params or {}),
        secrets=tuple(
            build.SecretRow(c.field, None if c.ciphertext else c.env_var)
            for c in provider.credentials
            if c.ciphertext or c.env_var
        ),
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


def load_input(session: Session) -> build.ConfigInput:
    """The generator's input: enabled, non-deleted providers and their enabled models."""
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
    return build.ConfigInput(
        providers=tuple(provider_row(p) for p in providers),
        models=tuple(model_row(m) for m in models),
        settings=settings,
    )


def next_revision_number(session: Session) -> int:
    return int(session.scalar(select(func.max(ConfigRevision.number))) or 0) + 1


def resolver(session: Session, *, ring: KeyRing, environ: Mapping[str, str]) -> Any:
    """A check that a secret name can be resolved by the proxy: stored and readable, or exported."""
    stored: set[str] = set()
    unreadable: set[str] = set()
    for pid, field, token in session.execute(
        select(ProviderCredential.provider_id, ProviderCredential.field, ProviderCredential.ciphertext).where(
            ProviderCredential.ciphertext.is_not(None)
        )
    ):
        name = build.stored_secret_env(pid, field)
        stored.add(name)
        if not ring.can_decrypt(token or ""):
            unreadable.add(name)

    def resolvable(name: str) -> bool:
        if name in stored:
            return name not in unreadable
        return bool(environ.get(name))

    return resolvable


def plan(
    session: Session,
    *,
    settings: Settings,
    ring: KeyRing,
    environ: Mapping[str, str],
    author: str,
    at: datetime | None = None,
    deep: bool = False,
) -> Plan:
    """Render the next revision, validate it, and diff it against the file on disk."""
    number = next_revision_number(session)
    moment = at or utcnow()
    rows = load_input(session)
    try:
        config = build.build_config(rows, revision=number)
    except build.BuildError as exc:
        return Plan(number, {}, "", "", "", exc.problems)
    text = render.render_config(config, revision=number, author=author, at=moment)
    env = dict(environ)
    master_key = load_master_key(settings)
    if master_key:
        env.setdefault(build.MASTER_KEY_ENV, master_key)
    problems = validate.structural_problems(config, resolvable=resolver(session, ring=ring, environ=env))
    if deep and not problems:
        problems = validate.litellm_problems(config)
    summary, unified = diff.diff_texts(files.read_text(settings.config_path), text)
    return Plan(number, config, text, summary, unified, problems)


def apply(
    session: Session,
    *,
    actor: Actor,
    settings: Settings,
    ring: KeyRing,
    environ: Mapping[str, str],
    deep: bool = True,
    keep_backups: int = KEEP_BACKUPS,
) -> ConfigRevision:
    """Validate, back up, write atomically and record the revision; invalid → nothing written."""
    authorize(actor, "operate")
    result = plan(session, settings=settings, ring=ring, environ=environ, author=actor.name, deep=deep)
    if result.problems:
        raise ConfigInvalid(result.problems)
    return _write_revision(
        session,
        actor=actor,
        settings=settings,
        number=result.number,
        text=result.text,
        summary=result.summary,
        keep_backups=keep_backups,
    )


def _write_revision(
    session: Session,
    *,
    actor: Actor,
    settings: Settings,
    number: int,
    text: str,
    summary: str,
    keep_backups: int,
    rollback_of: int | None = None,
) -> ConfigRevision:
    path = settings.config_path
    path.parent.mkdir(parents=True, exist_ok=True)
    revision = ConfigRevision(
        number=number,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        yaml_text=text,
        author=actor.name,
        summary=summary,
        status="rendered",
        rollback_of=rollback_of,
    )
    session.add(revision)
    session.flush()  # a concurrent apply that took this number fails here, before any file is touched
    try:
        files.write_secret_manager_shim(path)
        backup = files.write_with_backup(path, text, at=utcnow(), keep=keep_backups)
    except files.WriteError as exc:
        raise LlmAdminError(str(exc)) from None
    revision.status = "applied"
    revision.backup_path = str(backup) if backup else None
    audit.record(
        session,
        actor=actor,
        action="config.rollback" if rollback_of else "config.apply",
        target_type="config_revision",
        target_id=number,
        target_name=str(path),
        details={"summary": summary, "sha256": revision.sha256, "rollback_of": rollback_of},
    )
    return revision


def history(session: Session, *, limit: int = 50) -> list[ConfigRevision]:
    return list(session.scalars(select(ConfigRevision).order_by(ConfigRevision.number.desc()).limit(limit)))


def get_revision(session: Session, *, number: int) -> ConfigRevision:
    revision = session.scalars(select(ConfigRevision).where(ConfigRevision.number == number)).one_or_none()
    if revision is None:
        raise NotFoundError(f"no config revision {number}; `llm-admin config history` lists them")
    return revision


def restamp(text: str, *, number: int, author: str, at: datetime) -> tuple[dict[str, Any], str]:
    """An old revision's config, stamped with a new revision number."""
    config = yaml.safe_load(text)
    for deployment in config.get("model_list") or []:
        deployment.setdefault("model_info", {})[build.REVISION_KEY] = number
    return config, render.render_config(config, revision=number, author=author, at=at)


def rollback(
    session: Session,
    *,
    actor: Actor,
    settings: Settings,
    number: int,
    keep_backups: int = KEEP_BACKUPS,
) -> ConfigRevision:
    """Write an earlier revision's config again, as a new revision (the rows are not changed)."""
    authorize(actor, "operate")
    old = get_revision(session, number=number)
    new_number = next_revision_number(session)
    config, text = restamp(old.yaml_text, number=new_number, author=actor.name, at=utcnow())
    problems = validate.structural_problems(config)
    if problems:
        raise ConfigInvalid(problems)
    summary, _ = diff.diff_texts(files.read_text(settings.config_path), text)
    return _write_revision(
        session,
        actor=actor,
        settings=settings,
        number=new_number,
        text=text,
        summary=f"rollback to revision {number}: {summary}",
        keep_backups=keep_backups,
        rollback_of=number,
    )


def write_rendered(path: Path, text: str) -> None:
    """`config render --out FILE`: the text alone, atomically, 0600."""
    files.write_atomic(path, text)
