"""The frame every provider stand-in shares: a threaded HTTP server on 127.0.0.1 that records what it
received and answers through the provider module's own `handle`.

A stand-in speaks one provider's published wire format (paths, auth, bodies, streaming framing, error
bodies); this module knows none of that. It only parses requests and writes responses: JSON, a body
streamed in chunks (SSE, NDJSON, AWS event-stream: the provider module frames them), or raw bytes.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# Token counts no client could guess: a usage row carrying them came from the upstream's own report.
PROMPT_TOKENS = 43
COMPLETION_TOKENS = 19
EMBEDDING_TOKENS = 7
REPLY = "hello from the stand-in"
EMBEDDING = [0.125, -0.25, 0.5]


@dataclass
class Request:
    """One request the stand-in received, as it arrived."""

    method: str
    path: str  # without the query string
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    raw: bytes
    # set by the stand-in's handle(): what the request was ("models", "chat", "stream", "embed", ...)
    # and whether it carried the credential where the provider expects it
    kind: str | None = None
    authorized: bool | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.raw) if self.raw else {}

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Response:
    """What to send back: a JSON body, or `chunks` streamed as they are (already framed)."""

    status: int = 200
    body: Any = None
    chunks: Iterable[bytes] | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def sse(events: Iterable[Any], *, named: bool = False, done: bool = False) -> list[bytes]:
    """Server-sent events: `data: <json>` per event (or `event: <name>` + data for (name, payload)
    pairs when named), optionally closed by `data: [DONE]` as OpenAI does."""
    out = []
    for event in events:
        if named:
            name, payload = event
            out.append(f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode())
        else:
            out.append(f"data: {json.dumps(event)}\n\n".encode())
    if done:
        out.append(b"data: [DONE]\n\n")
    return out


def ndjson(events: Iterable[Any]) -> list[bytes]:
    """Newline-delimited JSON, one object a line (Ollama's streaming)."""
    return [(json.dumps(e) + "\n").encode() for e in events]


@dataclass(frozen=True)
class Case:
    """How a user sets up one provider type against its stand-in, for the conformance test.

    `base_url` is what the user types into the form, with `{url}` for the stand-in's address (None:
    the type takes no base URL, or the field is left empty and `params` point at the stand-in).
    """

    type: str
    base_url: str | None
    secrets: dict[str, str]  # catalog secret field -> value (the stand-in accepts only these)
    chat_model: str
    embedding_model: str | None = None  # None: the provider has no embeddings API
    params: dict[str, str] = field(default_factory=dict)  # catalog param field -> value ({url} allowed)
    listed_models: tuple[str, ...] = ()  # what Test Connection / discovery must list


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a caller that gave up is expected
            super().handle_error(request, client_address)


class StandIn:
    """Base of every provider stand-in. Subclasses implement `handle(request) -> Response`.

    `seen` lists every request in arrival order; `start()` binds a free loopback port.
    """

    def __init__(self) -> None:
        self.seen: list[Request] = []
        self._server: _QuietServer | None = None
        self._lock = threading.Lock()

    def handle(self, request: Request) -> Response:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the stand-in first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests_to(self, path_part: str) -> list[Request]:
        with self._lock:
            return [r for r in self.seen if path_part in r.path]

    def start(self) -> StandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    self.command,
                    parts.path,
                    {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
                    {k.lower(): v for k, v in self.headers.items()},
                    raw,
                )
                with stand_in._lock:
                    stand_in.seen.append(request)
                try:
                    response = stand_in.handle(request)
                except Exception as exc:  # a bug in the stand-in must show, not hang the client
                    response = Response(500, {"stand_in_error": f"{type(exc).__name__}: {exc}"})
                self._send(response)

            def _send(self, response: Response) -> None:
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if response.chunks is None:
                    data = b"" if response.body is None else _encode(response.body)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                write_chunked(self.wfile, response.chunks)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_chunked(out: Any, chunks: Iterable[bytes]) -> None:
    """HTTP/1.1 chunked transfer coding: each chunk as it comes (flushed), then the last chunk."""
    for chunk in chunks:
        out.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        out.flush()
    out.write(b"0\r\n\r\n")


def _encode(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()
