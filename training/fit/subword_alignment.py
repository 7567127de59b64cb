"""Words to subwords and back, for BERT taggers on corpora pre-tokenised into words.

Corpora give one IOB2 tag per word; a BERT tagger sees subwords. This module aligns the two:

* :func:`align` turns each sentence into one or more ``[CLS] ... [SEP]`` windows of subword ids
  and marks which subwords carry a word's label (``label_on``):

  - ``"first"``: the first subword of each word (the usual BERT convention);
  - ``"last"``: the last subword (Rodriguez, 2022);
  - ``"every"``: all subwords of the word are trained on its label; at prediction the word is
    read from its FIRST subword;
  - ``"every-last"``: all subwords are trained on the word's label and the word is read from
    its LAST subword (Rodriguez, 2022).

* :func:`subword_labels` spreads word label ids onto those positions (``ignore`` elsewhere);
* :func:`word_predictions` collects per-subword predictions back into one prediction per word,
  so models are always scored at the word level (see ``training.evaluation``);
* :func:`pack_sentences` packs consecutive whole sentences of the same document into one
  sequence (Rodriguez, 2022), with :func:`packed_labels` and :func:`packed_predictions`.

Windows. A sentence longer than ``max_length`` subwords (``[CLS]`` and ``[SEP]`` included) is
cut into consecutive windows with NO overlap: each word lies in exactly one window, whole, and
windows follow the sentence order. A window is filled greedily; when ``tags`` are given the cut
is moved back to the latest word boundary that does not fall inside a mention (a boundary
before a word tagged ``I-``/``E-`` is inside one), and only when the window holds no such
boundary is a mention split. Pass gold tags when building TRAINING data only: at evaluation,
windows that depend on gold labels would leak them into the predictions.

Truncation. A single word with more than ``max_length - 2`` subwords is truncated to its first
``max_length - 2`` subwords (a warning gives the count); it still counts as one word. A word the
tokenizer maps to nothing (a control character, say) gets one ``unk_id`` subword, so every word
has at least one subword and one prediction.

Everything here is numpy-only; tokenisation is passed in as a function ``word -> ids``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bioner_mtl.models.configs import EVERY_PIECE, LABEL_ON

log = logging.getLogger(__name__)

__all__ = [
    "IGNORE",
    "LABEL_ON",
    "PackedSequence",
    "SubwordSequence",
    "align",
    "pack_sentences",
    "packed_labels",
    "packed_predictions",
    "predicts_from_last",
    "subword_labels",
    "word_predictions",
]

IGNORE = -1  # label id of positions that carry no label (specials, padding, non-label subwords)

Tokenizer = Callable[[str], Sequence[int]]
# One piece of a sequence: (sentence index, index of its first word, subword ids of each word).
_Part = tuple[int, int, list[list[int]]]


@dataclass(frozen=True, eq=False)
class SubwordSequence:
    """One ``[CLS] ... [SEP]`` window over (part of) one sentence.

    ``eq=False``: instances hold arrays, so they compare by identity.
    """

    ids: np.ndarray  # int32 subword ids, [CLS] first and [SEP] last
    word_ids: np.ndarray  # int32 word index in the ORIGINAL sentence; -1 for [CLS]/[SEP]
    label_positions: np.ndarray  # bool, True where a label is trained/predicted
    sentence: int  # index of the source sentence in the input list
    word_offset: int  # index of this window's first word in the sentence
    num_words: int  # words in this window

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def sentence_ids(self) -> np.ndarray:
        """Source sentence of each subword, -1 for specials (same layout as PackedSequence)."""
        return np.where(self.word_ids >= 0, self.sentence, -1).astype(np.int32)


@dataclass(frozen=True, eq=False)
class PackedSequence:
    """One ``[CLS] ... [SEP]`` sequence over several whole consecutive sentences of one document,
    or over one window of a sentence too long to fit alone.

    A subword is located by ``(sentence_ids[i], word_ids[i])``; both are -1 for specials.
    """

    ids: np.ndarray  # int32
    sentence_ids: np.ndarray  # int32 index of the source sentence in the input list
    word_ids: np.ndarray  # int32 word index within that sentence
    label_positions: np.ndarray  # bool
    spans: tuple[tuple[int, int, int], ...]  # (sentence, first word, number of words), in order

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def sentences(self) -> tuple[int, ...]:
        return tuple(span[0] for span in self.spans)


# --------------------------------------------------------------------------- building blocks


def predicts_from_last(label_on: str) -> bool:
    """Whether a word's prediction is read from its last labelled subword (else its first)."""
    return label_on in ("last", "every-last")


def _check(max_length: int, label_on: str) -> None:
    if label_on not in LABEL_ON:
        raise ValueError(f"unknown label_on {label_on!r}; expected one of {LABEL_ON}")
    if max_length < 3:
        raise ValueError(f"max_length must be at least 3 ([CLS], one subword, [SEP]), "
                         f"got {max_length}")


def _tokens(sentence: Any) -> Sequence[str]:
    """A Sentence (``data.reader``) or a plain sequence of words."""
    return sentence.tokens if hasattr(sentence, "tokens") else sentence


def _pieces(tokens: Sequence[str], tokenize: Tokenizer, unk_id: int,
            capacity: int) -> tuple[list[list[int]], int]:
    """Subword ids of each word (never empty, at most `capacity`) and the number truncated."""
    out, truncated = [], 0
    for word in tokens:
        ids = [int(i) for i in tokenize(word)] or [int(unk_id)]
        if len(ids) > capacity:
            ids, truncated = ids[:capacity], truncated + 1
        out.append(ids)
    return out, truncated


def _inside_mention(tag: str) -> bool:
    """A window boundary right before this tag would split a mention (IOB2 or IOBES)."""
    return tag[:2] in ("I-", "E-")


def _windows(lengths: Sequence[int], capacity: int,
             tags: Sequence[str] | None = None) -> list[tuple[int, int]]:
    """Consecutive word ranges [start, end) of at most `capacity` subwords, never empty (one
    empty range for an empty sentence); with `tags`, cut outside mentions when possible."""
    if not lengths:
        return [(0, 0)]
    windows, start, n = [], 0, len(lengths)
    while start < n:
        end, used = start, 0
        while end < n and used + lengths[end] <= capacity:
            used, end = used + lengths[end], end + 1
        if end < n and tags is not None:
            safe = next((b for b in range(end, start, -1) if not _inside_mention(tags[b])), None)
            end = safe if safe is not None else end
        windows.append((start, end))
        start = end
    return windows


def _encode(parts: Sequence[_Part], label_on: str, cls_id: int, sep_id: int,
            separator: bool = False) -> tuple[np.ndarray, ...]:
    """ids, sentence_ids, word_ids, label_positions of ``[CLS] part ([SEP] part)* [SEP]``."""
    rows: list[tuple[int, int, int, bool]] = [(cls_id, -1, -1, False)]  # id, sentence, word, label
    for k, (sentence, offset, pieces) in enumerate(parts):
        if k and separator:
            rows.append((sep_id, -1, -1, False))
        for word, piece in enumerate(pieces, start=offset):
            label_at = len(piece) - 1 if label_on == "last" else 0
            rows += [(token, sentence, word, label_on in EVERY_PIECE or j == label_at)
                     for j, token in enumerate(piece)]
    rows.append((sep_id, -1, -1, False))
    ids, sentences, words, labels = zip(*rows)
    return (np.asarray(ids, np.int32), np.asarray(sentences, np.int32),
            np.asarray(words, np.int32), np.asarray(labels, bool))


def _warn_truncated(count: int, capacity: int) -> None:
    if count:
        log.warning("%d word(s) longer than %d subwords were truncated to %d subwords "
                    "(each still counts as one word)", count, capacity, capacity)


# --------------------------------------------------------------------------- windows


def align(
    sentences: Sequence[Any],
    tokenize: Tokenizer,
    cls_id: int,
    sep_id: int,
    max_length: int = 128,
    label_on: str = "first",
    stride: int | None = None,
    *,
    unk_id: int = 100,
    tags: Sequence[Sequence[str]] | None = None,
) -> list[SubwordSequence]:
    """One or more windows per sentence (Sentence objects or sequences of words), in order.

    ``tags`` (one tag sequence per sentence, optional) only moves window cuts outside mentions;
    see the module docstring, and pass them for training data only. ``stride`` must be None:
    windows never overlap, so each word is predicted by exactly one window.
    """
    _check(max_length, label_on)
    if stride is not None:
        raise ValueError("overlapping windows (stride) are not supported: windows are "
                         "consecutive and each word lies in exactly one; pass stride=None")
    if tags is not None and len(tags) != len(sentences):
        raise ValueError(f"{len(tags)} tag sequences for {len(sentences)} sentences")
    capacity = max_length - 2
    out, truncated = [], 0
    for s, sentence in enumerate(sentences):
        tokens = _tokens(sentence)
        sentence_tags = None if tags is None else tags[s]
        if sentence_tags is not None and len(sentence_tags) != len(tokens):
            raise ValueError(f"sentence {s}: {len(tokens)} words but {len(sentence_tags)} tags")
        pieces, cut = _pieces(tokens, tokenize, unk_id, capacity)
        truncated += cut
        for start, end in _windows([len(p) for p in pieces], capacity, sentence_tags):
            ids, _, word_ids, labels = _encode([(s, start, pieces[start:end])], label_on,
                                               cls_id, sep_id)
            out.append(SubwordSequence(ids, word_ids, labels, s, start, end - start))
    _warn_truncated(truncated, capacity)
    return out


def subword_labels(seq: SubwordSequence, word_labels: Sequence[int],
                   ignore: int = IGNORE) -> np.ndarray:
    """int32 labels for one window: the word's label at label positions, `ignore` elsewhere.

    ``word_labels`` are the labels of the WHOLE source sentence (windows index it with the
    original word ids).
    """
    if len(word_labels) < seq.word_offset + seq.num_words:
        raise ValueError(f"sentence {seq.sentence}: {len(word_labels)} word labels, but the "
                         f"window covers words up to {seq.word_offset + seq.num_words - 1}")
    labels = np.full(len(seq.ids), ignore, np.int32)
    positions = np.flatnonzero(seq.label_positions)
    labels[positions] = np.asarray(word_labels, np.int32)[seq.word_ids[positions]]
    return labels


def _reassemble(sequences: Sequence[SubwordSequence | PackedSequence],
                subword_predictions: Sequence[np.ndarray],
                num_words_per_sentence: Sequence[int], label_on: str) -> list[list[Any]]:
    if label_on not in LABEL_ON:
        raise ValueError(f"unknown label_on {label_on!r}; expected one of {LABEL_ON}")
    if len(sequences) != len(subword_predictions):
        raise ValueError(f"{len(sequences)} sequences but {len(subword_predictions)} "
                         "prediction arrays")
    out: list[list[Any]] = [[None] * int(n) for n in num_words_per_sentence]
    filled = [np.zeros(int(n), bool) for n in num_words_per_sentence]
    last = predicts_from_last(label_on)
    for k, (seq, pred) in enumerate(zip(sequences, subword_predictions)):
        pred = np.asarray(pred)
        if pred.ndim == 2:  # scores (length, num_labels)
            pred = pred.argmax(-1)
        if pred.ndim != 1 or len(pred) < len(seq.ids):
            raise ValueError(f"sequence {k}: predictions of shape {pred.shape} for "
                             f"{len(seq.ids)} subwords")
        values = pred.tolist()
        positions = np.flatnonzero(seq.label_positions)
        chosen: dict[tuple[int, int], Any] = {}
        for p, s, w in zip(positions.tolist(), seq.sentence_ids[positions].tolist(),
                           seq.word_ids[positions].tolist()):
            if last or (s, w) not in chosen:
                chosen[s, w] = values[p]
        for (s, w), value in chosen.items():
            if not (0 <= s < len(out) and 0 <= w < len(out[s])):
                raise ValueError(f"sequence {k} predicts word {w} of sentence {s}, which "
                                 "num_words_per_sentence does not have")
            if filled[s][w]:
                raise ValueError(f"word {w} of sentence {s} is predicted by two sequences")
            out[s][w], filled[s][w] = value, True
    for s, done in enumerate(filled):
        if not done.all():
            missing = np.flatnonzero(~done).tolist()
            raise ValueError(f"sentence {s}: words {missing} have no prediction")
    return out


def word_predictions(
    sequences: Sequence[SubwordSequence],
    subword_predictions: Sequence[np.ndarray],
    num_words_per_sentence: Sequence[int],
    label_on: str,
) -> list[list[int]]:
    """Per-sentence word predictions from per-window subword predictions.

    Each word is read from its first label position for ``"first"`` and ``"every"`` (its
    first subword), from its last for ``"last"`` and ``"every-last"`` (its last subword). A
    prediction array may be longer than its window (padding) and may hold scores of shape
    (length, num_labels), which are argmaxed. Raises ValueError when a word has no prediction
    or is predicted by two windows.
    """
    return _reassemble(sequences, subword_predictions, num_words_per_sentence, label_on)


# --------------------------------------------------------------------------- packing


def pack_sentences(
    sentences: Sequence[Any],
    tokenize: Tokenizer,
    cls_id: int,
    sep_id: int,
    max_length: int = 512,
    label_on: str = "last",
    unk_id: int = 100,
    *,
    separator: bool = False,
    keep_mentions: bool = True,
) -> list[PackedSequence]:
    """Pack consecutive whole sentences of the same document (``Sentence.document``) into
    ``[CLS] s1 s2 ... [SEP]`` sequences of at most ``max_length`` subwords (Rodriguez, 2022).

    Sentences are simply concatenated (no [SEP] between them, like the running text BERT was
    pre-trained on); ``separator=True`` puts one [SEP] between consecutive sentences instead.
    A pack never crosses a document and never splits a sentence, hence never a mention. A
    sentence too long to fit alone becomes its own :func:`align` windows (whole words, mentions
    kept whole where the window has a boundary outside a mention when ``keep_mentions``; only
    there may a mention be split). ``keep_mentions`` reads the gold tags: turn it off for
    evaluation data so that the windows do not depend on gold labels.
    """
    _check(max_length, label_on)
    capacity = max_length - 2
    packed: list[PackedSequence] = []
    current: list[_Part] = []
    used, document, truncated = 0, None, 0

    def emit(parts: list[_Part]) -> None:
        ids, sentence_ids, word_ids, labels = _encode(parts, label_on, cls_id, sep_id, separator)
        spans = tuple((s, offset, len(pieces)) for s, offset, pieces in parts)
        packed.append(PackedSequence(ids, sentence_ids, word_ids, labels, spans))

    for s, sentence in enumerate(sentences):
        tokens = _tokens(sentence)
        pieces, cut = _pieces(tokens, tokenize, unk_id, capacity)
        truncated += cut
        size = sum(len(p) for p in pieces)
        doc = getattr(sentence, "document", 0)
        if size > capacity:  # too long alone: its own windows
            if current:
                emit(current)
            current, used = [], 0
            tags = getattr(sentence, "tags", None) if keep_mentions else None
            for start, end in _windows([len(p) for p in pieces], capacity, tags):
                emit([(s, start, pieces[start:end])])
            continue
        extra = size + (1 if separator and current else 0)
        if current and (doc != document or used + extra > capacity):
            emit(current)
            current, used, extra = [], 0, size
        current.append((s, 0, pieces))
        used, document = used + extra, doc
    if current:
        emit(current)
    _warn_truncated(truncated, capacity)
    return packed


def packed_labels(seq: PackedSequence, word_labels: Sequence[Sequence[int]],
                  ignore: int = IGNORE) -> np.ndarray:
    """int32 labels for one packed sequence; ``word_labels[s]`` are sentence s's word labels
    (indexed by sentence index in the packed input list)."""
    labels = np.full(len(seq.ids), ignore, np.int32)
    for p in np.flatnonzero(seq.label_positions).tolist():
        s, w = int(seq.sentence_ids[p]), int(seq.word_ids[p])
        if w >= len(word_labels[s]):
            raise ValueError(f"sentence {s}: {len(word_labels[s])} word labels, but the packed "
                             f"sequence has word {w}")
        labels[p] = word_labels[s][w]
    return labels


def packed_predictions(
    packed: Sequence[PackedSequence],
    subword_predictions: Sequence[np.ndarray],
    num_words_per_sentence: Sequence[int],
    label_on: str = "last",
) -> list[list[int]]:
    """Per-sentence word predictions from packed sequences; same rules as
    :func:`word_predictions` (each word exactly once, ValueError otherwise)."""
    return _reassemble(packed, subword_predictions, num_words_per_sentence, label_on)
