"""What a trial costs besides its epochs, trial after trial: RSS and fixed time per trial.

Runs the default study's Optuna objective (the real evaluator over the study's folds, one fit a
fold, with its sampler, pruner and racing; in-memory storage; few epochs, since what grows is
per fit, not per epoch) for N trials in a fresh process per mode: the reused compiled model
(the default), a model rebuilt every fit (``reuse_model = false``), and a rebuilt model without
``trainer._drop_custom_gradients`` (what ``keras.backend.clear_session`` plus ``gc.collect``
alone leave behind). After every trial it records the resident set size, the trial's wall time
and the time of each epoch (Keras ``on_epoch_begin`` to ``on_epoch_end``, validation included).
The fixed cost of a trial is its wall time minus its fits' epochs at their steady cost (the
median epoch from the second on: Keras traces inside the first epoch, so that one carries a
rebuilt model's tracing). All modes run in this one invocation, one after the other, so the
ratios compare like with like. Writes benchmarks/results/memory.md.

    .venv/bin/python benchmarks/memory.py [--trials 50] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

# A script's own folder is on sys.path, so the shared helpers import as a module.
from _common import DEFAULT, write_result
MODES = {"reuse": "one compiled model re-armed every trial (the default)",
         "rebuild": "reuse_model = false: build and compile every trial; clear_session, custom "
                    "gradients dropped, gc",
         "clear_session only": "rebuild every trial; clear_session and gc.collect, TensorFlow's "
                               "registry left alone"}


def rss_mb() -> float:
    """This process's resident set size in MB (from /proc, as `ps` reports it)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure(mode: str, trials: int, epochs: int) -> dict:
    """Run ``trials`` trials in this process; RSS and seconds after each."""
    import dataclasses

    import optuna

    from search import trainer
    from search.backends import optuna_backend
    from search.folds import study_data
    from search.objective import evaluator_for
    from search.spec import load_spec

    import keras

    if mode == "clear_session only":
        trainer._drop_custom_gradients = lambda: None  # noqa: SLF001 - the thing measured
    trainer.configure_tensorflow()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_spec(DEFAULT)
    spec = dataclasses.replace(spec, training=dataclasses.replace(
        spec.training, max_epochs=epochs, patience=epochs, min_steps=0,
        reuse_model=mode == "reuse"))

    class EpochTimer(keras.callbacks.Callback):
        """Seconds of each epoch (training and validation) during one fit."""

        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None) -> None:
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None) -> None:
            self.seconds.append(time.perf_counter() - self.began)

        def steady(self) -> float:
            """What the fit's epochs cost once traced: each at the median of epochs 2 on.

            Keras traces the train and test functions inside the first epoch, so timing the
            epochs as they ran would count a rebuilt model's tracing as epoch time.
            """
            later = self.seconds[1:] or self.seconds
            return len(self.seconds) * statistics.median(later)

    steady: list[float] = []  # the current trial's fits (one per fold), at their steady cost
    real_fit = trainer.Trainer.fit

    def timed_fit(self, *args, **kwargs):
        # Only the seconds are kept, not the timer: a callback holds its model, and keeping
        # every fit's would keep every rebuilt model alive (the benchmark leaking, not us).
        timer = EpochTimer()
        out = real_fit(self, *args, callbacks=[timer], **kwargs)
        steady.append(timer.steady())
        return out

    trainer.Trainer.fit = timed_fit
    folds, _ = study_data(spec)
    rss, seconds, fixed, start = [], [], [], time.perf_counter()

    def record(study, trial) -> None:
        rss.append(round(rss_mb(), 1))
        seconds.append(round(time.perf_counter() - start, 2))
        wall = (trial.datetime_complete - trial.datetime_start).total_seconds()
        fixed.append(round(wall - sum(steady), 3))
        steady.clear()

    with evaluator_for(spec, folds) as evaluator:
        study = optuna.create_study(
            direction="maximize", sampler=optuna_backend.make_sampler(spec.search, spec.seed),
            pruner=optuna_backend.make_pruner(spec.search, evaluator.stride))
        study.optimize(optuna_backend.make_objective(spec, evaluator), n_trials=trials,
                       callbacks=[record], catch=(Exception,))
    return {"mode": mode, "rss_mb": rss, "seconds": seconds, "fixed": fixed}


def slope(values: list[float], first: int) -> float:
    """Least-squares growth per trial from trial ``first`` on (MB per trial)."""
    import numpy as np

    y = np.asarray(values[first - 1:])
    return float(np.polyfit(np.arange(len(y)), y, 1)[0]) if len(y) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # one child's run
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(measure(args.mode, args.trials, args.epochs)))
        return

    runs = []
    for mode in MODES:  # a fresh process each: memory is what is measured
        print(f"== {mode}: {args.trials} trials of {args.epochs} epochs", flush=True)
        proc = subprocess.run([sys.executable, __file__, "--mode", mode, "--trials",
                               str(args.trials), "--epochs", str(args.epochs)],
                              capture_output=True, text=True, check=True)
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))

    n = args.trials
    rows = ["| mode | RSS after trial 1 | after trial 10 | after trial " + str(n)
            + " | growth per trial (trials 5-" + str(n) + ") | seconds per trial | fixed cost, "
            "trial 1 | fixed cost per trial, median of trials 2-" + str(n) + " |",
            "|---|---|---|---|---|---|---|---|"]
    fixed = {run["mode"]: statistics.median(run["fixed"][1:]) for run in runs}
    per_trial = {}
    for run in runs:
        rss, secs = run["rss_mb"], run["seconds"]
        per_trial[run["mode"]] = (secs[-1] - secs[0]) / max(1, n - 1)
        rows.append(f"| {run['mode']} | {rss[0]:.0f} MB | {rss[min(9, n - 1)]:.0f} MB | "
                    f"{rss[-1]:.0f} MB | {slope(rss, 5):+.2f} MB | "
                    f"{per_trial[run['mode']]:.2f} s | {run['fixed'][0]:.2f} s | "
                    f"{fixed[run['mode']]:.3f} s |")
    text = "\n".join([
        "# Per-trial cost of one worker process over many trials: memory and fixed time",
        "",
        f"`benchmarks/memory.py --trials {n} --epochs {args.epochs}`: the default study's "
        "objective (digits, the lecture-notes MLP, real sampler, pruner and racing; a trial is "
        "one fit on each of the study's folds), in-memory storage, one fresh process per mode, "
        "run one after the other in one invocation. RSS is read from /proc after each trial.",
        "",
        *rows,
        "",
        f"**Reuse vs rebuild, in this run: fixed cost per trial {fixed['reuse']:.3f} s vs "
        f"{fixed['rebuild']:.3f} s ({fixed['reuse'] / fixed['rebuild']:.2f}x); wall time per "
        f"trial {per_trial['reuse'] / per_trial['rebuild']:.2f}x.** The fixed cost is a trial's "
        "wall time (Optuna's start to complete) minus its fits' epochs at their steady cost (the "
        "median epoch from the second on, since Keras traces inside the first epoch); with "
        "reuse the first trial still pays for building, compiling and tracing.",
        "",
        *(f"- {mode}: {what}" for mode, what in MODES.items()),
        "",
        "What grows without the fix: Keras' optimizer all-reduces gradients through "
        "`tf.custom_gradient`, which registers one closure per traced train step in "
        "TensorFlow's global gradient registry and never removes it; the closure keeps the "
        "whole traced graph alive (TensorFlow issue 97697). `search.trainer.Trainer` drops "
        "those entries after `clear_session()`. The reused model traces once, so nothing "
        "accumulates in the first place.",
        "",
        "RSS after each trial (MB):",
        "",
        *(f"- {run['mode']}: {run['rss_mb']}" for run in runs),
        "",
    ])
    write_result("memory", text)


if __name__ == "__main__":
    main()
