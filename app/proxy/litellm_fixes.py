"""Fixes to LiteLLM that our proxy applies at start-up, each for a bug in the pinned release: one
that makes a usage row disagree with what the provider reported (tests/e2e/test_conformance.py
fails without it), and one that makes a large config boot in quadratic time
(tests/proxy/test_litellm_fixes.py). Remove one when LiteLLM ships its own fix.
"""

from __future__ import annotations

import functools
from typing import Any


def read_cohere_v2_stream_usage() -> None:
    """Cohere's v2 chat stream ends with `{"type": "message-end", "delta": {"usage": ...}}`, but
    LiteLLM 1.106's parser looks for `{"event": "message-end", "data": {"delta": ...}}`, so it never
    reads the billed tokens and the row gets LiteLLM's own estimate."""
    from litellm.llms.cohere.common_utils import CohereV2ModelResponseIterator

    parse = CohereV2ModelResponseIterator.chunk_parser
    if getattr(parse, "llm_admin_fix", False):
        return

    @functools.wraps(parse)
    def chunk_parser(self: Any, chunk: dict[str, Any]) -> Any:
        if chunk.get("type") == "message-end" and "event" not in chunk:
            chunk = {**chunk, "event": "message-end", "data": {"delta": chunk.get("delta") or {}}}
        return parse(self, chunk)

    chunk_parser.llm_admin_fix = True  # type: ignore[attr-defined]
    CohereV2ModelResponseIterator.chunk_parser = chunk_parser  # type: ignore[method-assign]


class IndexedCostMap(dict):  # type: ignore[type-arg]
    """`litellm.model_cost` keeping its own lowercase index up to date as keys come and go.

    LiteLLM 1.106 drops its case-insensitive index of the cost map on every `register_model` and
    rebuilds it, lowering every key, at the next lookup that misses: once per deployment as the
    router registers each one's prices, so booting N deployments costs N × (2,500 + N) `lower()`
    calls (10,000 deployments: minutes per worker). Kept here, the index is current at any moment
    and "rebuilding" it is free. Same result as LiteLLM's `{k.lower(): k for k in model_cost}`:
    of keys equal but for case, the one inserted last wins."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lower_index = {key.lower(): key for key in self if isinstance(key, str)}

    def __setitem__(self, key: Any, value: Any) -> None:
        new = key not in self
        super().__setitem__(key, value)
        if new and isinstance(key, str):
            self.lower_index[key.lower()] = key

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __ior__(self, other: Any) -> IndexedCostMap:  # type: ignore[override,misc]
        self.update(other)
        return self

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._forget(key)

    def pop(self, key: Any, *default: Any) -> Any:
        present = key in self
        value = super().pop(key, *default)
        if present:
            self._forget(key)
        return value

    def popitem(self) -> tuple[Any, Any]:
        key, value = super().popitem()
        self._forget(key)
        return key, value

    def clear(self) -> None:
        super().clear()
        self.lower_index.clear()

    def _forget(self, key: Any) -> None:
        if not isinstance(key, str):
            return
        lower = key.lower()
        if self.lower_index.get(lower) != key:
            return
        del self.lower_index[lower]
        for other in reversed(self):  # another key of the same lowercase takes its place (rare)
            if isinstance(other, str) and other.lower() == lower:
                self.lower_index[lower] = other
                break


def index_model_cost_incrementally() -> None:
    """Install IndexedCostMap as litellm.model_cost, and make LiteLLM's index rebuild read it."""
    import litellm
    from litellm import utils

    rebuild = utils._rebuild_model_cost_lowercase_map
    if getattr(rebuild, "llm_admin_fix", False):
        return
    if not isinstance(litellm.model_cost, IndexedCostMap):
        litellm.model_cost = IndexedCostMap(litellm.model_cost)

    @functools.wraps(rebuild)
    def rebuilt() -> dict[str, str]:
        cost = litellm.model_cost
        if not isinstance(cost, IndexedCostMap):  # a cost map LiteLLM swapped in later: its own way
            return rebuild()
        utils._model_cost_lowercase_map = cost.lower_index
        return cost.lower_index

    rebuilt.llm_admin_fix = True  # type: ignore[attr-defined]
    utils._rebuild_model_cost_lowercase_map = rebuilt


def apply() -> None:
    read_cohere_v2_stream_usage()
    index_model_cost_incrementally()
