"""render_config: deterministic YAML with a header, loadable back to the same dict."""

from __future__ import annotations

import dataclasses
import math
import random
from datetime import UTC, date, datetime, timedelta, timezone

import yaml

from generator import build, render
from tests.generator.fixtures import FIXTURE_AT, FIXTURE_AUTHOR, fixture_input, render_fixture
from tests.generator.yaml_checks import same_data, style_problems


def _render(rows: build.ConfigInput, revision: int = 1) -> str:
    config = build.build_config(rows, revision=revision)
    return render.render_config(config, revision=revision, author=FIXTURE_AUTHOR, at=FIXTURE_AT)


def test_same_input_renders_byte_identical_text() -> None:
    assert _render(fixture_input()).encode() == _render(fixture_input()).encode()


def test_row_order_does_not_change_the_text() -> None:
    rows = fixture_input()
    expected = _render(rows)
    shuffler = random.Random(7)
    for _ in range(20):
        providers, models = list(rows.providers), list(rows.models)
        shuffler.shuffle(providers)
        shuffler.shuffle(models)
        shuffled = dataclasses.replace(rows, providers=tuple(providers), models=tuple(models))
        assert _render(shuffled) == expected


def test_dict_insertion_order_does_not_change_the_text() -> None:
    config = build.build_config(fixture_input(), revision=1)
    reversed_config = {k: config[k] for k in reversed(list(config))}
    reversed_config["general_settings"] = dict(reversed(list(config["general_settings"].items())))
    assert render.render_body(reversed_config) == render.render_body(config)


def test_header_names_revision_time_and_author() -> None:
    text = render.render_config(
        {"model_list": []}, revision=17, author="bob", at=datetime(2025, 3, 4, 5, 6, 7)
    )
    lines = text.splitlines()
    assert "# revision: 17" in lines
    assert "# generated: 2025-03-04T05:06:07Z by bob" in lines
    assert all(line.startswith("#") for line in lines[:5])


def test_text_loads_back_to_the_built_config() -> None:
    config = build.build_config(fixture_input(), revision=1)
    assert yaml.safe_load(render_fixture()) == config


def test_sections_and_deployment_keys_come_in_litellm_reading_order() -> None:
    config = build.build_config(fixture_input(), revision=1)
    config["environment_variables"] = {"X": "1"}
    config["callback_settings"] = {"y": 2}
    loaded = yaml.safe_load(render.render_body(config))
    assert list(loaded) == [
        "model_list",
        "router_settings",
        "litellm_settings",
        "general_settings",
        "callback_settings",
        "environment_variables",
    ]
    assert [list(d)[:3] for d in loaded["model_list"]] == [
        ["model_name", "litellm_params", "model_info"]
    ] * 12


def test_a_dict_shared_between_deployments_is_written_out_twice_not_as_an_anchor() -> None:
    shared = {"X-Team": "ml"}
    config = {
        "model_list": [
            {"model_name": "a", "litellm_params": {"model": "openai/a", "extra_headers": shared}},
            {"model_name": "b", "litellm_params": {"model": "openai/b", "extra_headers": shared}},
        ]
    }
    text = render.render_body(config)
    assert "&id" not in text and "*id" not in text
    assert text.count("X-Team: ml") == 2


def test_strings_that_look_like_other_types_stay_strings() -> None:
    config = {"model_list": [], "litellm_settings": {"a": "2024-10-21", "b": "yes", "c": "null", "d": "1e3"}}
    assert yaml.safe_load(render.render_body(config)) == config


def test_non_ascii_text_is_written_readably() -> None:
    config = {"model_list": [{"model_name": "résumé-模型", "litellm_params": {"model": "openai/x"}}]}
    text = render.render_body(config)
    assert "résumé-模型" in text
    assert yaml.safe_load(text) == config


def test_header_time_is_utc_formatted() -> None:
    assert (
        render.header(revision=1, author="a", at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)).count(
            "2025-01-02T03:04:05Z"
        )
        == 1
    )


def test_an_aware_time_in_another_zone_is_shown_in_utc() -> None:
    at = datetime(2025, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert "# generated: 2025-01-02T03:04:05Z by a" in render.header(revision=1, author="a", at=at)


def test_a_next_line_character_in_a_value_survives_the_round_trip() -> None:
    # U+0085 written raw would be read back as a line break and silently change the header's value
    config = {"model_list": [{"model_name": "a", "litellm_params": {"extra_headers": {"X-Team": "a\x85b"}}}]}
    assert yaml.safe_load(render.render_body(config)) == config


AWKWARD: dict = {
    "model_list": [
        {
            "model_name": "odd",
            "litellm_params": {
                "model": "openai/x",
                "strings": [
                    "",
                    " lead",
                    "trail ",
                    "a: b",
                    "#x",
                    "- x",
                    "yes",
                    "null",
                    "~",
                    "1e3",
                    "0x1F",
                    "=",
                    "<<",
                ],
                "more": [
                    "2024-10-21",
                    "multi\nline\n",
                    "tab\there",
                    "é模型",
                    "\x85",
                    "\u2028",
                    "a'b\"c",
                    "x " * 700,
                ],
                "k" * 200: "a long key",
                "numbers": [0, -1, 10**30, 1.5, 1e17, -0.0, math.inf, -math.inf, math.nan, True, False, None],
                "nested": [[1, [2]], [], {}, [{"a": {"b": []}}]],
                "date": date(2025, 1, 2),
                "when": datetime(2025, 1, 2, 3, 4, 5),
                "raw": b"\x00\x01binary",
                3: "int key",
            },
        }
    ],
    "litellm_settings": {"empty": {}, "empty_list": [], "nested_empty": [[], {}]},
}


# Text an admin could paste anywhere: control characters, invisible and non-BMP characters, YAML syntax.
AWKWARD_TEXT = [
    "\x00",
    "\x07bell",
    "\x1b[31mred",
    "\x7f",
    "\x9f",
    "a\x85b",
    "\ufeffbom",
    "\u2029",
    "\r",
    "a\r\nb",
    "\n",
    " \n ",
    "\u00a0",
    "\ufffe",
    "\U0010ffff",
    "rocket 🚀",
    "🚀",
    "? x",
    "%x",
    "@x",
    "`x",
    "!x",
    "&x",
    "*x",
    "|",
    ">",
    "\\",
]


def _awkward_deployment(index: int, value: str) -> dict:
    return {
        "model_name": value,
        "litellm_params": {
            "model": f"openai/{value}",
            value or "empty": value,
            "extra_headers": {"X": value},
        },
        "model_info": {"id": f"d{index}", value + "k" * 300: ["v" * 5000, value]},
    }


def test_awkward_values_load_back_exactly() -> None:
    """safe_load(render_body(x)) is x: same keys, same values, same types (NaN aside, which is NaN)."""
    awkward_text = {
        "model_list": [_awkward_deployment(i, v) for i, v in enumerate(AWKWARD_TEXT)],
        "litellm_settings": {v + "-key": v for v in AWKWARD_TEXT},
    }
    fixture_config = build.build_config(fixture_input(), revision=1)
    for config in (
        fixture_config,
        AWKWARD,
        awkward_text,
        {"model_list": [{"model_name": "rocket 🚀", "": 1}]},
    ):
        text = render.render_body(config)
        assert same_data(yaml.safe_load(text), config), text
        assert style_problems(text) == []


def test_the_same_awkward_input_gives_the_same_bytes_whatever_its_key_order() -> None:
    def reversed_keys(value: object) -> object:
        if isinstance(value, dict):
            return {k: reversed_keys(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reversed_keys(v) for v in value]
        return value

    text = render.render_body(AWKWARD).encode()
    assert render.render_body(AWKWARD).encode() == text
    assert render.render_body(reversed_keys(AWKWARD)).encode() == text  # type: ignore[arg-type]
    assert render.render_body(yaml.safe_load(text)).encode() == text  # rendering is a fixed point


def test_keys_are_sorted_at_every_depth_below_the_fixed_orders() -> None:
    config = {
        "model_list": [
            {"model_name": "m", "litellm_params": {"model": "openai/m", "b": 1, "a": {"z": 1, "y": 2}}}
        ]
    }
    loaded = yaml.safe_load(render.render_body(config))
    assert list(loaded["model_list"][0]["litellm_params"]) == ["a", "b", "model"]
    assert list(loaded["model_list"][0]["litellm_params"]["a"]) == ["y", "z"]


def test_a_number_key_and_its_text_twin_come_in_one_order() -> None:
    one = render.render_body({"model_list": [], "x": {3: "int", "3": "str"}})
    assert render.render_body({"model_list": [], "x": {"3": "str", 3: "int"}}) == one
    assert same_data(yaml.safe_load(one)["x"], {3: "int", "3": "str"})


def test_text_is_block_style_with_no_anchor_alias_or_document_marker() -> None:
    shared = {"X-Team": "ml", "tags": ["a", "b"]}
    shared_list = [{"k": 1}]
    config = build.build_config(fixture_input(), revision=1)
    for deployment in config["model_list"]:
        deployment["litellm_params"]["extra_headers"] = shared
        deployment["model_info"]["shared_list"] = shared_list
    config["litellm_settings"]["same"] = shared
    text = render.render_body(config)
    assert style_problems(text) == []
    assert text.count("X-Team: ml") == len(config["model_list"]) + 1
    assert "&" not in text and "*" not in text


def test_the_check_itself_sees_flow_style_anchors_and_aliases() -> None:
    assert style_problems("a: {b: 1}\nc: []\nd: &x [1]\ne: *x\n") == [
        "flow-style collection at line 1",
        "anchor &x",
        "flow-style collection at line 3",
        "alias *x",
    ]


def test_rendering_uses_libyamls_emitter() -> None:
    assert yaml.__with_libyaml__
    assert render._Dumper is yaml.CSafeDumper


def test_a_line_break_in_the_author_cannot_start_yaml() -> None:
    text = render.header(revision=1, author="mallory\nmodel_list: []\u2028x", at=datetime(2025, 1, 1))
    assert all(line.startswith("#") for line in text.splitlines())
    assert "# generated: 2025-01-01T00:00:00Z by mallory model_list: [] x" in text.splitlines()
