"""The recommendation page read again on more seeds: does a run where regsearch's answer falls
below plain Optuna's, or keeps a larger gap at equal test accuracy, say something about the
settings chosen, or about the 5 confirmation seeds that judged them?

`recommendation.md` judges every run on the study's 5 confirmation seeds, and over 15 runs a
one-sided 5% test rejects somewhere about half the time when nothing differs. So every run
(``--parts`` names some) is confirmed again: every strategy's recommendation and the baseline,
the same settings for the same epochs on the same train + validation and test split, retrained
on ``--count`` fresh seeds that neither the search nor the page's confirmation used, and the
targets are counted again as the page counts them (``recommendation.targets``). A miss that is
the settings' holds on fresh seeds, where four times the seeds make an interval about half as
wide; a miss that was the seeds' does not; and a run the page passed can miss on fresh seeds.
Every run, not only those that missed: runs chosen because they missed would regress towards
the others on any fresh seeds.

Each run keeps its figures (``results/recheck/``); runs go two lanes side by side, one
TensorFlow thread each; ``--report`` rebuilds ``recheck.md``.

    .venv/bin/python benchmarks/recheck.py            # after recommendation.py --all
    .venv/bin/python benchmarks/recheck.py --parts default-2 --count 20 [--threads 1]
    .venv/bin/python benchmarks/recheck.py --report
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, WORK, in_lanes, write_result
from recommendation import (ORDER, PARTS, STRATEGIES, _versus, confirm, problems, targets,
                            write_spec)

OUT = RESULTS / "recheck"
#: The fresh seeds start here: far above every seed a part uses (its search seed, the folds'
#: seeds after it and the confirmation seeds after those are all below 30).
FIRST_SEED = 1000


def missed(parts: dict[str, dict[str, Any]]) -> list[str]:
    """The parts in which the page (on its 5 seeds) finds a miss: regsearch below plain Optuna,
    or its gap larger than another strategy's at equal or better test accuracy (on the point
    estimates, as the target reads, or significantly). Each of these is judged within one run,
    so ``targets`` of that run alone names it."""
    def misses(p: dict[str, Any]) -> bool:
        t = targets([(p["problem"], p["seed"], p["confirmed"], p["recommendations"])])
        return bool(t["below_optuna"] or t["gap_losses"] or t["gap_significant"])

    return [k for k, p in parts.items() if misses(p)]


def run_part(part: dict[str, Any], count: int) -> None:
    """One part's recommendations and baseline confirmed on ``count`` fresh seeds."""
    from search.export import write_atomic
    from search.folds import study_data
    from search.spec import load_spec

    name, seed = part["problem"], part["seed"]
    # Its own folder: write_spec starts the spec's storage afresh, and the part's own study
    # (which selection.py replays) stays as it is.
    folder = WORK / "recheck" / name
    folder.mkdir(parents=True, exist_ok=True)
    spec = load_spec(write_spec(folder, name, problems(WORK / "recheck")[name], seed,
                                part["trials"], part.get("changes")))
    _, refit = study_data(spec)
    started = time.time()
    confirmed = confirm(spec, refit, part["recommendations"],
                        seeds=list(range(FIRST_SEED, FIRST_SEED + count)))
    # Whole or not at all: a run cut short must not leave a part that looks done.
    write_atomic(OUT / f"{name}-{seed}.json", json.dumps(
        {"problem": name, "seed": seed, "confirmed": confirmed,
         "seconds": time.time() - started}, indent=1) + "\n")
    print(f"{name} seed {seed} on {count} fresh seeds: regsearch minus optuna "
          f"{_cell(_versus(confirmed, 'regsearch', 'optuna'))}", flush=True)


def _counts(t: dict[str, Any]) -> str:
    """A targets() result as the page's cells: below Optuna (Holm), gap misses point / wide /
    paired (Holm), overtuned."""
    return (f"{len(t['below_optuna'])} ({len(t['below_family'])}) | {len(t['gap_losses'])} / "
            f"{len(t['gap_wide'])} / {len(t['gap_significant'])} ({len(t['gap_family'])}) | "
            f"{t['overtuned']['regsearch']}")


def _cell(d) -> str:
    """A paired difference (``Paired``) as the page writes it: mean [95% interval]."""
    low, high = d.interval()
    return f"{d.mean:+.4f} [{low:+.4f}, {high:+.4f}]"


def report() -> None:
    """``recheck.md``: the targets over the rechecked runs on the page's seeds and on the fresh
    ones, then each run's figures both ways."""
    from search.paired import Paired

    parts = {p.stem: json.loads(p.read_text()) for p in sorted(PARTS.glob("*-*.json"))}
    rechecks = {p.stem: json.loads(p.read_text()) for p in sorted(OUT.glob("*-*.json"))}
    keys = sorted(set(parts) & set(rechecks),
                  key=lambda k: (ORDER.index(parts[k]["problem"]), parts[k]["seed"]))
    counts = sorted({len(rechecks[k]["confirmed"]["seeds"]) for k in keys})
    both = {label: [(parts[k]["problem"], parts[k]["seed"], c(k), parts[k]["recommendations"])
                    for k in keys]
            for label, c in (("page", lambda k: parts[k]["confirmed"]),
                             ("fresh", lambda k: rechecks[k]["confirmed"]))}
    t = {label: targets(runs) for label, runs in both.items()}
    lines = [
        "# The recommendation page read again on fresh seeds", "",
        "Command: `make bench` (`python benchmarks/recheck.py` after `recommendation.py --all`; "
        "`--report` rebuilds this page). Method: the script's docstring. In each run every "
        "strategy's recommendation and the baseline are retrained as there, on "
        f"{' or '.join(map(str, counts)) or 'no'} fresh seeds (from {FIRST_SEED}), and the "
        "targets are counted again over these runs.", "",
        f"Runs rechecked: {', '.join(keys) or 'none'}; those in which `recommendation.md` "
        f"finds a miss: {', '.join(missed({k: parts[k] for k in keys})) or 'none'}.", "",
        "| seeds | below plain Optuna (Holm) | gap misses: point / > 1 test sample / paired "
        "(Holm) | overtuned |", "|---|---|---|---|",
        f"| the page's ({len(parts[keys[0]]['confirmed']['seeds']) if keys else 0}) | "
        f"{_counts(t['page'])} |",
        f"| fresh ({', '.join(map(str, counts)) or 0}) | {_counts(t['fresh'])} |", "",
        *(f"The other strategies held to the same targets in regsearch's place, on "
          f"{on}: below plain Optuna "
          + ", ".join(f"{k} {v}" for k, v in t[label]["others_below"].items())
          + "; gap misses (point / > 1 test sample / paired / Holm) "
          + ", ".join(f"{k} {' / '.join(str(len(m)) for m in v)}"
                      for k, v in t[label]["held_to"].items())
          + "; overtuned " + ", ".join(f"{k} {t[label]['overtuned'][k]}"
                                       for k in STRATEGIES[1:]) + ".\n"
          for label, on in (("page", "the page's seeds"), ("fresh", "the fresh seeds"))),
        "Misses on the page's seeds: "
        + ("; ".join(t["page"]["below_optuna"] + t["page"]["gap_losses"]) or "none")
        + ". On the fresh seeds: "
        + ("; ".join(t["fresh"]["below_optuna"] + t["fresh"]["gap_losses"]) or "none") + ".",
        "", "## Per run", "",
        "| run | seeds | regsearch minus baseline, test | regsearch minus plain Optuna, test | "
        "mean test: " + " / ".join(STRATEGIES) + " | mean gap: " + " / ".join(STRATEGIES)
        + " |", "|---|---|---|---|---|---|"]
    for i, k in enumerate(keys):
        for label in ("page", "fresh"):
            c = both[label][i][2]
            to_baseline = Paired.of(c["regsearch"]["tests"], c["baseline"]["tests"],
                                    floor=c["floor"])
            lines.append(
                f"| {k} | {label} ({len(c['seeds'])}) | {_cell(to_baseline)} | "
                f"{_cell(_versus(c, 'regsearch', 'optuna'))} | "
                + " / ".join(f"{c[s]['test']:.4f}" for s in STRATEGIES) + " | "
                + " / ".join(f"{c[s]['gap']:+.4f}" for s in STRATEGIES) + " |")
    write_result("recheck", "\n".join(lines) + "\n", {"rechecks": rechecks})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", help="parts to recheck, as NAME-SEED (default: "
                        "every part)")
    parser.add_argument("--count", type=int, default=20, help="fresh seeds a setting")
    parser.add_argument("--threads", type=int, help="TensorFlow threads (op determinism gives "
                        "the same figures on any count)")
    parser.add_argument("--report", action="store_true", help="only rebuild the page")
    parser.add_argument("--no-report", action="store_true", help="do not write the page (a "
                        "run in a lane: the run that started the lanes writes it)")
    args = parser.parse_args()
    if not args.report:
        parts = {p.stem: json.loads(p.read_text()) for p in sorted(PARTS.glob("*-*.json"))}
        if not parts:
            sys.exit(f"{PARTS}: no recommendation parts; run recommendation.py --all first")
        chosen = args.parts or sorted(parts, key=lambda k: (ORDER.index(parts[k]["problem"]),
                                                           parts[k]["seed"]))
        unknown = [k for k in chosen if k not in parts]
        if unknown:
            sys.exit(f"{PARTS}: no part {', '.join(unknown)}; parts: {', '.join(parts)}")
        todo = [k for k in chosen if not (OUT / f"{k}.json").exists()]
        if len(todo) == 1:
            from search.trainer import configure_tensorflow

            configure_tensorflow(args.threads)
            run_part(parts[todo[0]], args.count)
        elif todo:  # the widest first (ORDER), so the two lanes end close together
            failed = in_lanes(Path(__file__), {k: ["--parts", k, "--count", str(args.count),
                                                   "--threads", "1", "--no-report"]
                                               for k in todo}, WORK / "recheck" / "logs")
            if failed:
                sys.exit(f"recheck runs failed: {', '.join(failed)} (logs in "
                         f"{WORK / 'recheck' / 'logs'})")
    if not args.no_report:
        report()


if __name__ == "__main__":
    main()
