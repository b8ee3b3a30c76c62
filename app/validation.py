"""Input rules, one place each; every failure names the field, the problem and the fix."""

from __future__ import annotations

import math
import re
import unicodedata
from urllib.parse import urlsplit

from app.errors import FieldError

MAX_CONTEXT_WINDOW = 10_000_000
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
# identifiers such as "meta-llama/Llama-3-8b:free" or "anthropic.claude-v2:1"
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+\-]{0,254}$")


def normalize_name(name: str) -> str:
    """The key names are compared on: casefolded, whitespace collapsed, NFKC."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def _printable(text: str) -> bool:
    # Cc/Cf/Cs/Co/Cn: control, format (incl. RTL overrides and zero-width), surrogates, unassigned;
    # the zero-width joiner alone is allowed, as it builds emoji such as 👨‍👩‍👧
    return all(unicodedata.category(ch)[0] != "C" or ch == "\u200d" for ch in text)


def check_name(field: str, value: object, errors: list[FieldError]) -> str | None:
    """A display name: 1–100 printable characters, not only spaces."""
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError(field, "is required; enter a name such as 'openai-prod'"))
        return None
    text = " ".join(value.split())
    if len(text) > 100:
        errors.append(FieldError(field, f"is {len(text)} characters; use at most 100"))
        return None
    if not _printable(value):
        errors.append(FieldError(field, "contains control or invisible characters; type it plainly"))
        return None
    return text


def check_identifier(field: str, value: object, errors: list[FieldError]) -> str | None:
    """A model identifier as the provider spells it."""
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError(field, "is required; enter the provider's model ID, e.g. gpt-4o"))
        return None
    text = value.strip()
    if not _IDENTIFIER.match(text):
        errors.append(
            FieldError(
                field,
                "must be 1–255 characters of letters, digits and . _ : / @ + -; "
                "copy the ID from the provider's model list",
            )
        )
        return None
    return text


def check_url(field: str, value: object, errors: list[FieldError], *, required: bool) -> str | None:
    """An http(s) URL without credentials; None when empty and optional."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.append(FieldError(field, "is required; enter the endpoint's https:// URL"))
        return None
    if not isinstance(value, str):
        errors.append(FieldError(field, "must be text: an http:// or https:// URL"))
        return None
    text = value.strip()
    if len(text) > 2048 or not _printable(text) or any(ch.isspace() for ch in text):
        errors.append(FieldError(field, "must be one URL of at most 2048 plain characters"))
        return None
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        # no echo of the URL: it may hold a pasted key (https://user:KEY@host)
        errors.append(FieldError(field, "is not a valid URL; check the port (1–65535) and [IPv6] brackets"))
        return None
    if parts.scheme not in ("http", "https"):
        errors.append(
            FieldError(field, f"must start with http:// or https:// (got {parts.scheme or 'none'}:)")
        )
        return None
    if not parts.hostname:
        errors.append(FieldError(field, "has no host; use a URL like https://api.example.com/v1"))
        return None
    if parts.query or parts.fragment:
        errors.append(
            FieldError(field, "must not have a query string or fragment (?… or #…); keys go in the key field")
        )
        return None
    if parts.username or parts.password:
        errors.append(FieldError(field, "must not contain credentials; put the key in the API key field"))
        return None
    return text.rstrip("/")


def check_price(field: str, value: object, errors: list[FieldError]) -> float | None:
    """A price in USD per 1M tokens: a finite number ≥ 0, or empty."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):  # float(True) == 1.0: a checkbox is not a price
            raise TypeError
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        errors.append(FieldError(field, f"must be a number of USD per 1M tokens (got {value!r})"))
        return None
    if not math.isfinite(number) or number < 0:
        errors.append(FieldError(field, f"must be a finite number ≥ 0 (got {value!r})"))
        return None
    if number > 1_000_000:
        errors.append(FieldError(field, "is above $1,000,000 per 1M tokens; check the units"))
        return None
    return number


def check_int(
    field: str, value: object, errors: list[FieldError], *, low: int, high: int, hint: str = ""
) -> int | None:
    """A whole number in [low, high], or empty."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("+").isdigit() and len(value) < 20:
        number = int(value)
    else:
        number = None
    if number is None or not low <= number <= high:
        errors.append(
            FieldError(field, f"must be a whole number from {low:,} to {high:,} (got {value!r}){hint}")
        )
        return None
    return number


def check_timeout(field: str, value: object, errors: list[FieldError]) -> float | None:
    """Seconds, 0.1 to 3600, or empty."""
    if value is None or value == "":
        return None
    try:
        number = math.nan if isinstance(value, bool) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or not 0.1 <= number <= 3600:
        errors.append(FieldError(field, f"must be seconds between 0.1 and 3600 (got {value!r})"))
        return None
    return number


def check_env_name(field: str, value: object, errors: list[FieldError]) -> str | None:
    """An environment variable name such as OPENAI_API_KEY."""
    if not isinstance(value, str) or not _ENV_NAME.match(value.strip()):
        errors.append(FieldError(field, "must be an environment variable name like OPENAI_API_KEY"))
        return None
    return value.strip()


def check_secret(field: str, value: object, errors: list[FieldError]) -> str | None:
    """A secret value: non-empty, one line, at most 16 KiB (service-account JSON fits)."""
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError(field, "is empty; paste the key, or reference an env variable"))
        return None
    text = value.strip()
    if len(text) > 16384:
        errors.append(FieldError(field, "is longer than 16 KiB; check you pasted only the key"))
        return None
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text):
        errors.append(FieldError(field, "contains control characters; paste the key again"))
        return None
    return text


def check_param(field: str, value: object, errors: list[FieldError]) -> str | None:
    """A plain provider parameter such as an API version or region."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value) > 1024 or not _printable(value):
        errors.append(FieldError(field, "must be at most 1024 printable characters"))
        return None
    return value.strip()
