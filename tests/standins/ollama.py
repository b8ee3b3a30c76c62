"""Ollama stand-in: the Ollama server's native REST API (default http://localhost:11434).

What it speaks:

* ``GET  /``                -> ``Ollama is running`` (text/plain), what a real server answers.
* ``GET  /api/version``     -> ``{"version": ...}``.
* ``GET  /api/tags``        -> ``{"models": [{name, model, modified_at, size, digest, details: {parent_model,
  format, family, families, parameter_size, quantization_level}}]}`` (names carry their tag, ``:latest``
  when the constructor is given a bare name).
* ``POST /api/chat``        -> streaming by default: ``application/x-ndjson``, one object a line
  ``{model, created_at, message: {role: "assistant", content}, done: false}``, then a final
  ``done: true`` object with ``done_reason``, ``total_duration``, ``load_duration``,
  ``prompt_eval_count``, ``prompt_eval_duration``, ``eval_count``, ``eval_duration``;
  ``"stream": false`` -> the single final object carrying the whole message.
* ``POST /api/generate``    -> the same with ``response`` instead of ``message`` (and ``context``).
* ``POST /api/embed``       -> ``{model, embeddings: [[...] per input], total_duration, load_duration,
  prompt_eval_count}``; ``input`` is a string or a list of strings.
* ``POST /api/embeddings``  -> (superseded) ``{"embedding": [...]}`` for ``{"model", "prompt"}``; no usage.
* Model names follow ``model:tag``; a bare name means ``:latest``. An unknown model -> 404
  ``{"error": "model \\"x\\" not found, try pulling it first"}``; a bad body -> 400 ``{"error": ...}``.
* Unknown path -> 404 ``404 page not found`` (text/plain): the HTTP router's own answer, not a JSON error.
* No authentication: every request is ``authorized`` (headers are still recorded in ``seen``).

References used:
* Ollama API reference, docs/api.md in ollama/ollama (Generate a completion, Generate a chat completion,
  List Local Models, Generate Embeddings /api/embed, Generate Embedding /api/embeddings, Conventions:
  model names, durations in nanoseconds, streaming responses / ``{"stream": false}``):
  https://github.com/ollama/ollama/blob/main/docs/api.md
* Ollama docs, Errors (``{"error": "..."}``, 400/404/429/500/502, mid-stream errors as an NDJSON line,
  ``application/x-ndjson``): https://docs.ollama.com/api/errors
"""

from __future__ import annotations

import json
from typing import Any

from tests.standins.base import (
    COMPLETION_TOKENS,
    EMBEDDING,
    EMBEDDING_TOKENS,
    PROMPT_TOKENS,
    REPLY,
    Case,
    Request,
    Response,
    StandIn,
    ndjson,
)

CHAT_MODEL = "llama3.1"
EMBED_MODEL = "nomic-embed-text"
MODELS = ("llama3.1:latest", "nomic-embed-text:latest")
VERSION = "0.6.2"
CREATED_AT = "2024-08-04T19:22:45.499127Z"

_PIECES = ["hello", " from", " the", " stand-in"]
assert "".join(_PIECES) == REPLY

# Durations are nanoseconds (docs: Conventions / Durations).
_TIMINGS = {
    "total_duration": 4883583458,
    "load_duration": 1334875,
    "prompt_eval_duration": 342546000,
    "eval_duration": 4535599000,
}


def _tagged(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


class OllamaStandIn(StandIn):
    def __init__(self, models: tuple[str, ...] = MODELS) -> None:
        super().__init__()
        self.models = tuple(_tagged(m) for m in models)

    @staticmethod
    def _error(status: int, message: str) -> Response:
        return Response(status, {"error": message})

    def _resolve(self, model: Any) -> str | None:
        if not isinstance(model, str) or not model:
            return None
        tagged = _tagged(model)
        return tagged if tagged in self.models else None

    def _missing(self, model: Any) -> Response:
        if not isinstance(model, str) or not model:
            return self._error(400, "model is required")
        return self._error(404, f'model "{model}" not found, try pulling it first')

    def handle(self, request: Request) -> Response:
        request.authorized = True  # Ollama has no authentication
        path = request.path
        routes = {
            ("GET", "/"): ("root", self._root),
            ("GET", "/api/version"): ("version", self._version),
            ("GET", "/api/tags"): ("models", self._tags),
            ("POST", "/api/chat"): ("chat", self._chat),
            ("POST", "/api/generate"): ("generate", self._generate),
            ("POST", "/api/embed"): ("embed", self._embed),
            ("POST", "/api/embeddings"): ("embed", self._embeddings_old),
        }
        route = routes.get((request.method, path))
        if route is None:
            request.kind = "unknown"
            return Response(404, b"404 page not found", content_type="text/plain")
        request.kind = route[0]
        body: Any = {}
        if request.method == "POST":
            if not request.raw:
                return self._error(400, "missing request body")
            try:
                body = json.loads(request.raw)
            except json.JSONDecodeError as exc:
                return self._error(400, str(exc))
            if not isinstance(body, dict):
                return self._error(400, "json: cannot unmarshal into Go value of type api.Request")
        return route[1](request, body)

    # -- simple ------------------------------------------------------------------------------------

    def _root(self, _request: Request, _body: Any) -> Response:
        return Response(200, b"Ollama is running", content_type="text/plain; charset=utf-8")

    def _version(self, _request: Request, _body: Any) -> Response:
        return Response(200, {"version": VERSION})

    def _tags(self, _request: Request, _body: Any) -> Response:
        models = []
        for i, name in enumerate(self.models):
            family = "nomic-bert" if name.startswith("nomic") else "llama"
            models.append(
                {
                    "name": name,
                    "model": name,
                    "modified_at": "2024-08-04T14:56:49.277302595-07:00",
                    "size": 4661224676 - i,
                    "digest": f"{i:02x}" * 32,
                    "details": {
                        "parent_model": "",
                        "format": "gguf",
                        "family": family,
                        "families": [family],
                        "parameter_size": "137M" if family == "nomic-bert" else "8.0B",
                        "quantization_level": "F16" if family == "nomic-bert" else "Q4_K_M",
                    },
                }
            )
        return Response(200, {"models": models})

    # -- chat / generate ---------------------------------------------------------------------------

    def _final_stats(self) -> dict[str, Any]:
        return {
            "total_duration": _TIMINGS["total_duration"],
            "load_duration": _TIMINGS["load_duration"],
            "prompt_eval_count": PROMPT_TOKENS,
            "prompt_eval_duration": _TIMINGS["prompt_eval_duration"],
            "eval_count": COMPLETION_TOKENS,
            "eval_duration": _TIMINGS["eval_duration"],
        }

    def _chat(self, request: Request, body: dict[str, Any]) -> Response:
        stream = body.get("stream", True) is not False  # streaming unless {"stream": false}
        request.kind = "stream" if stream else "chat"
        model = self._resolve(body.get("model"))
        if model is None:
            return self._missing(body.get("model"))
        messages = body.get("messages")
        if messages is not None and not isinstance(messages, list):
            return self._error(400, "messages must be a list")
        name = body["model"]
        if not stream:
            return Response(
                200,
                {
                    "model": name,
                    "created_at": CREATED_AT,
                    "message": {"role": "assistant", "content": REPLY},
                    "done_reason": "stop",
                    "done": True,
                    **self._final_stats(),
                },
            )
        events: list[dict[str, Any]] = [
            {
                "model": name,
                "created_at": CREATED_AT,
                "message": {"role": "assistant", "content": p},
                "done": False,
            }
            for p in _PIECES
        ]
        events.append(
            {
                "model": name,
                "created_at": CREATED_AT,
                "message": {"role": "assistant", "content": ""},
                "done_reason": "stop",
                "done": True,
                **self._final_stats(),
            }
        )
        return Response(200, chunks=ndjson(events), content_type="application/x-ndjson")

    def _generate(self, request: Request, body: dict[str, Any]) -> Response:
        stream = body.get("stream", True) is not False
        request.kind = "stream" if stream else "chat"
        model = self._resolve(body.get("model"))
        if model is None:
            return self._missing(body.get("model"))
        name = body["model"]
        final = {
            "model": name,
            "created_at": CREATED_AT,
            "response": REPLY if not stream else "",
            "done": True,
            "done_reason": "stop",
            "context": [1, 2, 3],
            **self._final_stats(),
        }
        if not stream:
            return Response(200, final)
        events: list[dict[str, Any]] = [
            {"model": name, "created_at": CREATED_AT, "response": p, "done": False} for p in _PIECES
        ]
        events.append(final)
        return Response(200, chunks=ndjson(events), content_type="application/x-ndjson")

    # -- embeddings --------------------------------------------------------------------------------

    def _embed(self, _request: Request, body: dict[str, Any]) -> Response:
        model = self._resolve(body.get("model"))
        if model is None:
            return self._missing(body.get("model"))
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            return self._error(400, "invalid input type")
        return Response(
            200,
            {
                "model": body["model"],
                "embeddings": [list(EMBEDDING) for _ in inputs],
                "total_duration": 14143917,
                "load_duration": 1019500,
                "prompt_eval_count": EMBEDDING_TOKENS,
            },
        )

    def _embeddings_old(self, _request: Request, body: dict[str, Any]) -> Response:
        model = self._resolve(body.get("model"))
        if model is None:
            return self._missing(body.get("model"))
        if not isinstance(body.get("prompt"), str):
            return self._error(400, "prompt is required")
        return Response(200, {"embedding": list(EMBEDDING)})


def case() -> Case:
    # The catalog's default base URL is the bare server address (http://localhost:11434).
    return Case(
        type="ollama",
        base_url="{url}",
        secrets={},
        chat_model=CHAT_MODEL,
        embedding_model=EMBED_MODEL,
        listed_models=tuple(sorted(MODELS)),
    )
