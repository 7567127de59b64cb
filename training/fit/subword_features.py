"""Subword rows for BERT taggers: word pieces, one label position per word, windows or packing.

A row is one [CLS] ... [SEP] sequence. It may hold part of a long sentence (a window that
never splits a word) or, with RODRIGUEZ packing, several whole sentences of one document.
Each row lists its words as (sentence, word) pairs; the model reads one subword per word
(its first or last piece, `label_on`), so heads, losses and decoding work on words as in every
other family, and predictions are put back into their sentences by those pairs.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioner_mtl.data import derived_labels
from bioner_mtl.data.errors import InputError
from bioner_mtl.data.reader import Sentence
from bioner_mtl.models.base import Features
from bioner_mtl.models.bert_encoder import TF_FORMAT, load_encoder
from bioner_mtl.training.fit.batches import TagSet
from bioner_mtl.training.fit.subword_alignment import align, pack_sentences, predicts_from_last

log = logging.getLogger(__name__)


@dataclass
class Row:
    ids: np.ndarray  # subword ids with [CLS] and [SEP]
    positions: np.ndarray  # subword index that predicts each word (first or last label piece)
    subword_words: np.ndarray  # for each subword, the index of its word in `words`, -1 specials
    words: list[tuple[int, int]]  # (sentence index, word index) of each labelled word


def rows_from(sequence, last: bool = False) -> Row:
    """Row from a SubwordSequence or a PackedSequence (both give per-subword word keys); each
    word is read from its first labelled subword, or its last with `last`."""
    sentence_ids = np.asarray(sequence.sentence_ids)
    order: dict[tuple[int, int], int] = {}
    positions: list[int] = []
    subword_words = np.full(len(sequence.ids), -1, dtype=np.int32)
    for i, (s, w) in enumerate(zip(sentence_ids, sequence.word_ids)):
        if w < 0:
            continue
        key = (int(s), int(w))
        if key not in order:
            order[key] = len(order)
            positions.append(-1)
        subword_words[i] = order[key]
        if sequence.label_positions[i] and (last or positions[order[key]] < 0):
            positions[order[key]] = i
    return Row(np.asarray(sequence.ids, np.int32), np.asarray(positions, np.int32),
               subword_words, list(order))


@dataclass
class SubwordSplit:
    sentences: list[Sentence]
    rows: list[Row]
    tag_ids: list[np.ndarray] | None  # per row, the tag of each row word (training only)
    aux: dict[str, list] | None  # TONG labels per row: bCLS, mCLS (ints), mtCLS (per word)

    @property
    def token_ids(self) -> list[np.ndarray]:
        return [row.ids for row in self.rows]

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(row.ids) for row in self.rows])

    def batch(self, index: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        rows = [self.rows[i] for i in index]
        width = max(len(r.ids) for r in rows)
        words = max(1, max(len(r.positions) for r in rows))
        token_ids = np.zeros((len(rows), width), np.int32)
        padding = np.zeros((len(rows), width), bool)
        subword_words = np.full((len(rows), width), -1, np.int32)
        positions = np.zeros((len(rows), words), np.int32)
        tag_mask = np.zeros((len(rows), words), bool)
        for b, row in enumerate(rows):
            token_ids[b, : len(row.ids)] = row.ids
            padding[b, : len(row.ids)] = True
            subword_words[b, : len(row.ids)] = row.subword_words
            positions[b, : len(row.positions)] = row.positions
            tag_mask[b, : len(row.positions)] = True
        inputs = {"token_ids": token_ids, "padding_mask": padding,
                  "segment_ids": np.zeros_like(token_ids), "word_positions": positions,
                  "subword_words": subword_words, "tag_mask": tag_mask}
        tags = None
        if self.tag_ids is not None:
            tags = np.zeros((len(rows), words), np.int32)
            mtcls = np.zeros((len(rows), words), np.int32)
            for b, i in enumerate(index):
                tags[b, : len(self.tag_ids[i])] = self.tag_ids[i]
                mtcls[b, : len(self.tag_ids[i])] = self.aux["mtCLS"][i]
            inputs["bcls"] = np.array([self.aux["bCLS"][i] for i in index], np.int32)
            inputs["mcls"] = np.array([self.aux["mCLS"][i] for i in index], np.int32)
            inputs["mtcls"] = mtcls
        return inputs, tags

    def assemble(self, paths: list[np.ndarray]) -> list[np.ndarray]:
        """Row values -> sentence values, one per word (a tag id, a confidence, a row of
        log-probabilities); every word is predicted by exactly one row."""
        dtype = np.result_type(*paths) if paths else np.int64
        tail = paths[0].shape[1:] if paths else ()
        out = [np.zeros((len(s), *tail), dtype) for s in self.sentences]
        seen = [np.zeros(len(s), bool) for s in self.sentences]
        for row, path in zip(self.rows, paths):
            for (s, w), value in zip(row.words, path):
                out[s][w] = value
                seen[s][w] = True
        missing = [s for s, done in enumerate(seen) if not done.all()]
        if missing:
            raise ValueError(f"sentences {missing[:5]} have words no row predicted")
        return out


def backbone_dtype(precision: str) -> str:
    """bfloat16 needs no loss scaling, so mixed precision fits our training loop as it is."""
    import tensorflow as tf

    choices = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
    if precision == "auto":
        return "mixed_bfloat16" if tf.config.list_physical_devices("GPU") else "float32"
    if precision not in choices:
        raise ValueError(f"precision {precision!r} is not one of auto, float32, bfloat16")
    return choices[precision]


CACHED_WORDS = 500_000  # words whose pieces are kept between calls: a long-running
# service tagging text full of new tokens keeps a bounded cache (about 100 MB at most)


class SubwordFeaturizer:
    """Tokenises words once each (batched), then builds rows for any split."""

    def __init__(self, model_config, weights: bool = True):
        if not isinstance(model_config.max_length, int) or model_config.max_length < 3:
            raise InputError(f"max_length {model_config.max_length}: a row needs room for "
                             "[CLS], one subword and [SEP], so at least 3 (e.g. --set "
                             "max_length=128)")
        self.config = model_config
        self.encoder = load_encoder(model_config.encoder, backbone_dtype(model_config.precision),
                                    weights=weights)
        tokenizer = self.encoder.tokenizer
        self.unk_id = int(tokenizer.token_to_id("[UNK]"))
        self.max_length = min(model_config.max_length, self.encoder.max_length)
        self._pieces: dict[str, list[int]] = {}
        self.features = Features(None, 0, self.encoder)
        log.info("encoder %s (%s, %s, hidden %d, max length %d, %s)", self.encoder.source,
                 self.encoder.format, "uncased" if self.encoder.lowercase else "cased",
                 self.encoder.hidden_dim, self.max_length, self.encoder.backbone.dtype_policy.name)

    @classmethod
    def for_run(cls, run, model_config, loaded: dict, needs_chars: bool) -> SubwordFeaturizer:
        """The trainer's constructor, shared with the word featurizer: the encoder named in the
        model's options brings its own vocabulary, so the run's corpora are not read here."""
        return cls(model_config)

    ENCODER_FILES = ("config.json", "bert_config.json", "vocab.txt", "tokenizer_config.json")

    def state(self, directory: Path) -> dict:
        """Copy the encoder's configuration and vocabulary (not its weights: the bundle's
        weights file holds the fine-tuned ones) into the bundle."""
        target = directory / "encoder"
        target.mkdir(parents=True, exist_ok=True)
        source = Path(self.encoder.source)
        for name in self.ENCODER_FILES:
            if (source / name).exists():
                shutil.copy(source / name, target / name)
        if self.encoder.format == TF_FORMAT and not (target / "bert_config.json").exists():
            # a checkpoint's config named config.json: without its checkpoint files the copy
            # would reload as a Hugging Face config, whose "gelu" is the exact one, not the
            # tanh approximation Google's BERT computes
            shutil.copy(source / "config.json", target / "bert_config.json")
        return {"encoder": "encoder"}

    @classmethod
    def from_state(cls, state: dict, directory: Path, model_config) -> SubwordFeaturizer:
        config = dataclasses.replace(model_config, encoder=str(directory / state["encoder"]))
        return cls(config, weights=False)

    def _tokenize_all(self, sentences: list[Sentence]) -> None:
        words = {t for s in sentences for t in s.tokens}
        if len(self._pieces) + len(words) > CACHED_WORDS:  # keep only this call's words
            self._pieces = {w: p for w, p in self._pieces.items() if w in words}
        new = sorted(words - set(self._pieces))
        for start in range(0, len(new), 4096):
            chunk = new[start:start + 4096]
            pieces = self.encoder.tokenizer(chunk)
            pieces = pieces.to_list() if hasattr(pieces, "to_list") else pieces
            for word, ids in zip(chunk, pieces):
                self._pieces[word] = [int(i) for i in ids]

    def encode(self, sentences: list[Sentence], tagset: TagSet | None) -> SubwordSplit:
        self._tokenize_all(sentences)
        common = dict(cls_id=self.encoder.cls_id, sep_id=self.encoder.sep_id,
                      max_length=self.max_length, label_on=self.config.label_on,
                      unk_id=self.unk_id)
        tokenize = self._pieces.__getitem__
        if self.config.pack:
            # Gold tags only shape training rows (keep mentions whole); never evaluation rows.
            sequences = pack_sentences(sentences, tokenize, keep_mentions=tagset is not None,
                                       **common)
        else:
            tags = [s.tags for s in sentences] if tagset is not None else None
            sequences = align(sentences, tokenize, tags=tags, **common)
        last = predicts_from_last(self.config.label_on)
        rows = [rows_from(seq, last) for seq in sequences]
        tag_ids = aux = None
        if tagset is not None:
            ids = [tagset.ids(s.tags) for s in sentences]
            mt = [derived_labels.mtcls(s.tags) for s in sentences]
            tag_ids = [np.array([ids[s][w] for s, w in r.words], np.int32) for r in rows]
            row_tags = [[sentences[s].tags[w] for s, w in r.words] for r in rows]
            aux = {"bCLS": [derived_labels.bcls(t) for t in row_tags],
                   "mCLS": [derived_labels.mcls(t) for t in row_tags],
                   "mtCLS": [np.array([mt[s][w] for s, w in r.words], np.int32) for r in rows]}
        return SubwordSplit(sentences, rows, tag_ids, aux)
