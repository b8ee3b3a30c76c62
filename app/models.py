"""SQLAlchemy 2 declarative models: providers, models, templates, users, audit."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import false

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """An aware UTC time: SQLite hands timezone-aware columns back naive."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class Provider(Base):
    """An upstream LLM provider account and how to reach it."""

    __tablename__ = "providers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # casefolded, whitespace-collapsed name: "My  OpenAI" and "my openai" collide
    name_key: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[str] = mapped_column(String(32), index=True)
    base_url: Mapped[str | None] = mapped_column(String(2048))
    is_local: Mapped[bool] = mapped_column(Boolean, default=False)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    default_model: Mapped[str | None] = mapped_column(String(255))
    rpm: Mapped[int | None] = mapped_column(Integer)
    tpm: Mapped[int | None] = mapped_column(Integer)
    timeout_seconds: Mapped[float | None] = mapped_column(Float)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    deleted_at: Mapped[datetime | None] = mapped_column(index=True)
    last_test_at: Mapped[datetime | None]
    last_test_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_test_latency_ms: Mapped[float | None] = mapped_column(Float)
    last_test_message: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))

    credentials: Mapped[list[ProviderCredential]] = relationship(
        back_populates="provider", cascade="all, delete-orphan", order_by="ProviderCredential.field"
    )
    models: Mapped[list[Model]] = relationship(
        back_populates="provider", cascade="all, delete-orphan", order_by="Model.identifier"
    )

    __mapper_args__ = {"version_id_col": version}

    def credential(self, field: str) -> ProviderCredential | None:
        return next((c for c in self.credentials if c.field == field), None)


class ProviderCredential(Base):
    """One secret field of a provider: encrypted in place, or the name of an env variable."""

    __tablename__ = "provider_credentials"
    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(64))
    ciphertext: Mapped[str | None] = mapped_column(Text)
    env_var: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    provider: Mapped[Provider] = relationship(back_populates="credentials")
    __table_args__ = (UniqueConstraint("provider_id", "field"),)


class Model(Base):
    """A model offered by a provider, with its price and capabilities."""

    __tablename__ = "models"
    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"), index=True)
    identifier: Mapped[str] = mapped_column(String(255))
    alias: Mapped[str] = mapped_column(String(255), index=True)
    display_name: Mapped[str | None] = mapped_column(String(255))  # for people; callers send the alias
    enabled: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    input_cost_per_1m: Mapped[float | None] = mapped_column(Float)
    output_cost_per_1m: Mapped[float | None] = mapped_column(Float)
    context_window: Mapped[int | None] = mapped_column(Integer)
    max_output_tokens: Mapped[int | None] = mapped_column(Integer)
    mode: Mapped[str | None] = mapped_column(String(32))  # None: not stated (an imported deployment)
    supports_streaming: Mapped[bool] = mapped_column(Boolean, default=True)
    supports_tools: Mapped[bool] = mapped_column(Boolean, default=False)
    supports_vision: Mapped[bool] = mapped_column(Boolean, default=False)
    supports_audio: Mapped[bool] = mapped_column(Boolean, default=False)
    supports_system_messages: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # LiteLLM keys we do not model (kept from an imported config and rendered back as they were)
    extra_params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    extra_model_info: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))

    provider: Mapped[Provider] = relationship(back_populates="models")
    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (UniqueConstraint("provider_id", "identifier"),)


class ProviderTemplate(Base):
    """A starting point for a new provider: a system default per type, or saved by an admin."""

    __tablename__ = "provider_templates"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # system | custom
    type: Mapped[str] = mapped_column(String(32))
    base_url: Mapped[str | None] = mapped_column(String(2048))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # rpm, tpm, timeout, models
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class User(Base):
    """A dashboard user."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # admin | operator | viewer
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # a one-time or reset password: the next sign-in must choose a new one before anything else
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who did what to which row, with secrets masked."""

    __tablename__ = "audit_entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[int | None] = mapped_column(Integer)
    target_name: Mapped[str | None] = mapped_column(String(255))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_audit_entries_target", "target_type", "target_id"),)


class ConfigSettings(Base):
    """The one row of config-wide settings: overrides, fallbacks and imported keys we do not model."""

    __tablename__ = "config_settings"
    id: Mapped[int] = mapped_column(primary_key=True)
    router_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    litellm_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    general_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100), default="system")


class ConfigRevision(Base):
    """One rendered config: its secret-free text, who made it and what became of it."""

    __tablename__ = "config_revisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    yaml_text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    # rendered | applied | live | superseded (an earlier live one) | failed
    status: Mapped[str] = mapped_column(String(16), index=True)
    message: Mapped[str | None] = mapped_column(Text)
    backup_path: Mapped[str | None] = mapped_column(String(1024))
    rollback_of: Mapped[int | None] = mapped_column(Integer)
    # the generator input it was rendered from (generator.snapshot), for the monitor's steering
    inputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Alert(Base):
    """Something an admin should know: a failover, a provider down or back, a failed reload."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    severity: Mapped[str] = mapped_column(String(16))  # info | warning | critical
    kind: Mapped[str] = mapped_column(String(32), index=True)
    provider: Mapped[str | None] = mapped_column(String(100), index=True)
    message: Mapped[str] = mapped_column(Text)
    # one open alert per key: repeats within its outage window only bump `occurrences`
    dedup_key: Mapped[str] = mapped_column(String(255), index=True)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    acknowledged_at: Mapped[datetime | None]
    # webhook delivery (when LLM_ADMIN_ALERT_WEBHOOK_URL is set): once per alert, retried on failure
    delivered_at: Mapped[datetime | None]
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    delivery_error: Mapped[str | None] = mapped_column(Text)


class UsageEvent(Base):
    """One request through the proxy, as our hook saw it."""

    __tablename__ = "usage_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    provider: Mapped[str | None] = mapped_column(String(100))
    model_group: Mapped[str | None] = mapped_column(String(255))
    deployment: Mapped[str | None] = mapped_column(String(255))
    route: Mapped[str | None] = mapped_column(String(255))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))  # success | failure
    error_class: Mapped[str | None] = mapped_column(String(100))
    fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    revision: Mapped[int | None] = mapped_column(Integer)
    # the caller key's application; None for the master key (ops) and for an unknown key
    application: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (
        Index("ix_usage_events_provider_at", "provider", "at"),
        Index("ix_usage_events_application_at", "application", "at"),
        Index("ix_usage_events_model_group_at", "model_group", "at"),
        Index("ix_usage_events_route_at", "route", "at"),
    )


class Route(Base):
    """An agent type's routing rule: callers ask for `agent/<type>`; the preferred model, then fallbacks."""

    __tablename__ = "routes"
    id: Mapped[int] = mapped_column(primary_key=True)
    agent_type: Mapped[str] = mapped_column(String(64), unique=True)
    model: Mapped[str] = mapped_column(String(255))  # a model alias (a model group)
    fallbacks: Mapped[list[str]] = mapped_column(JSON, default=list)  # aliases, in order
    max_cost_usd: Mapped[float | None] = mapped_column(Float)
    local_only: Mapped[bool] = mapped_column(Boolean, default=False)
    # {alias: {provider name: weight}} for a step served by several deployments
    weights: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))

    __mapper_args__ = {"version_id_col": version}


class HealthCheck(Base):
    """One probe of a provider by the monitor."""

    __tablename__ = "health_checks"
    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_health_checks_provider_at", "provider_id", "at"),)


class ProviderHealth(Base):
    """A provider's current health as the monitor judges it (kept apart from the admins' row)."""

    __tablename__ = "provider_health"
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="unknown")  # healthy | degraded | down
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime | None]
    changed_at: Mapped[datetime | None]


class Budget(Base):
    """A daily or monthly spend limit for a provider or a route, from the usage events."""

    __tablename__ = "budgets"
    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))  # provider | route
    target: Mapped[str] = mapped_column(String(255))  # provider name or agent type
    period: Mapped[str] = mapped_column(String(16))  # daily | monthly
    limit_usd: Mapped[float] = mapped_column(Float)
    enforce: Mapped[bool] = mapped_column(Boolean, default=False)
    # the highest threshold (50/80/100) already alerted, and for which period (its start)
    alerted_threshold: Mapped[int] = mapped_column(Integer, default=0)
    alerted_period_start: Mapped[datetime | None]
    exhausted: Mapped[bool] = mapped_column(Boolean, default=False)  # spend ≥ limit this period
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (UniqueConstraint("scope", "target", "period"),)


class UsageRollup(Base):
    """Usage events summed per UTC day, kept by the proxy's event writer in the same transaction.

    A data cube: `grain` says which of provider (1), model group (2) and route (4) a row keeps; the
    others hold "". Every event adds to all eight grains, so each question the usage page asks
    reads only the rows of one grain, whatever the number of events.
    """

    __tablename__ = "usage_rollups"
    grain: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    # "" also stands for an event without one (no route, unknown provider)
    provider: Mapped[str] = mapped_column(String(100), primary_key=True)
    model_group: Mapped[str] = mapped_column(String(255), primary_key=True)
    route: Mapped[str] = mapped_column(String(255), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger)
    failures: Mapped[int] = mapped_column(BigInteger)
    fallbacks: Mapped[int] = mapped_column(BigInteger)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger)
    completion_tokens: Mapped[int] = mapped_column(BigInteger)
    cost_usd: Mapped[float] = mapped_column(Float)
    # the most tokens (prompt + completion) one successful request took: the context window a route needs
    largest_request: Mapped[int] = mapped_column(BigInteger, server_default="0")

    __table_args__ = (
        Index("ix_usage_rollups_provider", "grain", "provider", "day"),
        Index("ix_usage_rollups_route", "grain", "route", "day"),
    )


class UsageLatencyRollup(Base):
    """How many successful requests per UTC day fell in each latency bucket (about 1% wide), per
    grain of provider (1) and route (4): p50/p95 for any range without reading the events."""

    __tablename__ = "usage_latency_rollups"
    grain: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    provider: Mapped[str] = mapped_column(String(100), primary_key=True)
    route: Mapped[str] = mapped_column(String(255), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger)
    # the extremes seen in the bucket: a percentile that falls on one of them is exact
    min_ms: Mapped[float] = mapped_column(Float)
    max_ms: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        Index("ix_usage_latency_rollups_provider", "grain", "provider", "day"),
        Index("ix_usage_latency_rollups_route", "grain", "route", "day"),
    )


class CallerKey(Base):
    """An application's key to the proxy's model routes: stored only as a hash, scoped, limited."""

    __tablename__ = "caller_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    application: Mapped[str] = mapped_column(String(100))
    # casefolded, whitespace-collapsed application name: one key per application
    name_key: Mapped[str] = mapped_column(String(100), unique=True)
    owner: Mapped[str] = mapped_column(String(100), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    prefix: Mapped[str] = mapped_column(String(16))  # the key's visible start, e.g. llmk_ab12cd34
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the whole key
    # the key before the last rotation, still accepted until previous_expires_at
    previous_prefix: Mapped[str | None] = mapped_column(String(16))
    previous_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    previous_expires_at: Mapped[datetime | None]
    models: Mapped[list[str]] = mapped_column(JSON, default=list)  # aliases and agent/<type>; [] = all
    rpm: Mapped[int | None] = mapped_column(Integer)
    tpm: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[datetime | None]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    last_rotated_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))

    __mapper_args__ = {"version_id_col": version}


class UsageApplicationRollup(Base):
    """Usage events summed per UTC day and caller application ("" for the master key), kept with the
    other rollups in the event writer's transaction."""

    __tablename__ = "usage_application_rollups"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    application: Mapped[str] = mapped_column(String(100), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger)
    failures: Mapped[int] = mapped_column(BigInteger)
    refused: Mapped[int] = mapped_column(BigInteger)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger)
    completion_tokens: Mapped[int] = mapped_column(BigInteger)
    cost_usd: Mapped[float] = mapped_column(Float)
    latency_ms_sum: Mapped[float] = mapped_column(Float)  # of successful requests: the mean latency


class LoginThrottle(Base):
    """Failed sign-ins for one account from one source (an address, or "cli"); the next attempt waits
    until `next_attempt_at` (epoch seconds). Keyed by both, so an attacker slows only themself."""

    __tablename__ = "login_throttles"
    username_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, default=0.0)


class UsageJournalMark(Base):
    """The last usage event of a worker's journal that reached the database, written in the transaction
    that wrote it: a journal read again after its worker died (even before its files were removed)
    adds only what is past the mark. Marks untouched for a week are swept."""

    __tablename__ = "usage_journal_marks"
    worker: Mapped[str] = mapped_column(String(200), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ApiToken(Base):
    """A dashboard user's token for the HTTP API: stored only as a hash, acting with that user's role."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))  # the token's visible start, e.g. llma_ab12cd34
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the whole token
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))

    user: Mapped[User] = relationship()


class DashboardSession(Base):
    """A dashboard sign-in, kept on the server: the browser holds only a random token (an HttpOnly
    cookie) whose hash is here. A new sign-in first has a one-time hand-off code instead: the
    dashboard script cannot set an HttpOnly cookie itself, so the browser redeems the code once at
    /llm-admin/session, whose response sets the cookie (app.dashboard_routes)."""

    __tablename__ = "dashboard_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)  # sha256 hex of the cookie
    handoff_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    handoff_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    ended_why: Mapped[str | None] = mapped_column(String(40))  # signed out | idle | expired | ...

    user: Mapped[User] = relationship()
