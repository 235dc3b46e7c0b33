"""Confirmation: does the search's answer still win when its top settings are trained again?

One training run is one draw, and the search keeps the best of many draws, so the winner's
figures lean lucky. Confirmation retrains the top ``confirm.top_k`` settings by the selection
rule, and the unregularized baseline, with ``confirm.seeds`` seeds the search never used
(the study's seed + 1, + 2, ...), and applies the same rule to the means. Like ``holdout`` it
reads the test split, so it runs only after the search; its result is the study's
``confirmation`` user attribute, which the report, the export and the dashboard read.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, TextIO

import numpy as np

from . import holdout
from .data import Splits
from .objective import Selection, select, trainer_for
from .spec import StudySpec
from .study import Snapshot, setting

#: The figures each confirmation run keeps, and that are averaged.
FIGURES = ("train_accuracy", "val_accuracy", "test_accuracy", "gap")


def seeds(spec: StudySpec) -> list[int]:
    """The confirmation seeds: the study's seed + 1 .. + n, none of them the search's own."""
    return [spec.seed + i for i in range(1, spec.confirm.seeds + 1)]


def ranked(snap: Snapshot, k: int) -> list[dict[str, Any]]:
    """The top ``k`` completed trials by the selection rule, best first.

    The rule picks one trial; the next is the one it picks once the first is set aside, with the
    tolerance of the first pick kept fixed so every rank is judged by the same yardstick.
    """
    first = snap.selection
    if first is None:
        return []
    out = [first.chosen]
    rest = [r for r in snap.completed.to_dict("records")
            if r["number"] != first.chosen["number"]]
    while rest and len(out) < k:
        # n_val is not used when a tolerance is given.
        nxt = select(rest, n_val=1, tolerance=first.tolerance).chosen
        out.append(nxt)
        rest = [r for r in rest if r["number"] != nxt["number"]]
    return out


def summarize_runs(runs: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and sample standard deviation (ddof=1) of each figure over the runs."""
    values = {k: np.array([r[k] for r in runs], dtype=float) for k in FIGURES}
    return ({k: float(v.mean()) for k, v in values.items()},
            {k: float(v.std(ddof=1)) for k, v in values.items()})


def current(snap: Snapshot) -> dict[str, Any] | None:
    """The stored confirmation if it still covers the study's top-k settings and seeds."""
    stored = snap.confirmation
    if stored is None or stored["seeds"] != seeds(snap.spec):
        return None
    numbers = [int(r["number"]) for r in ranked(snap, snap.spec.confirm.top_k)]
    return stored if [s["trial"] for s in stored["settings"][1:]] == numbers else None


def ensure_confirmation(snap: Snapshot, splits: Callable[[], Splits],
                        out: TextIO | None = None) -> dict[str, Any] | None:
    """The study's confirmation, computed now unless the stored one covers the same settings.

    ``splits`` is called only if something has to be trained. Settings already confirmed with
    the same seeds (the baseline, a trial still in the top k) are reused, so running the report
    again after a few more trials retrains only the newcomers. None when no trial completed.
    """
    if (fresh := current(snap)) is not None:
        return fresh
    spec = snap.spec
    top = ranked(snap, spec.confirm.top_k)
    if not top:
        return None
    wanted = seeds(spec)
    stored = snap.confirmation
    done = {s["trial"]: s for s in stored["settings"]} if stored and stored["seeds"] == wanted \
        else {}
    numbers = [int(r["number"]) for r in top]

    trainer = None
    settings = []
    todo: list[tuple[str, int | None, dict[str, Any]]] = [("baseline", None, {})] + [
        (f"trial {n}", n, setting(r)) for n, r in zip(numbers, top)]
    with contextlib.ExitStack() as stack:
        for label, number, params in todo:
            if number in done:
                settings.append(done[number])
                continue
            if trainer is None:  # one trainer, so its compiled model serves every run
                trainer = stack.enter_context(trainer_for(spec, splits()))
            runs = []
            for seed in wanted:
                if out is not None:
                    print(f"  confirming {label} with seed {seed}...", file=out, flush=True)
                start = time.perf_counter()
                result = holdout.evaluate_setting(params, spec, trainer.splits, seed=seed,
                                                  trainer=trainer)
                runs.append({"seed": seed, **{k: result[k] for k in FIGURES},
                             "epochs": result["epochs"], "seconds": time.perf_counter() - start})
            mean, std = summarize_runs(runs)
            settings.append({"label": label, "trial": number, "params": result["params"],
                             "runs": runs, "mean": mean, "std": std})

    best = _select_on_means(settings[1:], snap.n_val, spec.tolerance)
    confirmation = {
        "seeds": wanted, "top_k": spec.confirm.top_k, "search_chosen": numbers[0],
        "best": int(best.chosen["number"]), "agrees": int(best.chosen["number"]) == numbers[0],
        "selection": best.describe(), "settings": settings,
        "seconds": sum(r["seconds"] for s in settings for r in s["runs"]),
    }
    snap.study.set_user_attr("confirmation", confirmation)
    return confirmation


def _select_on_means(settings: list[dict[str, Any]], n_val: int,
                     tolerance: float | None) -> Selection:
    means = [{"number": s["trial"], **s["mean"]} for s in settings]
    return select(means, n_val=n_val, tolerance=tolerance)


def best_setting(confirmation: dict[str, Any]) -> dict[str, Any]:
    """The confirmed best setting's entry (the top-k setting that wins on the means)."""
    return next(s for s in confirmation["settings"] if s["trial"] == confirmation["best"])
