"""The LiteLLM proxy under gunicorn with our options: `python -m app.proxy.server --config FILE ...`.

Preloading the app in the master makes a reload (HUP) fork new workers in well under a second:
each new worker only re-reads the YAML (CONFIG_FILE_PATH) in its startup event. The master also
imports what that startup would otherwise import in every new worker (about 0.3 s on a 2-core box).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib
import os
import signal
import sys
import types
from typing import Any

import yaml
from gunicorn.app.base import BaseApplication

# Imported by each worker's startup, not by the app module: our secret manager and hooks' dependencies
# (not the hooks module itself: it reads the config it serves when imported) and LiteLLM's lazy imports.
WARM_IMPORTS = (
    "app.proxy.secrets",
    "app.proxy.cost_limit",
    "app.proxy.budget_gate",
    "app.proxy.auth",
    "app.proxy.journal",
    "app.runtime.caller_keys",
    "app.runtime.alerts",
    "app.runtime.usage",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql.psycopg",
    "litellm.integrations.custom_logger",
    "litellm.proxy.pass_through_endpoints.llm_passthrough_endpoints",
    "litellm.proxy.policy_engine.init_policies",
    "litellm.proxy.admin_mcp",
    "litellm.proxy.hooks.mcp_semantic_filter",
    "litellm.llms.litellm_proxy.chat.transformation",
    "litellm.llms.openai_like.dynamic_config",
    "litellm.secret_managers.custom_secret_manager_loader",
    "litellm.rust_bridge.secret_manager",
    "litellm.sandbox.sandbox_tools",
)


def read_config_with_libyaml(module: types.ModuleType) -> None:
    """Make `module` (LiteLLM's proxy server) parse YAML with libyaml's parser under the same safe
    rules (CSafeLoader): every new worker reads the config twice with PyYAML's pure-Python safe_load,
    ~1.3 s each at 1,000 deployments against ~0.2 s. Only that module's `yaml` name is replaced."""
    if not getattr(yaml, "__with_libyaml__", False):
        return
    names = {name: getattr(yaml, name) for name in dir(yaml) if not name.startswith("__")}
    names["safe_load"] = lambda stream: yaml.load(stream, Loader=yaml.CSafeLoader)  # noqa: S506
    module.yaml = types.SimpleNamespace(**names)  # type: ignore[attr-defined]


class ProxyApplication(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]):
        self.options = options
        super().__init__()

    def run(self) -> None:
        """BaseApplication.run with our master (arbiter.py)."""
        from app.proxy.arbiter import BlueGreenArbiter

        try:
            BlueGreenArbiter(self).run()
        except RuntimeError as exc:  # gunicorn's way to say it cannot start (the port is taken)
            print(f"\nError: {exc}\n", file=sys.stderr, flush=True)
            sys.exit(1)

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from litellm.proxy import proxy_server
        from litellm.proxy.proxy_server import app

        read_config_with_libyaml(proxy_server)
        from app.proxy import litellm_fixes

        litellm_fixes.apply()  # before any worker loads the config (the hooks apply them too, later)

        for name in WARM_IMPORTS:
            try:
                importlib.import_module(name)
            except ImportError:  # moved in another LiteLLM release: the worker imports what it needs
                pass
        # Everything loaded so far lives as long as the master: keep it out of the workers' garbage
        # collections, which would otherwise walk (and copy, page by page) the whole preloaded heap.
        gc.collect()
        gc.freeze()
        from app.proxy.gate import OpenRouteGate

        return OpenRouteGate(app)


PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send sig to this process when its parent dies (Linux; a no-op elsewhere)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _held_secrets_hook(fd: int | None) -> Any:
    """gunicorn's pre_fork: before each worker is forked, take the supervisor's newest held secrets."""

    def pre_fork(_server: Any, _worker: Any) -> None:
        if fd is not None:
            from app.proxy import secrets

            secrets.held_from(fd)

    return pre_fork


def _post_fork(_server: Any, _worker: Any) -> None:
    # a worker whose master was SIGKILLed must not keep serving (and holding the port) on its own
    die_with_parent(signal.SIGTERM)


def gunicorn_options(
    *,
    host: str,
    port: int,
    workers: int,
    graceful_timeout: int = 120,
    listen_fd: int | None = None,
    held_fd: int | None = None,
) -> dict[str, Any]:
    return {
        # the supervisor owns the listening socket: across a restart of gunicorn callers queue, not fail
        "bind": f"fd://{listen_fd}" if listen_fd is not None else f"{host}:{port}",
        "pre_fork": _held_secrets_hook(held_fd),
        "post_fork": _post_fork,
        "workers": workers,
        "worker_class": "app.proxy.worker.DrainingUvicornWorker",
        "preload_app": True,
        # longer than any client's idle keep-alive, so the server is never the side that closes first
        "keepalive": 75,
        "timeout": 600,
        "graceful_timeout": graceful_timeout,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the LiteLLM proxy under gunicorn.")
    parser.add_argument("--config", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--listen-fd", type=int, help="an inherited listening socket to serve on")
    parser.add_argument("--held-fd", type=int, help="a pipe on which the supervisor sends held secrets")
    args = parser.parse_args()
    die_with_parent(signal.SIGTERM)
    if os.getppid() == 1:  # the supervisor died before we asked to follow it
        return
    os.environ["CONFIG_FILE_PATH"] = os.path.abspath(args.config)
    try:
        from litellm.rust_bridge.fork_guard import reserve_process_for_forking

        reserve_process_for_forking("the gunicorn master")
    except ImportError:  # older LiteLLM releases have no native bridge
        pass
    options = gunicorn_options(
        host=args.host, port=args.port, workers=args.workers, listen_fd=args.listen_fd, held_fd=args.held_fd
    )
    ProxyApplication(options).run()


if __name__ == "__main__":
    main()
