"""What an apply would change: a semantic summary first, then a unified diff with secrets masked."""

from __future__ import annotations

import difflib
import re
from typing import Any

import yaml

from generator.build import REVISION_KEY
from generator.names import PROVIDER_KEY
from generator.render import load_yaml
from generator.routes import ROUTE_KEY, ROUTE_PREFIX

_SECRET_KEY = re.compile(r"(api_key|secret|token|password|credentials|master_key)", re.I)
# max_tokens, input_cost_per_token, custom_secret_manager: counts, prices and names a diff must show
_NOT_SECRET_KEY = re.compile(r"(tokens|per_token|tokenizer|secret_manager)", re.I)
_KEY_LINE = re.compile(r"^(?P<key>\s*-?\s*(?P<name>[\w.-]+):\s*)(?P<value>\S.*)$")
_REVISION_LINE = re.compile(rf"^(\s*{REVISION_KEY}:\s*)\d+\s*$")
_MIN_MASKED_VALUE = 6  # shorter values are masked by line only, so a value like "1" does not blank the text


def is_secret_key(key: str) -> bool:
    """True for keys such as api_key, aws_session_token or master_key; False for max_tokens."""
    return bool(_SECRET_KEY.search(key)) and not _NOT_SECRET_KEY.search(key)


def _secret_values(text: str) -> list[str]:
    """Plain-text values under secret-looking keys, wherever YAML put them (flow style, next line)."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError:
        return []
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, str) and is_secret_key(str(key)) and not item.startswith("os.environ/"):
                    # a block scalar spans lines in the text: mask it line by line
                    found.update(p for p in map(str.strip, item.splitlines()) if len(p) >= _MIN_MASKED_VALUE)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(data)
    return sorted(found, key=len, reverse=True)


def mask_secrets(text: str) -> str:
    """Hide any secret-looking value that is not an os.environ/ reference (hand-written files)."""
    for value in _secret_values(text):
        text = text.replace(value, "***")
    out = []
    for line in text.splitlines():
        match = _KEY_LINE.match(line)
        if (
            match
            and is_secret_key(match.group("name"))
            and not match.group("value").strip("'\"").startswith("os.environ/")
        ):
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


def _deployments(config: dict[str, Any], *, routes: bool = False) -> dict[str, dict[str, Any]]:
    """Plain deployments by id (or, with `routes`, the copies that serve agent routes)."""
    out = {}
    for d in config.get("model_list") or []:
        info = dict(d.get("model_info") or {})
        if (ROUTE_KEY in info) != routes:
            continue
        info.pop(REVISION_KEY, None)
        key = str(info.get("id") or f"{d.get('model_name')}|{(d.get('litellm_params') or {}).get('model')}")
        out[key] = {**d, "model_info": info}
    return out


def _routes(config: dict[str, Any]) -> dict[str, list[Any]]:
    """Agent type → its rendered deployments and fallbacks, to tell which routes changed."""
    out: dict[str, list[Any]] = {}
    for key, d in sorted(_deployments(config, routes=True).items()):
        out.setdefault(str(d["model_info"][ROUTE_KEY]), []).append((key, d))
    router = config.get("router_settings") or {}
    for entries in (router.get("fallbacks"), router.get("context_window_fallbacks")):
        for group, targets in sorted(_fallback_map(entries).items()):
            if group.startswith(ROUTE_PREFIX):
                out.setdefault(group.removeprefix(ROUTE_PREFIX).split("/")[0], []).append((group, targets))
    return out


def _providers(config: dict[str, Any]) -> set[str]:
    names = set()
    for d in config.get("model_list") or []:
        info = d.get("model_info") or {}
        params = d.get("litellm_params") or {}
        names.add(str(info.get(PROVIDER_KEY) or params.get("api_base") or params.get("model")))
    return names


def _count(n: int, word: str, sign: str) -> str:
    return f"{sign}{n} {word}{'s' if n != 1 else ''}"


def summarize(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """One line such as '+2 models, −1 provider, fallbacks of summarizer changed'."""
    if not old:
        counts = [_count(len(_deployments(new)), "model", "+"), _count(len(_providers(new)), "provider", "+")]
        if _routes(new):
            counts.append(_count(len(_routes(new)), "route", "+"))
        return f"new file: {', '.join(counts)}"
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
    old_r, new_r = _routes(old), _routes(new)
    for sign, n in (
        ("+", len(new_r.keys() - old_r.keys())),
        ("−", len(old_r.keys() - new_r.keys())),
        ("~", sum(1 for k in old_r.keys() & new_r.keys() if old_r[k] != new_r[k])),
    ):
        if n:
            parts.append(_count(n, "route", sign))
    old_p, new_p = _providers(old), _providers(new)
    if new_p - old_p:
        parts.append(_count(len(new_p - old_p), "provider", "+"))
    if old_p - new_p:
        parts.append(_count(len(old_p - new_p), "provider", "−"))
    old_router, new_router = old.get("router_settings") or {}, new.get("router_settings") or {}
    old_fb = _fallback_map(old_router.get("fallbacks"))
    new_fb = _fallback_map(new_router.get("fallbacks"))
    for group in sorted(old_fb.keys() | new_fb.keys()):
        if old_fb.get(group) != new_fb.get(group) and not group.startswith(ROUTE_PREFIX):
            parts.append(f"fallbacks of {group} changed")
    for section in ("router_settings", "litellm_settings", "general_settings"):
        a, b = dict(old.get(section) or {}), dict(new.get(section) or {})
        a.pop("fallbacks", None)
        b.pop("fallbacks", None)
        if section == "router_settings":  # the routes' own entries count as route changes
            for side in (a, b):
                side["context_window_fallbacks"] = {
                    k: v
                    for k, v in _fallback_map(side.get("context_window_fallbacks")).items()
                    if not k.startswith(ROUTE_PREFIX)
                } or None
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
    old_config = load_yaml(old_text) if old_text else None
    new_config = load_yaml(new_text) or {}
    summary = summarize(old_config if isinstance(old_config, dict) else None, new_config)
    return summary, unified_diff(old_text or "", new_text)
