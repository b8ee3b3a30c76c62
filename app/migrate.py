"""Run Alembic from code: upgrade, downgrade, current, check.

Alembic is imported only here and only when a migration command runs: it is a good part of a second
that every other command (and the dashboard) need not pay.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

from app.errors import LlmAdminError

ROOT = Path(__file__).resolve().parent.parent


class MigrationError(LlmAdminError):
    """Alembic refused the command (an unknown revision, models that disagree with the migrations)."""


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["url"] = url
    return cfg


@contextmanager
def _alembic() -> Iterator[Any]:
    from alembic import command
    from alembic.util.exc import CommandError

    try:
        yield command
    except CommandError as exc:
        raise MigrationError(str(exc)) from None


def upgrade(url: str, revision: str = "head") -> None:
    with _alembic() as command:
        command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "-1") -> None:
    with _alembic() as command:
        command.downgrade(alembic_config(url), revision)


def current(url: str) -> str:
    out = io.StringIO()
    cfg = alembic_config(url)
    cfg.stdout = out
    with _alembic() as command, redirect_stdout(out):
        command.current(cfg)
    return out.getvalue().strip() or "(empty database: run `llm-admin db upgrade`)"


def check(url: str) -> None:
    """Raise if the models and the migrations disagree."""
    with _alembic() as command:
        command.check(alembic_config(url))
