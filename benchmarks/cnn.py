"""The CNN preset on the MNIST sample: what a trial costs over bare Keras, fixed and per epoch.

Bare Keras: clone the preset CNN with the setting applied (``search.apply``), compile and fit
it with validation data and EarlyStopping (best weights restored), as a user writes it for
each setting they try. Ours: ``search.trainer.Trainer.fit`` as a trial runs it (per-epoch
BatchNorm-free dropout-off train accuracy, gap and score; EarlyStopping on the score; final
evaluation of both splits), with ``reuse_model`` true (one compiled model re-armed per trial,
where the model's layers allow) and false (a fresh clone per trial). Each is timed at 1 and at
``--epochs`` epochs (patience above that, so every epoch runs): the difference over the extra
epochs is the per-epoch cost, the rest the fixed cost a trial pays. Alternating runs in one
process, medians reported. Writes benchmarks/results/cnn-overhead.md and .json.

    .venv/bin/python benchmarks/cnn.py [--repeats 3] [--epochs 6] [--rows 3000]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

from _common import ROOT, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--rows", type=int, default=3000)
    args = parser.parse_args()

    from search import apply, trainer
    from search.data import load_splits
    from search.objective import trainer_for
    from search.spec import load_spec

    trainer.configure_tensorflow()
    import keras

    spec = load_spec(ROOT / "studies" / "cnn-mnist.toml")
    spec = dataclasses.replace(spec, data=dataclasses.replace(spec.data, limit=args.rows))
    splits = load_splits(spec.data, spec.seed, flatten=False)
    params = {"dropout": 0.3, "regularizer": "l2", "l2": 1e-4}

    def training(epochs: int, reuse: bool):
        return dataclasses.replace(spec.training, max_epochs=epochs, patience=epochs + 1,
                                   min_steps=0, reuse_model=reuse)

    from search.presets import cnn

    base = cnn(splits.input_shape, splits.n_classes, filters=spec.model.filters,
               hidden=spec.model.hidden)

    def bare(epochs: int) -> None:
        keras.backend.clear_session()
        model = apply(base, params, seed=spec.seed)
        model.compile(optimizer=keras.optimizers.Adam(spec.training.learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      jit_compile=False)
        stopper = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
                                                patience=epochs + 1, restore_best_weights=True)
        model.fit(splits.x_train, splits.y_train, validation_data=(splits.x_val, splits.y_val),
                  batch_size=spec.training.batch_size, epochs=epochs, verbose=0,
                  callbacks=[stopper])

    fitter = trainer_for(spec, splits)

    def ours(epochs: int, reuse: bool) -> None:
        fitter.fit(params, seed=spec.seed, training=training(epochs, reuse))

    kinds = {"bare Keras": bare,
             "regsearch, reuse_model = true": lambda e: ours(e, True),
             "regsearch, reuse_model = false": lambda e: ours(e, False)}
    times: dict[str, dict[int, list[float]]] = {k: {1: [], args.epochs: []} for k in kinds}
    for fn in kinds.values():
        fn(1)  # warm the process up (imports, first graphs) before timing
    for _ in range(args.repeats):
        for epochs in (1, args.epochs):
            for name, fn in kinds.items():
                started = time.perf_counter()
                fn(epochs)
                times[name][epochs].append(time.perf_counter() - started)
    fitter.close()
    rows = {}
    for name, by in times.items():
        one, many = statistics.median(by[1]), statistics.median(by[args.epochs])
        per_epoch = (many - one) / (args.epochs - 1)
        rows[name] = {"per_epoch_s": per_epoch, "fixed_s": one - per_epoch,
                      "runs": {str(k): v for k, v in by.items()}}
    bare_row = rows["bare Keras"]
    table = "".join(
        f"| {name} | {r['fixed_s']:.2f} | {r['fixed_s'] / bare_row['fixed_s']:.2f} | "
        f"{r['per_epoch_s']:.2f} | {r['per_epoch_s'] / bare_row['per_epoch_s']:.2f} |\n"
        for name, r in rows.items())
    text = (f"# The CNN preset: cost of a trial over bare Keras\n\nMade by `benchmarks/cnn.py "
            f"--rows {args.rows} --epochs {args.epochs} --repeats {args.repeats}`: the CNN "
            f"preset (filters {list(spec.model.filters)}, hidden {list(spec.model.hidden)}) on "
            f"{splits.sizes()} rows of the MNIST sample, 28x28, one setting (dropout 0.3, L2 "
            "1e-4), alternating runs in one process, medians. Fixed cost: a 1-epoch run less one "
            f"epoch; per epoch: the {args.epochs}-epoch run less the 1-epoch run, over the "
            "extra epochs.\n\n| run | fixed s | ratio to bare | per epoch s | ratio to bare |\n"
            "|---|---|---|---|---|\n" + table)
    write_result("cnn-overhead", text, rows)


if __name__ == "__main__":
    main()
