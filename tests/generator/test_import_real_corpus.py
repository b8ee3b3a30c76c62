"""Real public LiteLLM configs (tests/generator/corpus_real/, each naming its source) imported and
rendered back: the same config for LiteLLM, and LiteLLM's own checks pass on the rendered file."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any

import litellm
import pytest
import yaml

from app import db
from app.services import config
from app.services.access import Actor
from app.services.config import ConfigInvalid
from app.settings import Settings
from generator import validate
from tests.generator.test_import_roundtrip import (  # noqa: F401 - fixtures
    _import,
    _render,
    _reveal,
    ring,
    semantic,
    semantic_differences,
    settings,
)

REAL_DIR = Path(__file__).parent / "corpus_real"
REAL = sorted(REAL_DIR.glob("*.yaml"))
SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
# files llm-admin refuses on purpose, with the start of the reason it gives (the deployment or field
# and the fix are named in it)
REFUSED = {
    "r18_reject_metadata_tags_config": "general_settings.database_url is a plain-text secret llm-admin "
    "cannot store encrypted; make it database_url: os.environ/NAME",
    "r27_ollama_cloud_key": "model_list[0] (claude-3-5-sonnet-20241022): api_key on a ollama_chat/ "
    "deployment: llm-admin's ollama type stores no api_key; make it api_key: os.environ/NAME",
}


def litellm_accepts(config: dict[str, Any]) -> list[str]:
    """LiteLLM's own checks, in-process: every deployment routes, and its Router loads the model_list."""
    problems = validate.litellm_problems(config)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydantic's notes on LiteLLM's own types
            litellm.Router(model_list=config.get("model_list") or [])
    except Exception as exc:
        problems.append(f"litellm.Router refused the model_list: {type(exc).__name__}: {str(exc)[:300]}")
    callbacks = (config.get("litellm_settings") or {}).get("callbacks")
    if callbacks is not None and not isinstance(callbacks, list):
        problems.append(f"litellm_settings.callbacks is {type(callbacks).__name__}, not a list")
    return problems


def test_the_real_corpus_names_its_sources() -> None:
    assert len(REAL) >= 30
    for path in REAL:
        assert path.read_text().startswith("# source: "), path.name


@SQLITE
@pytest.mark.parametrize("path", REAL, ids=[p.stem for p in REAL])
def test_a_real_config_round_trips_and_litellm_accepts_the_render(
    path: Path,
    settings: Settings,  # noqa: F811 - the fixture imported above
    ring: Any,  # noqa: F811
    admin: Actor,
) -> None:
    text = path.read_text()
    original = yaml.safe_load(text) or {}
    original.setdefault("model_list", [])
    if path.stem in REFUSED:
        with pytest.raises(ConfigInvalid) as refused:
            _import(text, admin=admin, ring=ring)
        assert refused.value.problems[0].startswith(REFUSED[path.stem])
        return
    report = _import(text, admin=admin, ring=ring)
    if not original["model_list"]:  # accepted; an apply then asks for a model to serve
        assert report.models == 0
        with db.Session.begin() as session:
            plan = config.plan(session, settings=settings, ring=ring, environ={}, author="test")
        assert plan.problems == ["model_list: no enabled models; enable a model of an enabled provider"]
        return
    rendered = _render(settings, ring, original)
    differences = semantic_differences(semantic(original), semantic(rendered, reveal=_reveal(ring)))
    assert not differences, f"{path.name} did not survive the round trip:\n" + "\n".join(differences)
    unroutable = validate.litellm_problems(original)
    if unroutable:  # what LiteLLM could not route in the original it cannot route rendered either
        assert len(validate.litellm_problems(rendered)) == len(unroutable)
    else:
        assert litellm_accepts(rendered) == []
