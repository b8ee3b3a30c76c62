"""`llm-admin route ...`: agent routes (callers ask for `agent/<type>`)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the route commands to the top-level parser."""
    p = sub.add_parser("route", help="agent routes: preferred model, fallbacks, cost limit, local only")
    p.add_subparsers(dest="action", required=True)
    p.set_defaults(func=lambda ctx, args: 0)
    _ = argparse
