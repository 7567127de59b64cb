"""Static word vectors for the CNN and BiLSTM families: trained word2vec by default, or a
user's word2vec/GloVe file, aligned to a model vocabulary by `embedding_matrix`."""

from bioner_mtl.embeddings.formats import load_vectors
from bioner_mtl.embeddings.vectors import (
    WordVectors,
    coverage,
    embedding_matrix,
    normalise,
    with_normalised_keys,
)
from bioner_mtl.embeddings.word2vec import (
    corpus_text,
    default_corpora,
    text_fingerprint,
    train_word2vec,
    vectors_cache_dir,
)

__all__ = [
    "WordVectors",
    "corpus_text",
    "coverage",
    "default_corpora",
    "embedding_matrix",
    "load_vectors",
    "normalise",
    "text_fingerprint",
    "train_word2vec",
    "vectors_cache_dir",
    "with_normalised_keys",
]
