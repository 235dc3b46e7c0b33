"""Datasets and splits: digits by default; NPZ, CSV and Keras' MNIST on files that ship or
that the tests make (no network here)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from search.data import load_splits
from search.errors import RegsearchError
from search.spec import DataSpec

from .conftest import ROOT

DIGITS = DataSpec(dataset="digits", path=None, x_key="x", y_key="y", label_column="label",
                  validation=0.2, test=0.2, limit=0)
MNIST_SAMPLE = ROOT.parent / "shared" / "data" / "mnist10k.npz"


def test_digits_splits_are_stratified_disjoint_and_fixed_by_the_seed():
    a, b, c = load_splits(DIGITS, 7), load_splits(DIGITS, 7), load_splits(DIGITS, 8)
    assert a.sizes() == {"train": 1077, "val": 360, "test": 360}
    assert a.n_features == 64 and a.n_classes == 10
    assert np.array_equal(a.x_val, b.x_val) and not np.array_equal(a.x_val, c.x_val)
    rows = {x.tobytes() for x in a.x_train}
    assert not any(x.tobytes() in rows for x in a.x_test)
    for y in (a.y_train, a.y_val, a.y_test):  # every class in every split, in proportion
        share = np.bincount(y, minlength=10) / len(y)
        assert np.allclose(share, np.bincount(a.y_train, minlength=10) / 1077, atol=0.02)
    assert 0.0 <= a.x_train.min() and a.x_train.max() == 1.0


@pytest.mark.skipif(not MNIST_SAMPLE.exists(), reason="../shared/data/mnist10k.npz not present")
def test_npz_loads_the_real_mnist_sample_with_a_limit():
    spec = dataclasses.replace(DIGITS, dataset="npz", path=str(MNIST_SAMPLE), limit=2000)
    s = load_splits(spec, 777)
    assert s.n_features == 784 and s.n_classes == 10
    assert sum(s.sizes().values()) == 2000 and s.x_train.max() == 1.0


def test_npz_and_csv_made_here(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, size=(200, 4, 4)).astype("uint8"), np.repeat([3, 5], 100)
    np.savez(tmp_path / "d.npz", images=x, labels=y)
    s = load_splits(dataclasses.replace(DIGITS, dataset="npz", path=str(tmp_path / "d.npz"),
                                        x_key="images", y_key="labels"), 0)
    assert s.n_features == 16 and s.n_classes == 2 and set(np.unique(s.y_train)) == {0, 1}

    import pandas as pd

    frame = pd.DataFrame(x.reshape(200, -1), columns=[f"p{i}" for i in range(16)])
    frame["digit"] = y
    frame.to_csv(tmp_path / "d.csv", index=False)
    c = load_splits(dataclasses.replace(DIGITS, dataset="csv", path=str(tmp_path / "d.csv"),
                                        label_column="digit"), 0)
    assert c.n_features == 16 and sum(c.sizes().values()) == 200


def test_keras_mnist_reads_keras_own_cache(tmp_path, monkeypatch):
    """Keras' own MNIST loader, for real, with its download step pointed at a file made here
    in Keras' format (the real download needs network and a matching hash)."""
    cache = tmp_path / "keras" / "datasets"
    cache.mkdir(parents=True)
    rng = np.random.default_rng(1)
    arrays = {k: rng.integers(0, 256, size=(100, 28, 28)).astype("uint8")
              for k in ("x_train", "x_test")}
    arrays.update({k: np.tile(np.arange(10), 10).astype("uint8") for k in ("y_train", "y_test")})
    np.savez(cache / "mnist.npz", **arrays)
    from keras.src.datasets import mnist

    monkeypatch.setattr(mnist, "get_file", lambda fname, **kwargs: str(cache / fname))
    s = load_splits(dataclasses.replace(DIGITS, dataset="mnist"), 0)
    assert sum(s.sizes().values()) == 200 and s.n_features == 784


@pytest.mark.parametrize("edit,message", [
    ({"dataset": "npz", "x_key": "pixels"}, "no array named 'pixels'"),
    ({"dataset": "csv", "label_column": "target"}, "no column 'target'"),
    ({"dataset": "npz", "path": "/nonexistent/file.npz"}, "cannot read as .npz"),
])
def test_bad_data_names_the_file_and_key(tmp_path, edit, message):
    np.savez(tmp_path / "d.npz", x=np.zeros((20, 3)), y=np.arange(20) % 2)
    (tmp_path / "d.csv").write_text("a,label\n1,0\n2,1\n")
    path = edit.get("path") or str(tmp_path / ("d.npz" if edit["dataset"] == "npz" else "d.csv"))
    with pytest.raises(RegsearchError, match=message):
        load_splits(dataclasses.replace(DIGITS, **{**edit, "path": path}), 0)
