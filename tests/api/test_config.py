"""The LiteLLM config over HTTP: preview, diff and validate write nothing and show no key; apply tells
the truth about the proxy; history, rollback; import of a real config, and of hostile files refused
in one line with nothing stored."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.models import AuditEntry, ConfigRevision, Model, Provider
from generator.bounded_yaml import YamlLimits
from tests.api import seed
from tests.api.conftest import Api
from tests.hostile_files import HOSTILE

CORPUS = Path(__file__).parents[1] / "generator" / "corpus_real"
YAML = {"Content-Type": "application/yaml"}


@pytest.fixture
def rows(api: Api) -> dict[str, int]:
    return seed.cloud_and_home(api.settings)


def _stored() -> tuple[int, int, int, int]:
    return (seed.count(Provider), seed.count(Model), seed.count(ConfigRevision), seed.count(AuditEntry))


def test_preview_diff_and_validate_show_references_never_the_key(api: Api, rows: dict[str, int]) -> None:
    viewer = api.client("viewer")
    preview = viewer.get("/api/config/preview")
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["revision"] == 1 and body["problems"] == [] and body["deployments"] == 3
    assert f"api_key: os.environ/LLM_ADMIN_P{rows['cloud']}_API_KEY" in body["yaml"]
    diff = viewer.get("/api/config/diff")
    assert diff.status_code == 200
    assert diff.json()["unchanged"] is False
    assert "+model_list:" in diff.json()["diff"]
    assert diff.json()["summary"] == "new file: +3 models, +2 providers"
    validated = viewer.post("/api/config/validate")
    assert validated.status_code == 200
    assert (validated.json()["valid"], validated.json()["problems"]) == (True, [])
    for response in (preview, diff, validated):
        assert seed.REAL_LOOKING_KEY not in response.text
    assert not api.settings.config_path.exists() and seed.count(ConfigRevision) == 0


def test_an_invalid_config_lists_its_problems_and_is_not_applied(api: Api, rows: dict[str, int]) -> None:
    admin = api.client("admin")
    assert admin.put("/api/routes/summarizer", json={"model": "fast"}).status_code == 201
    # the route's model is switched off afterwards: the next render cannot build the route
    fast = next(m for m in admin.get("/api/models").json()["items"] if m["alias"] == "fast")
    assert admin.put(f"/api/models/{fast['id']}", json={"enabled": False}).status_code == 200
    validated = admin.post("/api/config/validate")
    assert validated.status_code == 200
    assert validated.json()["valid"] is False
    assert any("route summarizer" in p and "'fast'" in p for p in validated.json()["problems"])
    refused = admin.post("/api/config/apply", json={"wait": False})
    assert refused.status_code == 422
    assert any("route summarizer" in e["message"] for e in refused.json()["errors"])
    assert "nothing was written" in refused.json()["error"]
    assert not api.settings.config_path.exists() and seed.count(ConfigRevision) == 0


def test_apply_without_waiting_writes_the_revision(api: Api, rows: dict[str, int]) -> None:
    applied = api.client("operator").post("/api/config/apply", json={"wait": False})
    assert applied.status_code == 200, applied.text
    body = applied.json()
    assert body["applied"]["number"] == 1 and body["go_live"] is None
    assert seed.REAL_LOOKING_KEY not in applied.text
    text = api.settings.config_path.read_text()
    assert "os.environ/LLM_ADMIN_P" in text and seed.REAL_LOOKING_KEY not in text
    [revision] = api.client("viewer").get("/api/config/revisions").json()["items"]
    assert (revision["number"], revision["status"], revision["author"]) == (1, "applied", "oscar")


def test_apply_with_no_proxy_running_says_it_is_not_serving_yet(api: Api, rows: dict[str, int]) -> None:
    started = time.monotonic()
    applied = api.client("admin").post("/api/config/apply")  # the defaults: wait for the verdict
    assert applied.status_code == 200, applied.text
    go_live = applied.json()["go_live"]
    assert go_live["outcome"] == "starting", go_live
    assert (
        "not serving yet" in go_live["message"]
        and f"127.0.0.1:{api.settings.proxy_port}" in go_live["message"]
    )
    assert time.monotonic() - started < 20


def test_apply_with_the_stock_image_names_the_restart(api: Api, rows: dict[str, int]) -> None:
    with seed.served(api, proxy_mode="stock") as stock:
        applied = stock.client("admin").post("/api/config/apply", json={"wait": True})
    assert applied.status_code == 200, applied.text
    go_live = applied.json()["go_live"]
    assert (go_live["outcome"], go_live["command"]) == ("waiting_restart", "docker compose restart litellm")
    assert "waiting for restart" in go_live["message"]


def test_a_second_apply_has_no_changes_unless_forced(api: Api, rows: dict[str, int]) -> None:
    operator = api.client("operator")
    assert operator.post("/api/config/apply", json={"wait": False}).json()["applied"]["number"] == 1
    again = operator.post("/api/config/apply", json={"wait": False})
    assert again.status_code == 200
    assert again.json() == {"applied": None, "summary": "no changes", "go_live": None}
    assert operator.get("/api/config/diff").json()["unchanged"] is True
    assert seed.count(ConfigRevision) == 1
    forced = operator.post("/api/config/apply", json={"wait": False, "force": True})
    assert forced.status_code == 200 and forced.json()["applied"]["number"] == 2
    assert seed.count(ConfigRevision) == 2


def test_history_pages_revisions_and_one_revision_shows_its_yaml(api: Api, rows: dict[str, int]) -> None:
    operator = api.client("operator")
    for _ in range(3):
        assert operator.post("/api/config/apply", json={"wait": False, "force": True}).status_code == 200
    first = operator.get("/api/config/revisions", params={"limit": 2}).json()
    assert [r["number"] for r in first["items"]] == [3, 2]
    assert (first["total"], first["next_offset"]) == (3, 2)
    assert all("yaml_text" not in r and "inputs" not in r for r in first["items"])
    rest = operator.get("/api/config/revisions", params={"limit": 2, "offset": 2}).json()
    assert [r["number"] for r in rest["items"]] == [1] and rest["next_offset"] is None
    one = api.client("viewer").get("/api/config/revisions/2")
    assert one.status_code == 200
    assert "model_list:" in one.json()["yaml_text"] and "inputs" not in one.json()
    assert seed.REAL_LOOKING_KEY not in one.text
    missing = operator.get("/api/config/revisions/99")
    assert missing.status_code == 404 and "no config revision 99" in missing.json()["error"]


def test_rollback_writes_an_earlier_revision_again(api: Api, rows: dict[str, int]) -> None:
    admin = api.client("admin")
    admin.post("/api/config/apply", json={"wait": False})
    first_text = api.settings.config_path.read_text()
    assert admin.put("/api/routes/summarizer", json={"model": "fast"}).status_code == 201
    assert admin.post("/api/config/apply", json={"wait": False}).json()["applied"]["number"] == 2
    assert "agent/summarizer" in api.settings.config_path.read_text()
    rolled = api.client("operator").post("/api/config/revisions/1/rollback", params={"wait": False})
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["applied"]["number"] == 3
    assert rolled.json()["summary"].startswith("rollback to revision 1: ")
    assert rolled.json()["go_live"] is None
    text = api.settings.config_path.read_text()
    assert "agent/summarizer" not in text
    assert text.count("model_name:") == first_text.count("model_name:")
    revision = admin.get("/api/config/revisions/3").json()
    assert (revision["rollback_of"], revision["author"]) == (1, "oscar")
    assert admin.post("/api/config/revisions/42/rollback", params={"wait": False}).status_code == 404


def test_a_real_litellm_config_is_imported(api: Api) -> None:
    text = (CORPUS / "r07_load_balancer.yaml").read_text()
    imported = api.client("admin").post("/api/config/import", content=text, headers=YAML)
    assert imported.status_code == 200, imported.text
    report = imported.json()
    assert (report["providers"], report["models"]) == (3, 4)
    assert "sk-uj6F" not in imported.text and "eYVX71" not in imported.text
    listed = api.client("admin").get("/api/providers").json()
    assert listed["total"] == 3
    assert "sk-uj6F" not in api.client("admin").get("/api/providers").text
    aliases = sorted(m["alias"] for m in api.client("admin").get("/api/models").json()["items"])
    assert aliases == ["gpt-3.5-turbo", "gpt-3.5-turbo", "gpt-3.5-turbo", "mistral-7b-instruct"]
    # it renders back; LiteLLM's own check refuses what it could not route in the original either
    [problem] = api.client("admin").post("/api/config/validate").json()["problems"]
    assert "mistralai/mistral-7b-instruct" in problem and "LiteLLM cannot route it" in problem


def test_a_config_import_refuses_is_refused_with_its_reason(api: Api) -> None:
    text = (CORPUS / "r18_reject_metadata_tags_config.yaml").read_text()
    before = _stored()
    refused = api.client("admin").post("/api/config/import", content=text, headers=YAML)
    assert 400 <= refused.status_code < 500
    assert "database_url" in refused.json()["error"] and "os.environ/NAME" in refused.json()["error"]
    assert _stored() == before


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_file_is_refused_in_one_line_and_nothing_is_stored(api: Api, name: str) -> None:
    build, named = HOSTILE[name]
    text = build()
    before = _stored()
    started = time.monotonic()
    refused = api.client("admin").post("/api/config/import", content=text.encode(), headers=YAML)
    elapsed = time.monotonic() - started
    assert 400 <= refused.status_code < 500, refused.text[:300]
    error = refused.json()["error"]
    assert error.startswith("import refused: ") and "\n" not in error, error[:300]
    assert named in error, error[:300]
    assert _stored() == before
    assert elapsed < 15, f"{name} took {elapsed:.1f} s"


def test_a_body_over_the_size_limit_is_refused_before_it_is_read(api: Api) -> None:
    with seed.served(api, import_limits=YamlLimits(max_bytes=2_000)) as small:
        body = (CORPUS / "r07_load_balancer.yaml").read_text()
        body += "# padding\n" * ((3_000 - len(body)) // 10 + 1)
        refused = small.client("admin").post("/api/config/import", content=body, headers=YAML)
        assert refused.status_code == 400
        assert "LLM_ADMIN_IMPORT_MAX_BYTES" in refused.json()["error"]
        assert "\n" not in refused.json()["error"]
        assert seed.count(Provider) == 0
        fits = small.client("admin").post(
            "/api/config/import", content=(CORPUS / "r09_simple_config.yaml").read_text(), headers=YAML
        )
        assert fits.status_code == 200, fits.text
    assert seed.count(Provider) == 1


@pytest.mark.parametrize(
    "text",
    ["- a list\n- not a config\n", "model_list: [unclosed\n", "model_list: 5\n", "nul: \x00\n"],
    ids=["a-list", "unclosed", "model-list-a-number", "control-character"],
)
def test_a_body_that_is_no_config_is_refused_saying_why(api: Api, text: str) -> None:
    before = _stored()
    refused = api.client("admin").post("/api/config/import", content=text, headers=YAML)
    assert 400 <= refused.status_code < 500, refused.text
    reasons = [refused.json()["error"], *(e["message"] for e in refused.json().get("errors", []))]
    assert any(
        r.startswith("not valid YAML: ") or r.startswith("the file is not a LiteLLM config") for r in reasons
    ), reasons
    assert _stored() == before


def test_a_body_that_is_not_utf8_is_refused(api: Api) -> None:
    refused = api.client("admin").post("/api/config/import", content=b"model_list: [\xff\xfe]", headers=YAML)
    assert refused.status_code == 400 and "UTF-8" in refused.json()["error"]


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_who_may_apply_roll_back_and_import(api: Api, rows: dict[str, int], role: str) -> None:
    api.client("admin").post("/api/config/apply", json={"wait": False})
    before = _stored()
    client = api.client(role)
    text = (CORPUS / "r09_simple_config.yaml").read_text()
    imported = client.post("/api/config/import", content=text, headers=YAML)
    assert imported.status_code == 403, imported.text
    applied = client.post("/api/config/apply", json={"wait": False, "force": True})
    rolled = client.post("/api/config/revisions/1/rollback", params={"wait": False})
    if role == "viewer":
        assert (applied.status_code, rolled.status_code) == (403, 403)
        assert "role 'viewer'" in applied.json()["error"]
        assert _stored() == before
    else:  # operators apply and roll back, but import changes providers and models: admins only
        assert (applied.status_code, rolled.status_code) == (200, 200)
        assert (seed.count(Provider), seed.count(Model)) == before[:2]
