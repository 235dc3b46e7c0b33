"""Data that keeps its shape (``flatten=False``) for a CNN or a text model, and the loaders
of images and token sequences: a folder of images made here, IMDB through Keras' own loader
fed made-up reviews (no network here), and the offline synthetic text task."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from search.data import load_arrays, load_raw, load_raw_splits, load_splits, synthetic_text
from search.errors import RegsearchError, SpecError
from search.scaling import fit_scaling
from search.spec import DataSpec, load_spec

from .conftest import SPACE

DIGITS = DataSpec()


def test_digits_as_images_are_the_flat_splits_reshaped():
    flat, shaped = load_splits(DIGITS, 5), load_splits(DIGITS, 5, flatten=False)
    assert shaped.input_shape == (8, 8) and shaped.n_features == flat.n_features == 64
    assert flat.input_shape == (64,)
    for part in ("train", "val", "test"):
        x_flat, x_shaped = getattr(flat, f"x_{part}"), getattr(shaped, f"x_{part}")
        assert x_shaped.shape == (len(x_flat), 8, 8) and x_shaped.dtype == np.float32
        assert np.array_equal(x_shaped.reshape(len(x_flat), -1), x_flat)
        assert np.array_equal(getattr(flat, f"y_{part}"), getattr(shaped, f"y_{part}"))
    assert flat.scaling.to_dict() == shaped.scaling.to_dict()
    raw, method = load_raw(DIGITS, 5, flatten=False)
    assert method == "range" and raw.x_train.shape[1:] == (8, 8) and raw.x_train.max() == 16
    assert load_raw_splits(DIGITS, 5, flatten=False).input_shape == (8, 8)


def test_npz_images_keep_their_shape_and_are_scaled_as_fitted_on_train(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 6, 6, 1)).astype("float32")
    np.savez(tmp_path / "d.npz", x=x, y=np.repeat([0, 1, 2], 50))
    spec = dataclasses.replace(DIGITS, dataset="npz", path=str(tmp_path / "d.npz"))
    s = load_splits(spec, 0, flatten=False)
    assert s.x_train.shape[1:] == s.x_val.shape[1:] == s.x_test.shape[1:] == (6, 6, 1)
    assert s.input_shape == (6, 6, 1) and s.n_features == 36 and s.scaling.method == "range"
    assert s.x_train.min() == 0 and s.x_train.max() == 1
    assert s.x_val.min() < 0 or s.x_val.max() > 1 or s.x_test.min() < 0 or s.x_test.max() > 1
    flat = load_splits(spec, 0)
    assert np.array_equal(s.x_val.reshape(len(s.x_val), -1), flat.x_val)
    # Per-feature methods fit one value per flattened feature and apply it in shape.
    raw = load_raw_splits(spec, 0, flatten=False)
    scaling = fit_scaling(raw.x_train, "standard")
    assert scaling.offset.shape == (36,)
    scaled = scaling.transform(raw.x_val)
    assert scaled.shape == raw.x_val.shape
    expected = (raw.x_val.reshape(len(raw.x_val), -1) - scaling.offset) / scaling.scale
    assert np.array_equal(scaled.reshape(len(raw.x_val), -1), expected)
    assert scaling.transform(raw.x_val[:0]).shape == (0, 6, 6, 1)


def test_npz_token_sequences_keep_their_shape_with_scaling_none(tmp_path):
    x = np.random.default_rng(1).integers(0, 5000, size=(60, 12))
    np.savez(tmp_path / "t.npz", x=x, y=np.tile([0, 1], 30))
    spec = dataclasses.replace(DIGITS, dataset="npz", path=str(tmp_path / "t.npz"),
                               scaling="none")
    s = load_splits(spec, 0, flatten=False)
    assert s.input_shape == (12,) and s.scaling.method == "none"
    assert set(np.unique(s.x_train)) <= set(x.ravel().astype("float32"))


def _image_folder(root, classes=("cat", "dog", "emu"), per_class=6, size=(10, 12)):
    """Colour PNGs, one subfolder per class; every pixel of class i is ``40 * (i + 1)`` in the
    red channel, so a loaded image tells its class."""
    from PIL import Image

    for i, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for j in range(per_class):
            pixels = np.zeros((*size, 3), dtype="uint8")
            pixels[..., 0] = 40 * (i + 1)
            pixels[..., 1] = j
            Image.fromarray(pixels).save(root / name / f"{j}.png")
    return root


def test_images_folder_loads_shaped_with_the_subfolders_as_classes(tmp_path, capsys):
    folder = _image_folder(tmp_path / "pics")
    spec = dataclasses.replace(DIGITS, dataset="images", path=str(folder), image_size=(10, 12),
                               color_mode="rgb", validation=0.25, test=0.25)
    x, y = load_arrays(spec)
    assert x.shape == (18, 10, 12, 3) and sorted(set(y)) == ["cat", "dog", "emu"]
    assert all(x[i, 0, 0, 0] == 40 * (["cat", "dog", "emu"].index(y[i]) + 1) for i in range(18))
    raw, method = load_raw(spec, 0, flatten=False)
    assert method == "range" and raw.input_shape == (10, 12, 3) and raw.n_classes == 3
    for xs, ys in ((raw.x_train, raw.y_train), (raw.x_val, raw.y_val), (raw.x_test, raw.y_test)):
        assert np.array_equal(xs[:, 0, 0, 0], 40.0 * (ys + 1))  # class i = i-th sorted name
    assert load_splits(spec, 0).input_shape == (360,)
    gray = load_splits(dataclasses.replace(spec, image_size=(5, 6), color_mode="grayscale"), 0,
                       flatten=False)
    assert gray.input_shape == (5, 6, 1) and gray.x_train.max() == 1
    rgba = load_raw_splits(dataclasses.replace(spec, color_mode="rgba"), 0, flatten=False)
    assert rgba.input_shape == (10, 12, 4)
    assert "Found" not in capsys.readouterr().out  # Keras' count is not printed


def test_images_folder_errors_name_the_path_and_the_key(tmp_path):
    def error(path):
        spec = dataclasses.replace(DIGITS, dataset="images", path=str(path))
        with pytest.raises(RegsearchError) as info:
            load_arrays(spec)
        message = str(info.value)
        assert str(path) in message and "data.path" in message and "\n" not in message
        return message

    assert "no such folder" in error(tmp_path / "nope")
    (tmp_path / "file.png").write_bytes(b"")
    assert "not a folder" in error(tmp_path / "file.png")
    (tmp_path / "empty").mkdir()
    assert "no class subfolders" in error(tmp_path / "empty")
    (tmp_path / "blank" / "a").mkdir(parents=True)
    assert "no images" in error(tmp_path / "blank")
    one = _image_folder(tmp_path / "one", classes=("only",), per_class=3)
    assert "only 1 class" in error(one) and "'only'" in error(one)
    with pytest.raises(RegsearchError, match="data.path is required"):
        load_arrays(dataclasses.replace(DIGITS, dataset="images"))


def test_imdb_through_keras_loader_pads_to_sequence_length(monkeypatch):
    rng = np.random.default_rng(2)
    seen = {}

    def fake_load_data(num_words=None, **kwargs):
        seen["num_words"] = num_words
        reviews = [list(rng.integers(1, num_words, size=rng.integers(1, 30)))
                   for _ in range(40)]
        labels = np.tile([0, 1], 20)
        return (reviews[:24], labels[:24]), (reviews[24:], labels[24:])

    monkeypatch.setattr(keras.datasets.imdb, "load_data", fake_load_data)
    spec = dataclasses.replace(DIGITS, dataset="imdb", num_words=500, sequence_length=16)
    s = load_splits(spec, 0, flatten=False)
    assert seen["num_words"] == 500
    assert s.input_shape == (16,) and s.x_train.dtype == np.float32 and s.n_classes == 2
    assert s.scaling.method == "none" and sum(s.sizes().values()) == 40
    x = np.concatenate([s.x_train, s.x_val, s.x_test])
    assert np.array_equal(x, np.round(x)) and x.min() == 0 and x.max() < 500
    assert np.all(x[:, -1] > 0)  # padded (and truncated) at the start, as pad_sequences does


def test_imdb_download_failure_is_one_line(monkeypatch):
    def offline(**kwargs):
        raise OSError("no network")

    monkeypatch.setattr(keras.datasets.imdb, "load_data", offline)
    with pytest.raises(RegsearchError, match=r"data.dataset = 'imdb': Keras could not load it "
                                             r"\(no network\).*synthetic_text"):
        load_arrays(dataclasses.replace(DIGITS, dataset="imdb"))


def test_synthetic_text_is_seeded_shaped_and_learnable():
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    spec = dataclasses.replace(DIGITS, dataset="synthetic_text", samples=1000, num_words=2000,
                               sequence_length=60)
    x, y = synthetic_text(spec)
    again, y_again = synthetic_text(spec)
    other, _ = synthetic_text(dataclasses.replace(spec, generator_seed=1))
    assert np.array_equal(x, again) and np.array_equal(y, y_again)
    assert not np.array_equal(x, other)
    assert x.shape == (1000, 60) and x.min() == 0 and x.max() < 2000
    assert np.array_equal(np.bincount(y), [500, 500])
    rows = np.repeat(np.arange(len(x)), x.shape[1])
    bags = csr_matrix((np.ones(x.size), (rows, x.ravel())), shape=(len(x), 2000))[:, 1:]
    model = LogisticRegression(max_iter=1000).fit(bags[:700], y[:700])
    assert model.score(bags[700:], y[700:]) > 0.75
    s = load_splits(spec, 3, flatten=False)
    assert s.input_shape == (60,) and s.scaling.method == "none" and s.n_classes == 2
    with pytest.raises(RegsearchError, match="data.num_words = 50"):
        synthetic_text(dataclasses.replace(spec, num_words=50))


HEAD = f'[study]\nname = "s"\nspace = "{SPACE.as_posix()}"\n'


@pytest.mark.parametrize("line,key,allowed", [
    ('color_mode = "cmyk"', "data.color_mode", "must be one of 'grayscale', 'rgb', 'rgba'"),
    ("image_size = [28]", "data.image_size", "must be two positive integers [height, width]"),
    ("image_size = [28, 0]", "data.image_size", "must be two positive integers"),
    ("image_size = [28, 2.5]", "data.image_size", "must be two positive integers"),
    ("image_size = 28", "data.image_size", "must be an array"),
    ("num_words = 1", "data.num_words", "must be in [2, 16777216]"),
    ("sequence_length = 0", "data.sequence_length", "must be > 0"),
    ("samples = -3", "data.samples", "must be > 0"),
    ("generator_seed = -1", "data.generator_seed", "must be in [0, 4294967295]"),
    ('dataset = "text"', "data.dataset", "'images', 'imdb', 'synthetic_text'"),
])
def test_new_data_keys_are_checked(tmp_path, line, key, allowed):
    path = tmp_path / "study.toml"
    path.write_text(HEAD + f"[data]\n{line}\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert any(p.key == key for p in info.value.problems), str(info.value)
    assert allowed in str(info.value)


def test_new_data_keys_load_with_defaults_and_as_written(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text(HEAD)
    data = load_spec(path).data
    assert (data.image_size, data.color_mode, data.num_words, data.sequence_length,
            data.samples, data.generator_seed) == ((28, 28), "grayscale", 10000, 200, 2000, 0)
    path.write_text(HEAD + '[data]\ndataset = "images"\npath = "pics"\nimage_size = [32, 48]\n'
                           'color_mode = "rgb"\n')
    spec = load_spec(path)
    assert spec.data.image_size == (32, 48) and spec.data.color_mode == "rgb"
    assert spec.data.path == str((tmp_path / "pics").resolve())
    hash(spec.data)
