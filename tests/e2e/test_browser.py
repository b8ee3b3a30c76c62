"""One real-browser run of the main path, in Debian's Chromium driven by Playwright: sign in, add a
provider on a fake upstream, test it, sync and enable its model, apply the config, send a chat request
through the proxy, find it on the usage page (reloading it: the session cookie keeps the tab signed
in), add a budget and see its bar, open a page URL in a second tab, sign out and find both tabs signed
out. A screenshot of each step and of every page at 1400 px is kept in test-artifacts/browser/."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.proxy import proxy_env, stop
from tests.e2e.supervised import BIN, llm_admin, wait_for
from tests.pg import free_port
from tests.upstream import FakeUpstream

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "browser-run-password-42"
KEY = "sk-browser-upstream-0123456789"
# every page of the navigation, in its order, for the screenshots
PAGES = (
    "Overview",
    "Providers",
    "Models",
    "Routing",
    "Config",
    "Health and alerts",
    "Usage and costs",
    "Budgets",
    "Caller keys",
    "Audit",
    "Users",
    "My account",
)
# as the env tool's notes say: without these, Chromium keeps calling home on this closed network
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            env=proxy_env(env),
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A fresh data dir with one admin, the supervisor waiting for its first config, the dashboard."""
    data = tmp_path_factory.mktemp("browser") / "data"
    env = {"LLM_ADMIN_DATA_DIR": str(data), "LLM_ADMIN_PASSWORD": PASSWORD}
    llm_admin(data, "db", "upgrade")
    llm_admin(data, "create-admin", "--username", "admin", **env)
    upstream = FakeUpstream(api_key=KEY, models=("fake-model",), reply="hello from the browser run").start()
    proxy_port, dashboard_port = free_port(), free_port()
    supervisor = _spawn(
        [str(BIN / "llm-admin"), "proxy", "run", "--port", str(proxy_port), "--workers", "1"],
        env,
        data / "logs" / "supervisor.log",
    )
    dashboard = _spawn(
        [str(BIN / "streamlit"), "run", "dashboard.py", "--server.port", str(dashboard_port)]
        + ["--server.address", "127.0.0.1", "--server.headless", "true"],
        env,
        data / "logs" / "dashboard.log",
    )
    url = f"http://127.0.0.1:{dashboard_port}"
    try:
        wait_for(lambda: _answers(f"{url}/_stcore/health"), 60, "the dashboard to start")
        yield {"data": data, "url": url, "proxy": f"http://127.0.0.1:{proxy_port}", "upstream": upstream}
    finally:
        for process in (dashboard, supervisor):
            stop(process)
        upstream.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_main_path_in_a_real_browser(stack: dict[str, object]) -> None:
    from playwright.sync_api import expect, sync_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # one context, so a second tab shares the session cookie as a real browser's tabs do
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(30_000)
        step = iter(range(1, 100))

        def shot(name: str) -> None:
            page.wait_for_timeout(300)  # let Streamlit finish painting
            page.screenshot(path=str(ARTIFACTS / f"{next(step):02d}-{name}.png"), full_page=True)

        def go(title: str) -> None:
            page.get_by_role("link", name=title, exact=True).click()
            expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()

        try:
            _main_path(page, stack, shot, go, expect)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failed-here.png"), full_page=True)
            raise
        finally:
            browser.close()
    steps = ["signed-in", "provider-added", "connection-tested", "model-enabled", "config-applied"]
    steps += [
        "usage-seen",
        "budget-added",
        "signed-out",
        *(f"page-{t.lower().replace(' ', '-')}" for t in PAGES),
    ]
    assert sorted(p.name for p in ARTIFACTS.iterdir()) == [f"{i:02d}-{s}.png" for i, s in enumerate(steps, 1)]
    assert os.path.getsize(ARTIFACTS / "06-usage-seen.png") > 10_000


def _main_path(page: Any, stack: dict[str, object], shot: Any, go: Any, expect: Any) -> None:
    upstream = stack["upstream"]
    assert isinstance(upstream, FakeUpstream)
    if True:
        # 1. sign in
        page.goto(str(stack["url"]))
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        shot("signed-in")

        # 2. add a provider on the fake upstream
        go("Providers")
        page.get_by_label("Start from a template").click()
        page.get_by_role("option", name="Custom OpenAI-compatible endpoint").click()
        # the form is drawn again for that template: wait for it before typing
        expect(page.get_by_label("API key (if the server asks for one)", exact=True)).to_be_visible()
        page.wait_for_timeout(500)
        page.get_by_label("Name *").fill("fake-co")
        page.get_by_label("Base URL *").fill(f"{upstream.base_url}/v1")
        page.get_by_label("API key (if the server asks for one)", exact=True).fill(KEY)
        page.get_by_role("button", name="Add provider").click()
        # added, selected and tested at once (auto-test on creation)
        expect(page.get_by_text("fake-co: connected").first).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Added fake-co.").first).to_be_visible()
        shot("provider-added")

        # 3. test the connection
        page.get_by_role("button", name="Test connection").click()
        expect(page.get_by_text("fake-co: connected").first).to_be_visible()
        shot("connection-tested")

        # 4. sync its models, then enable the model on the Models page
        page.get_by_role("button", name="Sync models").click()
        expect(page.get_by_text("Sync models: 1 added").first).to_be_visible()
        go("Models")
        page.get_by_role("button", name="Enable all 1 matching").click()
        expect(page.get_by_role("button", name="Disable all 1 matching")).to_be_visible()
        shot("model-enabled")

        # 5. apply the config: the supervisor starts the proxy on it
        go("Config")
        page.get_by_role("button", name="Apply…").click()
        page.get_by_role("button", name="Yes, apply").click()
        expect(page.get_by_text("live in").first).to_be_visible(timeout=120_000)
        shot("config-applied")

        # 6. a chat request through the proxy
        master_key = (Path(str(stack["data"])) / "master.key").read_text().strip()
        response = httpx.post(
            f"{stack['proxy']}/v1/chat/completions",
            headers={"Authorization": f"Bearer {master_key}"},
            json={"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["content"] == "hello from the browser run"

        # 7. the request on the usage page
        deadline = time.monotonic() + 30
        go("Usage and costs")
        requests = page.get_by_test_id("stMetric").filter(has_text="Requests")
        while "1" not in requests.inner_text() and time.monotonic() < deadline:
            page.wait_for_timeout(1000)  # the hook writes usage in batches, a fraction of a second later
            page.reload()  # the session cookie keeps this tab signed in
            expect(page.get_by_role("heading", name="Usage and costs")).to_be_visible()
        expect(requests).to_contain_text("1")
        expect(page.get_by_test_id("stMetric").filter(has_text="Tokens")).to_contain_text("18")
        page.wait_for_timeout(1500)  # the charts draw after the numbers
        shot("usage-seen")

        # 8. a budget added in the UI shows its bar
        go("Budgets")
        page.get_by_label("Limit (USD)").fill("5")
        page.get_by_role("button", name="Add budget").click()
        expect(page.get_by_text("Added the monthly budget of fake-co.").first).to_be_visible()
        expect(page.get_by_test_id("stProgress").first).to_contain_text("provider fake-co (monthly)")
        shot("budget-added")

        # 9. the session survives a reload and a pasted page URL in a new tab; sign-out ends it in both
        page.reload()
        expect(page.get_by_role("heading", name="Budgets")).to_be_visible()
        expect(page.get_by_text("Signed in as admin (admin)")).to_be_visible()
        cookie = next(c for c in page.context.cookies() if c["name"] == "llm_admin_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax", cookie
        other_tab = page.context.new_page()
        other_tab.goto(f"{stack['url']}/audit-log")
        expect(other_tab.get_by_role("heading", name="Audit")).to_be_visible()
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        other_tab.reload()
        expect(other_tab.get_by_role("button", name="Sign in")).to_be_visible()
        shot("signed-out")
        other_tab.close()
        # a pasted page URL signs in to that page
        page.goto(f"{stack['url']}/spend-limits")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Budgets")).to_be_visible()

        # 10. every page, as a reader sees it at 1400 px
        for title in PAGES:
            go(title)
            page.wait_for_timeout(1000)
            shot(f"page-{title.lower().replace(' ', '-')}")
