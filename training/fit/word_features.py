"""Featurizers: how a model family sees text. The harness asks its model's registry entry
which one to use, so every family is trained by the same loop.

- words: a vocabulary of words with vectors (0 pad, 1 unknown), optional characters; one row
  per sentence (window-CNN and BiLSTM families);
- subwords: a BERT tokenizer's word pieces; long sentences become several rows that never
  split a word; the model reads one label position per word (BERT family).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np

from bioner_mtl.data.reader import Sentence
from bioner_mtl.embeddings import embedding_matrix, load_vectors, train_word2vec
from bioner_mtl.models.base import Features
from bioner_mtl.training.fit.batches import EncodedSplit, TagSet, Vocabulary, encode
from bioner_mtl.training.spec.config import RunConfig

log = logging.getLogger(__name__)


def word_vectors(run: RunConfig, names: tuple[str, ...]):
    sources = None if run.vector_corpora == "bundled" else tuple(sorted(names))
    return _vectors(run.vectors, sources, run.vector_dim, run.vector_epochs, run.vector_seed)


@functools.lru_cache(maxsize=2)
def _vectors(source: str, corpora_names: tuple[str, ...] | None, dim: int, epochs: int,
             seed: int):
    """Memoised: the cells of a grid share their vectors instead of re-reading the cache."""
    if source != "trained":
        return load_vectors(source)
    names = list(corpora_names) if corpora_names else None
    return train_word2vec(names, dim=dim, epochs=epochs, seed=seed)


class WordFeaturizer:
    def __init__(self, words: Vocabulary, chars: Vocabulary | None, matrix: np.ndarray):
        self.words, self.chars = words, chars
        self.features = Features(matrix, len(chars) if chars else 0)

    @classmethod
    def for_run(cls, run: RunConfig, model_config, loaded: dict,
                needs_chars: bool) -> WordFeaturizer:
        vectors = word_vectors(run, tuple(loaded))
        words = cls._vocabulary(loaded, vectors, getattr(model_config, "fixed_vectors", True))
        matrix, found = embedding_matrix(list(words.items), vectors, seed=run.seed)
        log.info("word vocabulary %d (%.1f%% with vectors)", len(words), 100 * found)
        chars = None
        if needs_chars:
            chars = Vocabulary.build(c for corpus, train in loaded.values()
                                       for s in train for tok in s.tokens for c in tok)
        return cls(words, chars, matrix)

    def state(self, directory: Path) -> dict:
        """What a model bundle needs to rebuild this featurizer (the vectors are weights)."""
        return {"words": list(self.words.items),
                "chars": list(self.chars.items) if self.chars else None,
                "dim": int(self.features.word_vectors.shape[1])}

    @classmethod
    def from_state(cls, state: dict, directory: Path, model_config) -> WordFeaturizer:
        words = Vocabulary(tuple(state["words"]))
        chars = Vocabulary(tuple(state["chars"])) if state["chars"] else None
        return cls(words, chars, np.zeros((len(words), state["dim"]), np.float32))

    @staticmethod
    def _vocabulary(loaded: dict, vectors, fixed: bool) -> Vocabulary:
        """Words of every split that have a vector (vectors are pretrained, labels unused), plus
        training words without one when vectors are trainable."""
        train_words = {t for corpus, train in loaded.values() for s in train for t in s.tokens}
        every = dict.fromkeys(t for corpus, train in loaded.values()
                              for split in (train, corpus.devel, corpus.test)
                              for s in split for t in s.tokens)
        keep = [w for w in every if vectors.lookup(w) is not None
                or (not fixed and w in train_words)]
        return Vocabulary.build(keep)

    def encode(self, sentences: list[Sentence], tagset: TagSet | None) -> EncodedSplit:
        return encode(sentences, self.words, tagset, self.chars)
