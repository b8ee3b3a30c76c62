"""The LiteLLM fix that keeps a large config's boot linear: litellm.model_cost keeps its lowercase
index itself (app.proxy.litellm_fixes.IndexedCostMap), so registering each deployment's prices no
longer makes the next lookup lower every key of the cost map again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.proxy.litellm_fixes import IndexedCostMap

ROOT = Path(__file__).resolve().parents[2]
KEYS = st.sampled_from(["gpt-4o", "GPT-4o", "Gpt-4O", "openai/fake", "OpenAI/Fake", "claude", "x"])
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), KEYS),
        st.tuples(st.just("setdefault"), KEYS),
        st.tuples(st.just("update"), KEYS),
        st.tuples(st.just("ior"), KEYS),
        st.tuples(st.just("pop"), KEYS),
        st.tuples(st.just("del"), KEYS),
        st.tuples(st.just("popitem"), KEYS),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(start=st.lists(KEYS, max_size=5), operations=OPERATIONS)
def test_the_index_is_what_litellm_would_rebuild_after_any_change(
    start: list[str], operations: list[Any]
) -> None:
    indexed = IndexedCostMap({key: {"n": 0} for key in start})
    for n, (operation, key) in enumerate(operations, 1):
        if operation == "set":
            indexed[key] = {"n": n}
        elif operation == "setdefault":
            indexed.setdefault(key, {}).update({"n": n})  # as register_model does
        elif operation == "update":
            indexed.update({key: {"n": n}})
        elif operation == "ior":
            indexed |= {key: {"n": n}}
        elif operation == "pop":
            indexed.pop(key, None)
        elif operation == "del" and key in indexed:
            del indexed[key]
        elif operation == "popitem" and indexed:
            indexed.popitem()
        assert indexed.lower_index == {k.lower(): k for k in indexed}  # LiteLLM's own rebuild


BOOT = """
import json, logging, os, sys
import litellm
from litellm import Router, utils
logging.getLogger("LiteLLM").setLevel(logging.ERROR)
full_rebuilds = 0
original = utils._rebuild_model_cost_lowercase_map
def counting():
    global full_rebuilds
    full_rebuilds += 1
    return original()
utils._rebuild_model_cost_lowercase_map = counting
if sys.argv[1] == "fixed":
    from app.proxy import litellm_fixes
    litellm_fixes.apply()
n = int(sys.argv[2])
Router(model_list=[
    {"model_name": f"m-{i}", "litellm_params": {"model": f"openai/Fake-Model-{i}",
     "api_base": "http://127.0.0.1:9/v1", "api_key": "sk-x"},
     "model_info": {"id": f"id-{i}", "input_cost_per_token": (i + 1) * 1e-7, "output_cost_per_token": 2e-6}}
    for i in range(n)
])
prices = {str(i): litellm.get_model_info(f"id-{i}")["input_cost_per_token"] for i in range(n)}
print(json.dumps({"full_rebuilds": full_rebuilds, "prices": prices,
                  "found": utils.get_model_cost_key("ID-7")}))
"""


def _boot(mode: str, deployments: int) -> dict[str, Any]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", BOOT, mode, str(deployments)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_router_of_many_deployments_no_longer_rebuilds_the_index_per_deployment() -> None:
    stock, fixed = _boot("stock", 300), _boot("fixed", 300)
    assert stock["full_rebuilds"] >= 300  # what made 10,000 deployments boot for minutes
    assert fixed["full_rebuilds"] == 0
    # the same prices registered, and the same case-insensitive lookups answered
    assert fixed["prices"] == stock["prices"] and fixed["prices"]["7"] == 8e-7
    assert fixed["found"] == stock["found"] == "id-7"  # a case-insensitive lookup
