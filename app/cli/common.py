"""What every llm-admin command module shares: the context, output, prompts and the log file."""

from __future__ import annotations

import getpass
import logging
import sys
from dataclasses import dataclass
from logging.handlers import RotatingFileHandler
from typing import TYPE_CHECKING, Any

from app.errors import LlmAdminError

if TYPE_CHECKING:
    from app.crypto import KeyRing
    from app.services.access import Actor
    from app.settings import Settings

log = logging.getLogger("llm_admin")


@dataclass
class Context:
    """What every command needs: settings, the database, the key ring and who is acting."""

    settings: Settings
    actor: Actor

    # imported when used: `--help` and commands without a database or key do not load them
    def ring(self) -> KeyRing:
        from app.crypto import load_key_ring

        return load_key_ring(self.settings)

    def session(self) -> Any:
        from app import db

        db.init(self.settings.database_url)
        return db.Session.begin()


_log_handler: RotatingFileHandler | None = None
_console_handler: logging.Handler | None = None
_FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")


def setup_logging(settings: Settings, *, console: bool = False) -> None:
    """Log to data/logs/llm-admin.log; with `console` (a long-running service) to stderr as well."""
    global _log_handler, _console_handler
    settings.log_file.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    # main() may run many times in one process (tests, embedding): one handler each, not one per call
    for old in (_log_handler, _console_handler):
        if old is not None:
            root.removeHandler(old)
            old.close()
    _log_handler = RotatingFileHandler(settings.log_file, maxBytes=5_000_000, backupCount=3)
    _log_handler.setFormatter(_FORMAT)
    root.addHandler(_log_handler)
    _console_handler = None
    if console:
        _console_handler = logging.StreamHandler(sys.stderr)
        _console_handler.setFormatter(_FORMAT)
        root.addHandler(_console_handler)
    root.setLevel(logging.INFO)


def logging_is_set_up() -> bool:
    return _log_handler is not None


def out(text: str = "") -> None:
    print(text)


def table(rows: list[list[Any]], header: list[str]) -> None:
    cells = [header] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for row in cells:
        out("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        print(f"{question} Refusing without --yes (no terminal to ask on).", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise LlmAdminError(f"--param {pair!r}: use KEY=VALUE, e.g. --param api_version=2024-10-21")
        params[key.strip()] = value
    return params


def read_secret_stdin() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("API key: ")
    return sys.stdin.readline().rstrip("\r\n")
