"""Shared fixtures: tiny real studies on digits, written into a temporary folder."""

from __future__ import annotations

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

[search]
trials = {trials}
sampler_startup = 2
pruner_startup = 2
pruner_warmup = 1
pruner_patience = 0
"""


@pytest.fixture
def tiny_spec(tmp_path: Path):
    """Write a small real study spec (digits, few epochs, few trials); returns its path."""

    def make(name: str = "tiny", trials: int = 5, epochs: int = 4, extra: str = "") -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(TINY_STUDY.format(name=name, space=SPACE.as_posix(), trials=trials,
                                          epochs=epochs) + extra)
        return path

    return make
