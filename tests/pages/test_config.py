"""Config page: status, validate, diff (secrets masked), apply and rollback with confirmation; roles."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

from app import db, ui
from app.crypto import generate_key
from app.models import AuditEntry, ConfigRevision
from app.proxy import supervisor
from app.services import config, golive, models, routes
from app.services.access import Actor
from tests.pages.helpers import SEEDER, plain, seed_models

SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
OPS = Actor("ops", "operator")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def _proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_ADMIN_SECRET_KEYS", generate_key())
    # nothing listens here: asking the proxy for its revision gets a quick, certain "no answer"
    monkeypatch.setenv("LLM_ADMIN_PROXY_PORT", str(_free_port()))


@pytest.fixture
def stock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_ADMIN_PROXY_MODE", "stock")


def _config_path() -> Path:
    return ui.settings().config_path


def _open(signed_in: Callable[[str], AppTest], role: str) -> AppTest:
    at = signed_in(role)
    at.switch_page("pages/config.py")
    return at.run()


def _revisions() -> list[tuple[int, str, str, int | None]]:
    with db.Session.begin() as session:
        return [(r.number, r.status, r.author, r.rollback_of) for r in reversed(config.history(session))]


def _disable(provider_id: int, identifier: str) -> None:
    with db.Session.begin() as session:
        model = models.find_model(session, provider_id=provider_id, identifier=identifier)
        models.set_models_enabled(session, actor=SEEDER, model_ids=[model.id], enabled=False)


def _apply_with_service() -> int:
    applied = config.apply(actor=OPS, settings=ui.settings(), ring=ui.key_ring(), environ=dict(os.environ))
    return applied.number


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_operator_applies_on_a_stock_image_and_gets_the_restart_command(
    signed_in: Callable[[str], AppTest], stock: None
) -> None:
    seed_models()
    at = _open(signed_in, "operator")
    assert not at.exception
    assert [t.value for t in at.title] == ["Config"]
    assert at.metric[0].value == "unknown"
    assert at.metric[1].value == "none yet"
    assert "docker compose restart litellm" in [c.value for c in at.code]

    at.button(key="config_apply").click()
    at.run()
    [question] = [plain(w.value) for w in at.warning if w.value.startswith("Apply revision 1 to ")]
    assert question.endswith("? Changes: new file: +3 models, +2 providers")
    assert not _config_path().exists(), "nothing is written before the confirmation"

    at.button(key="config_apply_confirm").click()
    at.run()
    assert not at.exception
    assert any(
        "Revision 1 applied, waiting for restart: the proxy runs the stock LiteLLM image" in plain(w.value)
        for w in at.warning
    )
    assert [c.value for c in at.code].count("docker compose restart litellm") == 2
    assert _config_path().read_text().count("# revision: 1\n") == 1
    assert _revisions() == [(1, "applied", "operator", None)]
    assert at.metric[1].value == "revision 1 (applied)"
    history = at.dataframe[0].value
    assert history["Revision"].tolist() == [1]
    assert history["Status"].tolist() == ["applied"]
    assert history["Author"].tolist() == ["operator"]
    with db.Session.begin() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "config.apply")).one()
        assert (entry.actor, entry.target_id) == ("operator", 1)


@SQLITE
def test_without_a_supervisor_yet_apply_waits_then_says_the_proxy_is_starting(
    signed_in: Callable[[str], AppTest], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(golive, "STARTUP_WAIT", 0.2)
    seed_models()
    at = _open(signed_in, "admin")
    at.button(key="config_apply").click()
    at.run()
    at.button(key="config_apply_confirm").click()
    at.run()
    assert not at.exception
    [said] = [plain(i.value) for i in at.info if i.value.startswith("Revision 1 written")]
    assert "the proxy is not serving yet" in said
    assert said.endswith("`llm-admin proxy status` shows when revision 1 is live.")
    assert not any("no llm-admin supervisor runs here" in w.value for w in at.warning)
    assert _revisions() == [(1, "applied", "admin", None)]
    # supervised mode also drops our secret manager and hooks next to the config
    assert (_config_path().parent / "llm_admin_secrets.py").exists()


@SQLITE
def test_cancel_leaves_everything_as_it_was(signed_in: Callable[[str], AppTest], stock: None) -> None:
    seed_models()
    at = _open(signed_in, "operator")
    at.button(key="config_apply").click()
    at.run()
    at.button(key="config_apply_cancel").click()
    at.run()
    assert "config_apply_confirm" not in {b.key for b in at.button}
    assert _revisions() == []
    assert not _config_path().exists()


@SQLITE
def test_validate_reports_a_valid_config(signed_in: Callable[[str], AppTest], stock: None) -> None:
    seed_models()
    at = _open(signed_in, "viewer")
    at.button(key="config_validate").click()
    at.run()
    assert not at.exception
    assert at.success[0].value == "Valid: revision 1 would serve 3 deployment(s)."
    assert _revisions() == []


@SQLITE
def test_an_invalid_config_is_listed_and_nothing_is_written(
    signed_in: Callable[[str], AppTest], stock: None
) -> None:
    ids = seed_models()
    with db.Session.begin() as session:
        routes.save_route(session, actor=SEEDER, agent_type="chat", model="fast")
    _disable(ids["cloud"], "fast-model")
    at = _open(signed_in, "operator")
    at.button(key="config_validate").click()
    at.run()
    problem = "route chat: model 'fast' is unknown or disabled; enable a model with that alias"
    assert "The config has 1 problem(s); nothing was written" in at.error[0].value
    assert problem in plain(at.error[0].value)
    at.button(key="config_apply").click()
    at.run()
    assert problem in plain(at.error[0].value)
    assert "config_apply_confirm" not in {b.key for b in at.button}
    assert _revisions() == []
    assert not _config_path().exists()


@SQLITE
def test_diff_puts_the_summary_first_and_masks_a_hand_written_secret(
    signed_in: Callable[[str], AppTest], stock: None
) -> None:
    seed_models()
    path = _config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "model_list:\n- model_name: old\n  litellm_params:\n    model: openai/old\n"
        "    api_key: sk-handwritten-secret-123456\n"
    )
    at = _open(signed_in, "viewer")
    at.button(key="config_diff").click()
    at.run()
    assert plain(at.info[0].value).startswith("Changes: +3 models, −1 model")
    [diff] = [c.value for c in at.code if c.language == "diff"]
    assert "-    api_key: '***'" in diff
    assert "+    api_key: os.environ/LLM_ADMIN_P" in diff
    assert "sk-handwritten" not in diff
    assert path.read_text().endswith("sk-handwritten-secret-123456\n"), "a diff writes nothing"


@SQLITE
def test_rollback_asks_first_then_writes_the_old_config_as_a_new_revision(
    signed_in: Callable[[str], AppTest], stock: None
) -> None:
    ids = seed_models()
    assert _apply_with_service() == 1
    _disable(ids["cloud"], "big-model")
    assert _apply_with_service() == 2
    assert "model_name: big\n" not in _config_path().read_text()

    at = _open(signed_in, "operator")
    assert at.dataframe[0].value["Revision"].tolist() == [2, 1]
    at.selectbox(key="config_revision_pick").select(1)
    at.run()
    assert "model_name: big\n" in at.code[-1].value
    at.button(key="config_rollback").click()
    at.run()
    assert "Write revision 1's config as a new revision" in at.warning[-1].value
    assert len(_revisions()) == 2
    at.button(key="config_rollback_confirm").click()
    at.run()
    assert not at.exception
    assert _revisions()[-1] == (3, "applied", "operator", 1)
    text = _config_path().read_text()
    assert "# revision: 3\n" in text
    assert "model_name: big\n" in text
    assert any("Revision 3 applied, waiting for restart" in w.value for w in at.warning)
    assert at.dataframe[0].value["Summary"].tolist()[0].startswith("rollback to revision 1: ")


def _supervisor_state(live: int | None, report: supervisor.ReloadResult | None) -> None:
    """The state file a running supervisor keeps, heartbeat fresh; this test stands in for that process."""
    supervisor.ProxyState(
        supervisor_pid=os.getpid(),
        master_pid=os.getpid(),
        host="127.0.0.1",
        port=4000,
        workers=2,
        started_at=0.0,
        live_revision=live,
        last_reload=report,
        heartbeat_at=time.time(),
    ).save(supervisor.state_path(ui.settings()))


@SQLITE
@pytest.mark.parametrize(
    ("report", "expected"),
    [
        (
            supervisor.ReloadResult(2, True, 480.0, "revision 2 live in 480 ms"),
            ("success", "Revision 2 live in 480 ms."),
        ),
        (
            supervisor.ReloadResult(
                2,
                False,
                912.0,
                "revision 2 failed: workers did not serve it within 30 s; revision 1 restored",
            ),
            (
                "error",
                "Revision 2 failed: workers did not serve it within 30 s; revision 1 restored. The proxy "
                "rolled back to the last good revision; fix the cause and apply again.",
            ),
        ),
    ],
)
def test_apply_shows_the_supervisor_s_verdict(
    signed_in: Callable[[str], AppTest], report: supervisor.ReloadResult, expected: tuple[str, str]
) -> None:
    ids = seed_models()
    assert _apply_with_service() == 1
    _disable(ids["cloud"], "big-model")
    at = signed_in("operator")
    # the supervisor's report on revision 2 is already there when the page waits for it
    _supervisor_state(1, report)
    at.switch_page("pages/config.py")
    at.run()
    at.button(key="config_apply").click()
    at.run()
    at.button(key="config_apply_confirm").click()
    at.run()
    assert not at.exception
    kind, text = expected
    assert text in [plain(e.value) for e in getattr(at, kind)]
    assert _config_path().read_text().count("# revision: 2\n") == 1
    assert "docker compose restart litellm" not in [c.value for c in at.code]


@SQLITE
def test_the_supervisor_s_live_revision_and_a_failed_one_are_shown(
    signed_in: Callable[[str], AppTest],
) -> None:
    seed_models()
    assert _apply_with_service() == 1
    assert _apply_with_service() == 2
    message = "revision 2 failed: pre-flight: LiteLLM cannot route it; revision 1 restored"
    with db.Session.begin() as session:
        session.execute(update(ConfigRevision).where(ConfigRevision.number == 1).values(status="live"))
        session.execute(
            update(ConfigRevision).where(ConfigRevision.number == 2).values(status="failed", message=message)
        )
    at = signed_in("viewer")
    _supervisor_state(1, supervisor.ReloadResult(2, False, 812.0, message))
    at.switch_page("pages/config.py")
    at.run()
    assert not at.exception
    assert at.metric[0].value == "revision 1"
    assert at.metric[1].value == "revision 2 (failed)"
    assert at.metric[2].value == "reloads on apply"
    assert f"last reload: {message}" in [plain(c.value) for c in at.caption]
    assert plain(at.error[0].value) == f"Revision 2 failed: {message}"
    assert "docker compose restart litellm" not in [c.value for c in at.code]


@SQLITE
def test_viewers_validate_and_diff_but_cannot_apply_or_roll_back(
    signed_in: Callable[[str], AppTest], stock: None
) -> None:
    seed_models()
    _apply_with_service()
    at = _open(signed_in, "viewer")
    keys = {b.key for b in at.button}
    assert {"config_validate", "config_diff"} <= keys
    assert not keys & {"config_apply", "config_apply_confirm", "config_rollback", "config_rollback_confirm"}
    assert at.dataframe[0].value["Revision"].tolist() == [1]


@SQLITE
def test_only_the_served_revision_is_live_and_the_picker_moves_to_a_new_apply(
    signed_in: Callable[[str], AppTest],
) -> None:
    ids = seed_models()
    assert _apply_with_service() == 1
    _disable(ids["cloud"], "big-model")
    assert _apply_with_service() == 2
    runner = supervisor.Supervisor(ui.settings(), host="127.0.0.1", port=9, workers=1)
    for number in (1, 2):  # the supervisor makes each live in turn
        runner._live(f"# revision: {number}\nmodel_list: []\n", 300.0)
    at = signed_in("operator")
    _supervisor_state(2, supervisor.ReloadResult(3, True, 450.0, "revision 3 live in 450 ms"))
    at.switch_page("pages/config.py")
    at.run()
    assert at.dataframe[0].value["Status"].tolist() == ["live", "superseded"]
    at.selectbox(key="config_revision_pick").select(1)
    at.run()
    _disable(ids["cloud"], "fast-model")
    at.button(key="config_apply").click()
    at.run()
    at.button(key="config_apply_confirm").click()
    at.run()
    assert not at.exception
    assert "Revision 3 live in 450 ms." in [s.value for s in at.success]
    assert at.selectbox(key="config_revision_pick").value == 3
