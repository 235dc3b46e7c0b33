"""Feature scaling fitted on the training part only, in the form a Keras layer can carry.

One global max-abs divisor for a whole file squashed every small-scale column of a tabular CSV
to about 1e-6 and the model learned nothing; so each feature is scaled on its own (or, for
pixels, all by one range), fitted with scikit-learn on the training split and applied to
validation and test. The fitted scaling is ``(x - offset) / scale``, which is what
``keras.layers.Normalization(mean=offset, variance=scale**2)`` computes, so an exported model
can take the features as they are in the data file.

Images and token sequences keep their shape (``data.load_splits(..., flatten=False)``): the
scaling still has one offset and scale per flattened feature, fitted on the training part
flattened to (n, n_features), and ``transform`` flattens, scales and gives the array back in
its own shape. Token ids are not scaled: "auto" is "none" for the text datasets (an NPZ of
token sequences needs ``data.scaling = "none"``, as "auto" takes integer NPZ arrays for
images).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .spec import DataSpec

METHODS = ("standard", "minmax", "range", "none")
IMAGE_DATASETS = ("digits", "mnist", "fashion_mnist", "images")
TEXT_DATASETS = ("imdb", "synthetic_text")


@dataclass(frozen=True, eq=False)
class Scaling:
    """A fitted feature scaling: ``scaled = (x - offset) / scale``, one value per feature.

    This form is what ``keras.layers.Normalization(mean=offset, variance=scale**2)`` computes,
    so an exported model can take raw features. ``requested`` is the spec's
    ``data.scaling`` (maybe "auto"), ``method`` the one applied.
    """

    requested: str
    method: str
    offset: np.ndarray
    scale: np.ndarray

    def __post_init__(self) -> None:
        for name in ("offset", "scale"):
            values = np.array(getattr(self, name), dtype="float32").reshape(-1)
            values.flags.writeable = False
            object.__setattr__(self, name, values)
        if self.offset.shape != self.scale.shape:
            raise ValueError(f"offset has {self.offset.size} values but scale {self.scale.size}")

    @classmethod
    def identity(cls, n_features: int, requested: str = "none") -> Scaling:
        """No scaling: the features as they are."""
        return cls(requested, "none", np.zeros(n_features), np.ones(n_features))

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scale samples as fitted; float32, in ``x``'s shape. ``x`` is (n, n_features) or
        samples of any shape (n, H, W, C), (n, T), ... of ``n_features`` values each."""
        x = np.asarray(x, dtype="float32")
        if x.ndim <= 2:
            return (x - self.offset) / self.scale
        flat = x.reshape(len(x), self.offset.size)
        return ((flat - self.offset) / self.scale).reshape(x.shape)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, for study attributes and exports."""
        return {"method": self.method, "requested": self.requested,
                "offset": [float(v) for v in self.offset], "scale": [float(v) for v in self.scale]}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Scaling:
        """The inverse of ``to_dict``."""
        return cls(doc["requested"], doc["method"], np.asarray(doc["offset"]),
                   np.asarray(doc["scale"]))


def scaling_method(spec: DataSpec, x: np.ndarray) -> str:
    """The method ``data.scaling`` names; "auto" is one range for images (pixels share a
    scale), none for token sequences (ids are not magnitudes) and per-feature standardization
    for tabular data.

    ``x`` is the dataset as loaded: an NPZ with 3+ dimensions or integer values is images (so
    token sequences in an NPZ need ``data.scaling = "none"``).
    """
    if spec.scaling != "auto":
        return spec.scaling
    if spec.dataset in TEXT_DATASETS:
        return "none"
    if spec.dataset in IMAGE_DATASETS:
        return "range"
    if spec.dataset == "npz" and (x.ndim >= 3 or np.issubdtype(x.dtype, np.integer)):
        return "range"
    return "standard"


def fit_scaling(x_train: np.ndarray, method: str, requested: str | None = None) -> Scaling:
    """Fit ``method`` on the training features (n, n_features), or samples of any shape
    flattened to that, with scikit-learn's scalers.

    standard: per feature, mean and standard deviation (StandardScaler; a constant feature
    gets scale 1). minmax: per feature, min and range to [0, 1] (MinMaxScaler). range: one min
    and range over all values, as for pixels. none: unchanged.
    """
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    x = np.asarray(x_train, dtype="float64")
    n_features = int(np.prod(x.shape[1:]))
    x = x.reshape(len(x), n_features)
    if method == "standard":
        fitted = StandardScaler().fit(x)
        offset, scale = fitted.mean_, fitted.scale_
    elif method == "minmax":
        fitted = MinMaxScaler().fit(x)
        offset, scale = fitted.data_min_, 1 / fitted.scale_
    elif method == "range":
        fitted = MinMaxScaler().fit(x.reshape(-1, 1))
        offset = np.full(n_features, fitted.data_min_[0])
        scale = np.full(n_features, 1 / fitted.scale_[0])
    elif method == "none":
        offset, scale = np.zeros(n_features), np.ones(n_features)
    else:
        raise ValueError(f"unknown scaling method {method!r}; allowed: {', '.join(METHODS)}")
    return Scaling(requested or method, method, offset, scale)
