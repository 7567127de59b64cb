"""Seeds' mean and spread, and the two-tailed t-test CRICHTON uses to mark significance."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

ALPHA = 0.05


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def t_test(a: list[float], b: list[float]) -> float | None:
    """Two-tailed p-value of Welch's t-test, None when it is undefined (n < 2 or no spread)."""
    if len(a) < 2 or len(b) < 2:
        return None
    result = stats.ttest_ind(a, b, equal_var=False)
    return None if math.isnan(result.pvalue) else float(result.pvalue)


def significant(p: float | None) -> bool:
    return p is not None and p < ALPHA
