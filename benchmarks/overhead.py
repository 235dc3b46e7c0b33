"""What our trainer costs over bare Keras, as a ratio measured in one run.

Bare Keras: build, compile and fit the same model for the same epochs with validation data and
EarlyStopping (best weights restored), as a user writes it for each setting they try. Ours:
``search.trainer.Trainer.fit`` as a trial runs it, with its per-epoch dropout-off train accuracy, gap
and score, EarlyStopping on the score and the final evaluation on the train and validation
splits; once on the reused compiled model (the default) and once rebuilding the model
(``reuse_model = false``). Patience is above the epoch count, so every run trains every epoch.
Alternating runs, medians reported. Writes benchmarks/results/overhead-<data>.md.

    .venv/bin/python benchmarks/overhead.py [--repeats 5] [--epochs 30] [--data digits|mnist]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

# A script's own folder is on sys.path, so the shared helpers import as a module.
from _common import DEFAULT, ROOT, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--data", choices=("digits", "mnist"), default="digits")
    args = parser.parse_args()

    from search import trainer
    from search.data import load_splits
    from search.models import build_model
    from search.objective import trainer_for
    from search.spec import load_spec

    trainer.configure_tensorflow()
    import keras

    spec = load_spec(DEFAULT)
    data = spec.data
    if args.data == "mnist":
        data = dataclasses.replace(data, dataset="npz",
                                   path=str(ROOT.parent / "shared" / "data" / "mnist10k.npz"))
    splits = load_splits(data, spec.seed)
    training = dataclasses.replace(spec.training, max_epochs=args.epochs,
                                   patience=args.epochs + 1)  # every run trains every epoch
    params = {"dropout": 0.3, "regularizer": "l2", "l2": 1e-4}

    def bare(jit_compile: bool | str = False) -> None:
        keras.backend.clear_session()
        keras.utils.set_random_seed(spec.seed)
        model = build_model(params, splits.n_features, splits.n_classes, spec.model, spec.seed)
        model.compile(optimizer=keras.optimizers.Adam(training.learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      jit_compile=jit_compile)
        stopper = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
                                                patience=training.patience,
                                                restore_best_weights=True)
        model.fit(splits.x_train, splits.y_train, validation_data=(splits.x_val, splits.y_val),
                  batch_size=training.batch_size, epochs=training.max_epochs, verbose=0,
                  callbacks=[stopper])

    fitter = trainer_for(dataclasses.replace(spec, training=training), splits)

    def ours(reuse: bool) -> None:
        fitter.fit(params, seed=spec.seed,
                   training=dataclasses.replace(training, reuse_model=reuse))

    runs = (("bare Keras fit", bare), ("regsearch trainer.fit", lambda: ours(True)),
            ("regsearch trainer.fit, reuse_model = false", lambda: ours(False)),
            ("bare Keras fit, Keras' default jit_compile='auto' (XLA)", lambda: bare("auto")))
    times: dict[str, list[float]] = {name: [] for name, _ in runs}
    bare(), ours(True)  # warm the process up (imports, first graph) before timing
    for _ in range(args.repeats):
        for name, fn in runs:
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["regsearch trainer.fit"] / med["bare Keras fit"]
    rebuilt = med["regsearch trainer.fit, reuse_model = false"] / med["bare Keras fit"]
    text = (f"# Trainer overhead vs bare Keras\n\nMade by `benchmarks/overhead.py --data "
            f"{args.data} --epochs {args.epochs} --repeats {args.repeats}`: {splits.sizes()} "
            f"samples, {args.epochs} epochs, one setting (dropout 0.3, L2 1e-4), alternating "
            "runs in one process.\n\n| run | median s | runs |\n|---|---|---|\n"
            + "".join(f"| {k} | {med[k]:.2f} | {', '.join(f'{x:.2f}' for x in v)} |\n"
                      for k, v in times.items())
            + f"\n**ratio ours / bare: {ratio:.2f}** with the reused model (the default), "
              f"**{rebuilt:.2f}** rebuilding the model each trial; ours includes the per-epoch "
              "dropout-off train accuracy, gap and score and the final evaluation of the train "
              "and validation splits. Every run trains all "
              f"{args.epochs} epochs, so the ratios of wall times are ratios per epoch. All "
              "compile with jit_compile=False; Keras' default jit_compile='auto' costs "
              f"{med[runs[3][0]] / med['bare Keras fit']:.2f}x the bare run.\n")
    write_result(f"overhead-{args.data}", text)


if __name__ == "__main__":
    main()
