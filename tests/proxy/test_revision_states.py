"""Revision states the supervisor records: only the revision the proxy serves is live."""

from __future__ import annotations

from pathlib import Path

from app import db
from app.models import ConfigRevision
from app.proxy import supervisor
from app.services import config
from app.settings import Settings


def _revision(number: int, status: str) -> ConfigRevision:
    return ConfigRevision(number=number, sha256="0" * 64, yaml_text="", author="alice", status=status)


def test_a_new_live_revision_supersedes_the_earlier_live_ones(db_url: str, tmp_path: Path) -> None:
    with db.Session.begin() as session:
        session.add_all([_revision(1, "live"), _revision(2, "failed"), _revision(3, "applied")])
    settings = Settings(data_dir=tmp_path, database_url=db_url, master_key="sk-revision-states-master")
    runner = supervisor.Supervisor(settings, host="127.0.0.1", port=9, workers=1)

    runner._live("# revision: 3\nmodel_list: []\n", 420.0)

    with db.Session.begin() as session:
        states = [(r.number, r.status) for r in reversed(config.history(session))]
    assert states == [(1, "superseded"), (2, "failed"), (3, "live")]
