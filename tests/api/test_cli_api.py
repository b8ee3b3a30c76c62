"""`llm-admin api` as ops run it: a real process on a temporary embedded database, a token from
`llm-admin token create`, a request logged with its request ID, the OpenAPI document, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

from app.api import routers
from tests.pg import free_port

BIN = Path(sys.executable).parent
START_DEADLINE = 60.0  # the machine may be busy: generous, but polled, not slept
STOP_DEADLINE = 30.0


def _env(data_dir: Path) -> dict[str, str]:
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    return {
        **base,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LLM_ADMIN_DATA_DIR": str(data_dir),
        "LLM_ADMIN_PASSWORD": "a-long-password-1",
    }


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "llm-admin"), *args], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, f"llm-admin {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str]:
    """(environment, alice's token): an embedded database migrated, with an admin and her token."""
    env = _env(tmp_path_factory.mktemp("cli-api") / "data")
    _cli(env, "db", "upgrade")
    _cli(env, "create-admin", "--username", "alice")
    printed = _cli(env, "token", "create", "--user", "alice", "--name", "ci")
    [token] = [line for line in printed.splitlines() if line.startswith("llma_")]
    return env, token


@pytest.fixture
def served(
    prepared: tuple[dict[str, str], str], tmp_path: Path
) -> Iterator[tuple[str, str, subprocess.Popen[bytes], Path]]:
    """(base URL, alice's token, the process, its stderr file): `llm-admin api` answering."""
    env, token = prepared
    port = free_port()
    log = tmp_path / "api.stderr"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [str(BIN / "llm-admin"), "api", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_DEADLINE
        while True:
            assert process.poll() is None, f"llm-admin api exited {process.returncode}: {log.read_text()}"
            assert time.monotonic() < deadline, f"no answer in {START_DEADLINE:g} s: {log.read_text()}"
            with suppress(httpx.HTTPError):
                if httpx.get(f"{base}/api/openapi.json", timeout=2).status_code == 200:
                    break
            time.sleep(0.1)
        yield base, token, process, log
    finally:
        with suppress(ProcessLookupError):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_the_api_command_serves_logs_each_request_and_ends_on_sigterm(
    served: tuple[str, str, subprocess.Popen[bytes], Path],
) -> None:
    base, token, process, log = served
    headers = {"Authorization": f"Bearer {token}", "X-Request-ID": "ci-run-42.1"}
    listed = httpx.get(f"{base}/api/providers", headers=headers, timeout=10)
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"] == [] and listed.headers["X-Request-ID"] == "ci-run-42.1"
    refused = httpx.get(f"{base}/api/providers", timeout=10)
    assert refused.status_code == 401
    made = refused.headers["X-Request-ID"]
    assert len(made) == 32  # one is made up when the caller sends none

    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(STOP_DEADLINE) == 0
    lines = log.read_text().splitlines()
    [served_line] = [line for line in lines if "request_id=ci-run-42.1 " in line]
    assert "GET /api/providers 200" in served_line and served_line.endswith("actor=alice")
    [refused_line] = [line for line in lines if f"request_id={made} " in line]
    assert "GET /api/providers 401" in refused_line and refused_line.endswith("actor=-")
    assert token not in log.read_text()


def test_the_openapi_document_lists_every_router_s_paths(
    served: tuple[str, str, subprocess.Popen[bytes], Path],
) -> None:
    base, _, _, _ = served
    document = httpx.get(f"{base}/api/openapi.json", timeout=10).json()
    served_paths = {
        (path, method.upper()) for path, operations in document["paths"].items() for method in operations
    }
    declared = {
        (route.path, method)
        for router in routers.ALL
        for route in router.routes
        for method in getattr(route, "methods", ())
    }
    assert len(declared) > 60
    assert declared - served_paths == set()
    for prefix in (
        "/api/routes",
        "/api/budgets",
        "/api/caller-keys",
        "/api/config",
        "/api/proxy",
        "/api/health",
    ):
        assert any(path.startswith(prefix) for path, _ in served_paths), prefix
    docs = httpx.get(f"{base}/api/docs", timeout=10)
    assert docs.status_code == 200 and "/api/openapi.json" in docs.text
