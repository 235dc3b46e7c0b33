"""Datasets and the train / validation / test split.

Data is loaded once per study, flattened to float32 features in [0, 1]-ish scale with integer
labels, and split stratified with the study's seed. The search only ever receives the train and
validation parts; ``Splits.test`` is read to report the baseline and the chosen setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import RegsearchError
from .spec import DataSpec


@dataclass(frozen=True)
class Splits:
    """Stratified splits of one dataset, fixed by the seed."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def load_arrays(spec: DataSpec) -> tuple[np.ndarray, np.ndarray]:
    """The whole dataset as (features, labels), before splitting."""
    if spec.dataset == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.data, bunch.target
    if spec.dataset == "npz":
        return _load_npz(Path(spec.path), spec.x_key, spec.y_key)
    if spec.dataset == "csv":
        return _load_csv(Path(spec.path), spec.label_column)
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


def _load_npz(path: Path, x_key: str, y_key: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in (x_key, y_key) if k not in f.files]
            if missing:
                raise RegsearchError(f"{path}: no array named {missing[0]!r} (data.x_key / "
                                     f"data.y_key); the file holds {', '.join(f.files)}")
            return f[x_key], f[y_key]
    except (OSError, ValueError) as exc:
        raise RegsearchError(f"{path}: cannot read as .npz (data.path): {exc}") from None


def _load_csv(path: Path, label_column: str) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise RegsearchError(f"{path}: cannot read as CSV (data.path): {exc}") from None
    if label_column not in frame.columns:
        raise RegsearchError(f"{path}: no column {label_column!r} (data.label_column); columns: "
                             f"{', '.join(map(str, frame.columns))}")
    features = frame.drop(columns=[label_column])
    non_numeric = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric:
        raise RegsearchError(f"{path}: feature columns must be numeric; not numeric: "
                             f"{', '.join(map(str, non_numeric))}")
    return features.to_numpy(), frame[label_column].to_numpy()


def prepare(x: np.ndarray, y: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Flatten features to float32 scaled into [0, 1] by the largest magnitude, labels to 0..k-1."""
    if len(x) != len(y):
        raise RegsearchError(f"{where}: {len(x)} samples but {len(y)} labels")
    if len(x) == 0:
        raise RegsearchError(f"{where}: the dataset is empty")
    x = np.asarray(x).reshape(len(x), -1).astype("float32")
    if not np.isfinite(x).all():
        raise RegsearchError(f"{where}: features contain NaN or infinite values")
    peak = float(np.abs(x).max())
    if peak > 1.0:
        x /= peak
    classes, y = np.unique(np.asarray(y), return_inverse=True)
    if len(classes) < 2:
        raise RegsearchError(f"{where}: need at least 2 classes, found {len(classes)}")
    return x, y.astype("int32"), len(classes)


def load_splits(spec: DataSpec, seed: int) -> Splits:
    """Load the dataset once and split it train / validation / test, stratified, seeded."""
    from sklearn.model_selection import train_test_split

    where = spec.path or spec.dataset
    x, y, n_classes = prepare(*load_arrays(spec), where=where)
    if spec.limit and spec.limit < len(y):
        x, _, y, _ = train_test_split(x, y, train_size=spec.limit, stratify=y, random_state=seed)
    try:
        x_rest, x_test, y_rest, y_test = train_test_split(
            x, y, test_size=spec.test, stratify=y, random_state=seed)
        x_train, x_val, y_train, y_val = train_test_split(
            x_rest, y_rest, test_size=spec.validation / (1 - spec.test), stratify=y_rest,
            random_state=seed)
    except ValueError as exc:
        raise RegsearchError(f"{where}: cannot split stratified ({exc}); use more data or "
                             "smaller data.validation / data.test") from None
    return Splits(where, x_train, y_train, x_val, y_val, x_test, y_test, n_classes)
