"""Layers shared by model families."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


class WordEmbedding(keras.layers.Layer):
    """Word vectors aligned to the vocabulary (0 = padding, 1 = unknown).

    CRICHTON keeps pretrained vectors fixed; the unknown-word vector is trained either way, so
    it lives in its own variable and replaces row 1 at lookup.
    """

    def __init__(self, vocab_size: int, dim: int, fixed: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.dim, self.fixed = vocab_size, dim, fixed

    def build(self, input_shape=None):
        self.vectors = self.add_weight(shape=(self.vocab_size, self.dim), name="vectors",
                                       initializer="uniform", trainable=not self.fixed)
        self.unknown = self.add_weight(shape=(self.dim,), name="unknown",
                                       initializer=keras.initializers.RandomNormal(stddev=0.1))

    def set_vectors(self, matrix: np.ndarray) -> None:
        if matrix.shape != (self.vocab_size, self.dim):
            raise ValueError(f"vector matrix {matrix.shape} != ({self.vocab_size}, {self.dim})")
        self.vectors.assign(matrix.astype("float32"))

    def call(self, token_ids):
        vectors = ops.take(self.vectors, token_ids, axis=0)
        is_unknown = ops.expand_dims(ops.equal(token_ids, 1), -1)
        return ops.where(is_unknown, ops.cast(self.unknown, vectors.dtype), vectors)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "dim": self.dim,
                "fixed": self.fixed}


class TokenWindows(keras.layers.Layer):
    """Pad a sentence with a learned sentence-break vector so every token has a full window.

    Returns [B, N + 2 * half, D]; the window of token t spans padded positions t .. t + 2*half.
    Positions past a sentence's end (batch padding) also get the break vector, so a token near
    the end sees the same context whatever the batch's longest sentence is.
    """

    def __init__(self, half: int, **kwargs):
        super().__init__(**kwargs)
        self.half = half

    def build(self, input_shape):
        self.boundary = self.add_weight(shape=(input_shape[-1],), name="sentence_break",
                                        initializer=keras.initializers.RandomNormal(stddev=0.1))

    def call(self, vectors, mask):
        mask = ops.expand_dims(ops.cast(mask, "bool"), -1)
        boundary = ops.cast(self.boundary, vectors.dtype)
        vectors = ops.where(mask, vectors, boundary)
        batch = ops.shape(vectors)[0]
        pad = ops.broadcast_to(boundary, (batch, self.half, ops.shape(vectors)[-1]))
        return ops.concatenate([pad, vectors, pad], axis=1)

    def get_config(self):
        return {**super().get_config(), "half": self.half}


def gather_windows(features, width: int, length):
    """Stack features[t + o] for o in 0..width-1 -> [B, length, width, F] (windows per token)."""
    return ops.stack([features[:, o:o + length] for o in range(width)], axis=2)
