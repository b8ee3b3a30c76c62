"""Replicate stand-in: the Replicate HTTP API (https://api.replicate.com/v1).

What it speaks:

* ``POST /v1/models/{owner}/{name}/predictions`` (official models) and ``POST /v1/predictions`` (body
  ``version``: a 64-hex version id, ``owner/name`` or ``owner/name:version``) create a prediction from
  ``{"input": {...}, "stream"?, "webhook"?, ...}`` and answer 201 with the prediction object
  ``{id, model, version, input, logs, output, data_removed, error, status, created_at, urls: {cancel, get,
  stream, web}}``. Without ``Prefer: wait`` the prediction is ``starting`` (async mode); with
  ``Prefer: wait`` (or ``wait=<seconds>``) the request is held until the model finishes, so the answer is
  already ``succeeded`` (sync mode).
* ``GET /v1/predictions/{id}`` polls: the first poll of an async prediction finds it ``processing`` with
  part of the output, later polls ``succeeded``. A language model's ``output`` is a list of string
  pieces; a finished prediction carries ``metrics`` with ``predict_time``, ``total_time`` and, as
  official language models report, ``input_token_count`` / ``output_token_count`` (= base.PROMPT_TOKENS /
  base.COMPLETION_TOKENS), ``tokens_per_second``, ``time_to_first_token``.
* ``POST /v1/predictions/{id}/cancel``.
* ``GET urls.stream`` (hosted here as ``/v1/streams/{id}``): ``text/event-stream`` of ``event: output``
  (``data:`` one text piece), then ``event: done`` (``data: {}``); each event carries an ``id``.
* ``GET /v1/models`` -> ``{"next": null, "previous": null, "results": [model objects]}``;
  ``GET /v1/models/{owner}/{name}`` -> one model object.
* Auth: ``Authorization: Bearer <token>`` (the current docs) or ``Authorization: Token <token>`` (the
  older docs' scheme, still accepted). Missing -> 401 ``{"title": "Unauthenticated", "detail": "You did
  not pass an authentication token", "status": 401}``; wrong -> 401 with "You did not pass a valid
  authentication token".
* Errors are problem-details objects ``{title, detail, status}``; an unknown model or prediction -> 404;
  a language-model input without ``prompt`` -> 422. Replicate has no embeddings endpoint.

References used:
* Replicate HTTP API reference (predictions.create, models.predictions.create, predictions.get,
  predictions.cancel, models.list, models.get; authentication): https://replicate.com/docs/reference/http
* Replicate docs, Create a prediction (sync mode ``Prefer: wait``, async default, polling ``urls.get``):
  https://replicate.com/docs/topics/predictions/create-a-prediction
* Replicate docs, prediction metrics (``predict_time``, ``total_time``; official language models report
  ``input_token_count``, ``output_token_count``, ``tokens_per_second``, ``time_to_first_token``):
  https://replicate.com/docs/topics/predictions (Metrics)
* Official SDK replicate/replicate-python: replicate/prediction.py (prediction fields, status values
  starting/processing/succeeded/failed/canceled, ``urls``), replicate/stream.py (SSE event types
  output/logs/error/done, ``Accept: text/event-stream``, each event with an id).
* 401 body ``{"title":"Unauthenticated","detail":"You did not pass an authentication token","status":401}``
  as returned by api.replicate.com (quoted in replicate-python's tests and client docs).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from typing import Any

from tests.standins.base import COMPLETION_TOKENS, PROMPT_TOKENS, REPLY, Case, Request, Response, StandIn

API_TOKEN = "r8_standinTestToken0123456789abcdef"
CHAT_MODEL = "deepseek-ai/deepseek-v3"
MODELS = (CHAT_MODEL, "meta/meta-llama-3-8b-instruct")
CREATED_AT = "2025-01-01T00:00:00.000000Z"
STARTED_AT = "2025-01-01T00:00:00.500000Z"
COMPLETED_AT = "2025-01-01T00:00:01.500000Z"

_PIECES = ["hello", " from", " the", " stand-in"]
assert "".join(_PIECES) == REPLY

_VERSION_ID = re.compile(r"^[0-9a-f]{64}$")


def _version_of(model: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, model).hex * 2  # 64 hex digits, stable per model


class ReplicateStandIn(StandIn):
    def __init__(self, api_token: str = API_TOKEN, models: tuple[str, ...] = MODELS) -> None:
        super().__init__()
        self.api_token = api_token
        self.models = tuple(models)
        self._predictions: dict[str, dict[str, Any]] = {}
        self._polls: dict[str, int] = {}
        self._plock = threading.Lock()

    # -- helpers -----------------------------------------------------------------------------------

    @staticmethod
    def _problem(status: int, title: str, detail: str) -> Response:
        return Response(status, {"title": title, "detail": detail, "status": status})

    def _auth(self, request: Request) -> Response | None:
        value = (request.header("authorization") or "").strip()
        if not value:
            request.authorized = False
            return self._problem(401, "Unauthenticated", "You did not pass an authentication token")
        scheme, _, token = value.partition(" ")
        if scheme.lower() not in ("bearer", "token") or token.strip() != self.api_token:
            request.authorized = False
            return self._problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        request.authorized = True
        return None

    def _model_obj(self, name: str) -> dict[str, Any]:
        owner, _, short = name.partition("/")
        return {
            "url": f"https://replicate.com/{name}",
            "owner": owner,
            "name": short,
            "description": f"{name} (stand-in)",
            "visibility": "public",
            "github_url": None,
            "paper_url": None,
            "license_url": None,
            "run_count": 0,
            "cover_image_url": None,
            "default_example": None,
            "latest_version": {"id": _version_of(name), "created_at": CREATED_AT, "cog_version": "0.9.0"},
        }

    def _model_for_version(self, version: str) -> str | None:
        for name in self.models:
            if version == _version_of(name):
                return name
        return None

    def _prediction_view(self, pid: str, base: str) -> dict[str, Any]:
        p = self._predictions[pid]
        view = {
            "id": pid,
            "model": p["model"],
            "version": p["version"],
            "input": p["input"],
            "logs": "",
            "output": None,
            "data_removed": False,
            "error": None,
            "status": p["status"],
            "created_at": CREATED_AT,
            "urls": {
                "cancel": f"{base}/v1/predictions/{pid}/cancel",
                "get": f"{base}/v1/predictions/{pid}",
                "stream": f"{base}/v1/streams/{pid}",
                "web": f"https://replicate.com/p/{pid}",
            },
        }
        if p["status"] in ("processing", "succeeded", "canceled"):
            view["started_at"] = STARTED_AT
        if p["status"] == "processing":
            view["output"] = _PIECES[: len(_PIECES) // 2]
            view["logs"] = "Prompt processed.\n"
        if p["status"] == "succeeded":
            view["output"] = list(_PIECES)
            view["completed_at"] = COMPLETED_AT
            view["metrics"] = {
                "predict_time": 1.0,
                "total_time": 1.5,
                "input_token_count": PROMPT_TOKENS,
                "output_token_count": COMPLETION_TOKENS,
                "tokens_per_second": 19.0,
                "time_to_first_token": 0.25,
            }
        if p["status"] == "canceled":
            view["completed_at"] = COMPLETED_AT
        return view

    @staticmethod
    def _base(request: Request) -> str:
        return f"http://{request.header('host') or '127.0.0.1'}"

    # -- routing -----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        parts = [p for p in path.split("/") if p]
        m, n = request.method, len(parts)
        if n >= 1 and parts[0] == "v1":
            if m == "GET" and parts[1:] == ["models"]:
                return self._guarded(request, "models", self._list_models)
            if m == "GET" and n == 4 and parts[1] == "models":
                return self._guarded(
                    request, "models", lambda r: self._get_model(r, f"{parts[2]}/{parts[3]}")
                )
            if m == "POST" and n == 5 and parts[1] == "models" and parts[4] == "predictions":
                name = f"{parts[2]}/{parts[3]}"
                return self._guarded(request, "chat", lambda r: self._create(r, name, None))
            if m == "POST" and parts[1:] == ["predictions"]:
                return self._guarded(request, "chat", self._create_by_version)
            if m == "GET" and n == 3 and parts[1] == "predictions":
                return self._guarded(request, "poll", lambda r: self._get_prediction(r, parts[2]))
            if m == "POST" and n == 4 and parts[1] == "predictions" and parts[3] == "cancel":
                return self._guarded(request, "cancel", lambda r: self._cancel(r, parts[2]))
            if m == "GET" and n == 3 and parts[1] == "streams":
                return self._guarded(request, "stream", lambda r: self._stream(r, parts[2]))
        request.kind = "unknown"
        return self._problem(404, "Not found", "The requested resource could not be found.")

    def _guarded(self, request: Request, kind: str, fn: Any) -> Response:
        request.kind = kind
        denied = self._auth(request)
        if denied is not None:
            return denied
        return fn(request)

    # -- models ------------------------------------------------------------------------------------

    def _list_models(self, _request: Request) -> Response:
        return Response(
            200, {"next": None, "previous": None, "results": [self._model_obj(n) for n in self.models]}
        )

    def _get_model(self, _request: Request, name: str) -> Response:
        if name not in self.models:
            return self._problem(404, "Not found", f"Model {name} not found")
        return Response(200, self._model_obj(name))

    # -- predictions -------------------------------------------------------------------------------

    def _body(self, request: Request) -> dict[str, Any] | Response:
        try:
            body = json.loads(request.raw) if request.raw else {}
        except json.JSONDecodeError:
            return self._problem(400, "Bad request", "The request body is not valid JSON")
        if not isinstance(body, dict):
            return self._problem(400, "Bad request", "The request body must be a JSON object")
        return body

    def _create_by_version(self, request: Request) -> Response:
        body = self._body(request)
        if isinstance(body, Response):
            return body
        version = body.get("version")
        if not isinstance(version, str) or not version:
            return self._problem(422, "Invalid request", "- version: version is required")
        if _VERSION_ID.match(version):
            name = self._model_for_version(version)
            if name is None:
                return self._problem(422, "Invalid version or not permitted", f"Version {version} not found")
            return self._create(request, name, version, body)
        name, _, vid = version.partition(":")
        if vid and vid != _version_of(name):
            return self._problem(422, "Invalid version or not permitted", f"Version {vid} not found")
        return self._create(request, name, vid or None, body)

    def _create(
        self, request: Request, name: str, version: str | None, body: dict[str, Any] | None = None
    ) -> Response:
        if body is None:
            parsed = self._body(request)
            if isinstance(parsed, Response):
                return parsed
            body = parsed
        if name not in self.models:
            return self._problem(404, "Not found", f"Model {name} not found")
        inputs = body.get("input")
        if not isinstance(inputs, dict):
            return self._problem(422, "Input validation failed", "- input: input is required")
        if not isinstance(inputs.get("prompt"), str):
            return self._problem(422, "Input validation failed", "- input: prompt is required")
        if body.get("stream") is True:
            request.kind = "stream"
        prefer = (request.header("prefer") or "").lower()
        sync = prefer.startswith("wait")
        pid = uuid.uuid4().hex[:26]
        with self._plock:
            self._predictions[pid] = {
                "model": name,
                "version": version or "hidden",  # official models run without a public version id
                "input": inputs,
                "status": "succeeded" if sync else "starting",
            }
            self._polls[pid] = 0
            view = self._prediction_view(pid, self._base(request))
        return Response(201, view)

    def _get_prediction(self, request: Request, pid: str) -> Response:
        with self._plock:
            p = self._predictions.get(pid)
            if p is None:
                return self._problem(404, "Not found", f"Prediction {pid} not found")
            if p["status"] in ("starting", "processing"):
                self._polls[pid] += 1
                p["status"] = "processing" if self._polls[pid] == 1 else "succeeded"
            view = self._prediction_view(pid, self._base(request))
        return Response(200, view)

    def _cancel(self, request: Request, pid: str) -> Response:
        with self._plock:
            p = self._predictions.get(pid)
            if p is None:
                return self._problem(404, "Not found", f"Prediction {pid} not found")
            if p["status"] in ("starting", "processing"):
                p["status"] = "canceled"
            view = self._prediction_view(pid, self._base(request))
        return Response(200, view)

    def _stream(self, request: Request, pid: str) -> Response:
        with self._plock:
            p = self._predictions.get(pid)
            if p is None:
                return self._problem(404, "Not found", f"Prediction {pid} not found")
            p["status"] = "succeeded"
        chunks = [f"event: output\nid: {i}:0\ndata: {piece}\n\n".encode() for i, piece in enumerate(_PIECES)]
        chunks.append(f"event: done\nid: {len(_PIECES)}:0\ndata: {{}}\n\n".encode())
        return Response(200, chunks=chunks, content_type="text/event-stream")


def case() -> Case:
    # The catalog's default base URL is https://api.replicate.com/v1: the user types the /v1 base.
    return Case(
        type="replicate",
        base_url="{url}/v1",
        secrets={"api_key": API_TOKEN},
        chat_model=CHAT_MODEL,
        embedding_model=None,  # Replicate has no embeddings API
        listed_models=(CHAT_MODEL,),  # no listing in the catalog: Test Connection runs a completion
    )
