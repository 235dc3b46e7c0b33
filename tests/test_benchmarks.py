"""The benchmarks still run against the package as it is.

No test measures with them (their figures are ratios from one run on a quiet machine, README,
"Benchmarks"), but they call the package's API, and when it changed five of them (pruner,
memory, reuse, backends, workers) crashed unseen until a `make bench-quick` weeks later. The
four run here, the way `make bench-quick` runs them (results and working files in a temporary
folder), are those whose use of the package differs: the objective and evaluator driven by hand
(memory), a study's curves replayed through pruners (pruner) and racing rules (racing), and a
study run by each backend and read back through ``Snapshot`` (backends; reuse and workers read
their studies the same way). About two CPU-minutes; `make bench-quick` runs every benchmark.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT


def _quick_runs() -> list[list[str]]:
    """``benchmarks/run.py``'s quick runs (benchmarks/ is a folder of scripts, not a package)."""
    loader = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module.QUICK


#: The quick runs this file repeats, and what each one writes.
CHECKED = {"pruner.py": "pruner", "memory.py": "memory", "backends.py": "backends",
           "racing.py": "racing"}

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("args", [a for a in _quick_runs() if a[0] in CHECKED],
                         ids=lambda a: a[0])
def test_a_benchmark_runs_with_its_quick_budget(args: list[str], tmp_path: Path):
    env = {**os.environ, "REGSEARCH_BENCH_RESULTS": str(tmp_path / "results"),
           "REGSEARCH_BENCH_WORK": str(tmp_path / "work"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / args[0]), *args[1:]],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    page = tmp_path / "results" / f"{CHECKED[args[0]]}.md"
    assert page.exists() and page.read_text().startswith("# ")
