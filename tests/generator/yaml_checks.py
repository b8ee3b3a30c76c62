"""What render promises about its text, as checks the render and property tests share."""

from __future__ import annotations

import math
from typing import Any

import yaml


def same_data(a: Any, b: Any) -> bool:
    """Equal values of the very same types at every depth (True is not 1, 1.0 is not 1); NaN equals NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_data(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_data(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def style_problems(text: str) -> list[str]:
    """Flow-style collections that hold something, anchors, aliases and explicit documents in text."""
    problems = []
    events = list(yaml.parse(text))
    for index, event in enumerate(events):
        if isinstance(event, yaml.AliasEvent):
            problems.append(f"alias *{event.anchor}")
        elif isinstance(event, yaml.NodeEvent) and event.anchor is not None:
            problems.append(f"anchor &{event.anchor}")
        if isinstance(event, yaml.CollectionStartEvent) and event.flow_style:
            empty = isinstance(events[index + 1], yaml.CollectionEndEvent)
            if not empty:  # `{}` and `[]` are the only way to write an empty collection
                problems.append(f"flow-style collection at line {event.start_mark.line + 1}")
        if isinstance(event, yaml.DocumentStartEvent | yaml.DocumentEndEvent) and event.explicit:
            problems.append(f"explicit document marker at line {event.start_mark.line + 1}")
    return problems
