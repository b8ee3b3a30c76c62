"""What an apply would change: a semantic summary first, then a unified diff with secrets masked."""

from __future__ import annotations

import difflib
import re
from typing import Any

import yaml

from generator.build import REVISION_KEY

_SECRET_LINE = re.compile(
    r"^(?P<key>\s*-?\s*[\w.-]*(api_key|secret|token|password|credentials|master_key)[\w.-]*:\s*)"
    r"(?P<value>\S.*)$",
    re.I,
)
_REVISION_LINE = re.compile(rf"^(\s*{REVISION_KEY}:\s*)\d+\s*$")


def mask_secrets(text: str) -> str:
    """Hide any secret-looking value that is not an os.environ/ reference (hand-written files)."""
    out = []
    for line in text.splitlines():
        match = _SECRET_LINE.match(line)
        if match and not match.group("value").strip("'\"").startswith("os.environ/"):
            line = f"{match.group('key')}'***'"
        out.append(line)
    return "\n".join(out)


def _comparable(text: str) -> list[str]:
    """Lines without the header comments and per-deployment revision stamps, secrets masked."""
    lines = [line for line in mask_secrets(text).splitlines() if not line.startswith("#")]
    return [_REVISION_LINE.sub(r"\1N", line) for line in lines]


def unified_diff(old: str, new: str, *, old_name: str = "current", new_name: str = "new") -> str:
    return "\n".join(
        difflib.unified_diff(
            _comparable(old), _comparable(new), fromfile=old_name, tofile=new_name, lineterm=""
        )
    )


def _deployments(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for d in config.get("model_list") or []:
        info = dict(d.get("model_info") or {})
        info.pop(REVISION_KEY, None)
        key = str(info.get("id") or f"{d.get('model_name')}|{(d.get('litellm_params') or {}).get('model')}")
        out[key] = {**d, "model_info": info}
    return out


def _providers(config: dict[str, Any]) -> set[str]:
    names = set()
    for d in config.get("model_list") or []:
        info = d.get("model_info") or {}
        params = d.get("litellm_params") or {}
        names.add(str(info.get("llm_admin_provider") or params.get("api_base") or params.get("model")))
    return names


def _count(n: int, word: str, sign: str) -> str:
    return f"{sign}{n} {word}{'s' if n != 1 else ''}"


def summarize(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """One line such as '+2 models, −1 provider, fallbacks of summarizer changed'."""
    if not old:
        models = _count(len(_deployments(new)), "model", "+")
        return f"new file: {models}, {_count(len(_providers(new)), 'provider', '+')}"
    before, after = _deployments(old), _deployments(new)
    parts = []
    added = len(after.keys() - before.keys())
    removed = len(before.keys() - after.keys())
    changed = sum(1 for k in before.keys() & after.keys() if before[k] != after[k])
    if added:
        parts.append(_count(added, "model", "+"))
    if removed:
        parts.append(_count(removed, "model", "−"))
    if changed:
        parts.append(_count(changed, "model", "~"))
    old_p, new_p = _providers(old), _providers(new)
    if new_p - old_p:
        parts.append(_count(len(new_p - old_p), "provider", "+"))
    if old_p - new_p:
        parts.append(_count(len(old_p - new_p), "provider", "−"))
    old_router, new_router = old.get("router_settings") or {}, new.get("router_settings") or {}
    old_fb = _fallback_map(old_router.get("fallbacks"))
    new_fb = _fallback_map(new_router.get("fallbacks"))
    for group in sorted(old_fb.keys() | new_fb.keys()):
        if old_fb.get(group) != new_fb.get(group):
            parts.append(f"fallbacks of {group} changed")
    for section in ("router_settings", "litellm_settings", "general_settings"):
        a, b = dict(old.get(section) or {}), dict(new.get(section) or {})
        a.pop("fallbacks", None)
        b.pop("fallbacks", None)
        keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        if keys:
            parts.append(f"{section}: {', '.join(keys)} changed")
    return ", ".join(parts) or "no changes"


def _fallback_map(entries: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in entries or []:
        if isinstance(entry, dict):
            out.update(entry)
    return out


def diff_texts(old_text: str | None, new_text: str) -> tuple[str, str]:
    """(semantic summary, unified diff) between the current file's text and the new text."""
    old_config = yaml.safe_load(old_text) if old_text else None
    new_config = yaml.safe_load(new_text) or {}
    summary = summarize(old_config if isinstance(old_config, dict) else None, new_config)
    return summary, unified_diff(old_text or "", new_text)
