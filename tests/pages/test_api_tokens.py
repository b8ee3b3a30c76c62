"""Users page, API tokens: an admin creates one for a user (shown once), lists and revokes it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from app import db
from app.services import api_tokens, users
from app.services.access import Actor
from tests.pages.helpers import inline_error


def _open(signed_in: Callable[[str], AppTest]) -> AppTest:
    at = signed_in("admin")
    at.switch_page("pages/users.py")
    return at.run()


def _acts_as(token: str) -> Actor | str:
    with db.Session.begin() as session:
        return api_tokens.authenticate(session, token)


def _everything_shown(at: AppTest) -> str:
    """Every value the page sent, as text (code blocks, tables, messages)."""
    parts = [str(e.value) for e in (*at.code, *at.success, *at.warning, *at.markdown, *at.caption)]
    parts += [at.dataframe[i].value.to_csv() for i in range(len(at.dataframe))]
    return "\n".join(parts)


def _create(at: AppTest, username: str, name: str) -> AppTest:
    with db.Session.begin() as session:
        user = users.find_user(session, username=username)
        assert user is not None
        at.selectbox(key="tokens_new_user").set_value(user.id)
    at.text_input(key="tokens_new_name").input(name)
    at.button(key="tokens_add").click()
    return at.run()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_a_token_made_on_the_page_acts_as_its_user_and_is_shown_once(
    signed_in: Callable[[str], AppTest],
) -> None:
    at = _create(_open(signed_in), "viewer", "ci-pipeline")
    assert not at.exception
    token = at.code[0].value
    assert token.startswith(api_tokens.TOKEN_PREFIX)
    assert "not shown again" in at.success[0].value
    assert _acts_as(token) == Actor("viewer", "viewer")
    table = at.dataframe[-1].value
    assert list(table["User"]) == ["viewer"] and list(table["Token"]) == [token[: api_tokens.VISIBLE] + "…"]
    at.run()  # any later run: the token is gone from the page
    assert token not in _everything_shown(at)
    assert token[: api_tokens.VISIBLE] in _everything_shown(at)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_token_without_a_name_is_refused_inline_and_nothing_is_made(
    signed_in: Callable[[str], AppTest],
) -> None:
    at = _create(_open(signed_in), "operator", "   ")
    assert not at.exception
    assert not at.code
    assert inline_error(at, "tokens_new_name")
    with db.Session.begin() as session:
        assert api_tokens.list_tokens(session, actor=Actor("admin", "admin")) == []


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_revoking_asks_first_and_then_the_token_is_refused(signed_in: Callable[[str], AppTest]) -> None:
    at = _create(_open(signed_in), "operator", "deploys")
    token = at.code[0].value
    at.button(key="tokens_revoke").click()
    at.run()
    assert "Revoke" in at.warning[0].value
    assert _acts_as(token) == Actor("operator", "operator")  # asked, not yet done
    at.button(key="tokens_revoke_confirm").click()
    at.run()
    assert not at.exception
    refused = _acts_as(token)
    assert isinstance(refused, str) and "revoked" in refused
    assert "revoked" in at.success[0].value
    assert list(at.dataframe[-1].value["State"]) == ["revoked"]
