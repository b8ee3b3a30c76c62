"""Alembic migrations: upgrade, downgrade and upgrade again on both backends; models and migrations agree."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from app import db, migrate
from app.models import Base, utcnow
from app.services import usage

FOUNDATION = {"providers", "provider_credentials", "models", "users", "audit_entries", "provider_templates"}


def head_revision() -> str:
    head = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def table_names(url: str) -> set[str]:
    return set(inspect(db.make_engine(url)).get_table_names())


def test_upgrade_creates_every_table_of_the_models(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    assert table_names(empty_db_url) == set(Base.metadata.tables) | {"alembic_version"}
    assert FOUNDATION <= set(Base.metadata.tables)


def test_revision_0001_creates_the_foundation_tables(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url, "0001")
    assert table_names(empty_db_url) == FOUNDATION | {"alembic_version"}
    assert migrate.current(empty_db_url).startswith("0001")


def test_upgrade_downgrade_upgrade_round_trip(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    migrate.downgrade(empty_db_url, "base")
    assert table_names(empty_db_url) - {"alembic_version"} == set()
    migrate.upgrade(empty_db_url)
    assert table_names(empty_db_url) == set(Base.metadata.tables) | {"alembic_version"}
    assert migrate.current(empty_db_url) == f"{head_revision()} (head)"


def test_models_and_migrations_agree(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    migrate.check(empty_db_url)  # raises when `alembic check` would find a difference


def test_check_finds_a_schema_that_drifted_from_the_models(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    with db.make_engine(empty_db_url).begin() as conn:
        conn.execute(text("DROP INDEX ix_models_status"))
    with pytest.raises(migrate.MigrationError, match="ix_models_status"):
        migrate.check(empty_db_url)


def test_current_names_the_head_revision(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    assert migrate.current(empty_db_url) == f"{head_revision()} (head)"


def test_current_on_an_empty_database_says_how_to_migrate(empty_db_url: str) -> None:
    assert "llm-admin db upgrade" in migrate.current(empty_db_url)


def test_foreign_keys_and_filters_are_indexed(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    inspector = inspect(db.make_engine(empty_db_url))

    def indexed(table: str) -> set[str]:
        return {col for ix in inspector.get_indexes(table) for col in ix["column_names"][:1]}

    assert {"provider_id", "enabled", "status", "alias"} <= indexed("models")
    assert {"provider_id"} <= indexed("provider_credentials")
    assert {"type", "enabled", "deleted_at"} <= indexed("providers")
    assert {"at", "actor", "action", "target_type"} <= indexed("audit_entries")


def test_unique_constraints_exist(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    inspector = inspect(db.make_engine(empty_db_url))

    def unique(table: str) -> list[list[str]]:
        return sorted(c["column_names"] for c in inspector.get_unique_constraints(table))

    assert unique("providers") == [["name_key"]]
    assert unique("models") == [["provider_id", "identifier"]]
    assert unique("provider_credentials") == [["provider_id", "field"]]
    assert unique("users") == [["username"]]


def test_revision_0006_keeps_only_the_newest_live_revision_live(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url, "0005")
    engine = sa.create_engine(empty_db_url)
    insert = sa.text(
        "INSERT INTO config_revisions (number, sha256, yaml_text, author, created_at, summary, status) "
        "VALUES (:n, 'x', '', 'alice', CURRENT_TIMESTAMP, '', :s)"
    )
    with engine.begin() as conn:
        for number, status in ((1, "live"), (2, "live"), (3, "failed"), (4, "live"), (5, "applied")):
            conn.execute(insert, {"n": number, "s": status})
    migrate.upgrade(empty_db_url)
    with engine.begin() as conn:
        rows = conn.execute(sa.text("SELECT number, status, inputs FROM config_revisions ORDER BY number"))
        assert [tuple(r) for r in rows] == [
            (1, "superseded", None),
            (2, "superseded", None),
            (3, "failed", None),
            (4, "live", None),
            (5, "applied", None),
        ]
    engine.dispose()


def test_revision_0007_adds_caller_keys_and_the_application_of_usage_and_removes_them(
    empty_db_url: str,
) -> None:
    migrate.upgrade(empty_db_url, "0006")
    migrate.upgrade(empty_db_url, "0007")
    inspector = inspect(db.make_engine(empty_db_url))
    assert {"caller_keys", "usage_application_rollups"} <= set(inspector.get_table_names())
    assert "application" in {c["name"] for c in inspector.get_columns("usage_events")}
    migrate.downgrade(empty_db_url, "0006")
    inspector = inspect(db.make_engine(empty_db_url))
    assert not {"caller_keys", "usage_application_rollups"} & set(inspector.get_table_names())
    assert "application" not in {c["name"] for c in inspector.get_columns("usage_events")}


def test_revision_0008_adds_login_throttles_and_removes_them(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url, "0007")
    migrate.upgrade(empty_db_url, "0008")
    inspector = inspect(db.make_engine(empty_db_url))
    assert "login_throttles" in inspector.get_table_names()
    assert inspector.get_pk_constraint("login_throttles")["constrained_columns"] == ["username_key", "source"]
    migrate.downgrade(empty_db_url, "0007")
    inspector = inspect(db.make_engine(empty_db_url))
    assert "login_throttles" not in inspector.get_table_names()


def test_revision_0009_adds_usage_journal_marks_and_removes_them(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url, "0008")
    migrate.upgrade(empty_db_url, "0009")
    inspector = inspect(db.make_engine(empty_db_url))
    assert "usage_journal_marks" in inspector.get_table_names()
    assert inspector.get_pk_constraint("usage_journal_marks")["constrained_columns"] == ["worker"]
    migrate.downgrade(empty_db_url, "0008")
    inspector = inspect(db.make_engine(empty_db_url))
    assert "usage_journal_marks" not in inspector.get_table_names()


def test_revision_0011_adds_the_password_change_flag_and_model_display_names(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url, "0010")
    engine = db.make_engine(empty_db_url)
    with engine.begin() as conn:  # a user made before 0011 keeps the password they have
        conn.execute(
            text(
                "INSERT INTO users (username, password_hash, role, disabled, failed_logins, created_at) "
                "VALUES ('old', 'x', 'admin', false, 0, CURRENT_TIMESTAMP)"
            )
        )
    migrate.upgrade(empty_db_url, "0011")
    with engine.begin() as conn:
        assert conn.execute(text("SELECT must_change_password FROM users")).scalar_one() in (False, 0)
    assert "display_name" in {c["name"] for c in inspect(engine).get_columns("models")}
    migrate.downgrade(empty_db_url, "0010")
    inspector = inspect(db.make_engine(empty_db_url))
    assert "must_change_password" not in {c["name"] for c in inspector.get_columns("users")}
    assert "display_name" not in {c["name"] for c in inspector.get_columns("models")}


def test_revision_0013_fills_the_largest_request_as_a_rebuild_would(
    empty_db_url: str,
) -> None:
    migrate.upgrade(empty_db_url, "0004")  # events stored before the rollups: 0005 rolls them up
    engine = sa.create_engine(empty_db_url)
    events = [  # (provider, route, prompt, completion, status, days ago)
        ("openai", "agent:coder", 1_000, 200, "success", 0),
        ("openai", "agent:coder", 90_000, 10, "success", 0),
        ("openai", "agent:coder", 500_000, 0, "failure", 0),  # a failed request needs no window
        ("anthropic", "agent:coder", 7_000, 700, "success", 1),
        ("anthropic", None, 120_000, 5, "success", 1),
    ]
    with engine.begin() as conn:
        for provider, route, prompt, completion, status, ago in events:
            conn.execute(
                sa.text(
                    "INSERT INTO usage_events (at, provider, model_group, route, prompt_tokens, "
                    "completion_tokens, cost_usd, status, fallback) "
                    "VALUES (:at, :p, 'gpt', :r, :pt, :ct, 0.01, :s, false)"
                ),
                {"at": utcnow() - timedelta(days=ago), "p": provider, "r": route, "pt": prompt}
                | {"ct": completion, "s": status},
            )
    migrate.upgrade(empty_db_url, "0013")
    query = sa.text(
        "SELECT grain, day, provider, model_group, route, largest_request FROM usage_rollups "
        "ORDER BY grain, day, provider, model_group, route"
    )
    with engine.begin() as conn:
        migrated = [tuple(r) for r in conn.execute(query)]
    with Session(engine) as session, session.begin():
        usage.rebuild_rollups(session)
    with engine.begin() as conn:
        rebuilt = [tuple(r) for r in conn.execute(query)]
    engine.dispose()
    assert len(migrated) > 7 and migrated == rebuilt
    coder = [r[5] for r in migrated if (r[0], r[2], r[4]) == (4, "", "agent:coder")]
    assert sorted(coder) == [7_700, 90_010]  # per day, the largest successful request of the route
    assert sorted(r[5] for r in migrated if r[0] == 0) == [90_010, 120_005]
