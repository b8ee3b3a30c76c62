"""Webhook delivery: Slack-compatible JSON to a real HTTP server, retries with backoff, give-up, dedup."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from app import db
from app.cli import main
from app.errors import SettingsError
from app.models import Alert, as_utc
from app.services import alerts, webhooks
from app.services.access import Actor
from app.settings import load_settings
from tests.pg import free_port

TOKEN = "T0KEN-9f8e7d6c5b4a"


class Hook:
    """A webhook receiver on 127.0.0.1 that answers the first `failures` posts with `status`."""

    def __init__(self, failures: int = 0, status: int = 500) -> None:
        self.failures = failures
        self.status = status
        self.posts: list[dict[str, Any]] = []
        self.paths: list[str] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.paths.append(self.path)
                hook.posts.append(json.loads(body))
                failing = len(hook.posts) <= hook.failures
                # a receiver that echoes the URL it was called on, as some do in their errors
                reply = f"no_service {self.path}".encode() if failing else b"ok"
                self.send_response(hook.status if failing else 200)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/services/{TOKEN}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.stop()


def _raise(
    key: str = "provider-down:openai", severity: str = "critical", message: str = "Provider openai down"
) -> int:
    with db.Session.begin() as session:
        alert, _ = alerts.raise_alert(
            session,
            kind="provider_down",
            severity=severity,
            message=message,
            dedup_key=key,
            provider="openai",
        )
        return alert.id


def _deliver(url: str, now: datetime | None = None, **kw: Any) -> int:
    with db.Session.begin() as session:
        return webhooks.deliver_pending(session, url=url, now=now, timeout=2.0, **kw)


def _alert(alert_id: int) -> Alert:
    with db.Session.begin() as session:
        alert = session.get_one(Alert, alert_id)
        session.expunge(alert)
        return alert


def test_an_alert_is_posted_once_as_slack_compatible_json(db_url: str, hook: Hook) -> None:
    alert_id = _raise()
    assert _deliver(hook.url) == 1
    (post,) = hook.posts
    alert = _alert(alert_id)
    assert post == {
        "text": ":red_circle: [CRITICAL] provider_down (openai): Provider openai down",
        "alert_id": alert_id,
        "severity": "critical",
        "kind": "provider_down",
        "provider": "openai",
        "message": "Provider openai down",
        "time": as_utc(alert.at).isoformat(),
    }
    assert hook.paths == [f"/services/{TOKEN}"]
    assert alert.delivered_at is not None and alert.delivery_attempts == 0 and alert.delivery_error is None
    assert _deliver(hook.url) == 0
    assert len(hook.posts) == 1


def test_repeats_of_an_open_alert_are_not_sent_again(db_url: str, hook: Hook) -> None:
    first = _raise()
    assert _raise() == first  # a repeat within the outage window: occurrences 2, still one alert
    assert _deliver(hook.url) == 1
    assert _raise() == first
    assert _deliver(hook.url) == 0
    assert _alert(first).occurrences == 3
    other = _raise(key="provider-down:anthropic", message="Provider anthropic down")
    assert _deliver(hook.url) == 1
    assert [p["alert_id"] for p in hook.posts] == [first, other]


def test_failures_are_retried_with_backoff_until_delivered(db_url: str, hook: Hook) -> None:
    hook.failures = 2
    alert_id = _raise()
    raised = as_utc(_alert(alert_id).at)

    def sweep(seconds: float) -> int:
        return _deliver(hook.url, now=raised + timedelta(seconds=seconds), backoff_seconds=10)

    assert sweep(0) == 0
    alert = _alert(alert_id)
    assert (alert.delivery_attempts, alert.delivered_at) == (1, None)
    assert alert.delivery_error == "HTTP 500: no_service …"
    assert sweep(9.9) == 0 and len(hook.posts) == 1  # backing off: due 10 s after the first try
    assert sweep(10) == 0 and len(hook.posts) == 2
    assert sweep(29.9) == 0 and len(hook.posts) == 2  # then 20 s after the second
    assert sweep(30) == 1 and len(hook.posts) == 3
    alert = _alert(alert_id)
    assert alert.delivered_at is not None and alert.delivery_error is None and alert.delivery_attempts == 2
    assert sweep(1000) == 0 and len(hook.posts) == 3


def test_delivery_is_given_up_after_max_attempts(db_url: str, hook: Hook) -> None:
    hook.failures = 100
    alert_id = _raise()
    for _ in range(5):
        assert _deliver(hook.url, backoff_seconds=0, max_attempts=3) == 0
    assert len(hook.posts) == 3
    alert = _alert(alert_id)
    assert (alert.delivery_attempts, alert.delivered_at) == (3, None)
    with db.Session.begin() as session:
        assert webhooks.backlog(session, max_attempts=3) == webhooks.Backlog(pending=0, given_up=1)


def test_errors_and_logs_never_hold_the_webhook_url(
    db_url: str, hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    hook.failures = 1
    hook.status = 403
    first = _raise()
    dead = f"http://127.0.0.1:{free_port()}/services/{TOKEN}"
    with caplog.at_level(logging.WARNING):
        assert _deliver(hook.url, backoff_seconds=0) == 0
        assert _deliver(dead, backoff_seconds=0) == 0
    alert = _alert(first)
    assert alert.delivery_attempts == 2
    assert alert.delivery_error is not None and alert.delivery_error.startswith("ConnectError: ")
    assert "HTTP 403: no_service …" in caplog.text
    assert TOKEN not in caplog.text and "/services/" not in caplog.text and TOKEN not in alert.delivery_error


def test_an_unreachable_endpoint_stops_the_sweep(db_url: str) -> None:
    ids = [_raise(key=f"k{n}", message=f"alert {n}") for n in range(3)]
    dead = f"http://127.0.0.1:{free_port()}/hook"
    assert _deliver(dead, backoff_seconds=0) == 0
    # one connection refused is enough: the others are not tried (and not charged an attempt)
    assert [_alert(i).delivery_attempts for i in ids] == [1, 0, 0]


def test_a_refused_post_does_not_hold_up_the_others(db_url: str, hook: Hook) -> None:
    hook.failures = 1
    hook.status = 400
    first, second = _raise(key="a", message="one"), _raise(key="b", message="two")
    assert _deliver(hook.url, backoff_seconds=0) == 1
    assert [_alert(first).delivered_at is None, _alert(second).delivered_at is None] == [True, False]
    assert _deliver(hook.url, backoff_seconds=0) == 1
    assert [p["message"] for p in hook.posts] == ["one", "two", "one"]


def test_acknowledged_alerts_are_not_sent(db_url: str, hook: Hook) -> None:
    alert_id = _raise()
    with db.Session.begin() as session:
        alerts.acknowledge(session, actor=Actor("olga", "operator"), alert_id=alert_id)
    assert _deliver(hook.url) == 0
    assert hook.posts == []


def test_the_webhook_setting_is_checked_without_echoing_it() -> None:
    assert load_settings({}).alert_webhook_url == ""
    settings = load_settings({"LLM_ADMIN_ALERT_WEBHOOK_URL": f" https://hooks.example.com/{TOKEN} "})
    assert settings.alert_webhook_url == f"https://hooks.example.com/{TOKEN}"
    assert TOKEN not in repr(settings)
    with pytest.raises(SettingsError, match="LLM_ADMIN_ALERT_WEBHOOK_URL must be an http") as err:
        load_settings({"LLM_ADMIN_ALERT_WEBHOOK_URL": f"ftp://{TOKEN}"})
    assert TOKEN not in str(err.value)


def test_alerts_deliver_command(
    db_url: str,
    cli_env: dict[str, str],
    hook: Hook,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["alerts", "deliver"]) == 1
    assert "set LLM_ADMIN_ALERT_WEBHOOK_URL" in capsys.readouterr().err
    monkeypatch.setenv("LLM_ADMIN_ALERT_WEBHOOK_URL", hook.url)
    hook.failures = 1
    _raise(key="a", message="one")
    _raise(key="b", message="two")
    assert main(["alerts", "deliver"]) == 1
    assert capsys.readouterr().out.strip() == "delivered 1 alert; 1 still pending, 0 given up"
    # the operator's "now" does not wait out the backoff
    assert main(["alerts", "deliver"]) == 0
    assert capsys.readouterr().out.strip() == "delivered 1 alert; 0 still pending, 0 given up"
    assert [p["message"] for p in hook.posts] == ["one", "two", "one"]
    with db.Session.begin() as session:
        assert all(a.delivered_at for a in session.scalars(select(Alert)))
