"""The benchmarks still run against the package as it is.

No test measures with them (their figures are ratios from one run on a quiet machine, README,
"Benchmarks"), but they call the package's API, and when it changed five of them (pruner,
memory, reuse, backends, workers) crashed unseen until a `make bench-quick` weeks later. Each is
run here the way `make bench-quick` runs it, with results and working files in a temporary
folder; `make bench-quick` runs the rest, which need the MNIST sample in ../shared/data or
take minutes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from run import QUICK  # noqa: E402  (benchmarks/ is a folder of scripts, not a package)

#: The quick runs this file repeats, and what each one writes.
CHECKED = {"pruner.py": "pruner", "memory.py": "memory", "reuse.py": "reuse",
           "backends.py": "backends", "workers.py": "workers", "racing.py": "racing"}

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("args", [a for a in QUICK if a[0] in CHECKED], ids=lambda a: a[0])
def test_a_benchmark_runs_with_its_quick_budget(args: list[str], tmp_path: Path):
    env = {**os.environ, "REGSEARCH_BENCH_RESULTS": str(tmp_path / "results"),
           "REGSEARCH_BENCH_WORK": str(tmp_path / "work"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / args[0]), *args[1:]],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    page = tmp_path / "results" / f"{CHECKED[args[0]]}.md"
    assert page.exists() and page.read_text().startswith("# ")
