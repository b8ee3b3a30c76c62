"""One Settings object: the only place that reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from app.errors import SettingsError
from generator.bounded_yaml import SETTINGS as IMPORT_LIMIT_SETTINGS
from generator.bounded_yaml import YamlLimits

PLACEHOLDERS = frozenset({"", "changeme", "change-me", "changethis", "secret", "sk-1234", "password"})


@dataclass(frozen=True)
class Settings:
    """Runtime configuration, read once from the environment."""

    env: str = "development"
    data_dir: Path = Path("data")
    database_url: str = ""
    secret_keys: tuple[str, ...] = ()
    config_path: Path = Path("data/litellm-config.yaml")
    master_key: str = ""
    proxy_host: str = "127.0.0.1"
    proxy_port: int = 4000
    admin_password: str = ""
    # supervised: our supervisor runs the proxy (our secret manager and hooks load in it);
    # stock: a stock LiteLLM image runs it, fed by `llm-admin config export-env`
    proxy_mode: str = "supervised"
    # this supervisor's name when several share one data volume (the `ha` profile): proxy-a, proxy-b
    proxy_name: str = ""
    # Redis shared by several proxies (cooldowns, usage-based routing): host, port, and the name of
    # the proxy's environment variable that holds its password (never the password itself)
    redis_host: str = ""
    redis_port: int = 6379
    redis_password_env: str = ""
    # where alerts are POSTed (Slack-compatible JSON); it may carry a token, so it is kept out of repr
    alert_webhook_url: str = field(default="", repr=False)
    # the dashboard is behind a reverse proxy that appends the client's address to X-Forwarded-For
    trust_forwarded_for: bool = False
    # what `config import` accepts from a file (size, nesting, aliases, strings, deployments)
    import_limits: YamlLimits = field(default_factory=YamlLimits)

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def key_file(self) -> Path:
        return self.data_dir / "secret.key"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "logs" / "llm-admin.log"


def _checked_name(name: str) -> str:
    name = name.strip()
    if name and not name.replace("-", "").replace("_", "").isalnum():
        raise SettingsError("LLM_ADMIN_PROXY_NAME may hold letters, digits, '-' and '_' (e.g. proxy-a)")
    return name


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value not in ("", "0", "1", "true", "false", "yes", "no"):
        raise SettingsError(f"{name} must be true or false")
    return value in ("1", "true", "yes")


def _import_limits(env: Mapping[str, str]) -> YamlLimits:
    values: dict[str, int] = {}
    for attr, name in IMPORT_LIMIT_SETTINGS.items():
        text = env.get(name, "").strip().replace("_", "")
        if not text:
            continue
        if not text.isdigit() or int(text) < 1:
            raise SettingsError(
                f"{name} must be a whole number above 0 (default {getattr(YamlLimits(), attr)})"
            )
        values[attr] = int(text)
    return YamlLimits(**values)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment, refusing placeholders outside development."""
    env = os.environ if environ is None else environ
    mode = env.get("LLM_ADMIN_ENV", "development").strip().lower()
    if mode not in ("development", "production"):
        raise SettingsError("LLM_ADMIN_ENV must be 'development' or 'production'")
    data_dir = Path(env.get("LLM_ADMIN_DATA_DIR", "data"))
    database_url = env.get("LLM_ADMIN_DATABASE_URL", "").strip()
    if not database_url:
        database_url = f"sqlite:///{(data_dir / 'llm-admin.db').resolve()}"
    keys = tuple(k.strip() for k in env.get("LLM_ADMIN_SECRET_KEYS", "").split(",") if k.strip())
    master_key = env.get("LITELLM_MASTER_KEY", "").strip()
    port_text = env.get("LLM_ADMIN_PROXY_PORT", "4000")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise SettingsError("LLM_ADMIN_PROXY_PORT must be a port number between 1 and 65535")
    proxy_mode = env.get("LLM_ADMIN_PROXY_MODE", "supervised").strip().lower()
    if proxy_mode not in ("supervised", "stock"):
        raise SettingsError("LLM_ADMIN_PROXY_MODE must be 'supervised' or 'stock'")
    webhook_url = env.get("LLM_ADMIN_ALERT_WEBHOOK_URL", "").strip()
    if webhook_url:
        _check_webhook_url(webhook_url)
    redis_port = env.get("LLM_ADMIN_REDIS_PORT", "6379")
    if not redis_port.isdigit() or not 0 < int(redis_port) < 65536:
        raise SettingsError("LLM_ADMIN_REDIS_PORT must be a port number between 1 and 65535")
    redis_password_env = env.get("LLM_ADMIN_REDIS_PASSWORD_ENV", "").strip()
    if redis_password_env and not redis_password_env.replace("_", "").isalnum():
        raise SettingsError(
            "LLM_ADMIN_REDIS_PASSWORD_ENV names the proxy's variable holding Redis' password "
            "(e.g. REDIS_PASSWORD), not the password itself"
        )
    settings = Settings(
        env=mode,
        data_dir=data_dir,
        database_url=database_url,
        secret_keys=keys,
        config_path=Path(env.get("LLM_ADMIN_CONFIG_PATH", str(data_dir / "litellm-config.yaml"))),
        master_key=master_key,
        proxy_host=env.get("LLM_ADMIN_PROXY_HOST", "127.0.0.1"),
        proxy_port=int(port_text),
        admin_password=env.get("LLM_ADMIN_PASSWORD", ""),
        proxy_mode=proxy_mode,
        proxy_name=_checked_name(env.get("LLM_ADMIN_PROXY_NAME", "")),
        alert_webhook_url=webhook_url,
        redis_host=env.get("LLM_ADMIN_REDIS_HOST", "").strip(),
        redis_port=int(redis_port),
        redis_password_env=redis_password_env,
        trust_forwarded_for=_flag(env, "LLM_ADMIN_TRUST_FORWARDED_FOR"),
        import_limits=_import_limits(env),
    )
    if not settings.is_development:
        _refuse_placeholders(settings)
    return settings


def _check_webhook_url(url: str) -> None:
    # the message never repeats the URL: its path or query is often the webhook's token
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            "LLM_ADMIN_ALERT_WEBHOOK_URL must be an http:// or https:// URL, e.g. the incoming-webhook "
            "URL Slack gives you; leave it unset to keep alerts in the dashboard only"
        )


def _refuse_placeholders(settings: Settings) -> None:
    if settings.master_key.lower() in PLACEHOLDERS:
        raise SettingsError(
            "LITELLM_MASTER_KEY is unset or a placeholder; set a long random value "
            "(e.g. `python -c 'import secrets; print(\"sk-\" + secrets.token_urlsafe(32))'`)"
        )
    if not settings.secret_keys or any(k.lower() in PLACEHOLDERS for k in settings.secret_keys):
        raise SettingsError(
            "LLM_ADMIN_SECRET_KEYS is unset or a placeholder; generate one with "
            "`llm-admin keys generate` and set it (newest key first, comma-separated)"
        )
    if settings.is_embedded is False and "changethis" in settings.database_url:
        raise SettingsError("LLM_ADMIN_DATABASE_URL contains a placeholder password; set a real one")
