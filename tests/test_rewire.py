"""search/rewire.py: the user's Keras model cloned with a trial's dropout rate and penalties."""

from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest

from search import apply, describe
from search.errors import RegsearchError
from search.rewire import Factories

pytestmark = pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")

SETTING = {"dropout": 0.3, "regularizer": "l1_l2", "l1": 1e-3, "l2": 1e-2}


def build_cnn() -> keras.Model:
    """Functional CNN; the hidden Dense carries the user's own L2 penalty."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Dropout(0.1)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(16, activation="relu",
                           kernel_regularizer=keras.regularizers.L2(0.5))(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="cnn")
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def build_mlp(sequential: bool = True) -> keras.Model:
    """Dense(16) -> Dense(8) -> Dense(3), no Dropout; the Functional one ends in a Softmax."""
    if sequential:
        return keras.Sequential([keras.Input((5,)), keras.layers.Dense(16, activation="relu"),
                                 keras.layers.Dense(8, activation="relu"),
                                 keras.layers.Dense(3)], name="mlp")
    inputs = keras.Input((5,))
    x = keras.layers.Dense(16, activation="relu")(inputs)
    x = keras.layers.Dense(8, activation="relu")(x)
    x = keras.layers.Dense(3)(x)
    return keras.Model(inputs, keras.layers.Softmax()(x), name="mlp_f")


def penalty(w, l1: float = 0.0, l2: float = 0.0) -> float:
    w = np.asarray(w.numpy(), np.float64)
    return l1 * np.abs(w).sum() + l2 * np.square(w).sum()


def loss_values(layer) -> list[float]:
    return sorted(float(keras.ops.convert_to_numpy(x)) for x in layer.losses)


def dropouts(model) -> list:
    return [x for x in model._flatten_layers(include_self=False)
            if isinstance(x, keras.layers.Dropout)]


@pytest.fixture(params=["built", "loaded"])
def cnn(request, tmp_path):
    model = build_cnn()
    if request.param == "loaded":
        model.save(tmp_path / "cnn.keras")
        model = keras.models.load_model(tmp_path / "cnn.keras")
    return model


def test_cnn_takes_the_rate_and_one_penalty_per_kernel(cnn):
    clone = apply(cnn, SETTING, seed=1)
    assert [x.rate for x in dropouts(clone)] == [0.3, 0.3]
    clone(np.zeros((2, 8, 8, 1), "float32"))
    kernels = [x for x in clone.layers if hasattr(x, "kernel")]
    assert [x.__class__.__name__ for x in kernels] == ["Conv2D", "Dense", "Dense"]
    assert len(clone.losses) == 3
    for layer in kernels:  # the user's L2(0.5) on the hidden Dense is replaced, not added to
        (value,) = loss_values(layer)
        np.testing.assert_allclose(value, penalty(layer.kernel, 1e-3, 1e-2), rtol=1e-5)
    # The original is as it was.
    assert [x.rate for x in dropouts(cnn)] == [0.1, 0.2]
    assert [x.kernel_regularizer is None for x in cnn.layers if hasattr(x, "kernel")] == \
        [True, False, True]
    (user,) = loss_values(cnn)
    np.testing.assert_allclose(user, penalty(cnn.layers[5].kernel, l2=0.5), rtol=1e-5)
    assert clone.compiled
    assert clone.get_compile_config()["loss"] == "sparse_categorical_crossentropy"


def test_embedding_is_penalized_and_dropout_takes_the_rate():
    inputs = keras.Input((20,), dtype="int32")
    x = keras.layers.Embedding(100, 8)(inputs)
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = keras.layers.Dense(8, activation="relu")(x)
    x = keras.layers.Dropout(0.5)(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    assert describe(model)["kernels"] == 3
    clone = apply(model, {"dropout": 0.25, "regularizer": "l2", "l1": 5.0, "l2": 1e-3}, seed=0)
    assert [x.rate for x in dropouts(clone)] == [0.25]
    embedding = clone.layers[1]
    assert isinstance(embedding, keras.layers.Embedding)
    # l1 does not count for an "l2" regularizer.
    np.testing.assert_allclose(loss_values(embedding), [penalty(embedding.embeddings, l2=1e-3)],
                               rtol=1e-5)
    assert len(clone.losses) == 3


def test_lstm_kernel_and_recurrent_kernel_are_penalized_not_bias():
    inputs = keras.Input((6, 3))
    x = keras.layers.LSTM(4)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dropout(0.1)(x)))
    assert describe(model)["kernels"] == 3
    clone = apply(model, {"dropout": 0.2, "regularizer": "l1", "l1": 1e-2}, seed=0)
    lstm = clone.layers[1]
    expected = sorted(penalty(w, l1=1e-2) for w in (lstm.cell.kernel, lstm.cell.recurrent_kernel))
    np.testing.assert_allclose(loss_values(lstm), expected, rtol=1e-5)
    assert len(clone.losses) == 3
    assert lstm.cell.bias_regularizer is None


@pytest.mark.parametrize("sequential", [True, False])
def test_add_dropout_follows_hidden_layers_only(sequential):
    model = build_mlp(sequential)
    clone = apply(model, {"dropout": 0.35}, add_dropout=True, seed=3, keep_weights=True)
    blocks = [x for x in clone.layers if not isinstance(x, keras.layers.InputLayer)]
    names = [x.name for x in model.layers if isinstance(x, keras.layers.Dense)]
    assert [x.name for x in blocks[:3]] == names
    for block in blocks[:2]:  # hidden Dense -> Sequential([Dense, Dropout])
        dense, drop = block.layers
        assert isinstance(dense, keras.layers.Dense) and isinstance(drop, keras.layers.Dropout)
        assert drop.rate == 0.35
    assert isinstance(blocks[2], keras.layers.Dense)  # the output layer gets none
    assert len(dropouts(clone)) == 2
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    np.testing.assert_allclose(clone(x), model(x), rtol=1e-6)  # same wiring, same weights
    assert not np.allclose(clone(x, training=True), model(x))  # the dropout is live


def test_no_dropout_layer_without_add_dropout_is_an_error():
    with pytest.raises(RegsearchError, match="add_dropout = true"):
        apply(build_mlp(), {"dropout": 0.2})
    assert len(dropouts(apply(build_mlp(), {"dropout": 0.0}))) == 0


def test_add_dropout_adds_none_to_a_model_with_dropout(cnn):
    clone = apply(cnn, {"dropout": 0.4}, add_dropout=True)
    assert [x.rate for x in dropouts(clone)] == [0.4, 0.4]


def test_nested_model_is_rewired():
    inner = keras.Sequential([keras.Input((5,)), keras.layers.Dense(6), keras.layers.Dropout(0.1)],
                             name="inner")
    inputs = keras.Input((5,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inner(inputs)))
    assert describe(model) == {"dropout_layers": 1, "kernels": 2,
                               "layers": [inner.layers[0].name, inner.layers[1].name,
                                          model.layers[-1].name]}
    clone = apply(model, {"dropout": 0.3, "regularizer": "l2", "l2": 1e-2})
    assert [x.rate for x in dropouts(clone)] == [0.3]
    assert len(clone.losses) == 2
    assert inner.layers[1].rate == 0.1 and not model.losses


def test_subclassed_model_is_refused():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(RegsearchError, match="builder"):
        apply(Net(), SETTING)


def test_model_with_nothing_to_regularize_is_an_error():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Activation("relu")(inputs))
    with pytest.raises(RegsearchError, match="no layer to regularize"):
        apply(model, {})


def _fit_once(model, lr: float):
    model.compile(keras.optimizers.SGD(lr), "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(16, 8, 8, 1)).astype("float32"), rng.integers(0, 3, 16),
              batch_size=16, epochs=1, verbose=0)
    conv, dense = model.layers[1], model.layers[5]
    return [np.sqrt(np.square(conv.kernel.numpy()).sum(axis=(0, 1, 2))),
            *(np.sqrt(np.square(x.kernel.numpy()).sum(axis=0))
              for x in (dense, model.layers[7]))]


def test_max_norm_bounds_every_kernel_after_a_step():
    constrained = apply(build_cnn(), {"max_norm": 0.5}, seed=0)
    for norms in _fit_once(constrained, 1e4):
        assert norms.max() <= 0.5 + 1e-5
    free = apply(build_cnn(), {}, seed=0)
    assert max(n.max() for n in _fit_once(free, 1e4)) > 0.5  # the step is large enough to tell


def test_weight_decay_goes_to_the_clones_optimizer_only(cnn):
    model = cnn
    clone = apply(model, {"weight_decay": 1e-2})
    assert clone.optimizer.weight_decay == pytest.approx(1e-2)
    assert float(clone.optimizer.learning_rate) == pytest.approx(0.01)
    assert clone.optimizer is not model.optimizer
    config = clone.get_compile_config()
    assert config["loss"] == "sparse_categorical_crossentropy"
    assert config["metrics"] == ["accuracy"]
    assert model.optimizer.weight_decay is None
    # Without a weight decay in the setting, the user's own stays; uncompiled stays uncompiled.
    model.compile(keras.optimizers.AdamW(weight_decay=0.05), "mse")
    assert apply(model, {}).optimizer.weight_decay == pytest.approx(0.05)
    assert not apply(build_mlp(), {"weight_decay": 1e-2}).compiled


def test_same_seed_same_weights_and_masks():
    def weights_and_seeds(seed):
        clone = apply(build_cnn(), SETTING, seed=seed)
        return clone.get_weights(), [x.seed for x in dropouts(clone)]

    (w1, s1), (w2, s2), (w3, s3) = (weights_and_seeds(s) for s in (7, 7, 8))
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2)) and s1 == s2
    assert not all(np.array_equal(a, b) for a, b in zip(w1, w3)) and s1 != s3
    assert len(set(s1)) == 2


def test_keep_weights_copies_the_originals():
    model = build_cnn()
    clone = apply(model, SETTING, seed=4, keep_weights=True)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), clone.get_weights()))
    fresh = apply(model, SETTING, seed=4)
    assert not np.array_equal(model.layers[1].get_weights()[0], fresh.layers[1].get_weights()[0])


def test_empty_setting_means_no_regularization(cnn):
    clone = apply(cnn, {})
    clone(np.zeros((1, 8, 8, 1), "float32"))
    assert clone.losses == []
    assert [x.rate for x in dropouts(clone)] == [0.0, 0.0]
    zero = apply(cnn, {"dropout": 0.0, "regularizer": "l1_l2", "l1": 0.0, "l2": 0.0})
    assert zero.losses == []


def test_factories_replace_the_plain_parts():
    shared = keras.regularizers.L2(0.1)
    made = []

    def dropout(rate, seed, config):
        made.append((rate, seed, config["name"]))
        return keras.layers.GaussianDropout(rate, seed=seed, name=config["name"])

    clone = apply(build_mlp(), {"dropout": 0.2}, add_dropout=True, seed=1,
                  factories=Factories(dropout=dropout, penalty=lambda: shared))
    assert [x.__class__.__name__ for x in clone._flatten_layers() if "dropout" in x.name] == \
        ["GaussianDropout", "GaussianDropout"]
    assert [r for r, _, _ in made] == [0.2, 0.2] and all(s is not None for _, s, _ in made)
    kernels = [x for x in clone._flatten_layers() if isinstance(x, keras.layers.Dense)]
    assert all(x.kernel_regularizer is shared for x in kernels)


def test_bad_setting_is_an_error():
    with pytest.raises(RegsearchError, match="regularizer"):
        apply(build_mlp(), {"regularizer": "l3"})
    with pytest.raises(RegsearchError, match="dropout rate"):
        apply(build_cnn(), {"dropout": 1.0})


def test_package_import_does_not_load_keras():
    code = "import sys, search; search.apply; print('keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_kernel_layer_kind_takes_penalty_and_max_norm():
    """Each kernel layer kind's config keys (from_config rejects a wrong one) and max-norm axes."""
    L = keras.layers
    seq_in = keras.Input((6, 4))
    seq = L.SimpleRNN(3, return_sequences=True)(L.GRU(3, return_sequences=True)(seq_in))
    seq = L.Conv1D(2, 2)(L.SeparableConv1D(2, 2)(L.DepthwiseConv1D(2)(seq)))
    seq = L.EinsumDense("abc,cd->abd", output_shape=(4, 2))(L.Conv1DTranspose(2, 2)(seq))
    img_in = keras.Input((6, 6, 2))
    img = L.Conv2DTranspose(2, 2)(L.SeparableConv2D(2, 2)(L.DepthwiseConv2D(2)(img_in)))
    out = L.Concatenate()([L.Flatten()(seq), L.Flatten()(img)])
    model = keras.Model([seq_in, img_in], L.Dense(1)(out))
    # GRU 2, SimpleRNN 2, DepthwiseConv 1+1, SeparableConv 2+2, Conv1D 1, transposes 1+1,
    # EinsumDense 1, Dense 1: 15.
    assert describe(model)["kernels"] == 15
    clone = apply(model, {"regularizer": "l2", "l2": 1e-3, "max_norm": 1.0}, seed=0)
    assert len(clone.losses) == 15

    def first(cls):
        return next(x for x in clone.layers if type(x) is cls)

    assert first(L.Conv1D).kernel_constraint.axis == [0, 1]
    assert first(L.Conv1DTranspose).kernel_constraint.axis == [0, 2]  # kernel (k, out, in)
    assert first(L.Conv2DTranspose).kernel_constraint.axis == [0, 1, 3]
    assert first(L.DepthwiseConv2D).depthwise_constraint.axis == [0, 1]
    sep = first(L.SeparableConv2D)
    assert (sep.depthwise_constraint.axis, sep.pointwise_constraint.axis) == ([0, 1], [0, 1, 2])
    assert first(L.EinsumDense).kernel_constraint.axis == [0]
    gru = first(L.GRU)
    assert gru.cell.kernel_constraint.axis == gru.cell.recurrent_constraint.axis == [0]
    assert gru.cell.bias_regularizer is None
