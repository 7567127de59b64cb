"""Tests for the embeddings package: word2vec training and its cache, vector file readers,
lookup fallbacks, the embedding matrix and coverage, all against hand-computed numbers."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from bioner_mtl.data.corpora import load_corpus
from bioner_mtl.data.errors import InputError
from bioner_mtl.embeddings import (
    WordVectors,
    corpus_text,
    coverage,
    embedding_matrix,
    load_vectors,
    normalise,
    train_word2vec,
    vectors_cache_dir,
    with_normalised_keys,
)
from bioner_mtl.experiments import vectors as cli

WORDS = ["the", "IL-2", "cell", "Cells"]
MATRIX = np.array([[0.5, -1.0, 0.25], [1.5, 2.0, -0.125], [0.0, 3.0, 1.0], [-2.0, 0.5, 4.0]],
                  dtype=np.float32)


@pytest.fixture
def hand() -> WordVectors:
    return WordVectors(WORDS, MATRIX)


@pytest.fixture(scope="module")
def slice_300() -> list[list[str]]:
    return [list(s.tokens) for s in load_corpus("NCBI-disease").train[:300]]


def small_w2v(sentences, **kw) -> WordVectors:
    return train_word2vec(sentences=sentences, dim=16, epochs=2, workers=1, seed=3, **kw)


# --- word2vec and its cache -------------------------------------------------------------------

def test_normalise_lowers_and_zeroes_digits():
    assert normalise("IL-2") == "il-0"
    assert normalise("CD45RA") == "cd00ra"
    assert normalise("p53") == normalise("P53") == "p00"


def test_corpus_text_is_train_and_devel_only():
    corpus = load_corpus("NCBI-disease")
    text = corpus_text(["NCBI-disease"])
    assert len(text) == len(corpus.train) + len(corpus.devel)
    assert text[0] == list(corpus.train[0].tokens)
    assert text[-1] == list(corpus.devel[-1].tokens)
    with pytest.raises(InputError, match="did you mean"):
        corpus_text(["NCBI-disaese"])


def test_corpus_vectors_are_keyed_by_files_and_a_cache_hit_parses_no_corpus(tmp_path,
                                                                            monkeypatch):
    from bioner_mtl.data.corpora import source_files
    from bioner_mtl.data.reader import write_split
    from bioner_mtl.embeddings import word2vec

    corpus = tmp_path / "mini"
    corpus.mkdir()
    sentences = load_corpus("NCBI-disease").train[:200]
    for split in ("train", "devel", "test"):
        write_split(corpus / f"{split}.tsv", sentences)
    assert source_files("BC5CDR-chem") == source_files("BC5CDR")  # a derived corpus's text
    settings = {"dim": 8, "epochs": 1, "workers": 1, "cache_dir": tmp_path / "cache"}
    first = train_word2vec([str(corpus)], **settings)

    def parse(names):
        raise AssertionError("the corpora were parsed")

    monkeypatch.setattr(word2vec, "corpus_text", parse)
    hit = train_word2vec([str(corpus)], **settings)
    assert hit.origin.startswith("cache") and np.array_equal(hit.matrix, first.matrix)
    with (corpus / "devel.tsv").open("a") as handle:  # an edit to the text is a new key
        handle.write("\nanother\tO\n")
    with pytest.raises(AssertionError, match="parsed"):
        train_word2vec([str(corpus)], **settings)


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("BIONER_CACHE", str(tmp_path))
    assert vectors_cache_dir() == tmp_path / "vectors"
    assert vectors_cache_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv("BIONER_CACHE")
    assert vectors_cache_dir() == Path.home() / ".cache" / "bioner-mtl" / "vectors"


def test_word2vec_is_seeded_and_cached(monkeypatch, tmp_path, slice_300):
    monkeypatch.setenv("BIONER_CACHE", str(tmp_path / "cache"))
    first = small_w2v(slice_300)
    again = small_w2v(slice_300, cache_dir=tmp_path / "elsewhere")  # retrains from scratch
    assert first.words == again.words
    np.testing.assert_array_equal(first.matrix, again.matrix)
    assert first.dim == 16 and first.matrix.dtype == np.float32
    assert "the" in first and "." in first

    cached = list((tmp_path / "cache" / "vectors").iterdir())
    assert len(cached) == 1 and cached[0].suffix == ".npz"  # no temporary files left behind

    def no_training(*args, **kwargs):
        raise AssertionError("word2vec retrained despite a cache entry")

    monkeypatch.setattr("gensim.models.Word2Vec", no_training)
    hit = small_w2v(slice_300)
    assert hit.origin.startswith("cache")
    np.testing.assert_array_equal(hit.matrix, first.matrix)
    with pytest.raises(AssertionError, match="retrained"):  # other settings: another key
        small_w2v(slice_300, window=2)
    with pytest.raises(AssertionError, match="retrained"):  # other text: another key
        small_w2v(slice_300[:-1])


def test_word2vec_adds_normalised_keys(tmp_path, slice_300):
    vectors = small_w2v(slice_300, cache_dir=tmp_path)
    trained = [w for w in vectors.words if normalise(w) != w]
    assert trained, "the slice has capitalised or numeric words"
    for word in trained:
        assert normalise(word) in vectors
    numeric = [w for w in vectors.words if any(c in "123456789" for c in w)]
    assert numeric
    for word in numeric:  # an unseen digit variant falls back to the normalised key
        variant = "".join("9" if c.isdigit() else c for c in word)
        if variant not in vectors and variant.lower() not in vectors:
            assert vectors.key_for(variant) == normalise(word)


def test_word2vec_bad_settings(tmp_path, slice_300):
    with pytest.raises(InputError, match="dim=0"):
        train_word2vec(sentences=slice_300, cache_dir=tmp_path, dim=0)
    with pytest.raises(InputError, match="min_count"):
        train_word2vec(sentences=[["a", "b"]], min_count=5, cache_dir=tmp_path)
    with pytest.raises(InputError, match="no tokens"):
        train_word2vec(sentences=[[]], cache_dir=tmp_path)


def test_with_normalised_keys_is_count_weighted_mean():
    vectors = WordVectors(["IL-2", "IL-6", "Il-2", "the"],
                          np.array([[1.0, 0.0], [0.0, 1.0], [4.0, 4.0], [9.0, 9.0]]))
    merged = with_normalised_keys(vectors, counts=[3, 1, 0, 5])
    assert merged.words == ["IL-2", "IL-6", "Il-2", "the", "il-0"]
    np.testing.assert_allclose(merged.lookup("il-0"), [0.75, 0.25])
    np.testing.assert_array_equal(merged.matrix[:4], vectors.matrix)


# --- vector files -----------------------------------------------------------------------------

def _rows() -> list[str]:
    return [f"{w} " + " ".join(repr(float(x)) for x in row)
            for w, row in zip(WORDS, MATRIX, strict=True)]


def _check_same(vectors: WordVectors) -> None:
    assert vectors.words == WORDS
    np.testing.assert_array_equal(vectors.matrix, MATRIX)


def test_load_word2vec_text(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("4 3\n" + "\n".join(_rows()) + "\n", encoding="utf-8")
    _check_same(load_vectors(path))


def test_load_glove_text_and_gzip(tmp_path):
    path = tmp_path / "glove.6B.3d.txt"
    path.write_text("\n".join(_rows()) + "\n", encoding="utf-8")
    _check_same(load_vectors(path))
    zipped = tmp_path / "glove.txt.gz"
    zipped.write_bytes(gzip.compress(path.read_bytes()))
    _check_same(load_vectors(zipped))


def test_load_gensim_binary(tmp_path):
    from gensim.models import KeyedVectors

    keyed = KeyedVectors(vector_size=3)
    keyed.add_vectors(WORDS, MATRIX)
    path = tmp_path / "vectors.bin"
    keyed.save_word2vec_format(str(path), binary=True)
    _check_same(load_vectors(path))


def test_load_c_tool_binary_with_newlines(tmp_path):
    """The original C tool ends every vector with a newline; gensim does not."""
    body = b"".join(w.encode() + b" " + struct.pack("<3f", *row) + b"\n"
                    for w, row in zip(WORDS, MATRIX, strict=True))
    path = tmp_path / "c.bin"
    path.write_bytes(b"4 3\n" + body)
    _check_same(load_vectors(path))
    path.write_bytes(b"5 3\n" + body)
    with pytest.raises(InputError, match="ends after 4 of the 5"):
        load_vectors(path)


def test_save_and_load_npz(tmp_path, hand):
    path = tmp_path / "sub" / "v.npz"
    hand.save(path)
    _check_same(WordVectors.load(path))
    _check_same(load_vectors(path))
    assert [p.name for p in path.parent.iterdir()] == ["v.npz"]


@pytest.mark.parametrize("content, where, message", [
    ("4 3\nthe 1 2 3\nIL-2 1 2\n", ":3:", "found 2 numbers after the word, expected 3"),
    ("the 1 2 3\ncell 1 2 3 4\n", ":2:", "found 4 numbers after the word, expected 3"),
    ("the 1 2 3\ncell 1 x 3\n", ":2:", "not a number"),
    ("the 1 2 3\ncell 1 nan 3\n", ":2:", "NaN"),
    ("3 3\nthe 1 2 3\n", "", "header says 3 vectors but the file holds 1"),
    ("", "", "empty file"),
    ("\n\n", "", "empty file"),
    ("2 3\n", "", "empty file"),
])
def test_bad_vector_files(tmp_path, content, where, message):
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message) as err:
        load_vectors(path)
    assert f"{path}{where}" in str(err.value) and "\n" not in str(err.value)


def test_missing_and_bad_binary_files(tmp_path):
    with pytest.raises(InputError, match="no such vectors file"):
        load_vectors(tmp_path / "absent.txt")
    path = tmp_path / "text.bin"
    path.write_text("the 1 2 3\n", encoding="utf-8")
    with pytest.raises(InputError, match=":1: a word2vec binary file starts with"):
        load_vectors(path)


# --- lookup, embedding matrix, coverage -------------------------------------------------------

def test_lookup_fallbacks(hand):
    merged = with_normalised_keys(hand)  # adds "il-0" (from IL-2) and "cells" (from Cells)
    np.testing.assert_array_equal(hand.lookup("cell"), MATRIX[2])  # exact
    np.testing.assert_array_equal(hand.lookup("Cells"), MATRIX[3])  # exact beats lower case
    np.testing.assert_array_equal(hand.lookup("THE"), MATRIX[0])  # lower case
    assert hand.key_for("THE") == "the"
    assert hand.lookup("IL-7") is None and hand.lookup("cells") is None
    np.testing.assert_array_equal(merged.lookup("IL-7"), MATRIX[1])  # digits
    np.testing.assert_array_equal(merged.lookup("CELLS"), MATRIX[3])  # lower case, added key
    assert merged.key_for("Il-9") == "il-0" and merged.key_for("Il-45") is None
    assert "IL-7" not in merged and "il-0" in merged and len(merged) == 6


def test_embedding_matrix(hand):
    vocab = ["<pad>", "<unk>", "the", "Cell", "absent", "IL-2", "zzz"]
    matrix, found = embedding_matrix(vocab, hand, seed=7)
    assert matrix.shape == (7, 3) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[0], 0.0)
    np.testing.assert_array_equal(matrix[2], MATRIX[0])
    np.testing.assert_array_equal(matrix[3], MATRIX[2])  # via lower case
    np.testing.assert_array_equal(matrix[5], MATRIX[1])
    assert found == pytest.approx(3 / 5)
    assert np.abs(matrix[[1, 4, 6]]).sum() > 0
    same, _ = embedding_matrix(vocab, hand, seed=7)
    other, _ = embedding_matrix(vocab, hand, seed=8)
    np.testing.assert_array_equal(same, matrix)
    assert not np.array_equal(other[1], matrix[1])
    np.testing.assert_array_equal(other[2:4], matrix[2:4])


def test_embedding_matrix_random_rows_follow_vector_scale():
    rng = np.random.default_rng(0)
    vectors = WordVectors([f"w{i}" for i in range(500)], rng.normal(0, 0.3, (500, 50)))
    matrix, found = embedding_matrix(["<pad>", "<unk>"] + [f"x{i}" for i in range(400)],
                                     vectors, seed=1)
    assert found == 0.0
    assert matrix[1:].std() == pytest.approx(0.3, rel=0.05)
    with pytest.raises(ValueError):
        embedding_matrix(["<pad>"], vectors, seed=1)


def test_coverage_by_hand(hand):
    tokens = ["the", "the", "THE", "cell", "Cell", "dog", "IL-2", "IL-2", "il-2", "cat"]
    cov = coverage(tokens, hand)
    # types: the, THE, cell, Cell, dog, IL-2, il-2, cat -> exact: the, cell, IL-2; fallback:
    # THE, Cell; missing: dog, il-2 (no lower-case or normalised key), cat
    assert cov["tokens"] == 10 and cov["types"] == 8
    assert cov["tokens_exact"] == pytest.approx(5 / 10)
    assert cov["tokens_fallback"] == pytest.approx(2 / 10)
    assert cov["tokens_found"] == pytest.approx(7 / 10)
    assert cov["types_exact"] == pytest.approx(3 / 8)
    assert cov["types_fallback"] == pytest.approx(2 / 8)
    assert cov["types_found"] == pytest.approx(5 / 8)
    assert coverage([], hand)["tokens_found"] == 0.0


# --- command line -----------------------------------------------------------------------------

def test_cli_errors_are_one_line(tmp_path, capsys):
    code = cli.main(["coverage", "--vectors", str(tmp_path / "nope.txt"), "--corpus", "BC2GM"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "no such vectors file" in err
    assert "\n" not in err
    code = cli.main(["train", "--out", str(tmp_path / "v.txt")])
    assert code == 2 and ".npz" in capsys.readouterr().err


def test_cli_coverage_of_a_file(tmp_path, capsys):
    path = tmp_path / "glove.txt"
    path.write_text("\n".join(_rows()) + "\n", encoding="utf-8")
    assert cli.main(["coverage", "--vectors", str(path), "--corpus", "NCBI-disease",
                     "--split", "devel"]) == 0
    out = capsys.readouterr().out
    assert "coverage of NCBI-disease devel" in out and "4 words x 3" in out
