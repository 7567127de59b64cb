"""Corpora: reading, tag schemes, the registry of bundled and derived corpora, ablation."""

from bioner_mtl.data.corpora import REGISTRY, Corpus, load_corpus  # noqa: F401
from bioner_mtl.data.errors import InputError  # noqa: F401
from bioner_mtl.data.reader import Sentence  # noqa: F401
