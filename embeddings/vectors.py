"""Static word vectors: lookup with fallbacks, the toolkit's own file format, and the
embedding matrix a model starts from.

Corpora spell the same word many ways ("IL-2", "Il-2", "IL-6"); pre-trained vectors rarely
have them all, so a lookup tries the token, then its lower case, then `normalise(token)`.
"""

from __future__ import annotations

import logging
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from bioner_mtl.data.atomic import write_atomically
from bioner_mtl.data.errors import InputError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_DIGIT = re.compile(r"\d")


def normalise(token: str) -> str:
    """The last-resort key: case and the exact digits rarely change what a token means."""
    return _DIGIT.sub("0", token.lower())


class WordVectors:
    """A word list and its float32 matrix, row i being the vector of words[i]."""

    def __init__(self, words: Sequence[str], matrix: np.ndarray) -> None:
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != len(words):
            raise ValueError(f"matrix of shape {matrix.shape} does not fit {len(words)} words")
        self.words = list(words)
        self.matrix = matrix
        self.index = {word: i for i, word in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("duplicate words; each word needs exactly one row")
        self.origin = ""  # where the vectors came from (file, cache, training), for messages

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __repr__(self) -> str:
        return f"WordVectors({len(self)} words x {self.dim})"

    def key_for(self, token: str) -> str | None:
        """The key a lookup of `token` uses: itself, its lower case, or its normalised form."""
        for key in (token, token.lower(), normalise(token)):
            if key in self.index:
                return key
        return None

    def lookup(self, token: str) -> np.ndarray | None:
        """The vector of `token` via the fallbacks of `key_for`, or None (a view: do not edit)."""
        key = self.key_for(token)
        return None if key is None else self.matrix[self.index[key]]

    def save(self, path: str | Path) -> None:
        """Write the npz format `load` reads, atomically so a crash never leaves half a file."""
        words = "\n".join(self.words)
        if any("\n" in word for word in self.words):
            raise ValueError("a word contains a newline; the npz format cannot store it")
        arrays = {"format": np.array(FORMAT_VERSION),
                  "words": np.frombuffer(words.encode("utf-8"), dtype=np.uint8),
                  "matrix": self.matrix}
        write_atomically(path, lambda handle: np.savez(handle, **arrays), binary=True)

    @classmethod
    def load(cls, path: str | Path) -> WordVectors:
        """Read a file written by `save`."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                version = int(data["format"])
                words_bytes, matrix = data["words"].tobytes(), data["matrix"]
            words = words_bytes.decode("utf-8").split("\n") if words_bytes else []
        except FileNotFoundError:
            raise InputError(f"{path}: no such vectors file; check the path") from None
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile,
                zlib.error) as err:
            # a truncated or damaged file (an interrupted copy, a full disk): one line, and
            # the word2vec cache trains the vectors again
            raise InputError(f"{path}: not a whole vectors .npz written by this toolkit "
                             f"({err}); train again or give a word2vec/GloVe file") from None
        if version != FORMAT_VERSION:
            raise InputError(f"{path}: vectors format {version}, this toolkit reads "
                             f"{FORMAT_VERSION}; train the vectors again")
        try:
            vectors = cls(words, matrix)
        except ValueError as err:
            raise InputError(f"{path}: damaged vectors file ({err}); train again") from None
        vectors.origin = str(path)
        return vectors


def with_normalised_keys(vectors: WordVectors, counts: Sequence[int] | None = None) -> WordVectors:
    """Add a vector for each normalised key the words map to but that has none of its own.

    The key's vector is the count-weighted mean of its words' vectors, so "0.00" stands for
    all the numbers and "dna" for "DNA", and a lookup of an unseen spelling ("IL-7", "dNA")
    still lands near its relatives. Averaging is used rather than training on normalised
    text because it keeps the case and digit distinctions the trained words have.
    """
    weights = np.ones(len(vectors)) if counts is None else np.asarray(counts, dtype=np.float64)
    new_keys: dict[str, int] = {}
    rows, targets = [], []
    for row, word in enumerate(vectors.words):
        key = normalise(word)
        if key not in vectors.index:
            targets.append(new_keys.setdefault(key, len(new_keys)))
            rows.append(row)
    if not new_keys:
        return vectors
    sums = np.zeros((len(new_keys), vectors.dim))
    totals = np.zeros(len(new_keys))
    np.add.at(sums, targets, vectors.matrix[rows] * weights[rows, None])
    np.add.at(totals, targets, weights[rows])
    means = (sums / np.maximum(totals, 1e-12)[:, None]).astype(np.float32)
    merged = WordVectors(vectors.words + list(new_keys), np.vstack([vectors.matrix, means]))
    merged.origin = vectors.origin
    return merged


def embedding_matrix(vocab: Sequence[str], vectors: WordVectors, seed: int,
                     reserved: int = 2) -> tuple[np.ndarray, float]:
    """The initial embedding weights for a model vocabulary, and the share of its words found.

    Row 0 (padding) is zeros; rows 1..reserved-1 (the unknown word) and words without a
    vector get seeded normal vectors with the vectors' own spread, so they neither dominate
    nor vanish next to pre-trained rows. The share counts vocab[reserved:] only.
    """
    if reserved < 1 or len(vocab) < reserved:
        raise ValueError(f"vocab must start with its {reserved} reserved entries "
                         "('<pad>', '<unk>')")
    scale = float(vectors.matrix.std()) if vectors.matrix.size else 1.0
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, scale or 1.0, (len(vocab), vectors.dim)).astype(np.float32)
    matrix[0] = 0.0
    found = 0
    for row in range(reserved, len(vocab)):
        vector = vectors.lookup(vocab[row])
        if vector is not None:
            matrix[row] = vector
            found += 1
    words = len(vocab) - reserved
    return matrix, found / words if words else 0.0


def coverage(tokens: Iterable[str], vectors: WordVectors) -> dict[str, float]:
    """How much of a text the vectors cover, by token and by type, exact vs via a fallback.

    Keys: tokens, types (counts), and tokens_/types_ + exact, fallback, found (shares).
    """
    counts = Counter(tokens)
    hits = {("tokens", "exact"): 0, ("tokens", "fallback"): 0,
            ("types", "exact"): 0, ("types", "fallback"): 0}
    for token, count in counts.items():
        key = vectors.key_for(token)
        if key is not None:
            how = "exact" if key == token else "fallback"
            hits["tokens", how] += count
            hits["types", how] += 1
    totals = {"tokens": sum(counts.values()), "types": len(counts)}
    result: dict[str, float] = dict(totals)
    for unit, total in totals.items():
        exact, fallback = hits[unit, "exact"], hits[unit, "fallback"]
        result[f"{unit}_exact"] = exact / total if total else 0.0
        result[f"{unit}_fallback"] = fallback / total if total else 0.0
        result[f"{unit}_found"] = (exact + fallback) / total if total else 0.0
    return result
