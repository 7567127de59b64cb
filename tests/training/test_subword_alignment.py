"""Word/subword alignment, windows and packing, with a toy tokenizer and hand-made sentences."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from bioner_mtl.data.reader import Sentence
from bioner_mtl.training.fit.evaluation import word_level_tags
from bioner_mtl.training.fit.subword_alignment import (
    LABEL_ON,
    align,
    pack_sentences,
    packed_labels,
    packed_predictions,
    subword_labels,
    word_predictions,
)

CLS, SEP, UNK = 101, 102, 100


class ChunkTokenizer:
    """Splits a word into chunks of 2 characters, ids 1000, 1001, ... in first-seen order;
    a word of control characters tokenizes to nothing."""

    def __init__(self):
        self.vocab: dict[str, int] = {}

    def __call__(self, word: str) -> list[int]:
        if not any(ch.isprintable() for ch in word):
            return []
        return [self.vocab.setdefault(word[i:i + 2], 1000 + len(self.vocab))
                for i in range(0, len(word), 2)]


def words_of(sizes: list[int], letter: str = "a") -> tuple[str, ...]:
    """Words that split into `sizes` chunks each (distinct letters, so ids differ)."""
    return tuple(chr(ord(letter) + i % 26) * (2 * n) for i, n in enumerate(sizes))


def round_trip(sentences, labels, label_on, **kwargs):
    seqs = align(sentences, ChunkTokenizer(), CLS, SEP, label_on=label_on, **kwargs)
    preds = [subword_labels(seq, labels[seq.sentence]) for seq in seqs]
    return seqs, word_predictions(seqs, preds, [len(s) for s in labels], label_on)


# --------------------------------------------------------------------------- alignment


def test_alignment_hand_computed():
    (seq,) = align([("IL2", "binds", "\x00", "p")], ChunkTokenizer(), CLS, SEP)
    # IL 2 | bi nd s | [UNK] | p
    assert seq.ids.tolist() == [CLS, 1000, 1001, 1002, 1003, 1004, UNK, 1005, SEP]
    assert seq.ids.dtype == np.int32 and seq.word_ids.dtype == np.int32
    assert seq.word_ids.tolist() == [-1, 0, 0, 1, 1, 1, 2, 3, -1]
    assert (seq.sentence, seq.word_offset, seq.num_words) == (0, 0, 4)
    assert seq.label_positions.astype(int).tolist() == [0, 1, 0, 1, 0, 0, 1, 1, 0]
    assert subword_labels(seq, [1, 0, 5, 2]).tolist() == [-1, 1, -1, 0, -1, -1, 5, 2, -1]
    assert subword_labels(seq, [1, 0, 5, 2], ignore=-100).tolist()[:3] == [-100, 1, -100]


@pytest.mark.parametrize("label_on, positions, labels", [
    ("first", [0, 1, 0, 1, 0, 0, 1, 1, 0], [-1, 1, -1, 0, -1, -1, 5, 2, -1]),
    ("last", [0, 0, 1, 0, 0, 1, 1, 1, 0], [-1, -1, 1, -1, -1, 0, 5, 2, -1]),
    ("every", [0, 1, 1, 1, 1, 1, 1, 1, 0], [-1, 1, 1, 0, 0, 0, 5, 2, -1]),
    ("every-last", [0, 1, 1, 1, 1, 1, 1, 1, 0], [-1, 1, 1, 0, 0, 0, 5, 2, -1]),
])
def test_label_positions_per_strategy(label_on, positions, labels):
    (seq,) = align([("IL2", "binds", "\x00", "p")], ChunkTokenizer(), CLS, SEP, label_on=label_on,
                   unk_id=7)
    assert seq.ids.tolist()[6] == 7  # unk_id is configurable
    assert seq.label_positions.astype(int).tolist() == positions
    assert subword_labels(seq, [1, 0, 5, 2]).tolist() == labels


@pytest.mark.parametrize("label_on, expected", [("first", [1, 3, 6, 7]), ("last", [2, 5, 6, 7]),
                                                ("every", [1, 3, 6, 7]),
                                                ("every-last", [2, 5, 6, 7])])
def test_word_read_from_first_label_position(label_on, expected):
    """Predictions = subword position, so the answer says which subword each word was read
    from: the first for 'first' and 'every', the last for 'last' and 'every-last'."""
    seqs = align([("IL2", "binds", "\x00", "p")], ChunkTokenizer(), CLS, SEP, label_on=label_on)
    assert word_predictions(seqs, [np.arange(9)], [4], label_on) == [expected]


def test_scores_and_padded_predictions_are_accepted():
    seqs = align([("IL2", "p")], ChunkTokenizer(), CLS, SEP)  # CLS IL 2 p SEP
    scores = np.zeros((8, 3))  # padded to 8 subwords, 3 labels
    scores[1, 2] = scores[3, 1] = 1.0
    assert word_predictions(seqs, [scores], [2], "first") == [[2, 1]]


def test_matches_evaluation_word_level_tags():
    (seq,) = align([("IL2", "binds", "p")], ChunkTokenizer(), CLS, SEP)
    subword_tags = ["O", "B-P", "X", "O", "X", "X", "B-P", "O"]
    assert word_level_tags(subword_tags, seq.word_ids.tolist(), "first") == ["B-P", "O", "B-P"]
    tag_ids = {"O": 0, "B-P": 1, "X": 2}
    preds = np.array([tag_ids[t] for t in subword_tags])
    assert word_predictions([seq], [preds], [3], "first") == [[1, 0, 1]]


@pytest.mark.parametrize("label_on", LABEL_ON)
@pytest.mark.parametrize("max_length", [128, 8, 5])
def test_round_trip_with_windows(label_on, max_length):
    sentences = [words_of([2, 1, 3, 2, 2, 1, 3, 3]), words_of([1]), words_of([3, 3, 3], "k")]
    labels = [[3, 1, 4, 1, 5, 9, 2, 6], [7], [0, 8, 2]]
    seqs, back = round_trip(sentences, labels, label_on, max_length=max_length)
    assert back == labels
    if max_length < 128:  # words at window boundaries were used
        assert len(seqs) > len(sentences)
        assert any(seq.word_offset > 0 for seq in seqs)


@pytest.mark.parametrize("label_on", LABEL_ON)
def test_round_trip_with_tags_and_truncated_words(label_on):
    sentences = [words_of([5, 1, 2, 2, 5, 1])]
    tags = [["B-X", "I-X", "O", "B-Y", "I-Y", "O"]]
    seqs, back = round_trip(sentences, [[1, 2, 0, 1, 2, 0]], label_on, max_length=6, tags=tags)
    assert back == [[1, 2, 0, 1, 2, 0]]
    assert all(len(seq) <= 6 for seq in seqs)


def test_missing_or_duplicated_word_raises():
    seqs = align([words_of([2, 2, 2])], ChunkTokenizer(), CLS, SEP, max_length=6)
    assert [(s.word_offset, s.num_words) for s in seqs] == [(0, 2), (2, 1)]
    preds = [np.zeros(len(s), int) for s in seqs]
    assert word_predictions(seqs, preds, [3], "first") == [[0, 0, 0]]
    with pytest.raises(ValueError, match=r"words \[2\] have no prediction"):
        word_predictions(seqs[:1], preds[:1], [3], "first")
    with pytest.raises(ValueError, match="predicted by two sequences"):
        word_predictions(seqs + seqs[1:], preds + preds[1:], [3], "first")
    with pytest.raises(ValueError, match="does not have"):
        word_predictions(seqs, preds, [2], "first")
    with pytest.raises(ValueError, match="prediction arrays"):
        word_predictions(seqs, preds[:1], [3], "first")


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="stride"):
        align([("a",)], ChunkTokenizer(), CLS, SEP, stride=2)
    with pytest.raises(ValueError, match="label_on"):
        align([("a",)], ChunkTokenizer(), CLS, SEP, label_on="middle")
    with pytest.raises(ValueError, match="max_length"):
        align([("a",)], ChunkTokenizer(), CLS, SEP, max_length=2)
    with pytest.raises(ValueError, match="2 words but 1 tags"):
        align([("a", "b")], ChunkTokenizer(), CLS, SEP, tags=[["O"]])


def test_sentences_can_be_sentence_objects():
    sentence = Sentence(("IL2", "p"), ("B-P", "O"))
    (seq,) = align([sentence], ChunkTokenizer(), CLS, SEP)
    assert seq.word_ids.tolist() == [-1, 0, 0, 1, -1]


# --------------------------------------------------------------------------- windows


def spans(seqs):
    return [(s.word_offset, s.word_offset + s.num_words) for s in seqs]


def test_windows_hand_computed():
    sentence = words_of([2, 1, 3, 2, 2, 1])  # max_length 8 leaves 6 subwords per window
    tags = ["O", "O", "B-X", "I-X", "O", "O"]
    greedy = align([sentence], ChunkTokenizer(), CLS, SEP, max_length=8)
    assert spans(greedy) == [(0, 3), (3, 6)]  # 2+1+3 | 2+2+1: cuts the mention X
    kept = align([sentence], ChunkTokenizer(), CLS, SEP, max_length=8, tags=[tags])
    assert spans(kept) == [(0, 2), (2, 4), (4, 6)]  # 2+1 | 3+2 | 2+1: X stays whole
    assert [s.ids.tolist() for s in kept][1][0] == CLS and kept[1].ids.tolist()[-1] == SEP
    assert kept[1].word_ids.tolist() == [-1, 2, 2, 2, 3, 3, -1]


def test_mention_longer_than_window_is_split_only_when_unavoidable():
    sentence = words_of([2, 2, 2, 2])
    seqs = align([sentence], ChunkTokenizer(), CLS, SEP, max_length=8,
                 tags=[["B-X", "I-X", "I-X", "I-X"]])
    assert spans(seqs) == [(0, 3), (3, 4)]


def test_word_longer_than_window_is_truncated(caplog):
    with caplog.at_level(logging.WARNING, logger="bioner_mtl.training.fit.subword_alignment"):
        seqs = align([words_of([1, 8, 1])], ChunkTokenizer(), CLS, SEP, max_length=6)
    assert spans(seqs) == [(0, 1), (1, 2), (2, 3)]
    assert seqs[1].word_ids.tolist() == [-1, 1, 1, 1, 1, -1]  # 8 subwords cut to 4
    assert "1 word(s) longer than 4 subwords were truncated" in caplog.text


def random_sentence(rng, n):
    words = tuple("".join(rng.choice(list("abcdefgh"), size=rng.integers(1, 10))) for _ in range(n))
    tags, previous = [], "O"
    for _ in range(n):
        tag = rng.choice(["O", "B-X", "I-X"], p=[0.5, 0.25, 0.25])
        tag = "B-X" if tag == "I-X" and previous == "O" else tag
        tags.append(str(tag))
        previous = tag
    return words, tags


@pytest.mark.parametrize("max_length", [5, 8, 13])
def test_window_invariants(max_length):
    rng = np.random.default_rng(max_length)
    tokenize = ChunkTokenizer()
    for _ in range(20):
        words, tags = random_sentence(rng, int(rng.integers(1, 40)))
        for with_tags in (False, True):
            seqs = align([words], tokenize, CLS, SEP, max_length=max_length,
                         tags=[tags] if with_tags else None)
            assert all(len(s) <= max_length for s in seqs)
            assert all(s.ids[0] == CLS and s.ids[-1] == SEP for s in seqs)
            # every word in exactly one window, in order, windows consecutive and non-empty
            order = [w for s in seqs for w in dict.fromkeys(s.word_ids[1:-1].tolist())]
            assert order == list(range(len(words)))
            assert spans(seqs)[0][0] == 0 and all(
                a[1] == b[0] and a[0] < a[1] for a, b in zip(spans(seqs), spans(seqs)[1:]))
            # no word split: each keeps all its subwords (up to the truncation limit)
            for s in seqs:
                inner = s.word_ids[1:-1]
                for w in range(s.word_offset, s.word_offset + s.num_words):
                    expected = min(len(tokenize(words[w])), max_length - 2)
                    assert (inner == w).sum() == expected
            if with_tags:  # a cut inside a mention only if the window had no cut outside one
                for start, end in spans(seqs)[:-1]:
                    if tags[end].startswith("I-"):
                        assert all(t.startswith("I-") for t in tags[start + 1:end + 1])


# --------------------------------------------------------------------------- packing


def doc_sentences():
    """doc 0: sizes 4, 4, 4; doc 1: 2, 12 (too long for max_length 10), 1; doc 2: 1."""
    def sent(sizes, doc, letter, tags=None):
        words = words_of(sizes, letter)
        return Sentence(words, tuple(tags or ["O"] * len(words)), doc)

    return [sent([1, 1, 2], 0, "a", ["B-X", "I-X", "O"]), sent([1, 1, 1, 1], 0, "d"),
            sent([2, 1, 1], 0, "h"), sent([1, 1], 1, "k"),
            sent([2] * 6, 1, "m", ["O", "O", "B-X", "I-X", "I-X", "O"]),
            sent([1], 1, "s"), sent([1], 2, "t")]


def test_packing_hand_computed():
    packed = pack_sentences(doc_sentences(), ChunkTokenizer(), CLS, SEP, max_length=10)
    assert [p.spans for p in packed] == [
        ((0, 0, 3), (1, 0, 4)),  # 4 + 4 = 8 subwords
        ((2, 0, 3),),  # would make 12
        ((3, 0, 2),),  # new document
        ((4, 0, 2),), ((4, 2, 4),),  # 12 subwords alone: windows, cut outside the mention
        ((5, 0, 1),),
        ((6, 0, 1),),  # fits with sentence 5 but is in another document
    ]
    first = packed[0]
    assert first.sentence_ids.tolist() == [-1, 0, 0, 0, 0, 1, 1, 1, 1, -1]
    assert first.word_ids.tolist() == [-1, 0, 1, 2, 2, 0, 1, 2, 3, -1]
    assert first.label_positions.astype(int).tolist() == [0, 1, 1, 0, 1, 1, 1, 1, 1, 0]  # last
    assert first.ids.tolist()[0] == CLS and first.ids.tolist()[-1] == SEP and len(first) == 10
    assert first.sentences == (0, 1)
    labels = packed_labels(first, [[1, 2, 3], [4, 5, 6, 7]])
    assert labels.tolist() == [-1, 1, 2, -1, 3, 4, 5, 6, 7, -1]


def test_packing_without_mention_preference_and_with_separator():
    plain = pack_sentences(doc_sentences(), ChunkTokenizer(), CLS, SEP, max_length=10,
                           keep_mentions=False)
    assert [p.spans for p in plain][3:5] == [((4, 0, 4),), ((4, 4, 2),)]  # greedy windows
    separated = pack_sentences(doc_sentences(), ChunkTokenizer(), CLS, SEP, max_length=10,
                               label_on="first", separator=True)
    assert [p.spans for p in separated][:3] == [((0, 0, 3),), ((1, 0, 4),), ((2, 0, 3),)]
    two = pack_sentences([Sentence(("ab",), ("O",)), Sentence(("cd", "e"), ("O", "O"))],
                         ChunkTokenizer(), CLS, SEP, max_length=10, separator=True)
    assert two[0].ids.tolist() == [CLS, 1000, SEP, 1001, 1002, SEP]
    assert two[0].sentence_ids.tolist() == [-1, 0, -1, 1, 1, -1]


@pytest.mark.parametrize("label_on", LABEL_ON)
@pytest.mark.parametrize("separator", [False, True])
def test_packing_round_trip_and_invariants(label_on, separator):
    rng = np.random.default_rng(7)
    sentences = []
    for doc in range(6):
        for _ in range(int(rng.integers(1, 6))):
            words, tags = random_sentence(rng, int(rng.integers(1, 14)))
            sentences.append(Sentence(words, tuple(tags), doc))
    labels = [rng.integers(0, 5, len(s)).tolist() for s in sentences]
    packed = pack_sentences(sentences, ChunkTokenizer(), CLS, SEP, max_length=16,
                            label_on=label_on, separator=separator)
    assert all(len(p) <= 16 for p in packed)
    for p in packed:
        assert len({sentences[s].document for s in p.sentences}) == 1  # never across documents
        if len(p.spans) > 1:  # several sentences: all whole, consecutive
            assert all(offset == 0 and n == len(sentences[s]) for s, offset, n in p.spans)
            assert list(p.sentences) == list(range(p.sentences[0], p.sentences[-1] + 1))
    covered = [(s, w) for p in packed for s, offset, n in p.spans
               for w in range(offset, offset + n)]
    assert covered == [(s, w) for s, sent in enumerate(sentences) for w in range(len(sent))]
    assert any(len(p.spans) > 1 for p in packed)  # packing happened
    assert any(p.spans[0][1] > 0 for p in packed)  # and so did the fallback to windows
    preds = [packed_labels(p, labels) for p in packed]
    back = packed_predictions(packed, preds, [len(s) for s in sentences], label_on)
    assert back == labels
    with pytest.raises(ValueError, match="no prediction"):
        packed_predictions(packed[1:], preds[1:], [len(s) for s in sentences], label_on)
