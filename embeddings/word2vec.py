"""Word2vec trained on the bundled corpora: the default static vectors.

Neither paper's vectors (GloVe 6B for WANG, PubMed-PMC word2vec for CRICHTON) can be
downloaded here, so the default is word2vec (gensim) on the corpora's own text. Only the
train and devel splits are used: test text must not shape the vectors a model is scored
with. Results are cached on disk, keyed by every setting and a fingerprint of the text.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path

import numpy as np

from bioner_mtl.data.corpora import bundled_ner_corpora, load_corpus, source_files
from bioner_mtl.data.errors import InputError
from bioner_mtl.embeddings.vectors import WordVectors, with_normalised_keys

log = logging.getLogger(__name__)

CACHE_ENV = "BIONER_CACHE"
POS_CORPUS = "GENIA-POS"
# Bump when the way vectors are derived changes, so old cache entries are not reused.
RECIPE_VERSION = 1


def default_corpora() -> list[str]:
    """All bundled NER corpora plus the POS corpus: the most in-domain text there is."""
    return [*bundled_ner_corpora(), POS_CORPUS]


def corpus_text(names: Sequence[str] | None = None) -> list[list[str]]:
    """The tokens of the train and devel splits of `names` (default `default_corpora()`)."""
    names = default_corpora() if names is None else list(names)
    if not names:
        raise InputError("no corpora given; name at least one, e.g. --corpora BC2GM")
    text: list[list[str]] = []
    for name in names:
        corpus = load_corpus(name)
        for split in ("train", "devel"):
            text.extend(list(sentence.tokens) for sentence in corpus.split(split))
    return text


def vectors_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """`cache_dir`, else $BIONER_CACHE/vectors, else ~/.cache/bioner-mtl/vectors.

    BIONER_CACHE names the toolkit's cache root, so other caches can live beside this one.
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    root = os.environ.get(CACHE_ENV)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "bioner-mtl"
    return base / "vectors"


def text_fingerprint(sentences: Iterable[Sequence[str]]) -> str:
    """Sentence count, token count and a hash of the text: a corpus edit changes the key."""
    digest = hashlib.sha256()
    n_sentences = n_tokens = 0
    for sentence in sentences:
        digest.update("\x1f".join(sentence).encode("utf-8"))
        digest.update(b"\x1e")
        n_sentences += 1
        n_tokens += len(sentence)
    return f"{n_sentences}:{n_tokens}:{digest.hexdigest()[:16]}"


def files_fingerprint(names: Sequence[str],
                      splits: tuple[str, ...] = ("train", "devel")) -> str:
    """A hash of the files of `names`'s `splits` (default train and devel: the cache key of
    corpus text), found without parsing (and holding) every corpus in memory. With every
    split it is the data a run trains and is scored on (training.fit.results.data_of)."""
    digest = hashlib.sha256()
    for name in names:
        for path in source_files(name, splits):
            digest.update(f"{name}\x1f{path.name}\x1e".encode())
            digest.update(path.read_bytes())
    return f"files:{digest.hexdigest()[:16]}"


def _check(settings: dict[str, int]) -> None:
    for name, value in settings.items():
        low = 0 if name == "sg" else 1
        high = 1 if name == "sg" else None
        if value < low or (high is not None and value > high):
            allowed = "0 or 1" if high is not None else f"at least {low}"
            raise InputError(f"word2vec setting {name}={value} is invalid; it must be {allowed}")


def train_word2vec(names: Sequence[str] | None = None, *, dim: int = 200, window: int = 5,
                   min_count: int = 2, epochs: int = 5, sg: int = 1, seed: int = 1,
                   workers: int = 2, cache_dir: str | Path | None = None,
                   sentences: Iterable[Sequence[str]] | None = None) -> WordVectors:
    """Word2vec on `corpus_text(names)` (or on `sentences`, for tests and custom text), from
    the cache when these settings and this text were trained before.

    Original tokens are trained, then `with_normalised_keys` adds the lower-cased,
    digit-normalised keys the lookup falls back to. Identical vectors on a rerun need
    workers=1: gensim's threads race otherwise (the cache makes reruns identical anyway).
    """
    if sentences is not None and names is not None:
        raise ValueError("give corpus names or sentences, not both")
    settings = {"dim": dim, "window": window, "min_count": min_count, "epochs": epochs,
                "sg": sg, "seed": seed, "workers": workers}
    _check({k: v for k, v in settings.items() if k != "seed"})
    corpora = None if sentences is not None else (default_corpora() if names is None
                                                  else list(names))
    # Corpora are keyed by their files, so a cache hit never parses them; given sentences
    # are keyed by their text.
    text = None if sentences is None else [list(s) for s in sentences]
    fingerprint = files_fingerprint(corpora) if text is None else text_fingerprint(text)
    key_source = {**settings, "corpora": corpora, "text": fingerprint,
                  "recipe": RECIPE_VERSION, "gensim": metadata.version("gensim")}
    key = hashlib.sha256(json.dumps(key_source, sort_keys=True).encode()).hexdigest()[:16]
    path = vectors_cache_dir(cache_dir) / f"word2vec-{dim}d-{key}.npz"
    if path.is_file():
        try:
            vectors = WordVectors.load(path)
        except InputError as err:
            log.warning("ignoring a damaged cache entry (%s); training again", err)
        else:
            log.info("word2vec vectors from the cache: %s (%d words x %d)",
                     path, len(vectors), vectors.dim)
            vectors.origin = f"cache {path}"
            return vectors

    from gensim.models import Word2Vec  # imported here: slow, and a cache hit needs none of it

    text = corpus_text(corpora) if text is None else text
    n_tokens = sum(map(len, text))
    if not n_tokens:
        raise InputError("no tokens to train word2vec on; give corpora or sentences with text")

    log.info("training word2vec (%s) on %d sentences, %d tokens; %s",
             "skip-gram" if sg else "CBOW", len(text), n_tokens,
             ", ".join(f"{k}={v}" for k, v in settings.items()))
    start = time.perf_counter()
    model = Word2Vec(vector_size=dim, window=window, min_count=min_count, epochs=epochs, sg=sg,
                     seed=seed, workers=workers)
    model.build_vocab(text)
    if not model.wv.index_to_key:
        raise InputError(f"no word occurs {min_count} times in the text; lower min_count")
    model.train(text, total_examples=model.corpus_count, epochs=model.epochs)
    words = list(model.wv.index_to_key)
    counts = [model.wv.get_vecattr(word, "count") for word in words]
    trained = WordVectors(words, np.array(model.wv.vectors, dtype=np.float32))
    vectors = with_normalised_keys(trained, counts)
    log.info("trained word2vec in %.1f s: %d words + %d normalised keys = %d vectors x %d",
             time.perf_counter() - start, len(trained), len(vectors) - len(trained),
             len(vectors), dim)
    try:
        vectors.save(path)
        vectors.origin = f"trained, cached at {path}"
    except InputError as err:
        log.warning("could not cache the vectors (%s); they will be trained again next time",
                    err)
        vectors.origin = "trained (not cached)"
    return vectors
