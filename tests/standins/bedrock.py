"""Stand-in for AWS Bedrock (bedrock-runtime Converse / ConverseStream / InvokeModel, and the bedrock
control plane's ListFoundationModels), built from AWS's published wire format.

What it speaks (one loopback server answers both the runtime and the control-plane paths; their path
sets do not overlap, and both sign as service "bedrock"):
- auth: AWS Signature Version 4 in the Authorization header. The stand-in checks the access key id in
  the credential scope, the scope's date / region / service (`bedrock`), the X-Amz-Date skew, the
  session token (X-Amz-Security-Token) when one is expected, X-Amz-Content-SHA256 when sent, and then
  VERIFIES the signature with the expected secret by recomputing it with botocore's SigV4Auth over the
  request as received (method, raw percent-encoded path, query, the SignedHeaders, body). Failures are
  AWS's 403s: MissingAuthenticationTokenException, IncompleteSignatureException,
  UnrecognizedClientException (unknown key id / bad token), InvalidSignatureException (mismatch,
  wrong scope, expired), in the rest-json error shape: `x-amzn-ErrorType` header + `{"message": ...}`.
- POST /model/{modelId}/converse: `{"output": {"message": {"role": "assistant", "content": [{"text"}]}},
  "stopReason", "usage": {"inputTokens", "outputTokens", "totalTokens"}, "metrics": {"latencyMs"}}`.
- POST /model/{modelId}/converse-stream: `application/vnd.amazon.eventstream` frames (prelude with total
  and headers length + prelude CRC32, string headers `:event-type` / `:content-type` / `:message-type`,
  JSON payload, message CRC32): messageStart, contentBlockDelta (text), contentBlockStop, messageStop,
  metadata (usage + metrics). Bedrock always sends the metadata event; there is no opt-in.
- POST /model/amazon.titan-embed-text-v2:0/invoke: body `{"inputText", "dimensions"?, "normalize"?,
  "embeddingTypes"?}` -> `{"embedding", "inputTextTokenCount", "embeddingsByType"}` (one text per call;
  the API has no batch input), with X-Amzn-Bedrock-Input-Token-Count.
- GET /foundation-models (byProvider / byOutputModality / byInferenceType / byCustomizationType
  filters): `{"modelSummaries": [FoundationModelSummary...]}`.
- errors: ValidationException 400 (unknown model id, wrong model for the operation, malformed body),
  404 UnknownOperationException for paths no operation has.

References used:
- Converse: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html
- ConverseStream: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html
- InvokeModel: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_InvokeModel.html
- Titan Text Embeddings V2 request/response:
  https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-embed-text.html
- ListFoundationModels: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_ListFoundationModels.html
- botocore service models (the SDK's machine-readable wire spec): botocore/data/bedrock-runtime/
  2023-09-30/service-2.json (ConverseResponse, ConverseStreamOutput event members, TokenUsage,
  InvokeModel headers, error shapes and their HTTP codes, signingName "bedrock") and
  botocore/data/bedrock/2023-04-20/service-2.json (ListFoundationModels, FoundationModelSummary)
- Event stream encoding: https://docs.aws.amazon.com/transcribe/latest/dg/event-stream.html and
  https://docs.aws.amazon.com/lexv2/latest/dg/event-stream-encoding.html; botocore/eventstream.py
- SigV4: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html (create and verify a
  signed request); botocore/auth.py SigV4Auth
- Errors: https://docs.aws.amazon.com/bedrock/latest/userguide/troubleshooting-api-error-codes.html,
  AWS "Common Errors" pages (MissingAuthenticationToken, IncompleteSignature, InvalidClientTokenId);
  rest-json error code from the x-amzn-ErrorType header: botocore/parsers.py RestJSONParser;
  observed bodies e.g. BerriAI/litellm#14763 (InvalidSignatureException message with the canonical
  string), langchain-ai/langchain#19677 (UnrecognizedClientException message)
"""

from __future__ import annotations

import hmac
import json
import struct
import time
import uuid
import zlib
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any
from urllib.parse import unquote

from tests.standins import base
from tests.standins.base import Case, Request, Response, StandIn

# AWS's documented example credentials (IAM user guide), never real ones
TEST_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
TEST_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TEST_REGION = "us-east-1"
CHAT_MODEL = "anthropic.claude-3-5-sonnet-20241022-v2:0"
EMBEDDING_MODEL = "amazon.titan-embed-text-v2:0"
DEFAULT_MODELS = (CHAT_MODEL, EMBEDDING_MODEL)
SERVICE = "bedrock"  # signingName of both bedrock-runtime and bedrock
MAX_SKEW_SECONDS = 5 * 60
_CORAL = ":http://internal.amazon.com/coral/com.amazon.coral.service/"
_PROVIDERS = {
    "anthropic": "Anthropic",
    "amazon": "Amazon",
    "meta": "Meta",
    "cohere": "Cohere",
    "mistral": "Mistral AI",
    "ai21": "AI21 Labs",
}


def _is_embedding(model_id: str) -> bool:
    return "embed" in model_id


class AwsError(Exception):
    """An AWS error answer: the exception name goes to x-amzn-ErrorType, the message to the body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        request_id = str(uuid.uuid4())
        return Response(
            self.status,
            {"message": self.message},
            headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": f"{self.code}{_CORAL}"},
        )


# -- AWS event stream (application/vnd.amazon.eventstream) ---------------------------------------


def _string_header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    # name length (1 byte), name, value type 7 = string, value length (2 bytes, big-endian), value
    return (
        struct.pack("B", len(raw_name)) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value
    )


def event_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (total length, headers length), prelude CRC32, headers,
    payload, message CRC32 over everything before it; all integers big-endian."""
    encoded_headers = b"".join(_string_header(k, v) for k, v in headers.items())
    total = 4 + 4 + 4 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded_headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude) & 0xFFFFFFFF) + encoded_headers + payload
    return message + struct.pack(">I", zlib.crc32(message) & 0xFFFFFFFF)


def event(event_type: str, payload: dict[str, Any]) -> bytes:
    return event_frame(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
        json.dumps(payload).encode(),
    )


# -- SigV4 verification ---------------------------------------------------------------------------


def _amz_now() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


class BedrockStandIn(StandIn):
    """Bedrock on 127.0.0.1: accepts one AWS key pair (and session token, if given) in one region."""

    def __init__(
        self,
        access_key_id: str = TEST_ACCESS_KEY_ID,
        secret_access_key: str = TEST_SECRET_ACCESS_KEY,
        *,
        session_token: str | None = None,
        region: str = TEST_REGION,
        models: tuple[str, ...] = DEFAULT_MODELS,
    ) -> None:
        super().__init__()
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.session_token = session_token
        self.region = region
        self.models = tuple(models)

    # -- dispatch ---------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        kind, model_id = self._route(request.method, request.path)
        request.kind = kind or "unknown"
        try:
            self._authenticate(request)
            request.authorized = True
        except AwsError as err:
            request.authorized = False
            if kind is not None:
                return err.response()
        try:
            if kind is None:
                raise AwsError(404, "UnknownOperationException", "Unknown operation")
            if kind == "models":
                return self._list_models(request)
            assert model_id is not None
            if kind in ("chat", "stream"):
                return self._converse(request, model_id, stream=kind == "stream")
            return self._invoke(request, model_id)
        except AwsError as err:
            return err.response()

    @staticmethod
    def _route(method: str, path: str) -> tuple[str | None, str | None]:
        if method == "GET" and path.rstrip("/") == "/foundation-models":
            return "models", None
        parts = path.split("/")
        if method == "POST" and len(parts) == 4 and parts[0] == "" and parts[1] == "model" and parts[2]:
            operation = {"converse": "chat", "converse-stream": "stream", "invoke": "embed"}.get(parts[3])
            if operation:
                return operation, unquote(parts[2])
        return None, None

    # -- auth -------------------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> None:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.compat import HTTPHeaders
        from botocore.credentials import Credentials

        header = request.header("authorization")
        if not header:
            raise AwsError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        algorithm, _, rest = header.partition(" ")
        if algorithm.lower() == "bearer":  # a Bedrock API key; this stand-in accepts only SigV4
            raise AwsError(
                403, "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        if algorithm != "AWS4-HMAC-SHA256":
            raise AwsError(403, "IncompleteSignatureException", f"Unsupported AWS 'algorithm': '{algorithm}'")
        fields = {}
        for part in rest.split(","):
            name, _, value = part.strip().partition("=")
            fields[name] = value
        missing = [f for f in ("Credential", "SignedHeaders", "Signature") if not fields.get(f)]
        if missing:
            raise AwsError(
                403,
                "IncompleteSignatureException",
                f"Authorization header requires '{missing[0]}' parameter. Authorization={header}",
            )
        scope = fields["Credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise AwsError(
                403,
                "IncompleteSignatureException",
                f"Credential must have exactly 5 slash-delimited elements, "
                f"e.g. keyid/date/region/service/term, got '{fields['Credential']}'",
            )
        key_id, date, region, service, _ = scope
        if key_id != self.access_key_id:
            raise AwsError(
                403, "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        if self.session_token is not None and request.header("x-amz-security-token") != self.session_token:
            raise AwsError(
                403, "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        amz_date = request.header("x-amz-date")
        if not amz_date:
            raise AwsError(
                403,
                "IncompleteSignatureException",
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            )
        if date != amz_date[:8]:
            raise AwsError(
                403,
                "InvalidSignatureException",
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{date}' != '{amz_date[:8]}', from '{amz_date}'.",
            )
        if region != self.region:
            raise AwsError(403, "InvalidSignatureException", "Credential should be scoped to a valid region.")
        if service != SERVICE:
            raise AwsError(
                403,
                "InvalidSignatureException",
                f"Credential should be scoped to correct service: '{SERVICE}'.",
            )
        try:
            sent = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise AwsError(
                403,
                "IncompleteSignatureException",
                f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'.",
            ) from None
        if abs(time.time() - sent.timestamp()) > MAX_SKEW_SECONDS:
            raise AwsError(
                403,
                "InvalidSignatureException",
                f"Signature expired: {amz_date} is now earlier than {_amz_now()}.",
            )
        content_sha = request.header("x-amz-content-sha256")
        if (
            content_sha
            and content_sha not in ("UNSIGNED-PAYLOAD",)
            and content_sha != sha256(request.raw).hexdigest()
        ):
            raise AwsError(
                400,
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )

        signed = [h.strip().lower() for h in fields["SignedHeaders"].split(";") if h.strip()]
        if "host" not in signed:
            raise AwsError(
                403,
                "InvalidSignatureException",
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            )

        class Verifier(SigV4Auth):
            # exactly the headers the client says it signed, as they arrived
            def headers_to_sign(self, aws_request: Any) -> Any:
                headers = HTTPHeaders()
                for name in signed:
                    headers[name] = aws_request.headers.get(name, "")
                return headers

        received = {name: request.header(name) or "" for name in signed}
        aws_request = AWSRequest(
            method=request.method,
            url=f"http://{request.header('host') or '127.0.0.1'}{request.path}",
            data=request.raw,
            headers=received,
            params=dict(request.query),
        )
        aws_request.context["timestamp"] = amz_date
        verifier = Verifier(
            Credentials(self.access_key_id, self.secret_access_key, self.session_token), SERVICE, self.region
        )
        canonical = verifier.canonical_request(aws_request)
        string_to_sign = verifier.string_to_sign(aws_request, canonical)
        expected = verifier.signature(string_to_sign, aws_request)
        if not hmac.compare_digest(expected, fields["Signature"]):
            raise AwsError(
                403,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. "
                "Consult the service documentation for details.\n\n"
                f"The Canonical String for this request should have been\n'{canonical}'\n\n"
                f"The String-to-Sign should have been\n'{string_to_sign}'\n",
            )

    # -- models -----------------------------------------------------------------------------------

    def _summary(self, model_id: str) -> dict[str, Any]:
        vendor = model_id.split(".", 1)[0]
        embedding = _is_embedding(model_id)
        return {
            "modelArn": f"arn:aws:bedrock:{self.region}::foundation-model/{model_id}",
            "modelId": model_id,
            "modelName": model_id.split(".", 1)[-1].split(":")[0][:20],
            "providerName": _PROVIDERS.get(vendor, vendor.title()),
            "inputModalities": ["TEXT"],
            "outputModalities": ["EMBEDDING"] if embedding else ["TEXT"],
            "responseStreamingSupported": not embedding,
            "customizationsSupported": [],
            "inferenceTypesSupported": ["ON_DEMAND"],
            "modelLifecycle": {"status": "ACTIVE"},
        }

    def _list_models(self, request: Request) -> Response:
        summaries = [self._summary(m) for m in self.models]
        q = request.query
        if "byProvider" in q:
            summaries = [
                s
                for s in summaries
                if s["providerName"].lower() == q["byProvider"].lower()
                or s["modelId"].split(".", 1)[0] == q["byProvider"].lower()
            ]
        if "byOutputModality" in q:
            summaries = [s for s in summaries if q["byOutputModality"] in s["outputModalities"]]
        if "byInferenceType" in q:
            summaries = [s for s in summaries if q["byInferenceType"] in s["inferenceTypesSupported"]]
        if "byCustomizationType" in q:
            summaries = [s for s in summaries if q["byCustomizationType"] in s["customizationsSupported"]]
        return Response(200, {"modelSummaries": summaries}, headers={"x-amzn-RequestId": str(uuid.uuid4())})

    # -- runtime ----------------------------------------------------------------------------------

    def _body(self, request: Request) -> dict[str, Any]:
        try:
            body = request.json
        except ValueError:
            raise AwsError(
                400, "SerializationException", "Unexpected character found in the request body"
            ) from None
        if not isinstance(body, dict):
            raise AwsError(
                400, "SerializationException", "Start of structure or map found where not expected."
            )
        return body

    def _known(self, model_id: str) -> None:
        if model_id not in self.models:
            raise AwsError(400, "ValidationException", "The provided model identifier is invalid.")

    def _converse(self, request: Request, model_id: str, *, stream: bool) -> Response:
        self._known(model_id)
        body = self._body(request)
        if _is_embedding(model_id):
            raise AwsError(
                400,
                "ValidationException",
                "This action doesn't support the model that you provided. "
                "Try again with a supported text or chat model.",
            )
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise AwsError(
                400,
                "ValidationException",
                "A conversation must start with a user message. "
                "Try again with a conversation that starts with a user message.",
            )
        usage = {
            "inputTokens": base.PROMPT_TOKENS,
            "outputTokens": base.COMPLETION_TOKENS,
            "totalTokens": base.PROMPT_TOKENS + base.COMPLETION_TOKENS,
        }
        request_id = str(uuid.uuid4())
        if not stream:
            return Response(
                200,
                {
                    "output": {"message": {"role": "assistant", "content": [{"text": base.REPLY}]}},
                    "stopReason": "end_turn",
                    "usage": usage,
                    "metrics": {"latencyMs": 42},
                },
                headers={"x-amzn-RequestId": request_id},
            )
        text = base.REPLY
        pieces = [text[i : i + 6] for i in range(0, len(text), 6)]
        frames = [event("messageStart", {"role": "assistant"})]
        frames += [event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": p}}) for p in pieces]
        frames += [
            event("contentBlockStop", {"contentBlockIndex": 0}),
            event("messageStop", {"stopReason": "end_turn"}),
            event("metadata", {"usage": usage, "metrics": {"latencyMs": 42}}),
        ]
        return Response(
            200,
            chunks=frames,
            content_type="application/vnd.amazon.eventstream",
            headers={"x-amzn-RequestId": request_id},
        )

    def _invoke(self, request: Request, model_id: str) -> Response:
        self._known(model_id)
        if not _is_embedding(model_id):
            # InvokeModel takes each model family's native body; this stand-in serves chat over Converse
            raise AwsError(
                400,
                "ValidationException",
                "The stand-in serves InvokeModel for embedding models only; use Converse.",
            )
        body = self._body(request)
        if not isinstance(body.get("inputText"), str):
            raise AwsError(
                400,
                "ValidationException",
                "Malformed input request: #: required key [inputText] not found, "
                "please reformat your input and try again.",
            )
        dimensions = body.get("dimensions", 1024)
        if dimensions not in (256, 512, 1024):
            raise AwsError(
                400,
                "ValidationException",
                f"Malformed input request: #/dimensions: {dimensions} is not a valid enum value, "
                "please reformat your input and try again.",
            )
        types = body.get("embeddingTypes") or ["float"]
        by_type: dict[str, Any] = {}
        if "float" in types:
            by_type["float"] = list(base.EMBEDDING)
        if "binary" in types:
            by_type["binary"] = [1 if v > 0 else 0 for v in base.EMBEDDING]
        return Response(
            200,
            {
                "embedding": list(base.EMBEDDING),
                "inputTextTokenCount": base.EMBEDDING_TOKENS,
                "embeddingsByType": by_type,
            },
            headers={
                "x-amzn-RequestId": str(uuid.uuid4()),
                "X-Amzn-Bedrock-Invocation-Latency": "42",
                "X-Amzn-Bedrock-Input-Token-Count": str(base.EMBEDDING_TOKENS),
            },
        )


def case() -> Case:
    """A user adding Bedrock. The catalog has no base-URL field for it, so the endpoint goes in a
    param: LiteLLM's own `aws_bedrock_runtime_endpoint` (the catalog must offer it as a field)."""
    return Case(
        type="bedrock",
        base_url=None,
        secrets={"aws_access_key_id": TEST_ACCESS_KEY_ID, "aws_secret_access_key": TEST_SECRET_ACCESS_KEY},
        chat_model=CHAT_MODEL,
        embedding_model=EMBEDDING_MODEL,
        params={"aws_region_name": TEST_REGION, "aws_bedrock_runtime_endpoint": "{url}"},
        listed_models=DEFAULT_MODELS,
    )
