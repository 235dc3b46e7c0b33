"""The project's error types.

Two tiers, as in Keras Tuner: ``SpecError``/``RegsearchError`` are fatal and stop a command
before any trial runs; ``TrialFailure`` marks one trial FAILED and the study goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class RegsearchError(Exception):
    """A fatal, user-facing error: the CLI prints it and exits non-zero."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file: where (dotted key path) and what is allowed."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


class SpecError(RegsearchError):
    """Every problem found in one spec or space file, collected before raising."""

    def __init__(self, path: str | Path, problems: list[Problem]) -> None:
        self.path = str(path)
        self.problems = list(problems)
        lines = "\n".join(f"  {self.path}: {p}" for p in self.problems)
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(f"{self.path}: {len(self.problems)} {noun}\n{lines}")


class TrialFailure(Exception):
    """A trial that cannot produce a result (non-finite loss, a crash in training)."""
