"""regsearch's own models besides the MLP (``search/models.py``): the lecture notes' small CNN
and text classifier, as builders.

They are plain builders, called as a user's ``[model] builder`` is (``search/usermodel.py``):
every Dropout starts at rate 0 and no kernel has a penalty, because ``search/rewire.py`` gives
each trial its rate and strengths. A user can name them too (``builder = "search.presets:cnn"``)
or copy them as a starting point.
"""

from __future__ import annotations

from collections.abc import Sequence


def cnn(input_shape: tuple[int, ...], n_classes: int, *, filters: Sequence[int] = (32, 64),
        hidden: Sequence[int] = (64,)):
    """Conv2D(3x3, relu) -> MaxPooling2D -> Dropout per entry of ``filters``, then Flatten,
    Dense(relu) -> Dropout per entry of ``hidden``, then Dense(classes, softmax).

    Images of shape (H, W) get a channel axis first; "same" padding and pooling keep the
    8x8 digits workable through two blocks.
    """
    import keras

    layers: list = [keras.Input(shape=tuple(input_shape))]
    if len(input_shape) == 2:
        layers.append(keras.layers.Reshape((*input_shape, 1)))
    for n in filters:
        layers += [keras.layers.Conv2D(n, 3, padding="same", activation="relu"),
                   keras.layers.MaxPooling2D(2, padding="same"),
                   keras.layers.Dropout(0.0)]
    layers.append(keras.layers.Flatten())
    for units in hidden:
        layers += [keras.layers.Dense(units, activation="relu"), keras.layers.Dropout(0.0)]
    layers.append(keras.layers.Dense(n_classes, activation="softmax"))
    return keras.Sequential(layers, name="cnn")


def text(input_shape: tuple[int, ...], n_classes: int, *, vocabulary: int,
         embedding_dim: int = 16, hidden: Sequence[int] = (16,)):
    """Embedding(vocabulary, embedding_dim, padding 0 masked) -> Dropout ->
    GlobalAveragePooling1D -> Dense(relu) -> Dropout per entry of ``hidden`` -> Dense(classes,
    softmax): the lecture notes' classifier of integer token sequences.

    The mask makes the average over a document's tokens, not its padding.
    """
    import keras

    layers: list = [keras.Input(shape=tuple(input_shape)),
                    keras.layers.Embedding(vocabulary, embedding_dim, mask_zero=True),
                    keras.layers.Dropout(0.0),
                    keras.layers.GlobalAveragePooling1D()]
    for units in hidden:
        layers += [keras.layers.Dense(units, activation="relu"), keras.layers.Dropout(0.0)]
    layers.append(keras.layers.Dense(n_classes, activation="softmax"))
    return keras.Sequential(layers, name="text")
