"""llm-admin: the ops command line. Exit 0 ok, 1 failed, 2 usage; errors are one line on stderr.

`parser` declares every command and names its handler; `main` imports only the module of the
command it runs (app/cli/<group>.py), so a command pays for the services it uses and no more.
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import sys
from collections.abc import Callable, Sequence

from app.cli.common import Context, log, logging_is_set_up, setup_logging
from app.cli.parser import build_parser
from app.errors import LlmAdminError
from app.services.access import Actor

__all__ = ["build_parser", "main"]

Handler = Callable[[Context, argparse.Namespace], int]


def _handler(name: str) -> Handler:
    """The function a parser default names ("app.cli.providers:cmd_provider"); imports its module."""
    module, _, function = name.partition(":")
    handler: Handler = getattr(importlib.import_module(module), function)
    return handler


SERVICES = ("monitor", "api")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "provider" and args.action == "add" and not (args.type or args.template):
        parser.error("provider add: give --type (see `llm-admin provider types`) or --template")
    handler = _handler(args.handler)
    from app.settings import load_settings  # after parsing: `--help` and usage errors skip YAML

    try:
        settings = load_settings()
        # the long-running services also log to stderr: `make run` and compose keep it as their log
        setup_logging(
            settings,
            console=args.command in SERVICES
            or (args.command, getattr(args, "action", None)) == ("proxy", "run"),
        )
        actor = Actor(name=f"cli:{getpass.getuser()}", role="admin")
        log.info("command %s %s", args.command, getattr(args, "action", ""))
        return handler(Context(settings, actor), args)
    except Exception as exc:
        line = _error_line(exc)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return 1


def _error_line(exc: Exception) -> str | None:
    """The one stderr line for a failure the user can act on; None for anything else (a bug)."""
    from generator.files import WriteError  # imported here: a command that writes no file skips it

    if isinstance(exc, LlmAdminError | WriteError):
        if logging_is_set_up():  # before logging is set up (bad settings) stderr says it once
            log.warning("command failed: %s", exc)
        return f"error: {exc}"
    from sqlalchemy.exc import OperationalError  # loaded already whenever a database was used

    if isinstance(exc, OperationalError):
        return (
            f"error: cannot use the database ({type(exc.orig).__name__}); check LLM_ADMIN_DATABASE_URL "
            "and that the server is up"
        )
    return None
