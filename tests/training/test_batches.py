"""From sentences to batches: vocabularies, tag sets, bucketing, padding and endless streams."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from bioner_mtl.data.corpora import load_corpus
from bioner_mtl.data.reader import Sentence
from bioner_mtl.training.fit.batches import (
    PAD,
    UNK,
    BatchStream,
    TagSet,
    Vocabulary,
    bucketed_batches,
    encode,
    eval_batches,
    make_batch,
)

TWO = [Sentence(("IL-2", "binds", "p53"), ("B-Protein", "O", "B-Protein")),
       Sentence(("the", "IL-2", "receptor", "alpha", "."),
                ("O", "B-Protein", "I-Protein", "I-Protein", "O"))]


@pytest.fixture(scope="module")
def ncbi_slice() -> list[Sentence]:
    return load_corpus("NCBI-disease").train[:1000]


def test_vocabulary_reserves_pad_and_unknown():
    vocab = Vocabulary.build(["b", "a", "b", PAD, UNK, "c"])
    assert vocab.items == (PAD, UNK, "b", "a", "c") and len(vocab) == 5
    assert vocab.ids(["a", "never-seen", "c", "b"]).tolist() == [3, 1, 4, 2]
    assert vocab.ids([]).shape == (0,)


def test_tagset_iobes_round_trip_by_hand():
    tagset = TagSet.from_sentences(TWO, "IOBES")
    assert tagset.labels == ("B-Protein", "E-Protein", "I-Protein", "O", "S-Protein")
    ids = tagset.ids(TWO[1].tags)
    assert [tagset.labels[i] for i in ids] == ["O", "B-Protein", "I-Protein", "E-Protein", "O"]
    assert tagset.ids(TWO[0].tags).tolist() == [4, 3, 4]
    for sentence in TWO:
        assert tagset.decode(tagset.ids(sentence.tags)) == list(sentence.tags)


@pytest.mark.parametrize("scheme", ["IOBES", "IOB2"])
def test_tagset_round_trip_on_a_corpus(ncbi_slice, scheme):
    tagset = TagSet.from_sentences(ncbi_slice, scheme)
    assert all(tagset.decode(tagset.ids(s.tags)) == list(s.tags) for s in ncbi_slice)


def test_plain_tagset_keeps_pos_labels():
    sentences = [Sentence(("a", "cell", ":"), ("DT", "NN", ":"))]
    tagset = TagSet.from_sentences(sentences, "plain")
    assert tagset.labels == (":", "DT", "NN")
    assert tagset.decode(tagset.ids(sentences[0].tags)) == ["DT", "NN", ":"]


@pytest.mark.parametrize("seed", [0, 1])
def test_bucketed_batches_cover_once_with_little_padding(ncbi_slice, seed):
    lengths = np.array([len(s) for s in ncbi_slice])
    batches = bucketed_batches(lengths, 16, np.random.default_rng(seed))
    chosen = np.concatenate(batches)
    assert sorted(chosen.tolist()) == list(range(len(lengths)))
    assert Counter(map(len, batches)) == {16: 62, 8: 1}  # 1000 = 62 * 16 + 8
    padded = sum(int(lengths[b].max()) * len(b) for b in batches)
    assert padded / lengths.sum() < 1.15  # random batches of NCBI-disease pad to ~2x


def test_make_batch_pads_and_aligns_tags_by_hand():
    words = Vocabulary.build(t for s in TWO for t in s.tokens)
    tagset = TagSet.from_sentences(TWO, "IOB2")  # B-Protein 0, I-Protein 1, O 2
    split = encode(TWO, words, tagset)
    inputs, tags = make_batch(split, np.array([1, 0]))
    assert inputs["padding_mask"].tolist() == [[True] * 5, [True] * 3 + [False] * 2]
    assert inputs["token_ids"].tolist() == [[5, 2, 6, 7, 8], [2, 3, 4, 0, 0]]
    assert tags.tolist() == [[2, 0, 1, 1, 2], [0, 2, 0, 0, 0]]
    assert "char_ids" not in inputs


def test_make_batch_chars_and_unlabelled_split():
    words = Vocabulary.build(t for s in TWO for t in s.tokens)
    chars = Vocabulary.build(c for s in TWO for t in s.tokens for c in t)
    split = encode(TWO, words, None, chars, max_chars=4)
    inputs, tags = make_batch(split, np.array([0, 1]))
    assert tags is None
    assert inputs["char_ids"].shape == (2, 5, 4)
    assert inputs["char_ids"][0, 0].tolist() == chars.ids("IL-2").tolist()
    assert inputs["char_ids"][1, 3].tolist() == chars.ids("alph").tolist()  # cut at max_chars
    assert not inputs["char_ids"][0, 3:].any()  # padding tokens have no characters


def test_eval_batches_visit_each_sentence_once(ncbi_slice):
    words = Vocabulary.build(t for s in ncbi_slice for t in s.tokens)
    split = encode(ncbi_slice, words, None)
    seen = [int(i) for index, _ in eval_batches(split, 64) for i in index]
    assert sorted(seen) == list(range(len(ncbi_slice)))


def test_batch_stream_starts_a_new_pass():
    sentences = [Sentence(tuple(f"w{i}-{k}" for k in range(1 + i % 7)), ("O",) * (1 + i % 7))
                 for i in range(50)]
    words = Vocabulary.build(t for s in sentences for t in s.tokens)
    split = encode(sentences, words, TagSet.from_sentences(sentences, "IOB2"))
    stream = BatchStream(split, 8, np.random.default_rng(0))
    assert stream.batches_per_epoch == 7
    first_ids = {int(words.ids([s.tokens[0]])[0]): i for i, s in enumerate(sentences)}
    passes = []
    for _ in range(2):
        seen = Counter()
        for _ in range(stream.batches_per_epoch):
            inputs, tags = next(stream)
            assert tags.shape == inputs["token_ids"].shape
            seen.update(first_ids[int(t)] for t in inputs["token_ids"][:, 0])
        passes.append(seen)
    assert passes[0] == passes[1] == Counter(range(50))  # each pass sees every sentence once
