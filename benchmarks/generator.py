"""Generator cost by size: build + render + structural validation, best of 3, and its per-model growth.

Run: LITELLM_LOCAL_MODEL_COST_MAP=True .venv/bin/python benchmarks/generator.py
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

# `python benchmarks/generator.py` puts benchmarks/ first on sys.path, where this file would shadow
# the `generator` package it measures.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

from app import catalog  # noqa: E402
from generator import build, render, validate  # noqa: E402

SIZES = ((5, 20), (100, 1_000), (1_000, 10_000))
TARGET_SECONDS = 1.0
REPEATS = 3
AT = datetime(2025, 1, 1, tzinfo=UTC)


def synthetic_input(providers: int, models: int) -> build.ConfigInput:
    """Providers cycling through the catalog's types, each with stored or env secrets, and priced models."""
    types = [catalog.PROVIDER_TYPES[t] for t in sorted(catalog.PROVIDER_TYPES)]
    rows = []
    for pid in range(1, providers + 1):
        ptype = types[pid % len(types)]
        rows.append(
            build.ProviderRow(
                id=pid,
                name=f"{ptype.label} {pid}",
                type=ptype.id,
                litellm_provider=ptype.litellm_provider,
                base_url=ptype.default_base_url or f"https://p{pid}.example.com/v1",
                params={f.name: f.default or "x" for f in ptype.param_fields if f.name != "extra_headers"},
                secrets=tuple(
                    build.SecretRow(f.name, None if pid % 3 else f"ENV_{pid}_{f.name.upper()}")
                    for f in ptype.secret_fields
                ),
                rpm=1_000,
                timeout_seconds=60.0,
            )
        )
    model_rows = tuple(
        build.ModelRow(
            id=mid,
            provider_id=(mid % providers) + 1,
            identifier=f"model-{mid}",
            alias=f"group-{mid // 2}",  # pairs on two providers: load-balanced groups
            input_cost_per_1m=0.15 * (mid % 7 + 1),
            output_cost_per_1m=0.6 * (mid % 5 + 1),
            context_window=128_000,
            max_output_tokens=16_384,
        )
        for mid in range(models)
    )
    groups = sorted({m.alias for m in model_rows})
    fallbacks = [{groups[i]: [groups[i + 1]]} for i in range(0, len(groups) - 1, 10)]
    return build.ConfigInput(
        tuple(rows), model_rows, build.GlobalRow(router_settings={"fallbacks": fallbacks})
    )


def generate(rows: build.ConfigInput) -> tuple[str, list[str]]:
    """What an apply does before touching the disk."""
    config = build.build_config(rows, revision=1)
    text = render.render_config(config, revision=1, author="bench", at=AT)
    return text, validate.structural_problems(config, resolvable=lambda name: True)


def best_of(rows: build.ConfigInput, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _, problems = generate(rows)
        times.append(time.perf_counter() - start)
        if problems:
            raise SystemExit(f"the synthetic rows are invalid: {problems[:3]}")
    return min(times)


def main() -> int:
    print(f"generator: build + render + structural validation, best of {REPEATS} (time.perf_counter)")
    print(f"{'providers':>9} {'models':>7} {'seconds':>9} {'µs/model':>9}")
    per_model = []
    seconds = 0.0
    for providers, models in SIZES:
        seconds = best_of(synthetic_input(providers, models))
        per_model.append(seconds / models * 1e6)
        print(f"{providers:>9,} {models:>7,} {seconds:>9.4f} {per_model[-1]:>9.1f}")
    ratio = per_model[-1] / per_model[0]
    print(f"per-model cost, largest / smallest size: {ratio:.2f}x (≈1: linear over 500x more models)")
    ok = seconds <= TARGET_SECONDS
    largest = f"{SIZES[-1][0]:,}/{SIZES[-1][1]:,}"
    print(f"target {largest} ≤ {TARGET_SECONDS:.0f} s: {'met' if ok else 'MISSED'} ({seconds:.3f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
