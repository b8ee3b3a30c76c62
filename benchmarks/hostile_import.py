"""Each hostile config file of issue 14 through `llm-admin config import`, one fresh subprocess per
file: wall time of the import and the process's peak memory (getrusage ru_maxrss), printed
against the bounds, beside genuine 20- and 1,000-deployment files and the process's baseline
(no import), in the same run.

Run: LITELLM_LOCAL_MODEL_COST_MAP=True .venv/bin/python benchmarks/hostile_import.py

Peak memory includes the CLI's own imports (the baseline row); +MB is what the import added.
Bounds: every hostile file refused (exit 1) in ≤ 3 s and ≤ 300 MB peak, nothing crashes (no signal);
the genuine files import (exit 0), the 1,000-deployment one (the default limit) in ≤ 10 s.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

from app import db, migrate  # noqa: E402
from app.crypto import generate_key  # noqa: E402
from tests.hostile_files import HOSTILE, _deployments  # noqa: E402

MAX_SECONDS, MAX_MB = 3.0, 300.0
GENUINE_SECONDS = 10.0  # the largest genuine file the default limits let through


def _child(path: str) -> None:
    """Run one import in this process; print its code, time and peak memory as JSON."""
    from app.cli import main  # imported before the clock starts: the import is what is measured

    started = time.perf_counter()
    code = main(["config", "import", path]) if path != "-" else 0
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"code": code, "seconds": seconds, "peak_mb": peak_mb}), file=sys.__stdout__)


def _measure(path: str, env: dict[str, str], template: Path, db_path: Path) -> dict[str, object]:
    shutil.copy(template, db_path)
    done = subprocess.run(
        [sys.executable, __file__, "--child", path], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode < 0:
        return {"code": done.returncode, "seconds": float("nan"), "peak_mb": float("nan"), "err": "signal"}
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    result["err"] = done.stderr.strip().splitlines()[-1][:110] if done.stderr.strip() else ""
    return result


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="hostile-import-"))
    template, db_path = work / "template.db", work / "llm-admin.db"
    migrate.upgrade(f"sqlite:///{template}")
    db.make_engine(f"sqlite:///{template}").dispose()  # WAL checkpointed into the file we copy
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LLM_ADMIN_DATABASE_URL": f"sqlite:///{db_path}",
        "LLM_ADMIN_DATA_DIR": str(work / "data"),
        "LLM_ADMIN_SECRET_KEYS": generate_key(),
    }
    files = {"(baseline: no import)": "-"}
    for n in (20, 1000):  # 1,000: the default deployment limit, the largest file import takes
        genuine = work / f"genuine_{n}.yaml"
        genuine.write_text(_deployments(n))
        files[f"genuine_{n}_deployments"] = str(genuine)
    for name, (build, _) in HOSTILE.items():
        path = work / f"{name}.yaml"
        path.write_text(build())
        files[name] = str(path)
    print(f"{'file':28} {'size':>10} {'exit':>4} {'time s':>7} {'peak MB':>8} {'+MB':>6}  bound  refusal")
    baseline = 0.0
    ok = True
    for name, path in files.items():
        r = _measure(path, env, template, db_path)
        if path == "-":
            baseline = float(r["peak_mb"])  # type: ignore[arg-type]
        size = Path(path).stat().st_size if path != "-" else 0
        hostile = name in HOSTILE
        limit = MAX_SECONDS if hostile else GENUINE_SECONDS
        within = r["code"] == (1 if hostile else 0) and float(r["seconds"]) <= limit  # type: ignore[arg-type]
        within = within and float(r["peak_mb"]) <= MAX_MB  # type: ignore[arg-type]
        ok = ok and within
        print(
            f"{name:28} {size:>10,} {r['code']:>4} {r['seconds']:>7.3f} {r['peak_mb']:>8.1f} "
            f"{float(r['peak_mb']) - baseline:>6.1f}  "  # type: ignore[arg-type]
            f"{'ok' if within else 'OVER':5}  {r['err']}"
        )
    print(
        f"bounds: hostile files exit 1 in ≤ {MAX_SECONDS} s, genuine ones exit 0 in ≤ {GENUINE_SECONDS} s, "
        f"all ≤ {MAX_MB:.0f} MB peak: {'met' if ok else 'NOT met'}"
    )
    shutil.rmtree(work)
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2])
    else:
        sys.exit(main())
