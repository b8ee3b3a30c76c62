"""What the dashboard's pages share that is not Streamlit: settings, the database, the key ring."""

from __future__ import annotations

import math
from functools import lru_cache

from app import db
from app.crypto import KeyRing, load_key_ring
from app.settings import Settings, load_settings


@lru_cache(maxsize=1)
def settings() -> Settings:
    """Settings for this dashboard process, with the database bound once."""
    current = load_settings()
    db.init(current.database_url)
    return current


def key_ring() -> KeyRing:
    return load_key_ring(settings())


_MARKDOWN_PUNCTUATION = frozenset("\\`*_{}[]()#+-.!|<>~$:&")


def text(value: object) -> str:
    """Untrusted text (a name, an upstream message, a model id) as literal characters inside markdown:
    every markdown/HTML-significant character backslash-escaped, so `![x](url)` is shown, not fetched."""
    return "".join(f"\\{c}" if c in _MARKDOWN_PUNCTUATION else c for c in str(value)).replace("\n", " ")


def usd(amount: float) -> str:
    """Dollars readable at any size: $1,234.50, $0.42, and below a cent two significant digits
    ($0.0007, $0.000012), not $0.00."""
    if amount == 0 or abs(amount) >= 0.01:
        return f"${amount:,.2f}"
    digits = min(-math.floor(math.log10(abs(amount))) + 1, 12)
    return f"${amount:.{digits}f}".rstrip("0").rstrip(".")
