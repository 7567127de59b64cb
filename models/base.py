"""What every model family shares: one Keras model, one head per task, scores per task.

The harness talks to a model only through this interface, so a family never needs to know
about schedules, evaluation or results, and tasks are always names, never indices.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from bioner_mtl.models.softmax_head import SoftmaxHead


@dataclass(frozen=True)
class Features:
    """What the data side hands a builder: vectors aligned to the word vocabulary, char count."""

    word_vectors: np.ndarray | None  # [vocab, dim], row 0 padding, row 1 unknown
    num_chars: int = 0
    encoder: Any = None  # a loaded BERT encoder (models.bert_encoder.Encoder), subword models


def layer_name(prefix: str, task: str) -> str:
    """Corpus names may hold characters a layer name should not ('NCBI-disease', paths)."""
    return f"{prefix}_{re.sub(r'[^0-9A-Za-z_]', '_', task)}"


class TaggerModel(keras.Model):
    """Base class: subclasses build `self.heads` (task -> head) and implement `scores`."""

    def __init__(self, tasks: dict[str, int], **kwargs):
        super().__init__(**kwargs)
        self.tasks = dict(tasks)  # task name -> number of labels

    def make_heads(self) -> dict[str, SoftmaxHead]:
        return {t: SoftmaxHead(n, name=layer_name("head", t)) for t, n in self.tasks.items()}

    def scores(self, inputs: dict, task: str, training: bool = False):
        """Tag scores [B, N, labels] of one task; only that task's branch runs."""
        raise NotImplementedError(f"{type(self).__name__} must implement scores()")

    def call(self, inputs, training=False):
        return self.scores_many(inputs, tuple(self.tasks), training)

    def scores_many(self, inputs: dict, tasks: tuple[str, ...], training: bool = False):
        """Several tasks' scores; families with a shared encoder run it once for all heads."""
        return {task: self.scores(inputs, task, training) for task in tasks}

    def task_loss(self, inputs: dict, tags, task: str, training: bool = True):
        """The loss one batch of `task` contributes; families add structured terms here."""
        scores = self.scores(inputs, task, training)
        return self.heads[task].loss(scores, tags, inputs["tag_mask"])

    def build_from_batches(self, batches: dict[str, tuple[dict, Any]]) -> None:
        """Create every variable from one sample batch per task ({task: (inputs, tags)}),
        through the training loss, so layers only the loss uses (discriminator, auxiliary
        heads) exist before an optimizer, a compiled step or a weights file sees them."""
        for task, (inputs, tags) in batches.items():
            self.task_loss(inputs, tags, task, training=False)
        self.built = True  # variables exist: saving, loading and summaries work

    def build_with_vectors(self) -> None:
        """Load pretrained word vectors into the embeddings (after the variables exist);
        families with word embeddings override it."""
