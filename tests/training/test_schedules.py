"""Multi-task schedules: the task order each one gives for a hand-made batch count."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from bioner_mtl.data.errors import InputError
from bioner_mtl.training.spec.schedules import SCHEDULES, get_schedule

BATCHES = {"M": 3, "A": 2, "B": 5}  # main first, as the trainer builds it


def order(name: str, batches=BATCHES, seed: int = 0) -> list[str]:
    return get_schedule(name)("M", dict(batches), np.random.default_rng(seed))


@pytest.mark.parametrize("name, expected", [
    ("alternate", ["M", "A", "B"] * 3),
    ("sequential", ["A"] * 2 + ["B"] * 5 + ["M"] * 3),
    ("round-robin", ["M", "A", "B", "M", "A", "B", "M", "B", "B", "B"]),
    ("round-robin-upsample", ["M", "A", "B"] * 5),
])
def test_deterministic_orders(name, expected):
    assert order(name) == expected


def test_shuffled_is_a_seeded_permutation_of_every_batch():
    first = order("shuffled", seed=0)
    assert Counter(first) == Counter(BATCHES)
    assert order("shuffled", seed=0) == first
    assert any(order("shuffled", seed=s) != first for s in range(1, 4))


def test_random_gives_the_main_corpus_one_pass_per_epoch_on_average():
    first = order("random", seed=5)
    assert len(first) == BATCHES["M"] * len(BATCHES)
    assert set(first) <= set(BATCHES)
    assert order("random", seed=5) == first
    many = order("random", {"M": 300, "A": 2, "B": 5}, seed=5)
    assert len(many) == 900 and set(many) == set(BATCHES)  # uniform: every task is drawn
    counts = Counter(many)
    assert 240 < counts["A"] < 360 and 240 < counts["M"] < 360  # ~300 each: one main pass


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_single_task_gives_main_only(name):
    assert order(name, {"M": 4}) == ["M"] * 4


def test_unknown_schedule_lists_valid_names():
    with pytest.raises(InputError) as err:
        get_schedule("zigzag")
    message = str(err.value)
    assert "zigzag" in message and "\n" not in message
    assert all(name in message for name in SCHEDULES)
