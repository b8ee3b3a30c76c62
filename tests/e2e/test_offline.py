"""No network on the request path: the supervised proxy serves a Llama route (whose tokenizer LiteLLM
would fetch from Hugging Face) and an OpenAI route, cost-limited both, with outside DNS failing at once
and with it hanging, and nothing it does while serving asks DNS for any name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.offline import can_isolate, inside_namespace

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not can_isolate(), reason="needs root and unshare for a network namespace"),
]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("dns", ["fail", "hang"])
def test_requests_through_a_llama_route_never_reach_outside(tmp_path: Path, dns: str) -> None:
    argv = [sys.executable, "-m", "tests.e2e.offline", "--dns", dns, "--requests", "3"]
    done = subprocess.run(
        inside_namespace(argv, workdir=tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["failed"] == []
    assert report["lookups_during_requests"] == []
    assert report["lookups_at_boot"] == []
