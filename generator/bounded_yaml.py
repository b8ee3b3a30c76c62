"""Reading YAML from an untrusted file within limits: size, nesting, alias expansion, duplicate keys,
string length and deployments are checked on libyaml's event stream (a flat loop, no recursion)
before PyYAML's recursive composer and constructor see the text, so a hostile file is refused in
time and memory proportional to the part read, never a crash."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from generator import render

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class YamlLimits:
    """What an imported config may hold; each names the setting that changes it."""

    max_bytes: int = 5_000_000
    max_depth: int = 50
    max_alias_nodes: int = 10_000  # nodes that aliases may add, counted as if expanded
    max_string: int = 100_000
    max_deployments: int = 1_000


SETTINGS = {
    "max_bytes": "LLM_ADMIN_IMPORT_MAX_BYTES",
    "max_depth": "LLM_ADMIN_IMPORT_MAX_DEPTH",
    "max_alias_nodes": "LLM_ADMIN_IMPORT_MAX_ALIAS_NODES",
    "max_string": "LLM_ADMIN_IMPORT_MAX_STRING",
    "max_deployments": "LLM_ADMIN_IMPORT_MAX_DEPLOYMENTS",
}


class LimitExceeded(ValueError):
    """The file breaks one of the limits; the message is one line naming it and the fix."""


def _refuse(what: str, limit: str, limits: YamlLimits, mark: Any = None) -> LimitExceeded:
    where = f" (line {mark.line + 1})" if mark is not None else ""
    value = getattr(limits, limit)
    return LimitExceeded(
        f"{what}{where}, over the import limit {SETTINGS[limit]}={value}; "
        "fix the file, or raise the limit if the file is genuine"
    )


@dataclass
class _Open:
    """A mapping or sequence being read: its expanded size so far and, for a mapping, its keys."""

    anchor: str | None
    is_map: bool
    key: str | None  # the parent mapping's key this collection is the value of
    as_key: bool  # a collection used as a mapping key (never compared for duplicates)
    size: int = 1
    expect_key: bool = True
    pending_key: str | None = None
    keys: set[str] = field(default_factory=set)


def check_size(size: int, limits: YamlLimits) -> None:
    """Refuse a file of this many bytes over the size limit (before reading it, where one can)."""
    if size > limits.max_bytes:
        raise _refuse(f"the file is {size:,} bytes", "max_bytes", limits)


def check(text: str, limits: YamlLimits) -> None:
    """Raise LimitExceeded for the first limit the text breaks; libyaml's syntax errors pass through."""
    check_size(len(text.encode("utf-8", "surrogatepass")) if len(text) * 4 > limits.max_bytes else 0, limits)
    stack: list[_Open] = []
    sizes: dict[str, int] = {}
    alias_nodes = deployments = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.ScalarEvent):
            if len(event.value) > limits.max_string:
                raise _refuse(
                    f"a string of {len(event.value):,} characters", "max_string", limits, event.start_mark
                )
            if event.anchor:
                sizes[event.anchor] = 1
            _add(stack, 1, key=event.value, mark=event.start_mark)
        elif isinstance(event, yaml.AliasEvent):
            added = sizes.get(event.anchor or "", 1)
            alias_nodes += added
            if alias_nodes > limits.max_alias_nodes:
                raise _refuse(
                    f"aliases expand to over {alias_nodes:,} nodes",
                    "max_alias_nodes",
                    limits,
                    event.start_mark,
                )
            _add(stack, added, key=None, mark=event.start_mark)
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= limits.max_depth:
                raise _refuse(
                    f"nesting deeper than {len(stack)} levels", "max_depth", limits, event.start_mark
                )
            if len(stack) == 2 and stack[0].is_map and not stack[1].is_map and stack[1].key == "model_list":
                deployments += 1
                if deployments > limits.max_deployments:
                    raise _refuse("too many deployments", "max_deployments", limits)
            parent = stack[-1] if stack else None
            as_key = parent is not None and parent.is_map and parent.expect_key
            key = parent.pending_key if parent is not None and parent.is_map and not as_key else None
            is_map = isinstance(event, yaml.MappingStartEvent)
            stack.append(_Open(event.anchor, is_map, key, as_key))
        elif isinstance(event, yaml.CollectionEndEvent):
            done = stack.pop()
            if done.anchor:
                sizes[done.anchor] = done.size
            _add(stack, done.size, key=None, mark=None)


def _add(stack: list[_Open], size: int, *, key: str | None, mark: Any) -> None:
    """A finished node joins the open collection: its size and, for a mapping's key, no duplicates."""
    if not stack:
        return
    parent = stack[-1]
    parent.size += size
    if not parent.is_map:
        return
    if not parent.expect_key:
        parent.expect_key = True
        return
    parent.expect_key, parent.pending_key = False, key
    if key is None or key == "<<":
        return
    if key in parent.keys:
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise LimitExceeded(
            f"duplicate key '{key[:80]}'{line}: YAML would silently keep only the last one; "
            "remove or rename one of them"
        )
    parent.keys.add(key)


def load(text: str, limits: YamlLimits) -> Any:
    """The YAML document, once it is within the limits."""
    check(text, limits)
    return render.load_yaml(text)
