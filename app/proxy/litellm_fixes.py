"""Fixes to LiteLLM's provider code that our proxy applies at start-up, each for a bug in the pinned
release that makes a usage row disagree with what the provider reported. Remove one when LiteLLM
ships its own fix (tests/e2e/test_conformance.py fails without it).
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


def apply() -> None:
    read_cohere_v2_stream_usage()
