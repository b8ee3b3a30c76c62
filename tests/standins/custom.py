"""Stand-in for a generic OpenAI-compatible endpoint (vLLM, llama.cpp server, TGI, a gateway...).

"OpenAI-compatible" means the OpenAI REST wire format, so this reuses the OpenAI stand-in's core
(`tests.standins.openai.OpenAIStyleStandIn`): /v1/models, /v1/chat/completions (JSON and SSE with
`data: [DONE]`, usage chunk only on stream_options.include_usage), /v1/embeddings (float or
base64), Bearer auth, OpenAI error bodies. References: see tests/standins/openai.py (openai/openai-python
types, openai/openai-openapi spec). The organization header is not enforced here: a generic
server has no organizations. `api_key=None` stands for a server started without a key.
"""

from __future__ import annotations

from tests.standins.base import Case
from tests.standins.openai import OpenAIStyleStandIn

CUSTOM_KEY = "custom-standin-token-7f3a"
CHAT_MODEL = "Qwen/Qwen2.5-7B-Instruct"
EMBED_MODEL = "BAAI/bge-small-en-v1.5"
MODELS = (CHAT_MODEL, EMBED_MODEL)


class CustomStandIn(OpenAIStyleStandIn):
    owned_by = "vllm"

    def __init__(
        self, api_key: str | None = CUSTOM_KEY, models: tuple[str, ...] | list[str] = MODELS
    ) -> None:
        super().__init__(api_key, models)


def case() -> Case:
    return Case(
        type="custom",
        base_url="{url}/v1",  # no catalog default; OpenAI-compatible servers serve under /v1
        secrets={"api_key": CUSTOM_KEY},
        chat_model=CHAT_MODEL,
        embedding_model=EMBED_MODEL,
        listed_models=tuple(sorted(MODELS)),
    )
