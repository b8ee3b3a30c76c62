"""Stand-in for Google Vertex AI (`{location}-aiplatform.googleapis.com`) and the OAuth 2.0 token
endpoint a service account's `token_uri` names (`https://oauth2.googleapis.com/token`).

Wire format, as published:
- Token exchange (service-account flow): POST {token_uri}, application/x-www-form-urlencoded
  `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`. The JWT is RS256-signed
  with the service account's private key (header `kid` = private_key_id) and claims iss = client_email,
  scope, aud = https://oauth2.googleapis.com/token, iat, exp (at most an hour apart). Answer:
  {"access_token", "expires_in", "token_type": "Bearer"}; refusals are 400 {"error", "error_description"}
  (invalid_grant "Invalid JWT Signature.", ...).
- Data plane: `Authorization: Bearer <access token>` on
  POST /v1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent
  POST ...:streamGenerateContent  (?alt=sse: `data: <GenerateContentResponse>` events; without it one
                                   JSON array of them)
  POST ...:predict                (text embeddings: {"instances": [{"content"}]} ->
                                   {"predictions": [{"embeddings": {"values", "statistics":
                                   {"token_count", "truncated"}}}], "metadata": {"billableCharacterCount"}})
  POST ...:embedContent           (gemini-embedding models: {"embedding": {"values"}, "usageMetadata"})
  (v1beta1 is served the same way). A missing token is 401 UNAUTHENTICATED "Request is missing required
  authentication credential ..." (ErrorInfo reason CREDENTIALS_MISSING); an unknown token 401
  "Request had invalid authentication credentials ..."; another project or location 403
  PERMISSION_DENIED "Permission 'aiplatform.endpoints.predict' denied on resource ... (or it may not
  exist)."; a model not served 404 NOT_FOUND "Publisher Model `...` was not found ...". A URL no
  method is mapped to gets Google's front-end HTML 404.
- Usage: generateContent reports usageMetadata {promptTokenCount, candidatesTokenCount,
  totalTokenCount, trafficType, ...}; in a stream the chunks before the last carry usageMetadata with
  only {"trafficType"}, the last one (finishReason STOP) the full counts. Streams always report usage.
  Text embeddings report statistics.token_count per prediction.

References used:
- Vertex AI text embeddings API (request instances/parameters, :predict URL, models):
  https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/text-embeddings-api
- Vertex AI REST, projects.locations.publishers.models.embedContent:
  https://cloud.google.com/vertex-ai/generative-ai/docs/reference/rest/v1/projects.locations.publishers.models/embedContent
- Vertex AI SDK (googleapis/python-aiplatform vertexai/language_models/_language_models.py,
  `_parse_text_embedding_response`): predictions[i].embeddings.{values, statistics.token_count,
  statistics.truncated}; LangChain.js VertexEmbeddingsResponsePrediction (same shape)
- pub.dev googleapis aiplatform_v1 ProjectsLocationsPublishersModelsResource.streamGenerateContent
  (resource path pattern projects/*/locations/*/publishers/*/models/*)
- google-auth (googleapis/google-auth-library-python) google/oauth2/_client.py `jwt_grant` and
  google/oauth2/service_account.py `_make_authorization_grant_assertion` (grant body and JWT claims)
- A recorded Vertex alt=sse stream (usageMetadata {"trafficType": "ON_DEMAND"} until the last chunk):
  https://alm.pragmatismo.com.br/GeneralBots/gb/raw/commit/144c4b0b79e3ada32911f430eda31de3a6fe84fc/out.txt
- Error bodies as the API returns them: github.com/google-github-actions/run-gemini-cli/issues/123
  (401 CREDENTIALS_MISSING), github.com/a2aproject/a2a-samples/issues/43 (401 body shape),
  github.com/rpurinton/gemini-php/issues/4 (403 aiplatform.endpoints.predict),
  github.com/genkit-ai/genkit/issues/4688 (404 Publisher Model not found)
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import parse_qs

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
    sse,
)

PROJECT = "standin-project"
LOCATION = "us-central1"
CHAT_MODEL = "gemini-2.5-pro"  # the catalog's default model: the probe (a completion) asks for it
EMBEDDING_MODEL = "text-embedding-005"
CLIENT_EMAIL = f"llm-admin-standin@{PROJECT}.iam.gserviceaccount.com"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_PATH = "/token"

_DATA = re.compile(
    r"^/(?P<v>v1|v1beta1)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
    r"/publishers/(?P<publisher>[^/]+)/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$"
)
_METHODS = {
    "generateContent": "chat",
    "streamGenerateContent": "stream",
    "predict": "embed",
    "embedContent": "embed",
}


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _error(code: int, status: str, message: str, details: list | None = None) -> Response:
    error: dict = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return Response(code, {"error": error}, content_type="application/json; charset=UTF-8")


def _token_error(error: str, description: str) -> Response:
    return Response(400, {"error": error, "error_description": description})


def _html_404(path: str) -> Response:
    body = (
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n"
        "  <title>Error 404 (Not Found)!!1</title>\n"
        f"  <p><b>404.</b> <ins>That\u2019s an error.</ins>\n  <p>The requested URL <code>{path}</code> "
        "was not found on this server.  <ins>That\u2019s all we know.</ins>\n"
    )
    return Response(404, body.encode(), content_type="text/html; charset=UTF-8")


def _is_embedding(model: str) -> bool:
    return "embedding" in model


def service_account_info(token_uri: str, project: str = PROJECT) -> dict:
    """A throwaway service-account key file (fresh RSA key) whose token_uri points at the stand-in."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    email = f"llm-admin-standin@{project}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": email,
        "client_id": "1" + "".join(str(secrets.randbelow(10)) for _ in range(20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
        + email.replace("@", "%40"),
        "universe_domain": "googleapis.com",
    }


class VertexAIStandIn(StandIn):
    """Accepts one service account (its JSON key file, as a str or dict: the public half of its
    private key verifies the token grant) for one project and location; serves `models`."""

    def __init__(
        self,
        vertex_credentials: str | dict,
        project: str = PROJECT,
        location: str = LOCATION,
        models: Sequence[str] = (CHAT_MODEL, "gemini-2.5-flash", EMBEDDING_MODEL),
    ):
        super().__init__()
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        info = (
            json.loads(vertex_credentials)
            if isinstance(vertex_credentials, str)
            else dict(vertex_credentials)
        )
        self.client_email = info["client_email"]
        self.key_id = info.get("private_key_id")
        private = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ValueError("a service account key is an RSA key")
        self.public_key = private.public_key()
        self.project = project
        self.location = location
        self.models = list(models)
        self.tokens: dict[str, float] = {}  # issued access token -> expiry (epoch seconds)

    # -- OAuth 2.0 token endpoint -------------------------------------------------------------
    def _token(self, request: Request) -> Response:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        request.kind = "token"
        request.authorized = False
        form = {k: v[-1] for k, v in parse_qs(request.raw.decode("utf-8", "replace")).items()}
        grant = form.get("grant_type")
        if grant != JWT_GRANT:
            return _token_error("unsupported_grant_type", f"Invalid grant_type: {grant or ''}")
        assertion = form.get("assertion", "")
        try:
            head_b64, claims_b64, sig_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            signature = _b64url_decode(sig_b64)
        except ValueError:
            return _token_error("invalid_grant", "Invalid JWT: Unexpected token format.")
        if header.get("alg") != "RS256":
            return _token_error("invalid_grant", "Invalid JWT Signature.")
        if self.key_id and header.get("kid") not in (None, self.key_id):
            return _token_error("invalid_grant", "Invalid JWT Signature.")
        try:
            self.public_key.verify(
                signature, f"{head_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return _token_error("invalid_grant", "Invalid JWT Signature.")
        if claims.get("iss") != self.client_email:
            return _token_error("invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            return _token_error("invalid_grant", "Invalid JWT: Failed audience check.")
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if (
            not isinstance(iat, int | float)
            or not isinstance(exp, int | float)
            or exp - iat > 3600
            or exp < now
            or iat > now + 300
        ):
            return _token_error(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
                "Check your iat and exp values in the JWT claim.",
            )
        if not claims.get("scope") and not claims.get("target_audience"):
            return _token_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        token = "ya29.standin-" + secrets.token_urlsafe(32)
        self.tokens[token] = now + 3599
        request.authorized = True
        return Response(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    # -- shapes -------------------------------------------------------------------------------
    @staticmethod
    def _usage(final: bool = True) -> dict:
        if not final:
            return {"trafficType": "ON_DEMAND"}
        return {
            "promptTokenCount": PROMPT_TOKENS,
            "candidatesTokenCount": COMPLETION_TOKENS,
            "totalTokenCount": PROMPT_TOKENS + COMPLETION_TOKENS,
            "trafficType": "ON_DEMAND",
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": PROMPT_TOKENS}],
            "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": COMPLETION_TOKENS}],
        }

    @staticmethod
    def _candidate(text: str, final: bool) -> dict:
        candidate: dict = {"content": {"role": "model", "parts": [{"text": text}]}}
        if final:
            candidate["finishReason"] = "STOP"
        return candidate

    def _response(self, model: str, text: str, final: bool, response_id: str, created: str) -> dict:
        return {
            "candidates": [self._candidate(text, final)],
            "usageMetadata": self._usage(final),
            "modelVersion": model,
            "createTime": created,
            "responseId": response_id,
        }

    # -- dispatch -----------------------------------------------------------------------------
    def _check_bearer(self, request: Request, method_name: str) -> Response | None:
        auth = request.header("authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            request.authorized = False
            return _error(
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential. Expected OAuth 2 access token, login "
                "cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "CREDENTIALS_MISSING",
                        "domain": "googleapis.com",
                        "metadata": {"method": method_name, "service": "aiplatform.googleapis.com"},
                    }
                ],
            )
        expiry = self.tokens.get(token.strip())
        if expiry is None or expiry < time.time():
            request.authorized = False
            return _error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                "or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
            )
        request.authorized = True
        return None

    def handle(self, request: Request) -> Response:
        if request.path == TOKEN_PATH:
            if request.method != "POST":
                return _html_404(request.path)
            return self._token(request)
        m = _DATA.match(request.path)
        if request.method != "POST" or not m or m["method"] not in _METHODS:
            return _html_404(request.path)
        method = m["method"]
        request.kind = _METHODS[method]
        service = "PredictionService"
        rpc = f"google.cloud.aiplatform.{m['v']}.{service}.{method[0].upper()}{method[1:]}"
        if denied := self._check_bearer(request, rpc):
            return denied
        project, location, model = m["project"], m["location"], m["model"]
        resource = f"projects/{project}/locations/{location}/publishers/{m['publisher']}/models/{model}"
        if project != self.project or location != self.location:
            return _error(
                403,
                "PERMISSION_DENIED",
                f"Permission 'aiplatform.endpoints.predict' denied on resource "
                f"'//aiplatform.googleapis.com/{resource}' (or it may not exist).",
            )
        wants_embedding = method in ("predict", "embedContent")
        if m["publisher"] != "google" or model not in self.models or _is_embedding(model) != wants_embedding:
            return _error(
                404,
                "NOT_FOUND",
                f"Publisher Model `{resource}` was not found or your project does not have access to it. "
                "Please ensure you are using a valid model version. For more information, see: "
                "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions",
            )
        try:
            body = request.json
        except ValueError:
            return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if method == "predict":
            instances = body.get("instances") or []
            if not instances:
                return _error(400, "INVALID_ARGUMENT", "instances must be a non-empty list.")
            chars = sum(len(str(i.get("content", ""))) for i in instances if isinstance(i, dict))
            return Response(
                200,
                {
                    "predictions": [
                        {
                            "embeddings": {
                                "statistics": {"truncated": False, "token_count": EMBEDDING_TOKENS},
                                "values": list(EMBEDDING),
                            }
                        }
                        for _ in instances
                    ],
                    "metadata": {"billableCharacterCount": chars},
                },
                content_type="application/json; charset=UTF-8",
            )
        if method == "embedContent":
            return Response(
                200,
                {
                    "embedding": {"values": list(EMBEDDING)},
                    "usageMetadata": {
                        "promptTokenCount": EMBEDDING_TOKENS,
                        "totalTokenCount": EMBEDDING_TOKENS,
                    },
                    "truncated": False,
                },
            )
        if not body.get("contents"):
            return _error(400, "INVALID_ARGUMENT", "contents must not be empty.")
        response_id = uuid.uuid4().hex[:22]
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if method == "streamGenerateContent":
            words = REPLY.split(" ")
            pieces = [" ".join(words[:2]), " " + " ".join(words[2:]), ""]
            chunks = [
                self._response(model, piece, i == len(pieces) - 1, response_id, created)
                for i, piece in enumerate(pieces)
            ]
            if request.query.get("alt") == "sse":
                return Response(200, chunks=sse(chunks), content_type="text/event-stream")
            parts = [("[" if i == 0 else ",\r\n") + json.dumps(c) for i, c in enumerate(chunks)]
            return Response(
                200,
                chunks=[p.encode() for p in parts] + [b"]"],
                content_type="application/json; charset=UTF-8",
            )
        return Response(
            200,
            self._response(model, REPLY, True, response_id, created),
            content_type="application/json; charset=UTF-8",
        )


def case() -> Case:
    """A user adds Vertex AI pointing its base URL at the stand-in (the catalog has no default: the
    field is the optional endpoint override) and pastes a service-account JSON whose token_uri is the
    stand-in's token endpoint. `{url}` in the secret must be substituted with str.replace (the value
    is JSON, full of braces)."""
    info = service_account_info(token_uri="{url}" + TOKEN_PATH)
    return Case(
        type="vertex_ai",
        base_url="{url}",
        secrets={"vertex_credentials": json.dumps(info)},
        chat_model=CHAT_MODEL,
        embedding_model=EMBEDDING_MODEL,
        params={"vertex_project": PROJECT, "vertex_location": LOCATION},
        listed_models=(CHAT_MODEL,),
    )
