"""Paired differences and their noise: how regsearch judges one setting against another.

Every comparison regsearch makes is paired: two settings on the same cross-validation folds
(with the same per-fold seeds), or retrained with the same seeds for confirmation. Pairing
removes what the two runs share (a hard fold, a lucky initialization), which on digits is
most of the noise: the seed alone moves the baseline's validation accuracy 2.4 points, more
than the differences being selected on. The standard error of the mean difference is then
what a difference is judged against; scipy's t distribution turns it into intervals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

#: Two-sided confidence of the intervals reported; one-sided tests use the same level.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Paired:
    """The mean of paired differences ``a - b``, its standard error and the pair count.

    ``floor`` bounds the standard error from below: with a few pairs the sample standard
    deviation can be 0 by chance (two settings that agree on three folds), which would make any
    difference "significant"; the caller passes the resolution of the figure (one validation
    sample, say).
    """

    mean: float
    se: float
    n: int

    @classmethod
    def of(cls, a: Sequence[float], b: Sequence[float], floor: float = 0.0) -> Paired:
        n = min(len(a), len(b))
        if n == 0:
            raise ValueError("no pairs to compare")
        d = [float(x) - float(y) for x, y in zip(a[:n], b[:n])]
        mean = sum(d) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1)) if n > 1 else math.inf
        return cls(mean, max(sd / math.sqrt(n), floor), n)

    def quantile(self, confidence: float) -> float:
        """Student's t quantile for ``n - 1`` degrees of freedom (normal for one pair: no
        variance estimate, the floor stands in for it)."""
        from scipy import stats

        return float(stats.t.ppf(confidence, self.n - 1)) if self.n > 1 else \
            float(stats.norm.ppf(confidence))

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        """The two-sided confidence interval of the mean difference."""
        half = self.quantile(0.5 + confidence / 2) * self.se
        return self.mean - half, self.mean + half

    def below(self, confidence: float = CONFIDENCE) -> bool:
        """Whether ``a`` is significantly below ``b`` (one-sided test at ``confidence``)."""
        return self.mean + self.quantile(confidence) * self.se < 0

    def above(self, confidence: float = CONFIDENCE) -> bool:
        """Whether ``a`` is significantly above ``b`` (one-sided test at ``confidence``)."""
        return self.mean - self.quantile(confidence) * self.se > 0

    def to_dict(self, confidence: float = CONFIDENCE) -> dict[str, Any]:
        """Plain data, with the two-sided interval, for study attributes and exports."""
        low, high = self.interval(confidence)
        return {**asdict(self), "low": low, "high": high, "confidence": confidence}


def interval_text(d: Mapping[str, Any]) -> str:
    """``+0.0123 [-0.0040, +0.0286]``: a paired mean difference (``Paired.to_dict``) and its
    interval, as every answer and page writes it."""
    return f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"
