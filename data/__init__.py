"""Corpora: reading, tag schemes, the registry of bundled and derived corpora, ablation."""

from data.corpora import REGISTRY, Corpus, load_corpus  # noqa: F401
from data.errors import InputError  # noqa: F401
from data.reader import Sentence  # noqa: F401
