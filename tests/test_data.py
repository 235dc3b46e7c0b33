"""Datasets, splits and scaling: digits by default; NPZ, CSV, Parquet and Keras' MNIST on files
that ship or that the tests make (no network here)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from search.data import load_raw_splits, load_splits
from search.scaling import Scaling, fit_scaling
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


def tabular(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """Three classes, features on scales from 1e-3 to 4e3 (the case one global divisor broke)."""
    rng = np.random.default_rng(seed)
    label = np.arange(rows) % 3
    return pd.DataFrame({"tiny": rng.normal(label * 1e-3, 1e-3), "mid": rng.normal(label, 1.0),
                         "big": rng.normal(2000 + label * 500, 500), "id": np.arange(rows),
                         "label": label})


def table_spec(path, **edit) -> DataSpec:
    dataset = "parquet" if str(path).endswith(".parquet") else "csv"
    return dataclasses.replace(DIGITS, dataset=dataset, path=str(path), **edit)


def test_standard_scaling_is_per_feature_and_fitted_on_train_only(tmp_path):
    frame = tabular()
    frame.to_csv(tmp_path / "d.csv", index=False)
    spec = table_spec(tmp_path / "d.csv")
    raw, s = load_raw_splits(spec, 0), load_splits(spec, 0)
    assert (s.scaling.requested, s.scaling.method) == ("auto", "standard")
    assert raw.scaling.method == "none" and np.array_equal(raw.y_test, s.y_test)
    assert np.allclose(s.scaling.offset, raw.x_train.mean(axis=0), rtol=1e-5)
    assert np.allclose(s.x_train.mean(axis=0), 0, atol=1e-4)
    assert np.allclose(s.x_train.std(axis=0), 1, atol=1e-4)  # no column squashed to ~1e-6

    # A value only a test row holds changes neither the fitted scaling nor the training part.
    test_id = int(raw.x_test[0, 3])
    frame.loc[frame["id"] == test_id, "big"] = 1e7
    frame.to_csv(tmp_path / "e.csv", index=False)
    t = load_splits(table_spec(tmp_path / "e.csv"), 0)
    assert t.scaling.to_dict() == s.scaling.to_dict()
    assert np.array_equal(t.x_train, s.x_train) and np.array_equal(t.x_val, s.x_val)
    assert t.x_test[0, 2] == np.float32((np.float32(1e7) - s.scaling.offset[2])
                                        / s.scaling.scale[2])


def test_each_method_is_sklearns_scaler_written_as_offset_and_scale():
    rng = np.random.default_rng(3)
    x = rng.normal([0.01, 5, 3000], [0.001, 2, 800], size=(200, 3)).astype("float32")
    flat = x.reshape(-1, 1)
    expected = {
        "standard": StandardScaler().fit(x).transform(x),
        "minmax": MinMaxScaler().fit(x).transform(x),
        "range": MinMaxScaler().fit(flat).transform(flat).reshape(x.shape),
        "none": x,
    }
    for method, want in expected.items():
        scaling = fit_scaling(x, method)
        assert scaling.offset.dtype == scaling.scale.dtype == np.float32
        assert scaling.offset.shape == scaling.scale.shape == (3,)
        assert np.array_equal(scaling.transform(x), (x - scaling.offset) / scaling.scale)
        assert np.allclose(scaling.transform(x), want, atol=1e-5), method
    with pytest.raises(ValueError, match="unknown scaling method 'log'"):
        fit_scaling(x, "log")


@pytest.mark.parametrize("method", ["standard", "minmax", "range"])
def test_a_constant_feature_gets_scale_one_not_inf_or_nan(method):
    x = np.column_stack([np.full(50, 7.0), np.arange(50.0)])
    scaling = fit_scaling(x, method)
    assert np.isfinite(scaling.transform(x)).all()
    assert scaling.scale[0] == (1.0 if method != "range" else 49.0)
    assert fit_scaling(np.full((10, 2), 3.0), "range").scale.tolist() == [1.0, 1.0]


def test_scaling_round_trips_through_json():
    scaling = fit_scaling(np.random.default_rng(0).normal(size=(30, 4)), "standard", "auto")
    doc = json.loads(json.dumps(scaling.to_dict()))
    assert set(doc) == {"method", "requested", "offset", "scale"} and doc["requested"] == "auto"
    back = Scaling.from_dict(doc)
    assert back.to_dict() == doc and np.array_equal(back.offset, scaling.offset)


def test_digits_with_auto_is_x_over_16_as_before():
    raw, s = load_raw_splits(DIGITS, 7), load_splits(DIGITS, 7)
    assert (s.scaling.method, s.scaling.offset.max(), s.scaling.scale.min()) == ("range", 0, 16)
    for part in ("x_train", "x_val", "x_test"):
        assert np.array_equal(getattr(s, part), getattr(raw, part) / np.float32(16))


@pytest.mark.parametrize("make,method", [
    (lambda p: np.savez(p, x=np.random.default_rng(0).uniform(size=(60, 3, 3)),
                        y=np.arange(60) % 2), "range"),
    (lambda p: np.savez(p, x=np.random.default_rng(0).integers(0, 255, size=(60, 5)),
                        y=np.arange(60) % 2), "range"),
    (lambda p: np.savez(p, x=np.random.default_rng(0).normal(size=(60, 5)),
                        y=np.arange(60) % 2), "standard"),
], ids=["3-D NPZ", "integer NPZ", "2-D float NPZ"])
def test_auto_picks_range_for_images_and_standard_for_tables(tmp_path, make, method):
    make(tmp_path / "d.npz")
    s = load_splits(dataclasses.replace(DIGITS, dataset="npz", path=str(tmp_path / "d.npz")), 0)
    assert (s.scaling.requested, s.scaling.method) == ("auto", method)
    chosen = load_splits(dataclasses.replace(DIGITS, dataset="npz", path=str(tmp_path / "d.npz"),
                                             scaling="minmax"), 0)
    assert (chosen.scaling.requested, chosen.scaling.method) == ("minmax", "minmax")


def test_parquet_reads_as_the_same_table_as_csv(tmp_path):
    frame = tabular(90)
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_parquet(tmp_path / "d.parquet")
    c, p = (load_splits(table_spec(tmp_path / name), 5) for name in ("d.csv", "d.parquet"))
    assert p.scaling.method == "standard" and p.scaling.to_dict() == c.scaling.to_dict()
    for part in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert np.array_equal(getattr(c, part), getattr(p, part)), part


def test_missing_drop_leaves_those_rows_out_before_splitting(tmp_path):
    frame = tabular(120)
    frame.loc[[5, 6, 70], "mid"] = np.nan
    frame.to_csv(tmp_path / "d.csv", index=False)
    s = load_splits(table_spec(tmp_path / "d.csv", missing="drop"), 0)
    assert sum(s.sizes().values()) == 117
    ids = np.concatenate([s.x_train, s.x_val, s.x_test])[:, 3] * s.scaling.scale[3] + \
        s.scaling.offset[3]
    assert not set(np.rint(ids).astype(int)) & {5, 6, 70}


@pytest.mark.parametrize("method", ["standard", "minmax", "range"])
def test_keras_normalization_with_offset_and_scale_reproduces_the_scaling(tmp_path, method):
    import keras

    tabular().to_csv(tmp_path / "d.csv", index=False)
    spec = table_spec(tmp_path / "d.csv", scaling=method)
    raw, s = load_raw_splits(spec, 0), load_splits(spec, 0)
    layer = keras.layers.Normalization(mean=s.scaling.offset, variance=s.scaling.scale ** 2)
    for part in ("x_train", "x_test"):
        got = keras.ops.convert_to_numpy(layer(getattr(raw, part)))
        assert np.allclose(got, getattr(s, part), rtol=1e-5, atol=1e-5), part
