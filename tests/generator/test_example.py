"""litellm-config.yaml.example is exactly what the generator renders for the tests' fixture rows."""

from __future__ import annotations

from pathlib import Path

from tests.generator.fixtures import render_fixture

EXAMPLE = Path(__file__).resolve().parents[2] / "litellm-config.yaml.example"


def test_example_file_equals_the_rendered_fixture_rows() -> None:
    assert EXAMPLE.read_text() == render_fixture(), (
        "litellm-config.yaml.example is stale; regenerate it from the repository root with "
        "`python -m tests.generator.fixtures > litellm-config.yaml.example`"
    )
