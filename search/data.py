"""Datasets and the train / validation / test split.

Data is loaded once per study: checked (every row labelled, features numeric, missing values
refused or dropped as ``data.missing`` says), made float32 features with labels 0..k-1, split
stratified with the study's seed, and scaled by a ``Scaling`` fitted on the training part only
(``search/scaling.py``), so validation and test figures never leak into the model's input. The
search only ever receives the train and validation parts; ``Splits.test`` is read to report
the baseline and the chosen setting.

Features are flattened to (n, n_features) by default (``flatten=True``, what the MLP takes);
with ``flatten=False`` each sample keeps its shape, (n, H, W), (n, H, W, C) for images or
(n, T) for token sequences, for a CNN or a text model. Either way the split rows come from the
labels only, so both give the same rows, and the scaling is the same.

Datasets (``data.dataset``): scikit-learn's digits (8x8 images); an NPZ, CSV or Parquet file;
Keras' MNIST, Fashion-MNIST and IMDB (downloaded once by Keras); a folder of images, one
subfolder per class ("images"); and "synthetic_text", a made-up text task generated here
(``synthetic_text``). Token sequences (IMDB, synthetic_text) are integer ids 0..num_words-1
held as float32 (exact up to 2**24) and are not scaled ("auto" is "none" for them); an NPZ of
token sequences loads too, with ``data.scaling = "none"``.
"""

from __future__ import annotations

import contextlib
import io
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
        """Values per sample, flattened (H * W * C for an image)."""
        return int(np.prod(self.x_train.shape[1:]))

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One sample's shape: (n_features,) when flattened, else (H, W), (H, W, C), (T), ..."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}

    def scaled(self, scaling: Scaling) -> Splits:
        """These (unscaled) splits with ``scaling`` applied to every part."""
        if self.scaling.method != "none":
            raise ValueError(f"splits are already scaled ({self.scaling.method})")
        return replace(self, x_train=scaling.transform(self.x_train),
                       x_val=scaling.transform(self.x_val), x_test=scaling.transform(self.x_test),
                       scaling=scaling)


def load_splits(spec: DataSpec, seed: int, *, flatten: bool = True) -> Splits:
    """Load the dataset once, split it stratified and seeded, scale it as fitted on train.
    ``flatten=False`` keeps each sample's shape (see the module's docstring)."""
    raw, method = load_raw(spec, seed, flatten=flatten)
    return raw.scaled(fit_scaling(raw.x_train, method, spec.scaling))


def load_raw(spec: DataSpec, seed: int, *, flatten: bool = True) -> tuple[Splits, str]:
    """The unscaled splits and the scaling method ``data.scaling`` resolves to for this data
    (``scaling.scaling_method`` needs the arrays as loaded, before they are flattened), so that
    each cross-validation fold can fit the scaling on its own training part."""
    x, y = load_arrays(spec, flatten=flatten)
    return split(x, y, spec, seed, flatten=flatten), scaling_method(spec, x)


def load_raw_splits(spec: DataSpec, seed: int, *, flatten: bool = True) -> Splits:
    """The same splits as ``load_splits`` with the features unscaled (``scaling.method`` is
    "none"): the input of an exported model that scales inside itself."""
    return split(*load_arrays(spec, flatten=flatten), spec, seed, flatten=flatten)


def load_arrays(spec: DataSpec, *, flatten: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The whole dataset as (features, labels) in the file's shape and dtype, before splitting.

    Every label is present; rows with a missing feature are refused or dropped (``missing``).
    ``flatten`` only chooses digits' form: its 64 features (the stored studies' arrays) or the
    same values as 8x8 images.
    """
    if spec.dataset == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return (bunch.data if flatten else bunch.images), bunch.target
    if spec.dataset == "images":
        return _load_images(spec)
    if spec.dataset == "imdb":
        return _load_imdb(spec)
    if spec.dataset == "synthetic_text":
        return synthetic_text(spec)
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


def _load_images(spec: DataSpec) -> tuple[np.ndarray, np.ndarray]:
    """A folder with one subfolder of images per class, read by Keras at ``image_size`` with
    ``color_mode``'s channels: float32 (n, height, width, channels) with values 0..255, and
    the name of each image's subfolder as its label (so class i is the i-th name in sorted
    order). A subfolder without images is no class."""
    if spec.path is None:
        raise RegsearchError("data.path is required for dataset = 'images' (a folder with one "
                             "subfolder of images per class)")
    import keras

    path = Path(spec.path)
    layout = "dataset = 'images' reads a folder with one subfolder of images per class"
    if not path.exists():
        raise RegsearchError(f"{path}: no such folder (data.path); {layout}")
    if not path.is_dir():
        raise RegsearchError(f"{path}: not a folder (data.path); {layout}")
    if not any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir()):
        raise RegsearchError(f"{path}: no class subfolders (data.path); {layout}")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # "Found N files belonging to K ..."
            ds = keras.utils.image_dataset_from_directory(
                path, labels="inferred", label_mode="int", color_mode=spec.color_mode,
                image_size=tuple(spec.image_size), batch_size=256, shuffle=False)
            batches = list(ds.as_numpy_iterator())
    except Exception as exc:  # noqa: BLE001 - no images, or a file that does not decode
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "No images found" in first:
            raise RegsearchError(f"{path}: no images in its class subfolders (data.path); "
                                 f"{layout}, as .png, .jpg, .jpeg, .bmp or .gif") from None
        raise RegsearchError(f"{path}: cannot read the images (data.path): {first}") from None
    x = np.concatenate([b[0] for b in batches])
    y = np.asarray(ds.class_names)[np.concatenate([b[1] for b in batches])]
    classes = np.unique(y)
    if len(classes) < 2:
        raise RegsearchError(f"{path}: images of only 1 class (subfolder {classes[0]!r}) "
                             f"(data.path); a classifier needs at least 2 classes: {layout}")
    return x, y


def _load_imdb(spec: DataSpec) -> tuple[np.ndarray, np.ndarray]:
    """Keras' IMDB reviews (train and test pooled; regsearch splits them itself), the
    ``num_words`` most frequent words, each review padded or truncated at its start to
    ``sequence_length`` tokens; labels 0 (negative) and 1 (positive)."""
    import keras

    try:
        (xa, ya), (xb, yb) = keras.datasets.imdb.load_data(num_words=spec.num_words)
    except Exception as exc:  # noqa: BLE001 - any download/IO failure is the same to a user
        raise RegsearchError(f"data.dataset = 'imdb': Keras could not load it ({exc}); without "
                             "network, use dataset = 'synthetic_text' (made up here) or 'npz' "
                             "with a local file of token sequences and scaling = 'none'") from None
    x = keras.utils.pad_sequences([*xa, *xb], maxlen=spec.sequence_length)
    return x, np.concatenate([np.asarray(ya), np.asarray(yb)])


def synthetic_text(spec: DataSpec) -> tuple[np.ndarray, np.ndarray]:
    """A made-up text classification task, generated here (no download), the same for the same
    ``generator_seed``: SYNTHETIC data, not language, for running a text model's study offline.

    ``samples`` documents of ``sequence_length`` token ids below ``num_words``, 0 padding at
    the start (as ``pad_sequences`` pads); labels 0 and 1, balanced. Each document has a length
    between a quarter of ``sequence_length`` and all of it, filled with "neutral" words drawn
    Zipf-like (a few frequent, many rare), carrying no class; plus 1 + Poisson(4) cue words,
    each from its class's 20 words (ids 21-40 for class 1, 1-20 for class 0) with
    probability 0.75, else from the other class's; plus Poisson(1) words of a pool of rare,
    classless words (the top ids) that each appear in about 3 documents, which a model that
    memorizes (an Embedding) overfits to. Counting cue words is the best rule, and is right
    about 87% of the time at the default length (less for short sequence_length).
    """
    n_words, length, n = spec.num_words, spec.sequence_length, spec.samples
    if n_words < 100:
        raise RegsearchError(f"data.num_words = {n_words}: dataset = 'synthetic_text' needs "
                             "at least 100 (40 cue words, neutral and rare words)")
    rng = np.random.default_rng(spec.generator_seed)
    n_cue, n_rare = 20, max(1, min(n_words // 4, n // 3))
    neutral = np.arange(2 * n_cue + 1, n_words - n_rare)
    zipf = 1.0 / np.arange(1, len(neutral) + 1) ** 1.1
    y = rng.permutation(np.arange(n) % 2)
    x = neutral[rng.choice(len(neutral), size=(n, length), p=zipf / zipf.sum())]
    sizes = rng.integers(max(1, length // 4), length + 1, size=n)
    x[np.arange(length) < (length - sizes)[:, None]] = 0
    for i, size in enumerate(sizes):
        at = length - size + rng.permutation(size)
        k = min(1 + rng.poisson(4), size)
        side = np.where(rng.random(k) < 0.75, y[i], 1 - y[i])
        x[i, at[:k]] = 1 + side * n_cue + rng.integers(0, n_cue, k)
        r = min(rng.poisson(1.0), size - k)
        x[i, at[k:k + r]] = n_words - n_rare + rng.integers(0, n_rare, r)
    return x.astype("int32"), y


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


def prepare(x: np.ndarray, y: np.ndarray, where: str, *,
            flatten: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features as float32 (unscaled), flattened to (n, n_features) unless ``flatten`` is
    False (one value per sample becomes (n, 1) either way), and labels encoded as 0..k-1.

    Returns (features, labels, classes) where ``classes[i]`` is the file's label for class i.
    """
    if len(x) != len(y):
        raise RegsearchError(f"{where}: {len(x)} samples but {len(y)} labels")
    if len(x) == 0:
        raise RegsearchError(f"{where}: the dataset has no rows")
    x = np.asarray(x)
    x = (x.reshape(len(x), -1) if flatten or x.ndim < 2 else x).astype("float32")
    bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=0))
    if bad.size:
        raise RegsearchError(f"{where}: features contain infinite values (or values too large "
                             f"for float32), in features {_some(bad)} (0-based, flattened)")
    classes, y = np.unique(np.asarray(y), return_inverse=True)
    if len(classes) < 2:
        raise RegsearchError(f"{where}: need at least 2 classes, found {len(classes)}")
    return x, y.astype("int32"), classes


def split(x: np.ndarray, y: np.ndarray, spec: DataSpec, seed: int, *,
          flatten: bool = True) -> Splits:
    """Prepare the whole dataset and split it train / validation / test, stratified, seeded;
    ``flatten=False`` keeps each sample's shape (the same rows either way).

    The result is unscaled (``scaling.method`` is "none").
    """
    where = spec.path or spec.dataset
    x, y, classes = prepare(x, y, where, flatten=flatten)
    try:
        train, val, test = _split_rows(y, spec, seed)
    except ValueError:
        raise RegsearchError(_too_small(y, classes, spec, seed, where)) from None
    return Splits(where, x[train], y[train], x[val], y[val], x[test], y[test], len(classes),
                  Scaling.identity(int(np.prod(x.shape[1:]))))


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
