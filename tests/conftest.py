"""Shared fixtures: tiny real studies on digits, written into a temporary folder."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "spaces" / "regularization.toml"

TINY_STUDY = """\
[study]
name = "{name}"
space = "{space}"
seed = 3

[training]
max_epochs = {epochs}
patience = 3
min_steps = 0

[evaluation]
folds = 2

[confirm]
seeds = 2

[search]
trials = {trials}
sampler_startup = 2
pruner_startup = 2
pruner_warmup = 1
pruner_patience = 0
"""


def write_tiny_spec(folder: Path, name: str = "tiny", trials: int = 5, epochs: int = 4,
                    extra: str = "") -> Path:
    """Write ``folder/<name>.toml``: a small real study (digits, few epochs, few trials).

    ``extra`` is appended: more keys of ``[search]`` (the template's last table) or new tables.
    """
    path = folder / f"{name}.toml"
    path.write_text(TINY_STUDY.format(name=name, space=SPACE.as_posix(), trials=trials,
                                      epochs=epochs) + extra)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tiny_spec(tmp_path: Path):
    """``write_tiny_spec`` into the test's temporary folder."""
    return lambda *args, **kwargs: write_tiny_spec(tmp_path, *args, **kwargs)


@pytest.fixture(scope="session", autouse=True)
def shared_compiled_models():
    """The suite's commands share one compiled model per shape (``reuse.shared_models``), as
    one long process would; each command alone would build and trace its own."""
    from search.reuse import shared_models

    with shared_models():
        yield
