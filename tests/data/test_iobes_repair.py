"""Any IOBES sequence (a model's unconstrained decode) read as IOB2: checked on every sequence
over two types up to length 4 against a brute-force span reference and against seqeval's
default-mode chunker, which reads IOBES the same way."""

import itertools

import pytest
from seqeval.metrics.sequence_labeling import get_entities

from bioner_mtl.data import tags as tagging

ALPHABET = ["O"] + [f"{p}-{t}" for t in ("X", "Y") for p in "BIES"]


def continues(tags, k: int, kind: str) -> bool:
    """Tag k goes on the mention of `kind` that tag k - 1 is in."""
    return (k > 0 and tags[k] in (f"I-{kind}", f"E-{kind}")
            and tags[k - 1] in (f"B-{kind}", f"I-{kind}"))


def reference_mentions(tags) -> set[tuple[str, int, int]]:
    """Brute force over every span (type, first, last): it starts a mention (B-/S-, or I-/E-
    continuing none), every later token continues it, and the token after it does not."""
    found = set()
    for i, j in itertools.combinations_with_replacement(range(len(tags)), 2):
        if tags[i] == "O":
            continue
        kind = tags[i][2:]
        starts = tags[i][0] in "BS" or not continues(tags, i, kind)
        inner = all(continues(tags, k, kind) for k in range(i + 1, j + 1))
        maximal = j + 1 == len(tags) or not continues(tags, j + 1, kind)
        if starts and inner and maximal:
            found.add((kind, i, j))
    return found


def iob2_mentions(tags) -> set[tuple[str, int, int]]:
    """The mentions of a valid IOB2 sequence: B-X and the I-X after it."""
    found, start = set(), None
    for k, tag in enumerate([*tags, "O"]):
        if start is not None and tag != f"I-{tags[start][2:]}":
            found.add((tags[start][2:], start, k - 1))
            start = None
        if tag.startswith("B-"):
            start = k
    return found


def every_sequence(length: int):
    return (list(s) for s in itertools.product(ALPHABET, repeat=length))


@pytest.mark.parametrize("length", [1, 2, 3, 4])
def test_every_iobes_sequence_becomes_valid_iob2_with_the_reference_mentions(length):
    for tags in every_sequence(length):
        iob2 = tagging.iobes_to_iob2_repaired(tags)
        assert tagging.iob2_violation(iob2) is None, (tags, iob2)
        expected = reference_mentions(tags)
        assert iob2_mentions(iob2) == expected, (tags, iob2)
        assert {(k, i, j) for k, i, j in get_entities(tags)} == expected, tags  # seqeval agrees
        if tagging.iobes_violation(tags) is None:  # valid IOBES: the plain tag mapping
            assert iob2 == tagging.iobes_to_iob2(tags), tags


def test_invalid_iobes_by_hand():
    assert tagging.iobes_to_iob2_repaired(["I-X", "E-X"]) == ["B-X", "I-X"]  # one mention
    assert tagging.iobes_to_iob2_repaired(["B-X", "O"]) == ["B-X", "O"]
    assert tagging.iobes_to_iob2_repaired(["S-X", "I-X"]) == ["B-X", "B-X"]  # two
    assert tagging.iobes_to_iob2_repaired(["E-X", "E-X"]) == ["B-X", "B-X"]
    assert tagging.iobes_to_iob2_repaired(["B-X", "E-Y"]) == ["B-X", "B-Y"]
    assert tagging.iobes_to_iob2_repaired(["B-X", "I-X", "S-X", "E-X"]) == [
        "B-X", "I-X", "B-X", "B-X"]
    # the blind tag mapping made I-X a mention start after O in IOB2 only by accident, and
    # S-X I-X one mention
    assert tagging.iobes_to_iob2(["S-X", "I-X"]) == ["B-X", "I-X"]
