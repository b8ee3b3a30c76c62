"""Names and upstream messages are untrusted (a provider's name, its error text, an alert about it): on
every page they are shown as their literal characters, never as an image the browser fetches, a link
or HTML. Each page is opened with such text stored, and whatever it renders through markdown is
rendered again here with a CommonMark parser to see what a browser would get."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from app import db
from app.models import Budget, ConfigRevision, Provider
from app.services import alerts, health
from tests.pages.helpers import seed_models

PIXEL = "![p](http://198.51.100.7/pixel.png)"
LINK = "[sign in again](http://198.51.100.7/login)"
HOSTILE = f"{PIXEL} {LINK} <img src=x onerror=alert(1)>"
PAGES = [  # (page, a button clicked once it is open, whether it shows the stored text in markdown)
    ("pages/overview.py", None, False),
    ("pages/providers.py", None, True),
    ("pages/models.py", None, False),
    ("pages/routing.py", None, False),
    ("pages/health.py", None, True),
    ("pages/usage.py", None, False),
    ("pages/budgets.py", None, True),
    ("pages/config.py", None, True),
    ("pages/config.py", "config_diff", True),
    ("pages/audit.py", None, False),
    ("pages/keys.py", None, False),
    ("pages/users.py", None, False),
]
MARKDOWN = MarkdownIt("commonmark", {"html": True})


@pytest.fixture
def hostile(dashboard_env: None) -> Iterator[None]:
    """A provider named with the hostile text, its last test failed with it, an alert quoting it, a
    budget on it, and a revision the proxy refused with it in the error."""
    ids = seed_models()
    with db.Session.begin() as session:
        provider = session.get(Provider, ids["cloud"])
        assert provider is not None
        provider.name = HOSTILE
        provider.last_test_ok, provider.last_test_message = False, f"HTTP 401: {HOSTILE}"
        health.record_probe(session, provider_id=provider.id, ok=False, latency_ms=None, error=HOSTILE)
        alerts.raise_alert(
            session, kind="provider_down", severity="critical", message=f"{HOSTILE} is down", dedup_key="x"
        )
        session.add(
            Budget(
                scope="provider",
                target=HOSTILE,
                period="monthly",
                limit_usd=5,
                created_by="t",
                updated_by="t",
            )
        )
        session.add(
            ConfigRevision(
                number=1,
                sha256="0" * 64,
                yaml_text="model_list: []\n",
                author="admin",
                status="failed",
                summary=HOSTILE,
                message=f"LiteLLM refused it: {HOSTILE}",
            )
        )
    yield


def _markdown_bodies(at: AppTest) -> list[str]:
    """Everything this run rendered through markdown: texts, captions, alerts, and widget labels."""
    bodies: list[str] = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success"):
        bodies += [str(element.value) for element in at.get(kind)]
    for kind in ("expander", "button", "checkbox", "toggle", "selectbox", "multiselect", "text_input"):
        bodies += [str(getattr(element, "label", "")) for element in at.get(kind)]
    bodies += [str(bar.proto.text) for bar in at.get("progress")]
    return bodies


def _rendered(bodies: list[str]) -> str:
    return "\n".join(MARKDOWN.render(body) for body in bodies)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("page", "click", "shows"), PAGES)
def test_untrusted_text_is_shown_not_fetched_or_linked(
    hostile: None, signed_in: Callable[[str], AppTest], page: str, click: str | None, shows: bool
) -> None:
    at = signed_in("admin")
    at.switch_page(page)
    at.run()
    if click:
        at.button(key=click).click()
        at.run()
    assert not at.exception

    html = _rendered(_markdown_bodies(at))

    assert not shows or "198.51.100.7" in html, f"{page} no longer shows the stored text: {html}"
    assert "<img" not in html and "<a " not in html, html


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_hostile_name_is_there_to_read(hostile: None, signed_in: Callable[[str], AppTest]) -> None:
    """The escaping keeps the characters: the admin still sees what the name says."""
    at = signed_in("admin")
    at.switch_page("pages/health.py")
    at.run()

    shown = [MARKDOWN.render(body) for body in _markdown_bodies(at)]

    assert any("![p](http://198.51.100.7/pixel.png)" in body for body in shown), shown
