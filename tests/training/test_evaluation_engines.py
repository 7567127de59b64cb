"""Issue 24's fast scorers against the reference they replace: our mention readers and token
counts give seqeval's and sklearn's scores exactly, on random IOB2 sequences and on real
corpus slices; the selection F1 is evaluate()'s F1."""

from __future__ import annotations

import random

import pytest

from bioner_mtl.data.corpora import load_corpus
from bioner_mtl.training.fit.evaluation import (
    _mentions,
    evaluate,
    mentions,
    selection_f1,
    unit_counts,
)

TAGS = ["O", "B-Gene", "I-Gene", "B-Chem", "I-Chem", "B-a-b", "I-a-b", "B-_", "I-_"]


def random_split(rng: random.Random, sentences: int = 6) -> list[list[str]]:
    return [[rng.choice(TAGS) for _ in range(rng.randint(0, 9))] for _ in range(sentences)]


def perturbed(rng: random.Random, gold: list[list[str]]) -> list[list[str]]:
    """A plausible prediction: most tags kept, some replaced by any tag (stray I-, type
    changes, shifted boundaries), so both readers meet every IOB2 transition."""
    return [[t if rng.random() < 0.8 else rng.choice(TAGS) for t in s] for s in gold]


@pytest.mark.parametrize("mode", ["strict", "default"])
def test_fast_mentions_are_seqevals_on_random_sequences(mode):
    rng = random.Random(24)
    for _ in range(2000):
        split = random_split(rng)
        assert _mentions(split, mode, "fast") == _mentions(split, mode, "seqeval"), split


def test_fast_evaluate_equals_the_reference_on_random_sequences():
    rng = random.Random(7)
    for _ in range(500):
        gold = random_split(rng)
        pred = perturbed(rng, gold)
        assert evaluate(gold, pred) == evaluate(gold, pred, "seqeval"), (gold, pred)


@pytest.mark.parametrize("corpus", ["BC2GM", "BioNLP09", "Linnaeus"])
def test_fast_scores_equal_the_reference_on_a_real_slice(corpus):
    """Every score of the results record (both modes, per type, token macro, unit counts)."""
    rng = random.Random(1)
    gold = [list(s.tags) for s in load_corpus(corpus).devel[:400]]
    pred = perturbed(rng, gold)
    fast, reference = evaluate(gold, pred), evaluate(gold, pred, "seqeval")
    assert fast == reference and fast.to_dict() == reference.to_dict()
    assert fast.strict.tp > 0 and fast.default.num_pred != fast.strict.num_pred
    units = [i // 7 for i in range(len(gold))]
    assert unit_counts(gold, pred, units) == unit_counts(gold, pred, units, engine="seqeval")


def test_selection_f1_is_evaluates_f1():
    rng = random.Random(3)
    gold = [list(s.tags) for s in load_corpus("BC2GM").devel[:300]]
    known = mentions(gold)
    for _ in range(5):
        pred = perturbed(rng, gold)
        assert selection_f1(known, gold, pred) == evaluate(gold, pred, "seqeval").f1


def test_the_fast_path_refuses_what_the_reference_refuses():
    with pytest.raises(ValueError, match="not IOB2"):
        evaluate([["B-Gene"]], [["S-Gene"]])
    with pytest.raises(ValueError, match="not IOB2"):
        selection_f1(mentions([["B-Gene"]]), [["B-Gene"]], [["E-Gene"]])
    with pytest.raises(ValueError, match="unknown engine"):
        evaluate([["O"]], [["O"]], "conlleval")
