"""CRICHTON et al. 2017: the MLP baseline, the window CNN, and the dependent (POS) model.

Every token is classified from a window of 7 words (3 left, 3 right, sentence-break padding).
The window is built inside the model from ordinary sentence batches, so this family eats the
same batches as every other. Each filter spans the whole embedding width and is applied at
every window offset without pooling; we run each filter once over the padded sentence and
gather the offsets of each token's window, which equals the per-window convolution but
shares the work of overlapping windows (7x fewer multiply-adds).

With one task the window CNN is CRICHTON's single-task model (STM); with more tasks its
layers up to the output are shared and each task has its own softmax (MO-MTM).
"""

from __future__ import annotations

import keras
from keras import ops

from bioner_mtl.models.base import Features, TaggerModel
from bioner_mtl.models.configs import POS_TASK, WindowConfig
from bioner_mtl.models.layers import TokenWindows, WordEmbedding, gather_windows


class WindowEncoder(keras.layers.Layer):
    """Embedding -> windows -> (filters, flattened) -> dense ReLU -> dropout: one hidden vector
    per token."""

    # how each token's window positions are gathered; experiments/cell_time.py's before path
    # sets layers.stack_windows here, in its own process (same values, slower gradient)
    gather = staticmethod(gather_windows)

    def __init__(self, config: WindowConfig, vocab_size: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        if config.window % 2 != 1:
            raise ValueError(f"window {config.window} must be odd (token in the middle)")
        if any(w > config.window for w in config.filter_widths):
            raise ValueError(f"filter widths {config.filter_widths} exceed window {config.window}")
        self.config = config
        self.embedding = WordEmbedding(vocab_size, dim, config.fixed_vectors, name="words")
        self.windows = TokenWindows(config.window // 2, name="windows")
        self.convs = [keras.layers.Conv1D(config.filters, w, activation="relu", name=f"conv{w}")
                      for w in config.filter_widths]
        self.hidden = keras.layers.Dense(config.hidden, activation="relu", name="hidden")
        self.dropout = keras.layers.Dropout(config.dropout)

    def call(self, token_ids, mask, training=False):
        length = ops.shape(token_ids)[1]
        padded = self.windows(self.embedding(token_ids), mask)  # [B, N + window - 1, D]
        parts = []
        if self.convs:
            for width, conv in zip(self.config.filter_widths, self.convs):
                offsets = self.config.window - width + 1
                parts.append(self.gather(conv(padded), offsets, length))
        else:  # MLP baseline: the concatenated window of word vectors
            parts.append(self.gather(padded, self.config.window, length))
        flat = ops.concatenate([ops.reshape(p, (ops.shape(p)[0], length, -1)) for p in parts], -1)
        return self.dropout(self.hidden(flat), training=training)


class WindowTagger(TaggerModel):
    """STM with one task, MO-MTM with several: shared encoder, one softmax per task."""

    def __init__(self, config: WindowConfig, tasks: dict[str, int], features: Features,
                 **kwargs):
        super().__init__(tasks, **kwargs)
        vocab, dim = features.word_vectors.shape
        self.encoder = WindowEncoder(config, vocab, dim, name="encoder")
        self.heads = self.make_heads()
        self.features = features

    def build_with_vectors(self) -> None:
        self.encoder.embedding.set_vectors(self.features.word_vectors)

    def scores(self, inputs, task, training=False):
        return self.scores_many(inputs, (task,), training)[task]

    def scores_many(self, inputs, tasks, training=False):
        hidden = self.encoder(inputs["token_ids"], inputs["padding_mask"], training=training)
        return {task: self.heads[task](hidden) for task in tasks}


class DependentTagger(TaggerModel):
    """D-MTM: a POS window CNN is trained first; its hidden layer, frozen, joins the main one.

    The POS branch is a task like any other ('GENIA-POS'), trained in a first phase; the
    NER tasks then read its hidden vectors through stop_gradient, so it stays as trained.
    """

    def __init__(self, config: WindowConfig, tasks: dict[str, int], features: Features,
                 **kwargs):
        super().__init__(tasks, **kwargs)
        if POS_TASK not in tasks:
            raise ValueError(f"the dependent model needs the task {POS_TASK}")
        vocab, dim = features.word_vectors.shape
        self.encoder = WindowEncoder(config, vocab, dim, name="encoder")
        self.pos_encoder = WindowEncoder(config, vocab, dim, name="pos_encoder")
        self.heads = self.make_heads()
        self.features = features

    def build_with_vectors(self) -> None:
        for encoder in (self.encoder, self.pos_encoder):
            encoder.embedding.set_vectors(self.features.word_vectors)

    def scores(self, inputs, task, training=False):
        ids, mask = inputs["token_ids"], inputs["padding_mask"]
        if task == POS_TASK:
            return self.heads[task](self.pos_encoder(ids, mask, training=training))
        pos = ops.stop_gradient(self.pos_encoder(ids, mask, training=False))
        hidden = self.encoder(ids, mask, training=training)
        return self.heads[task](ops.concatenate([hidden, pos], axis=-1))


def build_window_cnn(config: WindowConfig, tasks: dict[str, int], features: Features):
    return WindowTagger(config, tasks, features, name="window_cnn")


def build_mlp(config: WindowConfig, tasks: dict[str, int], features: Features):
    return WindowTagger(config, tasks, features, name="mlp")


def build_dependent_cnn(config: WindowConfig, tasks: dict[str, int], features: Features):
    return DependentTagger(config, tasks, features, name="dependent_cnn")
