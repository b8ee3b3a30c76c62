"""Settings read from the environment: the several-proxies options."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import SettingsError
from app.settings import load_settings


def test_redis_and_proxy_name_come_from_the_environment() -> None:
    settings = load_settings(
        {
            "LLM_ADMIN_REDIS_HOST": " redis ",
            "LLM_ADMIN_REDIS_PORT": "6380",
            "LLM_ADMIN_REDIS_PASSWORD_ENV": "REDIS_PASSWORD",
            "LLM_ADMIN_PROXY_NAME": "proxy-a",
        }
    )
    assert (settings.redis_host, settings.redis_port, settings.redis_password_env) == (
        "redis",
        6380,
        "REDIS_PASSWORD",
    )
    assert settings.proxy_name == "proxy-a"
    assert load_settings({}).redis_host == "" and load_settings({}).proxy_name == ""


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("LLM_ADMIN_REDIS_PORT", "70000", "LLM_ADMIN_REDIS_PORT must be a port number"),
        ("LLM_ADMIN_REDIS_PASSWORD_ENV", "hunter2!secret", "not the password itself"),
        ("LLM_ADMIN_PROXY_NAME", "proxy a/b", "LLM_ADMIN_PROXY_NAME may hold letters"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(name: str, value: str, words: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({name: value})
    assert words in str(err.value)
    assert value not in str(err.value) or name == "LLM_ADMIN_REDIS_PORT"


def test_a_bad_setting_is_reported_once_by_the_cli(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "LLM_ADMIN_DATA_DIR": str(tmp_path), "LLM_ADMIN_PROXY_PORT": "abc"}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("llm-admin")), "route", "list"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "error: LLM_ADMIN_PROXY_PORT must be a port number between 1 and 65535\n"
