"""Data ablation: keep a seeded share of the training sentences (devel and test stay whole)."""

from __future__ import annotations

import numpy as np

from bioner_mtl.data.errors import InputError
from bioner_mtl.data.reader import Sentence


def check_fraction(fraction: float) -> float:
    if not 0 < fraction <= 1:
        raise InputError(f"training fraction {fraction} must be in (0, 1]; e.g. 0.5 keeps half")
    return fraction


def subsample(sentences: list[Sentence], fraction: float, seed: int) -> list[Sentence]:
    """The same seed and fraction always keep the same sentences, in corpus order."""
    check_fraction(fraction)
    if fraction == 1:
        return list(sentences)
    keep = max(1, round(fraction * len(sentences)))
    chosen = np.sort(np.random.default_rng(seed).permutation(len(sentences))[:keep])
    return [sentences[i] for i in chosen]
