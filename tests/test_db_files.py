"""The embedded database's file and the directory made for it are owner-only."""

from __future__ import annotations

import stat
from pathlib import Path

from app import db, migrate


def test_the_sqlite_file_and_its_new_directory_are_created_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "llm-admin.db"
    migrate.upgrade(f"sqlite:///{path}")
    db.make_engine(f"sqlite:///{path}").dispose()

    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for sidecar in path.parent.glob("llm-admin.db-*"):  # WAL and shared-memory files, when present
        assert stat.S_IMODE(sidecar.stat().st_mode) == 0o600
