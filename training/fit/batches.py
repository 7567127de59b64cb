"""From sentences to padded batches: vocabularies, encoding, length bucketing.

Vocabularies reserve 0 for padding and 1 for unknown. Each task keeps its own tag vocabulary,
built from its training labels in the scheme the heads learn (IOB2 or IOBES).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from bioner_mtl.data import tags as tagging
from bioner_mtl.data.reader import Sentence

PAD, UNK = "<pad>", "<unk>"
BUCKET_POOL = 50  # batches whose sentences are sorted by length together (less padding)


@dataclass(frozen=True)
class Vocabulary:
    items: tuple[str, ...]  # items[0] = PAD, items[1] = UNK

    def __post_init__(self):
        object.__setattr__(self, "_index", {w: i for i, w in enumerate(self.items)})

    def __len__(self) -> int:
        return len(self.items)

    def ids(self, tokens: Sequence[str]) -> np.ndarray:
        get = self._index.get
        return np.fromiter((get(t, 1) for t in tokens), dtype=np.int32, count=len(tokens))

    @classmethod
    def build(cls, items) -> Vocabulary:
        seen = dict.fromkeys(items)
        seen.pop(PAD, None)
        seen.pop(UNK, None)
        return cls((PAD, UNK, *seen))


@dataclass(frozen=True)
class TagSet:
    """One task's labels in its training scheme; predictions come back as IOB2 strings."""

    labels: tuple[str, ...]
    scheme: str  # "IOB2", "IOBES" or "plain" (POS)

    @classmethod
    def from_sentences(cls, sentences: list[Sentence], scheme: str) -> TagSet:
        labels = sorted({t for s in sentences for t in cls._convert(s.tags, scheme)})
        return cls(tuple(labels), scheme)

    @staticmethod
    def _convert(tags: Sequence[str], scheme: str) -> list[str]:
        return list(tags) if scheme == "plain" else tagging.convert(tags, scheme)

    def ids(self, tags: Sequence[str]) -> np.ndarray:
        index = {t: i for i, t in enumerate(self.labels)}
        return np.array([index[t] for t in self._convert(tags, self.scheme)], dtype=np.int32)

    def decode(self, ids: Sequence[int]) -> list[str]:
        """A predicted path as tags; an IOBES path as valid IOB2 with the mentions a lenient
        reader finds in it, whether or not the decoder kept to IOBES (data.tags.
        iobes_to_iob2_repaired: `I-X E-X` is one mention, `S-X I-X` two)."""
        tags = [self.labels[i] for i in ids]
        return tags if self.scheme in ("plain", "IOB2") else tagging.iobes_to_iob2_repaired(tags)


@dataclass
class EncodedSplit:
    """One split as model rows. Word models have one row per sentence; subword models may cut
    a long sentence into several rows, so a split also says how rows become sentences."""

    sentences: list[Sentence]
    token_ids: list[np.ndarray]
    char_ids: list[np.ndarray] | None
    tag_ids: list[np.ndarray] | None  # None outside train: gold is scored from the strings

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(t) for t in self.token_ids])

    def batch(self, index: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        return make_batch(self, index)

    def assemble(self, rows: list[np.ndarray]) -> list[np.ndarray]:
        """Per-row tag paths -> per-sentence tag paths (rows are sentences here)."""
        return rows


def char_ids(tokens: Sequence[str], chars: Vocabulary, max_chars: int) -> np.ndarray:
    out = np.zeros((len(tokens), max_chars), dtype=np.int32)
    for i, token in enumerate(tokens):
        ids = chars.ids(token[:max_chars])
        out[i, : len(ids)] = ids
    return out


def encode(sentences: list[Sentence], words: Vocabulary, tagset: TagSet | None,
           chars: Vocabulary | None = None, max_chars: int = 20) -> EncodedSplit:
    return EncodedSplit(
        sentences,
        [words.ids(s.tokens) for s in sentences],
        [char_ids(s.tokens, chars, max_chars) for s in sentences] if chars else None,
        [tagset.ids(s.tags) for s in sentences] if tagset else None,
    )


def bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator
                     ) -> list[np.ndarray]:
    """Shuffle, sort pools of BUCKET_POOL batches by length, cut batches, shuffle their order."""
    order = rng.permutation(len(lengths))
    pool = batch_size * BUCKET_POOL
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start:start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def make_batch(split: EncodedSplit, index: np.ndarray) -> tuple[dict[str, np.ndarray],
                                                                np.ndarray | None]:
    """Pad the chosen sentences to the longest of them; returns (inputs, tag ids or None)."""
    lengths = np.array([len(split.token_ids[i]) for i in index])
    width = int(lengths.max())
    mask = np.arange(width)[None, :] < lengths[:, None]
    token_ids = np.zeros((len(index), width), dtype=np.int32)
    token_ids[mask] = np.concatenate([split.token_ids[i] for i in index])
    inputs = {"token_ids": token_ids, "padding_mask": mask, "tag_mask": mask}
    if split.char_ids is not None:
        max_chars = split.char_ids[index[0]].shape[1]
        chars = np.zeros((len(index), width, max_chars), dtype=np.int32)
        chars[mask] = np.concatenate([split.char_ids[i] for i in index])
        inputs["char_ids"] = chars
    tags = None
    if split.tag_ids is not None:
        tags = np.zeros((len(index), width), dtype=np.int32)
        tags[mask] = np.concatenate([split.tag_ids[i] for i in index])
    return inputs, tags


class BatchStream:
    """Endless batches of one task's training split; a new shuffled pass when one ends."""

    def __init__(self, split: EncodedSplit, batch_size: int, rng: np.random.Generator):
        self.split, self.batch_size, self.rng = split, batch_size, rng
        self.lengths = split.lengths
        self.batches_per_epoch = -(-len(self.lengths) // batch_size)
        self._pending: list[np.ndarray] = []

    def __iter__(self) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
        return self

    def __next__(self):
        if not self._pending:
            self._pending = bucketed_batches(self.lengths, self.batch_size, self.rng)
        return self.split.batch(self._pending.pop())


def eval_batches(split: EncodedSplit, batch_size: int = 64) -> Iterator[tuple[np.ndarray, dict]]:
    """Batches sorted by length (least padding); yields (sentence indices, inputs)."""
    order = np.argsort(split.lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        yield index, split.batch(index)[0]
