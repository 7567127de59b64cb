import itertools

import pytest

from data import tags as tagging


def valid_iob2_sequences(length, types=("A", "B")):
    """Every valid IOB2 sequence of a length over two types (the brute-force universe)."""
    alphabet = ["O"] + [f"{p}-{t}" for t in types for p in "BI"]
    for seq in itertools.product(alphabet, repeat=length):
        if tagging.iob2_violation(seq) is None:
            yield list(seq)


@pytest.mark.parametrize("length", [1, 2, 3, 4])
def test_iob2_iobes_round_trip_on_every_valid_sequence(length):
    sequences = list(valid_iob2_sequences(length))
    assert sequences  # the universe is not empty
    for seq in sequences:
        iobes = tagging.iob2_to_iobes(seq)
        assert tagging.iobes_violation(iobes) is None, (seq, iobes)
        assert tagging.iobes_to_iob2(iobes) == seq
        assert tagging.count_mentions(iobes) == tagging.count_mentions(seq)


def test_iobes_by_hand():
    iob2 = ["B-Gene", "I-Gene", "I-Gene", "O", "B-Gene", "B-Chem", "I-Chem", "O"]
    iobes = ["B-Gene", "I-Gene", "E-Gene", "O", "S-Gene", "B-Chem", "E-Chem", "O"]
    assert tagging.iob2_to_iobes(iob2) == iobes
    assert tagging.convert(iobes, "IOB2") == iob2
    assert tagging.convert(iob2, "IOBES") == iobes


@pytest.mark.parametrize(
    ("tags", "index"),
    [
        (["O", "I-Gene"], 1),
        (["I-Gene"], 0),
        (["B-Chem", "I-Gene"], 1),
        (["B-Gene", "I-Gene", "O"], None),
    ],
)
def test_iob2_violation(tags, index):
    assert tagging.iob2_violation(tags) == index


def test_iobes_violation_finds_open_mention():
    assert tagging.iobes_violation(["B-Gene", "I-Gene"]) == 2
    assert tagging.iobes_violation(["O", "E-Gene"]) == 1
    assert tagging.iobes_violation(["S-Gene", "O"]) is None


def test_repair_turns_stray_inside_into_begin():
    fixed, count = tagging.repair_iob2(["O", "I-Gene", "I-Gene", "I-Chem", "O"])
    assert fixed == ["O", "B-Gene", "I-Gene", "B-Chem", "O"]
    assert count == 2


def test_types_with_hyphens():
    assert tagging.split_tag("B-Regulon-operon") == ("B", "Regulon-operon")
    with pytest.raises(ValueError):
        tagging.split_tag("GENE")
