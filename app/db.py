"""Engine and the module-level sessionmaker; callers frame each action with Session.begin()."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import sessionmaker

Session = sessionmaker(expire_on_commit=False)


@lru_cache(maxsize=8)
def make_engine(url: str) -> Engine:
    """One engine per URL; SQLite gets foreign keys, WAL and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            _create_private(Path(path))
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _create_private(path: Path) -> None:
    """The database file and a directory made for it are owner-only (0600 / 0700): they hold every
    row, ciphertexts included. SQLite gives its -wal and -shm files the database file's mode."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def init(url: str) -> Engine:
    """Bind the module-level Session to the database at url."""
    engine = make_engine(url)
    Session.configure(bind=engine)
    return engine


def ensure_init(url: str) -> None:
    """Bind the Session unless something in this process already did (the proxy's hooks share it)."""
    if Session.kw.get("bind") is None:
        init(url)
