"""One compiled TensorFlow function per Keras model, dropped with the model.

Keras compiles only its own train, test and predict steps. regsearch runs two more things on
every evaluation, the exact BatchNormalization pass (``batchnorm``) and the loss with its
penalties (``trainer``); run op by op each costs a small MLP 10-25 ms an epoch in dispatch
alone, compiled about 2 ms. ``per_model`` keeps one ``tf.function`` per model: a reused model
keeps its function for the whole study, a fresh model's goes with it when
``keras.backend.clear_session`` and the garbage collector free it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

#: Given a weak reference to the model, the Python function to compile for it.
Builder = Callable[[Callable[[], Any]], Callable[..., Any]]


def per_model(build: Builder) -> Callable[[Any], Callable[..., Any]]:
    """``model -> compiled function``, compiling ``build(weak reference to model)`` once per
    model. The function holds the model weakly, so the cache does not keep it alive."""
    cache: weakref.WeakKeyDictionary[Any, Callable[..., Any]] = weakref.WeakKeyDictionary()

    def compiled(model: Any) -> Callable[..., Any]:
        fn = cache.get(model)
        if fn is None:
            import tensorflow as tf

            fn = cache[model] = tf.function(build(weakref.ref(model)), reduce_retracing=True)
        return fn

    return compiled
