"""Per-task output heads. Softmax and CRF heads share one interface: scores, masked loss."""

from __future__ import annotations

import keras
from keras import ops


class SoftmaxHead(keras.layers.Layer):
    """A linear layer to one task's tag scores, with a token-level cross-entropy loss."""

    # Decoded by the harness (numpy Viterbi over the log-softmax of the scores); CRFHead
    # decodes its own paths.
    decodes_itself = False

    def __init__(self, num_labels: int, **kwargs):
        super().__init__(**kwargs)
        self.num_labels = num_labels
        self.dense = keras.layers.Dense(num_labels, name="logits")

    def call(self, features):
        return self.dense(features)

    def loss(self, scores, tags, mask):
        """Mean cross-entropy over real (unpadded) tokens."""
        losses = keras.losses.sparse_categorical_crossentropy(
            tags, ops.cast(scores, "float32"), from_logits=True)  # float32 even when mixed
        mask = ops.cast(mask, losses.dtype)
        return ops.sum(losses * mask) / ops.maximum(ops.sum(mask), 1.0)

    def get_config(self):
        return {**super().get_config(), "num_labels": self.num_labels}
