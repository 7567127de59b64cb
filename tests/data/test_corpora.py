import re
from pathlib import Path

import pytest

from bioner_mtl.data import corpora
from bioner_mtl.data.ablation import subsample
from bioner_mtl.data.errors import InputError

README = Path(__file__).resolve().parents[2] / "data" / "corpora" / "README.md"


def readme_counts():
    """Parse the bundled README's table: corpus -> split -> (sentences, tokens, mentions)."""
    counts = {}
    for line in README.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and re.match(r"\d+ / \d+ / \d+", cells[1]):
            counts[cells[0]] = {
                split: tuple(int(x) for x in cell.split(" / "))
                for split, cell in zip(corpora.SPLITS, cells[1:4])
            }
    return counts


@pytest.mark.parametrize("name", ["NCBI-disease", "Ex-PTM", "BioNLP13PC"])
def test_stats_match_bundled_readme(name):
    stats = corpora.corpus_stats(corpora.load_corpus(name))
    expected = readme_counts()[name]
    assert {s: tuple(v.values()) for s, v in stats.items()} == expected


def test_every_bundled_corpus_is_in_the_readme():
    assert set(readme_counts()) == {n for n, s in corpora.REGISTRY.items() if s.parent is None}


def test_derived_corpus_keeps_one_type():
    chem = corpora.load_corpus("BC5CDR-chem")
    full = corpora.load_corpus("BC5CDR")
    assert chem.entity_types == ["Chemical"]
    assert chem.spec.classes == ("Chemical",)
    for derived, whole in zip(chem.test[:200], full.test[:200]):
        assert derived.tokens == whole.tokens
        assert [t if "Chemical" in t else "O" for t in whole.tags] == list(derived.tags)


def test_unknown_corpus_suggests_close_match():
    with pytest.raises(InputError, match="unknown corpus 'BC2G'; did you mean 'BC2GM'"):
        corpora.load_corpus("BC2G")


def test_directory_corpus(tmp_path):
    for split in corpora.SPLITS:
        (tmp_path / f"{split}.tsv").write_text("IL-2\tB-Gene\nis\tO\n")
    corpus = corpora.load_corpus(str(tmp_path))
    assert corpus.entity_types == ["Gene"]
    assert corpus.labels() == ["B-Gene", "O"]


def test_directory_missing_split(tmp_path):
    (tmp_path / "train.tsv").write_text("a\tO\n")
    with pytest.raises(InputError, match="no devel.tsv"):
        corpora.load_corpus(str(tmp_path))


def test_entity_class_groups_and_ablation():
    species = corpora.corpora_with_class("Species")
    assert species == ["BioNLP11ID", "BioNLP13CG", "Linnaeus"]
    run = ["BC2GM", "Linnaeus", "NCBI-disease", "BioNLP11ID"]
    assert corpora.corpora_without_class(run, "Species") == ["BC2GM", "NCBI-disease"]
    with pytest.raises(InputError, match="unknown entity class"):
        corpora.corpora_with_class("Genes")


def test_subsample_is_seeded_ordered_and_sized():
    sentences = corpora.load_corpus("Ex-PTM").train
    half = subsample(sentences, 0.5, seed=3)
    assert len(half) == round(0.5 * len(sentences))
    assert half == subsample(sentences, 0.5, seed=3)
    assert half != subsample(sentences, 0.5, seed=4)
    positions = [sentences.index(s) for s in half[:50]]
    assert positions == sorted(positions)
    assert subsample(sentences, 1.0, seed=0) == sentences
    for bad in (0, -0.1, 1.5):
        with pytest.raises(InputError, match=r"fraction .* must be in \(0, 1\]"):
            subsample(sentences, bad, seed=0)


def test_restricted_corpus_keeps_one_entity_class():
    chemicals = corpora.load_corpus("BioNLP13CG@Chemical")
    assert chemicals.entity_types == ["Amino_acid", "Simple_chemical"]
    whole = corpora.load_corpus("BioNLP13CG")
    kept = {"Amino_acid", "Simple_chemical"}
    for restricted, original in zip(chemicals.train[:300], whole.train[:300]):
        assert list(restricted.tags) == [t if t[2:] in kept else "O" for t in original.tags]
    with pytest.raises(InputError, match="BC2GM annotates no 'Species'"):
        corpora.load_corpus("BC2GM@Species")
