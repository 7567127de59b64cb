"""Auxiliary labels of Tong et al. (2021), checked on hand-made sentences."""

from __future__ import annotations

import pytest

from bioner_mtl.data.derived_labels import (
    AUX_TASKS,
    MCLS_LABELS,
    MTCLS_LABELS,
    auxiliary_labels,
    bcls,
    mcls,
    mention_spans,
    mtcls,
)

OUT, SINGLE, MULTI = (MTCLS_LABELS.index(name) for name in ("O", "single", "multi"))


def test_class_counts_match_label_names():
    assert AUX_TASKS == {"bCLS": 2, "mCLS": 4, "mtCLS": 3}
    assert MTCLS_LABELS == ("O", "single", "multi") and (OUT, SINGLE, MULTI) == (0, 1, 2)
    assert MCLS_LABELS[-1] == "3+"


def test_sentence_without_mentions():
    tags = ["O", "O"]
    assert (bcls(tags), mcls(tags), mtcls(tags)) == (0, 0, [0, 0])
    assert auxiliary_labels(tags) == {"bCLS": 0, "mCLS": 0, "mtCLS": [0, 0]}


def test_multi_and_single_token_mentions():
    tags = ["B-X", "I-X", "O", "B-Y"]
    assert mention_spans(tags) == [(0, 2, "X"), (3, 4, "Y")]
    assert bcls(tags) == 1
    assert mcls(tags) == 2
    assert mtcls(tags) == [MULTI, MULTI, OUT, SINGLE] == [2, 2, 0, 1]


@pytest.mark.parametrize("count, expected", [(1, 1), (2, 2), (3, 3), (5, 3)])
def test_mention_count_is_bucketed(count, expected):
    tags = ["B-Gene", "O"] * count
    assert len(mention_spans(tags)) == count
    assert mcls(tags) == expected and bcls(tags) == 1


def test_five_mentions_of_mixed_length():
    tags = ["B-A", "I-A", "I-A", "B-A", "O", "B-B", "B-B", "I-B", "O", "B-C"]
    assert mcls(tags) == 3
    assert mtcls(tags) == [2, 2, 2, 1, 0, 1, 2, 2, 0, 1]


def test_i_after_o_starts_a_mention_like_seqeval_default():
    tags = ["O", "I-X", "I-X", "O", "I-Y"]
    assert mention_spans(tags) == [(1, 3, "X"), (4, 5, "Y")]
    assert (bcls(tags), mcls(tags), mtcls(tags)) == (1, 2, [0, 2, 2, 0, 1])
    assert mtcls(["I-X"]) == [SINGLE]


def test_type_change_and_b_after_b_start_new_mentions():
    assert mention_spans(["B-X", "I-Y"]) == [(0, 1, "X"), (1, 2, "Y")]
    assert mtcls(["B-X", "I-Y"]) == [1, 1]
    assert mtcls(["B-X", "B-X"]) == [1, 1] and mcls(["B-X", "B-X"]) == 2


def test_iobes_tags_are_read_too():
    tags = ["S-X", "B-Y", "I-Y", "E-Y", "O", "S-X"]
    assert mention_spans(tags) == [(0, 1, "X"), (1, 4, "Y"), (5, 6, "X")]
    assert mtcls(tags) == [1, 2, 2, 2, 0, 1] and mcls(tags) == 3


def test_empty_sentence():
    assert (bcls([]), mcls([]), mtcls([])) == (0, 0, [])
