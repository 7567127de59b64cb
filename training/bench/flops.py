"""Floating point work of a training step, counted from the model's shapes.

Only matrix products are counted (2 operations per multiply-add), on the padded tensors the
hardware really computes, as model-FLOP utilisation is usually reported: element-wise work
(activations, layer norms, the CRF's forward algorithm) is small beside them and not matmul
bound. A training step is three forward passes' worth: the backward pass computes gradients
for inputs and for weights, each as costly as the forward product.
"""

from __future__ import annotations

TRAIN_FACTOR = 3


def dense(rows: int, inputs: int, outputs: int) -> int:
    return 2 * rows * inputs * outputs


def bert_forward(batch: int, length: int, words: int, *, layers: int, hidden: int,
                 intermediate: int, labels: int) -> int:
    """Encoder on [batch, length] subwords, then a linear head on `words` word vectors."""
    tokens = batch * length
    per_layer = (dense(tokens, hidden, 3 * hidden)  # query, key, value
                 + 2 * 2 * batch * length * length * hidden  # scores QK^T and weighted sum AV
                 + dense(tokens, hidden, hidden)  # attention output
                 + dense(tokens, hidden, intermediate) + dense(tokens, intermediate, hidden))
    return layers * per_layer + dense(words, hidden, labels)


def bilstm_crf_forward(batch: int, length: int, chars: int, *, word_dim: int, char_dim: int,
                       char_filters: int, char_width: int, lstm: int, projection: int,
                       labels: int) -> int:
    """Char CNN, one BiLSTM, projection and CRF emissions on [batch, length] words of
    `chars` characters (the fully shared model, one task). The char CNN pads each word with
    width - 1 characters on either side (Ma & Hovy's full convolution): chars + width - 1
    positions."""
    words = batch * length
    char_cnn = dense(words * (chars + char_width - 1), char_width * char_dim, char_filters)
    one_direction = dense(words, word_dim + char_filters + lstm, 4 * lstm)  # x W + h U, 4 gates
    head = dense(words, 2 * lstm, projection) + dense(words, projection, labels)
    return char_cnn + 2 * one_direction + head


def train_step(forward: int) -> int:
    return TRAIN_FACTOR * forward
