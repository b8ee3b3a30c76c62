"""`llm-admin route ...` in-process against a real database, as the README shows it."""

from __future__ import annotations

from tests.test_cli import Run, _add_provider, llm_admin  # noqa: F401 - llm_admin is a fixture


def _rows(llm_admin: Run) -> None:  # noqa: F811
    for name in ("Azure EU", "OpenAI Prod"):
        assert _add_provider(llm_admin, name).code == 0
        assert (
            llm_admin(
                *("model", "add", "--provider", name, "--model", "gpt-4o-mini", "--enable"),
            ).code
            == 0
        )
    assert _add_provider(llm_admin, "Anthropic").code == 0
    llm_admin(
        "model",
        "add",
        "--provider",
        "Anthropic",
        "--model",
        "claude-3-5-haiku-20241022",
        "--alias",
        "claude-haiku",
        *("--input-cost-per-1m", "1", "--output-cost-per-1m", "5"),
        "--enable",
    )


def test_route_add_list_remove_as_the_readme_shows(llm_admin: Run) -> None:  # noqa: F811
    _rows(llm_admin)

    added = llm_admin(
        *("route", "add", "--agent", "summarizer", "--model", "gpt-4o-mini", "--fallback", "claude-haiku"),
        *("--max-cost-usd", "0.05"),
    )
    weighted = llm_admin(
        *("route", "add", "--agent", "chat", "--model", "gpt-4o-mini"),
        *("--weight", "gpt-4o-mini@Azure EU=3", "--weight", "gpt-4o-mini@OpenAI Prod=1"),
    )
    defaults = llm_admin("route", "defaults", "--fallback", "gpt-4o-mini")
    listed = llm_admin("route", "list")

    assert (added.code, weighted.code, defaults.code) == (0, 0, 0), added.err + weighted.err + defaults.err
    assert added.out == "route agent/summarizer saved; `llm-admin config apply` puts it live\n"
    assert "agent/summarizer  gpt-4o-mini → claude-haiku  $0.05" in listed.out
    assert "default fallbacks (any other model): gpt-4o-mini" in listed.out
    rendered = llm_admin("config", "render").out
    assert "weight: 3.0" in rendered and "weight: 1.0" in rendered

    assert llm_admin("route", "remove", "chat").code == 0
    assert "agent/chat" not in llm_admin("route", "list").out


def test_a_bad_route_names_the_field_and_changes_nothing(llm_admin: Run) -> None:  # noqa: F811
    _rows(llm_admin)

    bad = llm_admin("route", "add", "--agent", "x", "--model", "gpt-4o-mini", "--fallback", "nope")
    weight = llm_admin("route", "add", "--agent", "x", "--model", "gpt-4o-mini", "--weight", "gpt-4o-mini=2")

    assert bad.code == 1 and bad.err.startswith("error: fallbacks: model 'nope' is unknown or disabled")
    assert weight.code == 1 and "weights: 'gpt-4o-mini=2' is not ALIAS@PROVIDER=WEIGHT" in weight.err
    assert "agent/x" not in llm_admin("route", "list").out
