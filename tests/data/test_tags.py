import itertools

import pytest

from bioner_mtl.data import tags as tagging


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


@pytest.mark.parametrize(
    ("tag", "problem"),
    [
        ("O", None),
        ("B-Gene", None),
        ("S-Regulon-operon", None),
        ("", "is empty"),
        ("X", "is not O, B-TYPE"),
        ("O-Gene", "is not O, B-TYPE"),
        ("Gene", "is not O, B-TYPE"),
        ("b-gene", "has a lower-case prefix; write B-gene"),
        ("B-", "has no entity type; write B-TYPE"),
        ("E-", "has no entity type; write E-TYPE"),
        ("B-Gene X", "has whitespace inside"),
        ("B--Gene", "starts or ends with '-'"),
        ("I-Gene-", "starts or ends with '-'"),
    ],
)
def test_tag_problem(tag, problem):
    found = tagging.tag_problem(tag)
    assert found is None if problem is None else problem in found


@pytest.mark.parametrize(
    ("tags", "index", "why"),
    [
        (["S-Gene", "B-Gene", "E-Gene", "O"], None, None),
        (["S-Gene", "I-Gene"], 1, "I-Gene after S-Gene continues no mention"),
        (["E-Gene"], 0, "E-Gene at the sentence start continues no mention"),
        (["B-Gene", "E-Chem"], 1, "E-Chem inside a Gene mention"),
        (["B-Gene", "O"], 0, "B-Gene is followed by O, so the Gene mention never ends"),
        (["O", "B-Gene", "I-Gene"], 2, "the sentence ends inside a Gene mention"),
    ],
)
def test_iobes_problem_points_at_the_tag_to_fix(tags, index, why):
    found = tagging.iobes_problem(tags)
    if index is None:
        assert found is None
    else:
        assert found[0] == index and why in found[1]


def test_every_valid_iobes_sequence_has_no_problem():
    for length in (1, 2, 3):
        for seq in valid_iob2_sequences(length):
            assert tagging.iobes_problem(tagging.iob2_to_iobes(seq)) is None
