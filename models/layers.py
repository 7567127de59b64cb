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
    """features[t + o] for o in 0..width-1 -> [B, length, width, F] (windows per token), in
    one gather: the same values as `stack_windows`, and its gradient (a segment sum) costs a
    third of the stacked slices' on a quick-preset batch (docs/benchmarks.md)."""
    index = ops.arange(length)[:, None] + ops.arange(width)[None, :]  # [length, width]
    return ops.take(features, index, axis=1)


def stack_windows(features, width: int, length):
    """`gather_windows` as width slices stacked: the form before issue 24, kept as the
    reference the tests and the before-and-after benchmark compare with. Its gradient sums
    the same terms in another order (equal to float rounding)."""
    return ops.stack([features[:, o:o + length] for o in range(width)], axis=2)


class CharCNN(keras.layers.Layer):
    """Ma & Hovy character features, computed as their code and WANG's do: char embedding ->
    dropout -> Conv1D over the word with width - 1 zero vectors on each side ('full', Lasagne
    pad='full', torch padding=kernel_size - 1) -> max over every position -> tanh.

    The padding character (id 0) has its own trained vector, like Ma & Hovy's word-end
    character and WANG's PAD_ID_CHAR, and its windows take part in the max, as in both codes:
    words are always padded to the same character width (training.batches, 20), so a word's
    features never depend on the rest of its batch. Tokens without characters (sentence
    padding) give zeros. tanh is monotonic, so tanh after the max equals a tanh CNN pooled.
    """

    def __init__(self, num_chars: int, dim: int = 30, filters: int = 30, width: int = 3,
                 dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_chars, self.dim, self.filters, self.width = num_chars, dim, filters, width
        self.dropout = dropout
        self.embedding = keras.layers.Embedding(num_chars, dim, name="chars")
        self.drop = keras.layers.Dropout(dropout)
        self.conv = keras.layers.Conv1D(filters, width, padding="valid", name="char_conv")

    def call(self, char_ids, training=False):
        batch, length, chars = ops.shape(char_ids)[0], ops.shape(char_ids)[1], ops.shape(
            char_ids)[2]
        flat = ops.reshape(char_ids, (-1, chars))
        embedded = self.drop(self.embedding(flat), training=training)  # [B*N, C, D]
        edge = self.width - 1
        embedded = ops.pad(embedded, ((0, 0), (edge, edge), (0, 0)))
        pooled = ops.tanh(ops.max(self.conv(embedded), axis=1))  # [B*N, F]
        has_chars = ops.any(ops.not_equal(flat, 0), axis=1, keepdims=True)
        pooled = ops.where(has_chars, pooled, ops.zeros_like(pooled))
        return ops.reshape(pooled, (batch, length, self.filters))

    def get_config(self):
        return {**super().get_config(), "num_chars": self.num_chars, "dim": self.dim,
                "filters": self.filters, "width": self.width, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="bioner")
class GradientReversal(keras.layers.Layer):
    """Identity forward, gradient times -1 backward (adversarial shared features, WANG)."""

    def call(self, inputs):
        import tensorflow as tf

        @tf.custom_gradient
        def reverse(x):
            return tf.identity(x), lambda upstream: -upstream

        return reverse(inputs)


class GatedCrossSharing(keras.layers.Layer):
    """WANG's cross-sharing unit for two tasks, main and auxiliary:
    G_main = P_main * sigmoid(W P_aux + b), G_aux = P_aux * sigmoid(W' P_main + b')."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.units = units
        self.gate_main = keras.layers.Dense(units, activation="sigmoid", name="gate_main")
        self.gate_aux = keras.layers.Dense(units, activation="sigmoid", name="gate_aux")

    def call(self, private_main, private_aux):
        return (private_main * self.gate_main(private_aux),
                private_aux * self.gate_aux(private_main))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def orthogonality(shared, private, mask):
    """WANG's L_diff = ||S^T P||_F^2 of a sentence's real tokens, averaged over sentences.

    Zero when every shared feature is orthogonal to every private one; pushes the shared
    encoder to keep what the private ones do not.
    """
    weight = ops.expand_dims(ops.cast(mask, shared.dtype), -1)
    product = ops.einsum("bns,bnp->bsp", shared * weight, private * weight)
    return ops.mean(ops.sum(ops.square(product), axis=(1, 2)))
