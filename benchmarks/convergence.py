"""When does training converge? Sets the default study's ``max_epochs`` and ``patience``.

The gap measured on an unfinished model is not the gap of the model a user would train: in the
old default study (30 epochs) the chosen setting's validation loss was still falling at the last
epoch. This trains the default study's model on its cross-validation folds with a long epoch cap
and a long patience, for the baseline and settings across the space, and records per fold the
epoch of the best objective (``score``, what EarlyStopping monitors) and of the lowest
validation loss, and whether either was still improving near the cap.

    python benchmarks/convergence.py [--epochs 200] [--patience 30] [--quick]

Writes benchmarks/results/convergence.md and .json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

from _common import DEFAULT, RESULTS

SETTINGS = [
    ("baseline", {}),
    ("dropout 0.2", {"dropout": 0.2}),
    ("dropout 0.45", {"dropout": 0.45}),
    ("dropout 0.2, l2 1e-3", {"dropout": 0.2, "regularizer": "l2", "l2": 1e-3}),
    ("dropout 0.1, l1 1e-4", {"dropout": 0.1, "regularizer": "l1", "l1": 1e-4}),
    ("dropout 0.4, l2 1e-2", {"dropout": 0.4, "regularizer": "l2", "l2": 1e-2}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--patience", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="two settings, 20 epochs")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.patience = 20, 5
    from search.folds import study_data
    from search.objective import evaluator_for
    from search.spec import load_spec
    from search.trainer import configure_tensorflow

    configure_tensorflow()
    spec = load_spec(DEFAULT)
    spec = dataclasses.replace(spec, training=dataclasses.replace(
        spec.training, max_epochs=args.epochs, patience=args.patience, min_steps=0))
    folds, _ = study_data(spec)
    rows = []
    settings = SETTINGS[:2] if args.quick else SETTINGS
    with evaluator_for(spec, folds) as evaluator:
        for label, params in settings:
            start = time.perf_counter()
            result = evaluator.evaluate(params)
            for i, fold in enumerate(result.folds):
                c = fold.curves
                best_loss = min(range(len(c["val_loss"])), key=c["val_loss"].__getitem__) + 1
                rows.append({"setting": label, "fold": i + 1, "epochs_run": fold.epochs,
                             "best_score_epoch": fold.best_epoch, "best_val_loss_epoch": best_loss,
                             "val_accuracy": fold.val_accuracy, "gap": fold.gap,
                             "stopped": fold.stopped})
            print(f"{label}: best-score epochs {[f.best_epoch for f in result.folds]}, "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
    best = [r["best_score_epoch"] for r in rows]
    loss = [r["best_val_loss_epoch"] for r in rows]
    summary = {"epochs_cap": args.epochs, "patience": args.patience,
               "steps_per_epoch": -(-len(folds[0].y_train) // spec.training.batch_size),
               "best_score_epoch": {"median": statistics.median(best), "max": max(best)},
               "best_val_loss_epoch": {"median": statistics.median(loss), "max": max(loss)}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "convergence.json").write_text(json.dumps({"summary": summary, "rows": rows},
                                                         indent=1))
    lines = ["# Convergence of the default study's model on its folds", "",
             f"Command: `python benchmarks/convergence.py --epochs {args.epochs} --patience "
             f"{args.patience}`. Model, data and folds of `studies/default.toml`; EarlyStopping "
             f"on `score` with patience {args.patience}, no minimum steps; "
             f"{summary['steps_per_epoch']} optimizer steps an epoch.", "",
             "| setting | fold | epochs run | best-score epoch | lowest val-loss epoch | "
             "val accuracy | gap |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['setting']} | {r['fold']} | {r['epochs_run']} | {r['best_score_epoch']} | "
              f"{r['best_val_loss_epoch']} | {r['val_accuracy']:.4f} | {r['gap']:+.4f} |"
              for r in rows]
    lines += ["", f"Best-score epoch: median {summary['best_score_epoch']['median']}, max "
              f"{summary['best_score_epoch']['max']}. Lowest validation loss: median "
              f"{summary['best_val_loss_epoch']['median']}, max "
              f"{summary['best_val_loss_epoch']['max']}."]
    (RESULTS / "convergence.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[-1:]))


if __name__ == "__main__":
    main()
