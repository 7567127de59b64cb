"""Each partner feature on hand-made corpora whose overlaps are counted by hand."""

import math

import pytest

from bioner_mtl.data import partner_features as pf
from bioner_mtl.data.errors import InputError
from bioner_mtl.data.reader import Sentence

# main: 6 tokens, 6 types (il-2 gene binds aspirin tnf rises), mentions "il-2 gene", "aspirin",
# "tnf" (4 entity tokens); partner: 6 tokens, 6 types (tnf binds dna aspirin helps gene),
# mentions "tnf", "aspirin" (2 entity tokens), 3 sentences
MAIN = [[("IL-2", "B-Gene"), ("gene", "I-Gene"), ("binds", "O"), ("aspirin", "B-Chem")],
        [("TNF", "B-Gene"), ("rises", "O")]]
PARTNER = [[("TNF", "B-Prot"), ("binds", "O"), ("DNA", "O")],
           [("Aspirin", "B-Drug"), ("helps", "O")], [("gene", "O")]]


def write_corpus(directory, sentences):
    """A corpus directory: train as given, devel and test one sentence of it."""
    directory.mkdir(parents=True)
    text = "\n".join("\n".join(f"{t}\t{g}" for t, g in s) + "\n" for s in sentences)
    for split, content in (("train", text), ("devel", text.split("\n\n")[0] + "\n"),
                           ("test", text.split("\n\n")[0] + "\n")):
        (directory / f"{split}.tsv").write_text(content)
    return str(directory)


@pytest.fixture
def pair(tmp_path):
    return write_corpus(tmp_path / "main", MAIN), write_corpus(tmp_path / "partner", PARTNER)


def test_every_feature_on_a_hand_counted_pair(pair):
    main, partner = pair
    f = pf.features(main, partner)
    assert set(f) == set(pf.FEATURES)
    assert f["vocab_jaccard"] == pytest.approx(4 / 8)  # gene binds aspirin tnf / 8 types
    assert f["token_coverage"] == pytest.approx(4 / 6)  # il-2 and rises are not in the partner
    assert f["entity_jaccard"] == pytest.approx(2 / 3)  # {tnf, aspirin} / {il-2 gene, ...}
    assert f["mention_coverage"] == pytest.approx(2 / 3)  # "il-2 gene" is not annotated there
    assert f["log_size_ratio"] == pytest.approx(math.log(3 / 2))
    assert f["density_diff"] == pytest.approx(2 / 6 - 4 / 6)
    # uniform over 6 types each, 4 shared: each side's 2 own types have p = 1/6, m = 1/12:
    # KL(p || m) = 2 x 1/6 x log2(2) = 1/3 on both sides, so JSD = 1/3
    assert f["js_divergence"] == pytest.approx(1 / 3)
    assert f["class_overlap"] is None  # directories have no registry classes


def test_a_corpus_against_itself_overlaps_fully(pair):
    main, _ = pair
    f = pf.features(main, main)
    assert f["vocab_jaccard"] == f["token_coverage"] == f["entity_jaccard"] == 1.0
    assert f["mention_coverage"] == 1.0
    assert f["js_divergence"] == pytest.approx(0.0, abs=1e-12)
    assert f["log_size_ratio"] == f["density_diff"] == 0.0


def test_class_overlap_is_the_share_of_the_main_s_registry_classes():
    def profile(*classes):
        return pf.Profile("x", classes, 1, 1, 0, {}, {})

    both, disease, gene = (profile("Chemical", "Disease"), profile("Disease"),
                           profile("Gene/Protein"))
    assert pf.class_overlap(disease, both) == 1.0  # NCBI-disease <- BC5CDR
    assert pf.class_overlap(both, disease) == 0.5  # BC5CDR <- NCBI-disease
    assert pf.class_overlap(disease, gene) == 0.0
    assert pf.class_overlap(disease, pf.Profile("dir", None, 1, 1, 0, {}, {})) is None
    assert pf.profile("NCBI-disease").classes == ("Disease",)  # read from the registry


def test_mentions_are_lower_cased_surface_forms():
    s = Sentence(("The", "IL-2", "Gene", "TNF", "x", "Y"),
                 ("O", "B-G", "I-G", "B-G", "O", "I-G"))
    assert pf.mentions_of(s) == ["il-2 gene", "tnf", "y"]  # a stray I- starts a mention


def test_a_part_of_speech_corpus_is_refused_in_one_line():
    with pytest.raises(InputError, match="GENIA-POS is a part-of-speech corpus"):
        pf.profile("GENIA-POS")
