"""Datasets and the train / validation / test split.

Data is loaded once per study: checked (every row labelled, features numeric, missing values
refused or dropped as ``data.missing`` says), flattened to float32 features with labels
0..k-1, split stratified with the study's seed, and scaled by a ``Scaling`` fitted on the
training part only (``search/scaling.py``), so validation and test figures never leak into the model's input. The
search only ever receives the train and validation parts; ``Splits.test`` is read to report
the baseline and the chosen setting.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
import numpy as np
import pandas as pd

from .errors import RegsearchError
from .scaling import Scaling, fit_scaling, scaling_method
from .spec import DataSpec


@dataclass(frozen=True)
class Splits:
    """Stratified splits of one dataset, fixed by the seed; ``x_*`` are scaled by ``scaling``."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    scaling: Scaling

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}

    def scaled(self, scaling: Scaling) -> Splits:
        """These (unscaled) splits with ``scaling`` applied to every part."""
        if self.scaling.method != "none":
            raise ValueError(f"splits are already scaled ({self.scaling.method})")
        return replace(self, x_train=scaling.transform(self.x_train),
                       x_val=scaling.transform(self.x_val), x_test=scaling.transform(self.x_test),
                       scaling=scaling)


def load_splits(spec: DataSpec, seed: int) -> Splits:
    """Load the dataset once, split it stratified and seeded, scale it as fitted on train."""
    raw, method = load_raw(spec, seed)
    return raw.scaled(fit_scaling(raw.x_train, method, spec.scaling))


def load_raw(spec: DataSpec, seed: int) -> tuple[Splits, str]:
    """The unscaled splits and the scaling method ``data.scaling`` resolves to for this data
    (``scaling.scaling_method`` needs the arrays as loaded, before they are flattened), so that
    each cross-validation fold can fit the scaling on its own training part."""
    x, y = load_arrays(spec)
    return split(x, y, spec, seed), scaling_method(spec, x)


def load_raw_splits(spec: DataSpec, seed: int) -> Splits:
    """The same splits as ``load_splits`` with the features unscaled (``scaling.method`` is
    "none"): the input of an exported model that scales inside itself."""
    return split(*load_arrays(spec), spec, seed)


def load_arrays(spec: DataSpec) -> tuple[np.ndarray, np.ndarray]:
    """The whole dataset as (features, labels) in the file's shape and dtype, before splitting.

    Every label is present; rows with a missing feature are refused or dropped (``missing``).
    """
    if spec.dataset == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.data, bunch.target
    if spec.dataset == "npz":
        return _load_npz(Path(spec.path), spec)
    if spec.dataset in ("csv", "parquet"):
        return _load_table(Path(spec.path), spec)
    if spec.dataset in ("mnist", "fashion_mnist"):
        # Keras downloads these once into $KERAS_HOME/datasets and reads the cached file after.
        import keras

        try:
            (xa, ya), (xb, yb) = getattr(keras.datasets, spec.dataset).load_data()
        except Exception as exc:  # noqa: BLE001 - any download/IO failure is the same to a user
            raise RegsearchError(f"data.dataset = {spec.dataset!r}: Keras could not load it "
                                 f"({exc}); without network, use dataset = 'npz' with a local "
                                 "file") from None
        return np.concatenate([xa, xb]), np.concatenate([ya, yb])
    raise RegsearchError(f"unknown dataset {spec.dataset!r}")


def _load_npz(path: Path, spec: DataSpec) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as f:
            is_zip = f.read(2) == b"PK"
        if not is_zip:  # np.load also reads .npy and pickles; only a zip archive is an .npz
            raise RegsearchError(f"{path}: not an NPZ file (data.path): dataset = 'npz' reads a "
                                 "zip archive as numpy.savez writes it; for a CSV file use "
                                 "dataset = 'csv'")
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in (spec.x_key, spec.y_key) if k not in f.files]
            if missing:
                raise RegsearchError(f"{path}: no array named {missing[0]!r} (data.x_key / "
                                     f"data.y_key); the file holds {', '.join(f.files)}")
            x, y = f[spec.x_key], f[spec.y_key]
    except (OSError, ValueError) as exc:
        raise RegsearchError(f"{path}: cannot read as .npz (data.path): {exc}") from None
    if x.ndim == 0 or y.shape != (len(x),):
        raise RegsearchError(f"{path}: {spec.y_key!r} must hold one label per row of "
                             f"{spec.x_key!r} (shape {x.shape}), got shape {y.shape}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise RegsearchError(f"{path}: {spec.x_key!r} must hold numbers (data.x_key), got "
                             f"dtype {x.dtype}")
    unlabelled = np.flatnonzero(pd.isna(y))
    if unlabelled.size:
        raise RegsearchError(f"{path}: missing (NaN) labels at {spec.y_key}[i] for i = "
                             f"{_some(unlabelled)} (0-based, data.y_key); every row needs a "
                             "label: fix or remove those rows")
    if not np.issubdtype(x.dtype, np.floating):
        return x, y
    gaps = np.isnan(x.reshape(len(x), -1))
    rows = gaps.any(axis=1)
    if rows.any():
        if spec.missing == "error":
            raise _missing_features(path, int(rows.sum()),
                                    [f"{spec.x_key}[:, {i}]" for i in np.flatnonzero(gaps.any(0))])
        x, y = x[~rows], y[~rows]
    return x, y


def _load_table(path: Path, spec: DataSpec) -> tuple[np.ndarray, np.ndarray]:
    """A CSV or Parquet file read by pandas: one row per sample, features and a label column."""
    kind = {"csv": "CSV", "parquet": "Parquet"}[spec.dataset]
    try:
        frame = pd.read_csv(path) if spec.dataset == "csv" else pd.read_parquet(path)
    except FileNotFoundError:
        raise RegsearchError(f"{path}: cannot read as {kind} (data.path): no such file") from None
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these too
        raise RegsearchError(f"{path}: cannot read as {kind} (data.path): {exc}") from None
    label = spec.label_column
    if label not in frame.columns:
        raise RegsearchError(f"{path}: no column {label!r} (data.label_column); columns: "
                             f"{', '.join(map(str, frame.columns))}")
    if frame.empty:
        raise RegsearchError(f"{path}: has no data rows, only the columns "
                             f"{', '.join(map(str, frame.columns))} (data.path)")
    features = frame.drop(columns=[label])
    if features.columns.empty:
        raise RegsearchError(f"{path}: no feature columns besides the label {label!r}")
    non_numeric = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric:
        # Encoding is the user's choice (one-hot, ordinal, embeddings) and would have to travel
        # with the exported model; regsearch does not guess it.
        raise RegsearchError(f"{path}: feature columns must be numeric; not numeric: "
                             f"{', '.join(map(str, non_numeric))}; encode them as numbers "
                             "(one-hot, e.g. pandas.get_dummies) before")
    unlabelled = np.flatnonzero(frame[label].isna().to_numpy())
    if unlabelled.size:
        header = ", not counting the header" if spec.dataset == "csv" else ""
        raise RegsearchError(f"{path}: missing label (data.label_column = {label!r}) in data rows "
                             f"{_some(unlabelled + 1)} (1-based{header}); every row needs a "
                             "label: fix or remove those rows")
    gaps = features.isna()
    rows = gaps.any(axis=1).to_numpy()
    if rows.any():
        if spec.missing == "error":
            raise _missing_features(path, int(rows.sum()),
                                    list(map(str, features.columns[gaps.any().to_numpy()])))
        frame, features = frame[~rows], features[~rows]
    return features.to_numpy(), frame[label].to_numpy()


def _missing_features(path: Path, n_rows: int, columns: list[str]) -> RegsearchError:
    # No imputation: a median filled in here could not be reproduced by the exported model.
    return RegsearchError(f"{path}: missing (NaN or empty) feature values in {_rows(n_rows)}, "
                          f"in columns {', '.join(columns)} (data.missing = 'error'); fill them "
                          "in the file, or set data.missing = 'drop' to leave those rows out")


def _rows(n: int) -> str:
    return "1 row" if n == 1 else f"{n} rows"


def _some(values: np.ndarray, shown: int = 5) -> str:
    """The first few of ``values`` for a message, and how many more there are."""
    head = ", ".join(str(int(v)) for v in values[:shown])
    return head if len(values) <= shown else f"{head} and {len(values) - shown} more"


def prepare(x: np.ndarray, y: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flatten features to float32 (unscaled) and encode labels as 0..k-1.

    Returns (features, labels, classes) where ``classes[i]`` is the file's label for class i.
    """
    if len(x) != len(y):
        raise RegsearchError(f"{where}: {len(x)} samples but {len(y)} labels")
    if len(x) == 0:
        raise RegsearchError(f"{where}: the dataset has no rows")
    x = np.asarray(x).reshape(len(x), -1).astype("float32")
    bad = np.flatnonzero(~np.isfinite(x).all(axis=0))
    if bad.size:
        raise RegsearchError(f"{where}: features contain infinite values (or values too large "
                             f"for float32), in features {_some(bad)} (0-based, flattened)")
    classes, y = np.unique(np.asarray(y), return_inverse=True)
    if len(classes) < 2:
        raise RegsearchError(f"{where}: need at least 2 classes, found {len(classes)}")
    return x, y.astype("int32"), classes


def split(x: np.ndarray, y: np.ndarray, spec: DataSpec, seed: int) -> Splits:
    """Prepare the whole dataset and split it train / validation / test, stratified, seeded.

    The result is unscaled (``scaling.method`` is "none").
    """
    where = spec.path or spec.dataset
    x, y, classes = prepare(x, y, where)
    try:
        train, val, test = _split_rows(y, spec, seed)
    except ValueError:
        raise RegsearchError(_too_small(y, classes, spec, seed, where)) from None
    return Splits(where, x[train], y[train], x[val], y[val], x[test], y[test], len(classes),
                  Scaling.identity(x.shape[1]))


def _split_rows(y: np.ndarray, spec: DataSpec, seed: int) -> tuple[np.ndarray, ...]:
    """Row numbers of train, validation and test: the ``limit`` subsample, then test, then
    validation, each stratified with ``random_state=seed`` (this order and these calls keep
    every stored study's splits)."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y))
    if spec.limit and spec.limit < len(y):
        rows, _ = train_test_split(rows, train_size=spec.limit, stratify=y, random_state=seed)
    rest, test = train_test_split(rows, test_size=spec.test, stratify=y[rows], random_state=seed)
    train, val = train_test_split(rest, test_size=spec.validation / (1 - spec.test),
                                  stratify=y[rest], random_state=seed)
    return train, val, test


def _too_small(y: np.ndarray, classes: np.ndarray, spec: DataSpec, seed: int, where: str) -> str:
    """Why the stratified split failed, and the smallest size that works."""
    n, k = len(y), len(classes)
    need = "train, validation and test each need a row of every class"
    if spec.limit and spec.limit < n:
        if n - spec.limit < k:
            return (f"{where}: data.limit = {spec.limit} leaves {_rows(n - spec.limit)} of "
                    f"{n} out, fewer than the {k} classes a stratified subsample needs; use "
                    f"data.limit = 0 (all rows) or at most {n - k}")
        for limit in range(max(_min_rows(k, spec), spec.limit + 1), n - k + 1):
            try:
                _split_rows(y, replace(spec, limit=limit), seed)
            except ValueError:
                continue
            return (f"{where}: data.limit = {spec.limit} is too small for a stratified split "
                    f"of {k} classes: {need}; use data.limit = {limit} at least")
    counts = np.bincount(y, minlength=k)
    if counts.min() < 3:
        return (f"{where}: class {classes[counts.argmin()]} has only {_rows(counts.min())}; a "
                f"stratified split needs at least 3 rows of every class ({need})")
    return (f"{where}: {n} rows are too few for a stratified split of {k} classes with "
            f"data.validation = {spec.validation} and data.test = {spec.test}: {need}, so at "
            f"least {_min_rows(k, spec)} rows")


def _min_rows(k: int, spec: DataSpec) -> int:
    """The fewest rows whose test, validation and train parts, sized as scikit-learn sizes
    them (the held-out part rounded up), each hold ``k`` rows."""
    n = 3 * k
    while True:
        n_test = int(np.ceil(spec.test * n))
        n_val = int(np.ceil(spec.validation / (1 - spec.test) * (n - n_test)))
        if min(n_test, n_val, n - n_test - n_val) >= k:
            return n
        n += 1
