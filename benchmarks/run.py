"""`make bench`: run every benchmark in this folder; each writes under benchmarks/results/.

Benchmarks are kept out of `make test` because they train many models and report ratios
measured within one run, which timed tests on a noisy 2-core machine could not.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = [
    ["overhead.py", "--data", "digits"],
    ["overhead.py", "--data", "mnist", "--repeats", "3"],
    ["pruner.py"],
]


def main() -> int:
    runs = RUNS + [[p.name] for p in sorted(HERE.glob("*.py"))
                   if p.name not in {r[0] for r in RUNS} | {"run.py"}]
    failed = []
    for args in runs:
        print(f"== {' '.join(args)}", flush=True)
        if subprocess.run([sys.executable, str(HERE / args[0]), *args[1:]]).returncode:
            failed.append(args[0])
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
