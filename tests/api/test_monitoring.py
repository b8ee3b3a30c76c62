"""What happened, over HTTP: the proxy's state, provider health (a sweep against a stand-in and a dead
port), alerts, usage (totals, breakdowns, filters, CSV, applications, cheaper models), the audit log."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app import db
from app.models import AuditEntry, HealthCheck, utcnow
from app.runtime import proxy_state
from app.runtime.alerts import raise_alert
from tests.api import seed
from tests.api.conftest import MASTER, Api
from tests.pg import free_port
from tests.standins.openai import OPENAI_KEY, OpenAIStandIn

# --- proxy -----------------------------------------------------------------------------------


def test_proxy_status_with_no_supervisor_tells_the_truth(api: Api) -> None:
    shown = api.client("viewer").get("/api/proxy")
    assert shown.status_code == 200
    assert shown.json() == {
        "supervised": False,
        "live_revision": None,
        "detail": f"no llm-admin supervisor; the proxy at 127.0.0.1:{api.settings.proxy_port} did not answer",
        "replicas": [],
        "needs_restart": False,
    }


def test_reload_with_no_supervisor_is_a_clear_error(api: Api) -> None:
    refused = api.client("operator").post("/api/proxy/reload")
    assert refused.status_code == 400
    assert refused.json()["error"] == (
        "no llm-admin supervisor runs here; start or restart the proxy: `llm-admin proxy run`"
    )
    denied = api.client("viewer").post("/api/proxy/reload")
    assert denied.status_code == 403 and "role 'viewer'" in denied.json()["error"]


def test_proxy_status_names_each_running_supervisor(api: Api) -> None:
    report = proxy_state.ReloadResult(5, True, 640.0, "revision 5 live in 640 ms", at=time.time())
    proxy_state.ProxyState(
        supervisor_pid=os.getpid(),
        master_pid=os.getpid(),
        host="127.0.0.1",
        port=4000,
        workers=2,
        started_at=time.time() - 60,
        live_revision=5,
        last_reload=report,
        heartbeat_at=time.time(),
        hostname=socket.gethostname(),
    ).save(proxy_state.state_path(api.settings))
    shown = api.client("viewer").get("/api/proxy").json()
    assert (shown["supervised"], shown["live_revision"], shown["needs_restart"]) == (True, 5, False)
    assert shown["detail"] == "last reload: revision 5 live in 640 ms"
    [replica] = shown["replicas"]
    assert replica == {
        "name": "127.0.0.1:4000",
        "supervisor_pid": os.getpid(),
        "host": "127.0.0.1",
        "port": 4000,
        "live_revision": 5,
        "workers": 2,
        "last_reload": {
            "revision": 5,
            "ok": True,
            "ms": 640.0,
            "message": "revision 5 live in 640 ms",
            "at": report.at,
            "phases": {},
            "pending": False,
        },
    }


class _ModelInfo(BaseHTTPRequestHandler):
    """LiteLLM's `GET /v1/model/info` (master key only): each deployment with its model_info."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
        if self.path != "/v1/model/info" or self.headers.get("Authorization") != f"Bearer {MASTER}":
            body, status = {"error": {"message": "Authentication Error", "code": "401"}}, 401
        else:
            deployment = {"model_name": "fast", "litellm_params": {"model": "openai/fast-model"}}
            body, status = {"data": [{**deployment, "model_info": {"llm_admin_revision": 7}}]}, 200
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def unsupervised_proxy() -> Iterator[int]:
    """A LiteLLM proxy no supervisor of ours runs, serving revision 7: its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ModelInfo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_a_proxy_no_supervisor_runs_needs_a_restart(api: Api, unsupervised_proxy: int) -> None:
    seed.cloud_and_home(api.settings)
    with seed.served(api, proxy_port=unsupervised_proxy) as other:
        shown = other.client("viewer").get("/api/proxy").json()
        assert (shown["supervised"], shown["live_revision"], shown["needs_restart"]) == (False, 7, True)
        assert "serves revision 7" in shown["detail"]
        applied = other.client("operator").post("/api/config/apply").json()
    assert applied["go_live"]["outcome"] == "waiting_restart"
    assert applied["go_live"]["command"] == "llm-admin proxy run"


# --- health ----------------------------------------------------------------------------------


def test_a_sweep_records_each_verdict_and_a_dead_provider_goes_down(api: Api) -> None:
    with OpenAIStandIn(OPENAI_KEY, organization=None) as upstream:
        alive = seed.provider(api.settings, "alive", base_url=f"{upstream.url}/v1", key=OPENAI_KEY)
        dead = seed.provider(api.settings, "dead", base_url=f"http://127.0.0.1:{free_port()}/v1")
        before = api.client("viewer").get("/api/health").json()
        assert {h["name"]: h["status"] for h in before} == {"alive": "unknown", "dead": "unknown"}
        operator = api.client("operator")
        first = operator.post("/api/health/sweep")
        assert first.status_code == 200, first.text
        assert {p["name"]: (p["ok"], p["status"]) for p in first.json()["probed"]} == {
            "alive": (True, "healthy"),
            "dead": (False, "degraded"),
        }
        second = operator.post("/api/health/sweep").json()
        assert second["down"] == ["dead"]
        assert [(t["provider"], t["old"], t["new"]) for t in second["transitions"]] == [
            ("dead", "degraded", "down")
        ]
        # the stand-in was asked for its models with the stored key
        assert [r.headers["authorization"] for r in upstream.requests_to("/v1/models")] == [
            f"Bearer {OPENAI_KEY}"
        ] * 2
    health = api.client("viewer").get("/api/health").json()
    assert [(h["name"], h["status"], h["consecutive_failures"]) for h in health] == [
        ("dead", "down", 2),
        ("alive", "healthy", 0),
    ]
    assert "ConnectError" in health[0]["error"]
    assert seed.count(HealthCheck) == 4
    down = api.client("viewer").get("/api/alerts").json()["items"]
    assert [(a["kind"], a["provider"]) for a in down] == [("provider_down", "dead")]
    assert OPENAI_KEY not in str(first.text) + str(health)

    history = api.client("viewer").get(
        "/api/health/history", params={"provider_id": [alive, dead], "bucket_seconds": 86_400}
    )
    assert history.status_code == 200
    by_name = {b["provider"]: b for b in history.json()}
    assert (by_name["alive"]["probes"], by_name["alive"]["ok_share"]) == (2, 1.0)
    assert (by_name["dead"]["probes"], by_name["dead"]["ok_share"], by_name["dead"]["latency_ms"]) == (
        2,
        0.0,
        None,
    )
    assert api.client("viewer").get("/api/health/history").status_code == 422  # which providers?


def test_a_viewer_cannot_sweep(api: Api) -> None:
    seed.provider(api.settings, "dead", base_url=f"http://127.0.0.1:{free_port()}/v1")
    denied = api.client("viewer").post("/api/health/sweep")
    assert denied.status_code == 403 and "role 'viewer'" in denied.json()["error"]
    assert seed.count(HealthCheck) == 0


# --- alerts ----------------------------------------------------------------------------------


def _alerts(n: int) -> list[int]:
    with db.Session.begin() as session:
        made = [
            raise_alert(session, kind="budget", severity="warning", message=f"alert {i}", dedup_key=f"k{i}")[
                0
            ]
            for i in range(n)
        ]
        session.flush()
        return [a.id for a in made]


def test_alerts_are_listed_newest_first_in_pages(api: Api) -> None:
    ids = _alerts(3)
    first = api.client("viewer").get("/api/alerts", params={"limit": 2}).json()
    assert [a["id"] for a in first["items"]] == ids[::-1][:2]
    assert (first["total"], first["next_offset"]) == (None, 2)
    rest = api.client("viewer").get("/api/alerts", params={"limit": 2, "offset": 2}).json()
    assert [a["id"] for a in rest["items"]] == [ids[0]] and rest["next_offset"] is None


def test_acknowledging_is_for_operators_and_twice_changes_nothing(api: Api) -> None:
    [alert] = _alerts(1)
    denied = api.client("viewer").post(f"/api/alerts/{alert}/acknowledge")
    assert denied.status_code == 403
    acked = api.client("operator").post(f"/api/alerts/{alert}/acknowledge")
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledged_by"] == "oscar"
    entries = seed.count(AuditEntry)
    again = api.client("admin").post(f"/api/alerts/{alert}/acknowledge")
    assert again.status_code == 200
    assert (again.json()["acknowledged_by"], again.json()["acknowledged_at"]) == (
        "oscar",
        acked.json()["acknowledged_at"],
    )
    assert seed.count(AuditEntry) == entries
    assert api.client("viewer").get("/api/alerts").json()["items"] == []
    shown = api.client("viewer").get("/api/alerts", params={"include_acknowledged": True}).json()["items"]
    assert [a["id"] for a in shown] == [alert]
    assert api.client("operator").post("/api/alerts/999/acknowledge").status_code == 404


# --- usage -----------------------------------------------------------------------------------


@pytest.fixture
def usage(api: Api) -> dict[str, str]:
    """Two days of events on two providers, one route, two applications."""
    seed.cloud_and_home(api.settings)
    api.client("admin").put("/api/routes/summarizer", json={"model": "big"}).raise_for_status()
    now = utcnow().replace(microsecond=0)
    today, yesterday = now.date(), (now - timedelta(days=1)).date()
    at_yesterday = now - timedelta(days=1)
    seed.usage(0.02, at=now, route="agent/summarizer", application="billing", prompt_tokens=1000)
    seed.usage(0.03, at=now, route="agent/summarizer", application="billing", prompt_tokens=1000)
    seed.usage(0.01, at=now, application="search", latency_ms=300.0)
    seed.usage(0.0, at=at_yesterday, provider="home", model_group="llama", status="failure", latency_ms=None)
    seed.usage(0.5, at=now - timedelta(days=60))  # outside the default 30 days
    return {"today": today.isoformat(), "yesterday": yesterday.isoformat()}


def test_usage_totals_and_breakdowns_match_the_events(api: Api, usage: dict[str, str]) -> None:
    report = api.client("viewer").get("/api/usage")
    assert report.status_code == 200, report.text
    body = report.json()
    totals = body["totals"]
    assert (totals["requests"], totals["failures"], totals["prompt_tokens"]) == (4, 1, 2200)
    assert totals["cost_usd"] == pytest.approx(0.06)
    assert {r["key"]: r["requests"] for r in body["by_provider"]} == {"cloud": 3, "home": 1}
    assert {r["key"]: r["cost_usd"] for r in body["by_route"]} == {
        "agent/summarizer": pytest.approx(0.05),
        "": pytest.approx(0.01),
    }
    assert {r["key"] for r in body["by_model_group"]} == {"agent/summarizer", "fast", "llama"}
    days = {d["key"]: d["requests"] for d in body["by_day"]}
    assert len(days) == 30 and days[usage["today"]] == 3 and days[usage["yesterday"]] == 1
    assert body["p50_ms"] == pytest.approx(100.0, rel=0.01)
    assert body["p95_ms"] == pytest.approx(300.0, rel=0.01)
    assert (body["providers"], body["routes"]) == (["cloud", "home"], ["", "agent/summarizer"])


def test_usage_filters_by_provider_route_and_days(api: Api, usage: dict[str, str]) -> None:
    viewer = api.client("viewer")
    home = viewer.get("/api/usage", params={"provider": "home"}).json()["totals"]
    assert (home["requests"], home["failures"]) == (1, 1)
    route = viewer.get("/api/usage", params={"route": "agent/summarizer"}).json()
    assert route["totals"]["requests"] == 2 and route["totals"]["cost_usd"] == pytest.approx(0.05)
    assert [r["key"] for r in route["by_provider"]] == ["cloud"]
    both = viewer.get("/api/usage", params={"provider": "home", "route": "agent/summarizer"}).json()
    assert both["totals"]["requests"] == 0
    today = viewer.get("/api/usage", params={"start": usage["today"], "end": usage["today"]}).json()
    assert today["totals"]["requests"] == 3 and len(today["by_day"]) == 1
    backwards = viewer.get("/api/usage", params={"start": usage["today"], "end": usage["yesterday"]})
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "end"
    garbled = viewer.get("/api/usage", params={"start": "last tuesday"})
    assert garbled.status_code == 422 and garbled.json()["errors"][0]["field"] == "start"


def test_usage_csv_has_a_line_per_day_provider_group_and_route(api: Api, usage: dict[str, str]) -> None:
    exported = api.client("viewer").get("/api/usage.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    got = {
        (r["day"], r["provider"], r["model_group"], r["route"]): (int(r["requests"]), float(r["cost_usd"]))
        for r in rows
    }
    assert got == {
        (usage["yesterday"], "home", "llama", ""): (1, 0.0),
        (usage["today"], "cloud", "agent/summarizer", "agent/summarizer"): (2, pytest.approx(0.05)),
        (usage["today"], "cloud", "fast", ""): (1, pytest.approx(0.01)),
    }
    one = api.client("viewer").get("/api/usage.csv", params={"provider": "home"}).text
    assert [r["provider"] for r in csv.DictReader(io.StringIO(one))] == ["home"]


def test_usage_per_application_as_json_and_csv(api: Api, usage: dict[str, str]) -> None:
    apps = api.client("viewer").get("/api/usage/applications").json()
    assert [(a["application"], a["requests"]) for a in apps] == [("billing", 2), ("search", 1), ("", 1)]
    assert apps[0]["cost_usd"] == pytest.approx(0.05)
    exported = api.client("viewer").get("/api/usage/applications.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {(r["day"], r["application"], r["requests"]) for r in rows} == {
        (usage["yesterday"], "", "1"),
        (usage["today"], "billing", "2"),
        (usage["today"], "search", "1"),
    }


def test_recommendations_name_a_cheaper_model_for_a_route(api: Api, usage: dict[str, str]) -> None:
    found = api.client("viewer").get("/api/usage/recommendations")
    assert found.status_code == 200
    cheaper = {r["candidate"]: r for r in found.json() if r["route"] == "summarizer"}
    fast = cheaper["fast"]
    assert (fast["current"], fast["providers"], fast["requests"]) == ("big", ["cloud"], 2)
    # 2000 prompt and 20 completion tokens at fast's $1/$2 per 1M, against the $0.05 they cost
    assert fast["estimated_cost_usd"] == pytest.approx((2000 * 1 + 20 * 2) / 1e6)
    assert fast["saving_usd"] == pytest.approx(0.05 - (2000 * 1 + 20 * 2) / 1e6)
    assert api.client("viewer").get("/api/usage/recommendations", params={"days": 0}).status_code == 422


# --- audit -----------------------------------------------------------------------------------


def test_audit_entries_name_the_token_s_user_and_filter_and_page(api: Api) -> None:
    seed.cloud_and_home(api.settings)
    admin = api.client("admin")
    for name in ("one", "two", "three"):
        admin.put(f"/api/routes/{name}", json={"model": "fast"}).raise_for_status()
    admin.delete("/api/routes/two").raise_for_status()
    [alert] = _alerts(1)
    api.client("operator").post(f"/api/alerts/{alert}/acknowledge").raise_for_status()
    viewer = api.client("viewer")
    routes = viewer.get("/api/audit", params={"action": "route."}).json()
    assert [(e["actor"], e["action"], e["target_name"]) for e in routes["items"]] == [
        ("alice", "route.remove", "two"),
        ("alice", "route.add", "three"),
        ("alice", "route.add", "two"),
        ("alice", "route.add", "one"),
    ]
    assert (routes["total"], routes["next_offset"]) == (None, None)
    by_oscar = viewer.get("/api/audit", params={"by": "oscar"}).json()["items"]
    assert [(e["action"], e["target_type"]) for e in by_oscar] == [("alert.ack", "alert")]
    alerts = viewer.get("/api/audit", params={"target_type": "alert"}).json()["items"]
    assert [e["actor"] for e in alerts] == ["oscar"]
    page = viewer.get("/api/audit", params={"action": "route.", "limit": 3}).json()
    assert len(page["items"]) == 3 and (page["total"], page["next_offset"]) == (None, 3)
    last = viewer.get("/api/audit", params={"action": "route.", "limit": 3, "offset": 3}).json()
    assert [e["target_name"] for e in last["items"]] == ["one"] and last["next_offset"] is None
    future = (utcnow() + timedelta(days=1)).isoformat()
    assert viewer.get("/api/audit", params={"since": future}).json()["items"] == []
    assert len(viewer.get("/api/audit", params={"until": future, "by": "alice"}).json()["items"]) == 4
