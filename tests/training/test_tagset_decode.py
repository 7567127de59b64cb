"""TagSet.decode reads an IOBES path, valid or not, as valid IOB2 (data.tags.
iobes_to_iob2_repaired): evaluation never sees an I- that starts a mention."""

from bioner_mtl.training.fit.batches import TagSet


def test_an_invalid_iobes_path_decodes_to_valid_iob2():
    tagset = TagSet(("B-X", "E-X", "I-X", "O", "S-X"), "IOBES")
    ids = {tag: i for i, tag in enumerate(tagset.labels)}

    def decode(*tags):
        return tagset.decode([ids[t] for t in tags])

    assert decode("I-X", "E-X") == ["B-X", "I-X"]
    assert decode("O", "S-X", "I-X", "E-X") == ["O", "B-X", "B-X", "I-X"]
    assert decode("B-X", "I-X", "E-X", "O") == ["B-X", "I-X", "I-X", "O"]  # valid: unchanged
    assert TagSet(("B-X", "I-X", "O"), "IOB2").decode([2, 1]) == ["O", "I-X"]  # IOB2 as is
