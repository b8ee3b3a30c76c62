"""Stand-in LLM providers on 127.0.0.1: OpenAI- and Anthropic-compatible, with failure modes."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.standins.base import sse, write_chunked


@dataclass
class Seen:
    """One request the fake upstream received."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: dict[str, Any]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # a caller that gave up (the proxy's timeout on a hanging upstream) is expected here
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class FakeUpstream:
    """A fake provider. `mode`: ok | error500 | error429 | hang; `reply` is the assistant's text.

    `delay_seconds` (any mode): wait that long before answering, for a slow but working provider.
    """

    mode: str = "ok"
    reply: str = "hello from the fake upstream"
    prompt_tokens: int = 11
    completion_tokens: int = 7
    models: tuple[str, ...] = ("fake-model",)
    api_key: str | None = None  # when set, requests without it get 401
    hang_seconds: float = 30.0
    delay_seconds: float = 0.0
    stream_seconds: float = 0.0
    # as a real provider: prompt tokens counted from the request by this function (else prompt_tokens)
    count_prompt: Callable[[dict[str, Any]], int] | None = None
    seen: list[Seen] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeUpstream:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in two writes: without this, Nagle and the peer's delayed ACK
            # add 40 ms to some responses, which swamps what the benchmarks measure
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                upstream.seen.append(
                    Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                if upstream.api_key and not _authorized(self.headers, upstream.api_key):
                    self._send(401, {"error": {"message": "invalid api key", "type": "auth_error"}})
                    return
                if upstream.delay_seconds:
                    time.sleep(upstream.delay_seconds)
                if upstream.mode == "hang":
                    time.sleep(upstream.hang_seconds)
                if upstream.mode == "error500":
                    self._send(500, {"error": {"message": "upstream exploded", "type": "server_error"}})
                    return
                if upstream.mode == "error429":
                    self._send(429, {"error": {"message": "rate limited", "type": "rate_limit"}})
                    return
                if body.get("stream") and not self.path.rstrip("/").endswith("/messages"):
                    self._stream(upstream.stream_events(body))
                    return
                self._send(200, upstream.answer(self.command, self.path, body))

            def _stream(self, events: list[dict[str, Any]]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                write_chunked(
                    self.wfile, paced(sse(events, done=True), upstream.stream_seconds / len(events))
                )

            do_GET = _handle
            do_POST = _handle

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def answer(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if method == "GET" and path.rstrip("/").endswith("/models"):
            return {"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]}
        if path.rstrip("/").endswith("/messages"):  # Anthropic Messages API
            return {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": body.get("model", "fake"),
                "content": [{"type": "text", "text": self.reply}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": self.prompt_tokens, "output_tokens": self.completion_tokens},
            }
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.reply},
                    "finish_reason": "stop",
                }
            ],
            "usage": self.usage(body),
        }

    def usage(self, body: dict[str, Any]) -> dict[str, int]:
        prompt = self.count_prompt(body) if self.count_prompt else self.prompt_tokens
        # as a real provider: at most max_tokens per choice, n choices
        cap = body.get("max_tokens") or body.get("max_completion_tokens") or self.completion_tokens
        completion = min(self.completion_tokens, int(cap)) * int(body.get("n") or 1)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def stream_events(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The chunks of a streamed chat answer: the role, a character of the reply each, the finish,
        and with `stream_options.include_usage` a last chunk of no choices carrying `usage` (every
        other chunk then has `"usage": null`), as tests/standins/openai.py documents from OpenAI's."""
        head: dict[str, Any] = {"id": "chatcmpl-fake", "object": "chat.completion.chunk"}
        head |= {"created": int(time.time()), "model": body.get("model", "fake")}
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if with_usage:
            head["usage"] = None
        deltas: list[tuple[dict[str, Any], str | None]] = [({"role": "assistant", "content": ""}, None)]
        deltas += [({"content": char}, None) for char in self.reply] + [({}, "stop")]
        events = [
            {**head, "choices": [{"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}]}
            for d, finish in deltas
        ]
        if with_usage:
            events.append({**head, "choices": [], "usage": self.usage(body)})
        return events


def paced(chunks: list[bytes], pause: float) -> Iterator[bytes]:
    """The chunks with `pause` seconds before each but the first."""
    for index, chunk in enumerate(chunks):
        if index:
            time.sleep(pause)
        yield chunk


def _authorized(headers: Any, key: str) -> bool:
    return headers.get("Authorization") == f"Bearer {key}" or headers.get("x-api-key") == key
