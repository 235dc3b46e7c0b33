"""regsearch: search for the regularization that closes a Keras model's train/test gap."""

import os

# TensorFlow 2.21 prints oneDNN and absl notices on import that TF_CPP_MIN_LOG_LEVEL alone does
# not silence; turning the oneDNN custom ops off removes them (and a source of run-to-run
# numeric noise). Users can still override both.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
from .rewire import Factories, apply, describe  # noqa: E402  (Keras loads only on a call)

__all__ = ["Factories", "apply", "describe"]
