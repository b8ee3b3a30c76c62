"""The real LiteLLM proxy serves a config rendered by llm-admin, with secrets resolved at run time."""

from __future__ import annotations

import re
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.proxy import BIN, Proxy, litellm_proxy, proxy_env
from tests.upstream import FakeUpstream, Seen

pytestmark = pytest.mark.e2e

STORED_KEY = "sk-e2e-stored-in-db-6f1c0a9e4b7d"  # only ever given to `provider add --api-key-stdin`
ENV_KEY = "sk-ant-e2e-from-proxy-env-93d2b5"  # only ever in the proxy's environment
ENV_VAR = "ANTHROPIC_TEST_KEY"


@dataclass
class Stack:
    """llm-admin's data dir after `config apply`, and the fake upstreams the config points at."""

    root: Path
    data_dir: Path
    config: Path
    master_key: str
    revision: int
    openai: FakeUpstream
    anthropic: FakeUpstream


def llm_admin(data_dir: Path, *args: str, stdin: str | None = None, **env: str) -> str:
    done = subprocess.run(
        [str(BIN / "llm-admin"), *args],
        env=proxy_env({"LLM_ADMIN_DATA_DIR": str(data_dir), **env}),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"llm-admin {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    openai = FakeUpstream(api_key=STORED_KEY, reply="hi from the openai-compatible fake").start()
    anthropic = FakeUpstream(api_key=ENV_KEY, reply="hi from the anthropic fake").start()
    root = tmp_path_factory.mktemp("e2e")
    data = root / "data"
    llm_admin(data, "db", "upgrade")
    llm_admin(
        data,
        *("provider", "add", "--name", "fake-openai", "--type", "custom"),
        *("--base-url", f"{openai.base_url}/v1", "--api-key-stdin"),
        stdin=STORED_KEY + "\n",
    )
    # LiteLLM appends /v1/messages to an anthropic api_base, so the base is the bare server URL.
    llm_admin(
        data,
        *("provider", "add", "--name", "fake-anthropic", "--type", "anthropic"),
        *("--base-url", anthropic.base_url, "--api-key-env", ENV_VAR),
    )
    for provider, model, alias in (
        ("fake-openai", "fake-model", "chat"),
        ("fake-anthropic", "claude-haiku-4-5", "claude"),
    ):
        llm_admin(
            data,
            *("model", "add", "--provider", provider, "--model", model, "--alias", alias),
            *("--input-cost-per-1m", "1", "--output-cost-per-1m", "2", "--enable"),
        )
    # apply checks that the variable is set; the proxy gets the real value, and only the proxy.
    out = llm_admin(data, "config", "apply", "--yes", **{ENV_VAR: "set-where-the-proxy-runs"})
    match = re.search(r"revision (\d+) written", out)
    assert match, out
    yield Stack(
        root=root,
        data_dir=data,
        config=data / "litellm-config.yaml",
        master_key=(data / "master.key").read_text().strip(),
        revision=int(match.group(1)),
        openai=openai,
        anthropic=anthropic,
    )
    openai.stop()
    anthropic.stop()


@pytest.fixture(scope="module")
def proxy(stack: Stack) -> Iterator[Proxy]:
    """The proxy as llm-admin runs it: our secret manager reads the database named by its env."""
    env = {
        "LLM_ADMIN_DATA_DIR": str(stack.data_dir),
        "LITELLM_MASTER_KEY": stack.master_key,
        ENV_VAR: ENV_KEY,
    }
    with litellm_proxy(stack.config, env=env, log_path=stack.root / "logs" / "proxy.log") as running:
        yield running


def chat(proxy: Proxy, key: str, model: str) -> dict[str, Any]:
    with proxy.client(key) as client:
        response = client.post(
            "/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "hi"}]}
        )
    assert response.status_code == 200, f"{response.status_code} {response.text}\n{proxy.log()[-3000:]}"
    return dict(response.json())


def served(upstream: FakeUpstream, model: str, proxy: Proxy, key: str) -> tuple[str, list[Seen]]:
    """The reply to one chat request for model, and what the upstream received meanwhile."""
    before = len(upstream.seen)
    body = chat(proxy, key, model)
    return body["choices"][0]["message"]["content"], upstream.seen[before:]


def test_db_stored_key_is_resolved_by_our_secret_manager(stack: Stack, proxy: Proxy) -> None:
    content, seen = served(stack.openai, "chat", proxy, stack.master_key)

    assert content == stack.openai.reply
    assert [(s.path, s.headers.get("authorization")) for s in seen] == [
        ("/v1/chat/completions", f"Bearer {STORED_KEY}")
    ]


def test_env_sourced_key_reaches_the_anthropic_upstream(stack: Stack, proxy: Proxy) -> None:
    content, seen = served(stack.anthropic, "claude", proxy, stack.master_key)

    assert content == stack.anthropic.reply
    assert [(s.path, s.headers.get("x-api-key")) for s in seen] == [("/v1/messages", ENV_KEY)]
    assert seen[0].body["model"] == "claude-haiku-4-5"


def test_no_file_llm_admin_writes_holds_the_stored_key(stack: Stack) -> None:
    assert "os.environ/LLM_ADMIN_P" in stack.config.read_text()
    leaks = [p for p in stack.data_dir.rglob("*") if p.is_file() and STORED_KEY.encode() in p.read_bytes()]
    assert leaks == []


def test_model_info_reports_the_applied_revision_and_deployment_ids(stack: Stack, proxy: Proxy) -> None:
    written = yaml.safe_load(stack.config.read_text())
    expected = {d["model_name"]: d["model_info"]["id"] for d in written["model_list"]}

    with proxy.client(stack.master_key) as client:
        response = client.get("/v1/model/info")

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert {d["model_name"]: d["model_info"]["id"] for d in data} == expected
    assert {d["model_info"]["llm_admin_revision"] for d in data} == {stack.revision}
    assert all("api_key" not in d["litellm_params"] for d in data)


def test_stock_image_serves_with_the_exported_env_file(stack: Stack) -> None:
    """No shim, no llm-admin settings: the proxy reads every secret from the exported env file."""
    stock = stack.root / "stock"
    stock.mkdir()
    env_file = stock / "litellm.env"
    llm_admin(stack.data_dir, "config", "export-env", str(env_file))
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    exported = dict(line.split("=", 1) for line in env_file.read_text().splitlines())  # as docker reads it
    assert STORED_KEY in exported.values()

    config = yaml.safe_load(stack.config.read_text())
    general = config["general_settings"]
    # what LLM_ADMIN_PROXY_MODE=stock renders: no secret manager, no caller-key auth, no hooks (a stock
    # image has none of them)
    del general["key_management_system"], general["key_management_settings"], general["custom_auth"]
    config["litellm_settings"].pop("callbacks")
    (stock / "litellm-config.yaml").write_text(yaml.safe_dump(config))
    env = {**exported, "LITELLM_MASTER_KEY": stack.master_key, ENV_VAR: ENV_KEY}
    assert not any(name.startswith("LLM_ADMIN_") and not name.startswith("LLM_ADMIN_P") for name in env)

    with litellm_proxy(stock / "litellm-config.yaml", env=env, log_path=stock / "proxy.log") as proxy:
        content, seen = served(stack.openai, "chat", proxy, stack.master_key)
        assert content == stack.openai.reply
        assert [s.headers.get("authorization") for s in seen] == [f"Bearer {STORED_KEY}"]
        content, seen = served(stack.anthropic, "claude", proxy, stack.master_key)
        assert content == stack.anthropic.reply
        assert [s.headers.get("x-api-key") for s in seen] == [ENV_KEY]
