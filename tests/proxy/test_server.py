"""The proxy server reads its config through libyaml: the same documents, the same refusals."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
import yaml

from app.proxy.server import read_config_with_libyaml

CORPORA = Path(__file__).resolve().parents[1] / "generator"
CONFIGS = sorted([*CORPORA.glob("corpus/*.yaml"), *CORPORA.glob("corpus_real/*.yaml")])


@pytest.fixture
def proxy_server() -> types.ModuleType:
    """A stand-in for LiteLLM's proxy_server module: it only needs a `yaml` attribute to replace."""
    module = types.ModuleType("proxy_server_like")
    module.yaml = yaml  # type: ignore[attr-defined]
    read_config_with_libyaml(module)
    return module


def test_the_real_configs_load_exactly_as_pyyaml_safe_load_reads_them(proxy_server: types.ModuleType) -> None:
    assert len(CONFIGS) >= 30
    for path in CONFIGS:
        text = path.read_text()
        assert proxy_server.yaml.safe_load(text) == yaml.safe_load(text), path.name


def test_unsafe_tags_are_refused_and_the_rest_of_yaml_is_there(proxy_server: types.ModuleType) -> None:
    with pytest.raises(proxy_server.yaml.YAMLError):
        proxy_server.yaml.safe_load("x: !!python/object/apply:os.system ['true']\n")
    assert proxy_server.yaml.dump({"a": 1}) == "a: 1\n"
    assert yaml.safe_load is not proxy_server.yaml.safe_load  # PyYAML itself is left as it was
