"""The data each trial is scored on: cross-validation folds of train + validation.

One split is one draw: on digits the seed alone moved the baseline's validation accuracy by
2.4 points, more than any difference between settings in the space. So every trial, and the
unregularized baseline, is scored on the same ``evaluation.folds`` stratified folds of the
pooled train + validation rows (scikit-learn's ``RepeatedStratifiedKFold``, seeded by the
study, reshuffled ``evaluation.repeats`` times), which makes their differences paired. Each
fold's feature scaling is fitted on that fold's training part only. The test split is in no
fold: a fold's test part is empty, so the search cannot read it.

After the search, ``refit_splits`` gives confirmation (``search/confirm.py``) all of train +
validation to train on, scaled as fitted on it, and the test split to evaluate once.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .data import Splits, load_raw
from .errors import RegsearchError
from .scaling import fit_scaling
from .spec import EvaluationSpec, StudySpec


def study_data(spec: StudySpec) -> tuple[list[Splits], Splits]:
    """A study's data, loaded once: the cross-validation folds the search scores on, and the
    refit splits confirmation trains and tests on."""
    raw, method = load_raw(spec.data, spec.seed, flatten=spec.model.wants_vectors)
    return (fold_splits(raw, method, spec.data.scaling, spec.evaluation, spec.seed,
                        limit=spec.data.limit),
            refit_splits(raw, method, spec.data.scaling))


def pooled(raw: Splits) -> tuple[np.ndarray, np.ndarray]:
    """Train + validation rows (unscaled), in that order."""
    return np.concatenate([raw.x_train, raw.x_val]), np.concatenate([raw.y_train, raw.y_val])


def fold_splits(raw: Splits, method: str, requested: str, evaluation: EvaluationSpec,
                seed: int, *, limit: int = 0) -> list[Splits]:
    """The folds as ``Splits`` (train part, validation part, empty test part), scaled as fitted
    on each fold's train part; identical for every trial of a study (same rows, same seed).

    ``raw`` is unscaled (``data.load_raw``); ``method`` the resolved scaling, ``requested``
    what the spec asked for; ``limit`` the spec's ``data.limit``, named in the message when a
    class is too small for the folds, as keeping more rows is the other way out.
    """
    from sklearn.model_selection import RepeatedStratifiedKFold

    if raw.scaling.method != "none":
        raise ValueError(f"fold_splits needs unscaled splits, got {raw.scaling.method}")
    x, y = pooled(raw)
    k = evaluation.folds
    smallest = int(np.bincount(y, minlength=raw.n_classes).min())
    if smallest < k:
        more = f", or keep more rows with a larger data.limit (now {limit})" if limit else ""
        raise RegsearchError(
            f"{raw.name}: evaluation.folds = {k} needs at least {k} rows of every class in "
            f"train + validation, the smallest class has {smallest}; use evaluation.folds = "
            f"{max(smallest, 2)} or fewer{more}" if smallest >= 2 else
            f"{raw.name}: a class has {smallest} row in train + validation; cross-validation "
            f"needs at least 2 rows of every class (evaluation.folds >= 2){more}")
    splitter = RepeatedStratifiedKFold(n_splits=k, n_repeats=evaluation.repeats,
                                       random_state=seed)
    empty_x, empty_y = x[:0], y[:0]
    out = []
    for i, (train, val) in enumerate(splitter.split(x, y)):
        scaling = fit_scaling(x[train], method, requested)
        out.append(Splits(f"{raw.name} fold {i + 1}", scaling.transform(x[train]), y[train],
                          scaling.transform(x[val]), y[val], empty_x, empty_y, raw.n_classes,
                          scaling))
    return out


def refit_splits(raw: Splits, method: str, requested: str) -> Splits:
    """All of train + validation to train on, the test split to evaluate; scaled as fitted on
    train + validation. The validation part is empty: nothing is selected on these."""
    x, y = pooled(raw)
    scaling = fit_scaling(x, method, requested)
    return replace(raw, name=f"{raw.name} train+validation", x_train=scaling.transform(x),
                   y_train=y, x_val=x[:0], y_val=y[:0], x_test=scaling.transform(raw.x_test),
                   scaling=scaling)


def fold_seed(seed: int, fold: int) -> int:
    """The training seed of fold ``fold``: the same for every trial (so trials compare paired),
    different across folds (so the mean also averages over initializations)."""
    return seed + fold

