"""`make bench`: run every benchmark in this folder; each writes under benchmarks/results/.

`make bench-quick` (``--quick``) runs each one with a tiny budget, as a smoke test that they all
still work, and writes into benchmarks/work/quick/ (git-ignored) so the committed results
stay those of full runs.

Benchmarks are kept out of `make test` because they train many models and report ratios
measured within one run, which timed tests on a noisy 2-core machine could not.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FULL = [
    ["overhead.py", "--data", "digits"],
    ["overhead.py", "--data", "mnist", "--repeats", "3"],
    ["pruner.py"],
    ["memory.py"],
    ["reuse.py"],
    ["backends.py"],
    ["workers.py"],
    ["startup.py"],
    ["batchnorm.py", "--full-digits"],
    ["tabular.py"],
    ["convergence.py"],
    ["racing.py"],
    # Recommendation quality (issue 14): every (problem, search seed) a part that keeps its
    # results, two lanes side by side.
    ["recommendation.py", "--all"],
    # Selection rules replayed on the studies recommendation.py kept.
    ["selection.py"],
    # The page read again with every run confirmed on 20 fresh seeds: misses of the settings or
    # of the seeds?
    ["recheck.py"],
    # Confirmation's growth rule applied to the runs, beside their fresh-seed recheck.
    ["grow.py"],
    # Each selection rule's answer on the recheck's fresh seeds.
    ["selection.py", "--fresh"],
    # regsearch again with screening after the first fold, against the recheck's fresh seeds.
    ["screening.py"],
    # regsearch again on 5 folds (80% of the rows to train on, as against 67%): closer to the
    # refit's ranking?
    ["folds.py"],
    # The same at the draw's epochs: 5 folds with 3/5 of the trials, against plain Optuna's
    # budget.
    ["folds.py", "--equal-epochs"],
    # regsearch again at the product's earlier default, gap_weight 0.5 for the search and
    # confirmation alike (the draw searches at 0 and confirms at 0.5 as shipped), paired on the
    # recheck's fresh seeds. (`weight.py --confirm-weight` separates the two weights for a draw
    # searched at 0.5, as those in results/recommendation-heldout-*/ were; quick runs it.)
    ["weight.py"],
    # Where regsearch is below plain Optuna on fresh seeds: refit epochs, the test split's
    # draw, or the folds' training size?
    ["causes.py"],
    ["faults.py"],
    ["cnn.py"],
]
QUICK = [
    ["overhead.py", "--data", "digits", "--repeats", "1", "--epochs", "2"],
    ["pruner.py", "--trials", "3", "--epochs", "2"],
    ["memory.py", "--trials", "2", "--epochs", "1"],
    ["reuse.py", "--trials", "2", "--epochs", "2"],
    ["backends.py", "--trials", "3", "--epochs", "2"],
    ["workers.py", "--trials", "2", "--epochs", "2", "--skip-requeue"],
    ["startup.py", "--repeats", "2"],
    ["batchnorm.py", "--quick"],
    ["tabular.py", "--quick"],
    ["convergence.py", "--quick"],
    ["racing.py", "--quick"],
    ["recommendation.py", "--quick"],
    ["selection.py"],
    ["recheck.py", "--count", "2"],
    ["grow.py"],
    ["selection.py", "--fresh"],
    ["screening.py", "--trials", "4"],
    ["folds.py", "--trials", "3"],
    ["folds.py", "--equal-epochs", "--trials", "2"],
    ["weight.py", "--trials", "2"],
    ["weight.py", "--confirm-weight", "0.5", "--trials", "2"],
    ["causes.py", "--parts", "wine-0"],
    ["faults.py", "--quick"],
    ["cnn.py", "--repeats", "1", "--epochs", "2", "--rows", "300"],
]


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    runs = QUICK if quick else FULL
    scripts = {p.name for p in HERE.glob("*.py") if not p.name.startswith("_")}
    missing = sorted(scripts - {r[0] for r in runs} - {"run.py"})
    if missing:  # a new benchmark must be given its place (and quick arguments) here
        print(f"benchmarks not listed in run.py: {', '.join(missing)}", file=sys.stderr)
        return 1
    env = dict(os.environ)
    if quick:  # its own results and working folders: a full run may be going on beside it
        env["REGSEARCH_BENCH_RESULTS"] = str(HERE / "work" / "quick" / "results")
        env["REGSEARCH_BENCH_WORK"] = str(HERE / "work" / "quick")
    failed = []
    for args in runs:
        print(f"== {' '.join(args)}", flush=True)
        if subprocess.run([sys.executable, str(HERE / args[0]), *args[1:]], env=env).returncode:
            failed.append(args[0])
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
