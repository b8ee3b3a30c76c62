"""Untrusted text shown through markdown stays text: no image, link, HTML or emoji is produced."""

from __future__ import annotations

from markdown_it import MarkdownIt

from app import ui

HOSTILE = "![t](http://198.51.100.7/x.png) [click](http://x) <img src=x> **bold** :smile: $x$"


def test_hostile_text_renders_as_its_literal_characters() -> None:
    html = MarkdownIt("commonmark", {"html": True}).render(ui.text(HOSTILE))

    assert "<img" not in html and "<a " not in html and "<strong>" not in html
    assert html.strip() == f"<p>{HOSTILE.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</p>"
