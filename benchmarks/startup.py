"""Start-up: `regsearch --help` against `python -c pass`, as a ratio measured in one run.

Both are run as fresh processes, alternating, ``--repeats`` times each; medians are compared.
`regsearch --help` must not import TensorFlow (7 s here), Optuna or pandas: the ratio says what
the command line costs over starting Python at all. Writes benchmarks/results/startup.md.

    .venv/bin/python benchmarks/startup.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from _common import ROOT, write_result


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    regsearch = Path(sys.executable).parent / "regsearch"
    commands = {"python -c pass": [sys.executable, "-c", "pass"],
                "regsearch --help": [str(regsearch), "--help"],
                "regsearch run --help": [str(regsearch), "run", "--help"]}
    for argv in commands.values():  # warm the file cache
        timed(argv)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, argv in commands.items():
            times[name].append(timed(argv))
    med = {name: statistics.median(v) for name, v in times.items()}
    base = med["python -c pass"]
    text = ("# Start-up of the command line\n\n"
            f"`benchmarks/startup.py --repeats {args.repeats}`, {date.today()}: fresh processes, "
            "alternating, medians.\n\n| command | median | ratio to `python -c pass` |\n"
            "|---|---|---|\n"
            + "".join(f"| `{name}` | {med[name] * 1000:.0f} ms | {med[name] / base:.2f} |\n"
                      for name in commands)
            + "\nNo TensorFlow, Keras, Optuna or pandas is imported on these paths "
              "(`tests/test_cli.py` checks it); `import tensorflow` alone takes about 7 s here.\n")
    write_result("startup", text)


if __name__ == "__main__":
    main()
