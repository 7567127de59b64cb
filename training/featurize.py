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

from data.reader import Sentence
from embeddings import embedding_matrix, load_vectors, train_word2vec
from models.base import Features
from training import batches as B
from training.config import RunConfig

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
    def __init__(self, run: RunConfig, model_config, loaded: dict, needs_chars: bool):
        vectors = word_vectors(run, tuple(loaded))
        self.words = self._vocabulary(loaded, vectors,
                                      getattr(model_config, "fixed_vectors", True))
        matrix, found = embedding_matrix(list(self.words.items), vectors, seed=run.seed)
        log.info("word vocabulary %d (%.1f%% with vectors)", len(self.words), 100 * found)
        self.chars = None
        if needs_chars:
            self.chars = B.Vocabulary.build(c for corpus, train in loaded.values()
                                            for s in train for tok in s.tokens for c in tok)
        self.features = Features(matrix, len(self.chars) if self.chars else 0)

    @staticmethod
    def _vocabulary(loaded: dict, vectors, fixed: bool) -> B.Vocabulary:
        """Words of every split that have a vector (vectors are pretrained, labels unused), plus
        training words without one when vectors are trainable."""
        train_words = {t for corpus, train in loaded.values() for s in train for t in s.tokens}
        every = dict.fromkeys(t for corpus, train in loaded.values()
                              for split in (train, corpus.devel, corpus.test)
                              for s in split for t in s.tokens)
        keep = [w for w in every if vectors.lookup(w) is not None
                or (not fixed and w in train_words)]
        return B.Vocabulary.build(keep)

    def encode(self, sentences: list[Sentence], tagset: B.TagSet | None) -> B.EncodedSplit:
        return B.encode(sentences, self.words, tagset, self.chars)
