"""docker-compose.yml and the Dockerfile, checked statically (no Docker engine here): services and
their order, healthchecks, every command runnable in our image, every variable documented, nothing
secret written inline, only the front doors published."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
OURS = sorted(n for n, s in SERVICES.items() if s.get("image", "").startswith("llm-admin:"))
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")
SECRETISH = re.compile(r"PASSWORD|SECRET|KEY|TOKEN|WEBHOOK")
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _profile(service: dict[str, Any]) -> str:
    return (service.get("profiles") or ["default"])[0]


def test_the_stack_has_its_services_in_their_profiles() -> None:
    assert {n: _profile(s) for n, s in SERVICES.items()} == {
        "postgres": "default",
        "migrate": "default",
        "dashboard": "default",
        "proxy": "default",
        "api": "default",
        "monitor": "default",
        "proxy-b": "ha",
        "redis": "ha",
        "nginx": "ha",
        "litellm": "stock",
    }
    assert OURS == ["api", "dashboard", "migrate", "monitor", "proxy", "proxy-b"]


def test_migrate_waits_for_a_healthy_postgres_and_everything_of_ours_waits_for_migrate() -> None:
    assert "pg_isready" in " ".join(SERVICES["postgres"]["healthcheck"]["test"])
    assert SERVICES["migrate"]["command"] == ["alembic", "upgrade", "head"]
    assert SERVICES["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert SERVICES["migrate"]["restart"] == "no"
    for name in set(OURS) - {"migrate"}:
        assert SERVICES[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, (
            name
        )


def test_every_service_waited_on_as_healthy_has_a_healthcheck() -> None:
    for name, service in SERVICES.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            if rule.get("condition") == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], f"{name} waits for {dependency}'s health"


@pytest.mark.parametrize("name", OURS)
def test_each_command_of_our_image_exists_in_it_and_parses(name: str) -> None:
    command = SERVICES[name]["command"]
    program, args = command[0], command[1:]
    assert program in ("llm-admin", "alembic", "streamlit"), command
    # installed in the image by `pip install -c requirements.lock .`: our script or a pinned dependency's
    assert (Path(sys.executable).parent / program).exists()
    if program == "llm-admin":
        assert 'llm-admin = "app.cli:main"' in (ROOT / "pyproject.toml").read_text()
        build_parser().parse_args(args)  # exits (fails the test) on an unknown command or option
    else:
        assert re.search(rf"^{program}==", (ROOT / "requirements.lock").read_text(), re.M | re.I)
    if program == "streamlit":
        # dashboard.py serves streamlit_app.py with the session-cookie routes beside it
        assert "COPY alembic.ini dashboard.py streamlit_app.py ./" in DOCKERFILE and args[:2] == [
            "run",
            "dashboard.py",
        ]
    if program == "alembic":
        assert "COPY migrations ./migrations" in DOCKERFILE


def test_the_image_is_pinned_and_runs_as_a_non_root_user() -> None:
    base = re.search(r"^FROM (\S+)", DOCKERFILE, re.M)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base.group(1))
    user = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    assert user == ["llmadmin"]
    assert "pip install --no-cache-dir -c requirements.lock ." in DOCKERFILE
    for name, service in SERVICES.items():
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image ({image})"


def _values(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    return {k: str(v) for k, v in env.items() if k != "<<"}


def test_nothing_secret_is_written_inline() -> None:
    for name, service in SERVICES.items():
        for key, value in _values(service).items():
            if SECRETISH.search(key) and not key.endswith("_ENV"):
                assert value == "" or VARIABLE.fullmatch(value), f"{name}: {key} must come from .env"
        command = [str(p) for p in service.get("command") or []]
        for flag, value in zip(command, command[1:], strict=False):
            if flag == "--requirepass":
                assert VARIABLE.fullmatch(value), f"{name}: the Redis password must come from .env"
        assert not re.search(r"sk-[A-Za-z0-9]{8,}", yaml.safe_dump(service)), f"{name}: a key written inline"


def test_every_variable_is_documented_in_the_env_example_and_required_ones_say_how() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(VARIABLE.findall(text)) | {v for v in re.findall(r"\$\$([A-Z_]+)", text)}
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z0-9_]+)=", example, re.M))
    assert used - documented == set(), f"add to .env.example: {sorted(used - documented)}"
    for required in re.findall(r"\$\{([A-Z0-9_]+):\?([^}]*)\}", text):
        assert required[1].startswith("set "), required


def test_config_and_backups_live_on_a_named_volume_shared_by_our_services() -> None:
    assert set(COMPOSE["volumes"]) == {"config", "pgdata"}
    for name in OURS:
        assert "config:/data" in SERVICES[name]["volumes"], name
    assert "ENV PYTHONDONTWRITEBYTECODE=1" in DOCKERFILE and "LLM_ADMIN_DATA_DIR=/data" in DOCKERFILE


def test_only_the_front_doors_are_published() -> None:
    published = {n: s["ports"] for n, s in SERVICES.items() if s.get("ports")}
    assert set(published) == {"dashboard", "proxy", "api", "nginx", "litellm"}
    assert {n: _profile(SERVICES[n]) for n in published} == {
        "dashboard": "default",
        "api": "default",
        "proxy": "default",
        "nginx": "ha",
        "litellm": "stock",
    }


def test_the_ha_proxies_are_named_share_redis_and_sit_behind_nginx() -> None:
    names = {n: SERVICES[n]["environment"]["LLM_ADMIN_PROXY_NAME"] for n in ("proxy", "proxy-b")}
    assert names == {"proxy": "proxy-a", "proxy-b": "proxy-b"}
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server proxy:4000" in nginx and "server proxy-b:4000" in nginx
    assert SERVICES["proxy-b"]["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert _values(SERVICES["proxy-b"])["LLM_ADMIN_REDIS_PASSWORD_ENV"] == "REDIS_PASSWORD"


def test_the_stock_litellm_service_is_the_one_the_restart_command_names() -> None:
    from app.services.golive import STOCK_RESTART

    assert shlex.split(STOCK_RESTART) == ["docker", "compose", "restart", "litellm"]
    assert SERVICES["litellm"]["image"].endswith("v1.106.2")  # the LiteLLM we pin
    assert SERVICES["litellm"]["env_file"] == "./secrets/litellm.env"
