"""Air-gapped request path, measured side by side in one run: proxy latency through a cost-limited Llama
route over a cost-limited OpenAI route, with outside DNS failing at once and with it hanging.

Run (as root: it makes a network namespace with loopback only):
    LITELLM_LOCAL_MODEL_COST_MAP=True .venv/bin/python benchmarks/offline.py [--requests 200]

Target: p50 ratio llama / openai ≤ 1.10 in both DNS modes, and no DNS lookup while serving.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

from tests.e2e.offline import can_isolate, inside_namespace  # noqa: E402

TARGET = 1.10


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200, help="chat requests per route and DNS mode")
    args = parser.parse_args()
    if not can_isolate():
        print("needs root and unshare (a network namespace with loopback only)")
        return 1
    worst = 0.0
    for dns in ("fail", "hang"):
        argv = [sys.executable, "-m", "tests.e2e.offline", "--dns", dns, "--requests", str(args.requests)]
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run(
                inside_namespace(argv, workdir=Path(tmp)), cwd=HERE.parent, capture_output=True, text=True
            )
        if done.returncode != 0:
            print(done.stderr[-3000:])
            return 1
        r = json.loads(done.stdout.strip().splitlines()[-1])
        ratio = r["p50_ms"]["llama"] / r["p50_ms"]["gpt"]
        worst = max(worst, ratio)
        print(
            f"DNS {dns:4}: p50 llama {r['p50_ms']['llama']:.1f} ms / openai {r['p50_ms']['gpt']:.1f} ms "
            f"= {ratio:.3f}; p99 {r['p99_ms']['llama']:.1f} / {r['p99_ms']['gpt']:.1f} ms; "
            f"failed {len(r['failed'])} of {2 * r['requests_per_route']}; "
            f"DNS lookups while serving: {len(r['lookups_during_requests'])}"
        )
    print(f"worst p50 ratio {worst:.3f} (target ≤ {TARGET})")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
