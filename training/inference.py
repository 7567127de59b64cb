"""The one prediction path, shared by the trainer (devel/test scoring) and by model bundles.

One compiled pass runs the encoder once for the requested heads and returns, per head, its
float32 log-probabilities (log-softmax of the scores) and, for heads that decode themselves
(CRF), the path under each requested decoding: constrained to the transitions seen in
training, or free. One numpy function then gives, per head and per decoding, IOB2 tags per
sentence and a confidence per token: the probability of the chosen tag. Softmax heads are
decoded by the numpy Viterbi over their log-probabilities (constrained) or by argmax (free).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import tensorflow as tf
from keras import ops

from training.batches import EncodedSplit, TagSet, eval_batches
from training.decoding import Transitions, viterbi_decode


def signature_of(inputs: dict[str, np.ndarray]) -> dict[str, tf.TensorSpec]:
    """Every batch input with unknown sizes: one trace per function, whatever the shapes."""
    return {k: tf.TensorSpec([None] * v.ndim, tf.as_dtype(v.dtype)) for k, v in inputs.items()}


class LabelledHead(Protocol):
    """What prediction needs to know of a head: its tags and the transitions seen in training
    (a trainer's Task and a bundle's Head both are)."""

    tagset: TagSet
    transitions: Transitions


@dataclass(frozen=True)
class Prediction:
    """One head's output under one decoding, in the split's sentence order."""

    tags: list[list[str]]  # IOB2 (or plain labels) per sentence
    confidences: list[np.ndarray]  # per token: the probability of the chosen tag


def compile_pass(model, heads: Mapping[str, Transitions], decodings: tuple[bool, ...],
                 signature: dict[str, tf.TensorSpec]):
    """One compiled pass for several heads: the shared encoder runs once. Returns, per head,
    (log-probabilities [B, N, T], {decoding: path [B, N]}); the paths only for heads that
    decode themselves, under each decoding (True: constrained to the head's transitions)."""
    names = tuple(heads)

    def run(inputs):
        scores = model.scores_many(inputs, names, training=False)
        out = {}
        for name in names:
            head = model.heads[name]
            paths = {}
            if head.decodes_itself:
                free = Transitions.all_allowed(heads[name].num_tags)
                paths = {v: head.decode(scores[name], inputs["tag_mask"],
                                        allowed=heads[name] if v else free) for v in decodings}
            out[name] = (ops.log_softmax(ops.cast(scores[name], "float32"), axis=-1), paths)
        return out

    return tf.function(run, input_signature=[signature])


def decode_batch(log_probs: np.ndarray, paths: dict, lengths: np.ndarray,
                 transitions: Transitions, decodings: tuple[bool, ...]
                 ) -> dict[bool, tuple[np.ndarray, np.ndarray]]:
    """One head on one batch: per decoding, (tag ids [B, N], confidences [B, N]). Paths the
    head decoded itself are taken as they are; otherwise the numpy Viterbi decodes the
    log-probabilities (with the transitions when constrained)."""
    out = {}
    for v in decodings:
        path = (np.asarray(paths[v]) if paths else
                viterbi_decode(log_probs, lengths, transitions if v else None))
        chosen = np.take_along_axis(log_probs, path[..., None], axis=-1)[..., 0]
        out[v] = path, np.exp(chosen)
    return out


def predict(fn, heads: Mapping[str, LabelledHead], split: EncodedSplit,
            decodings: tuple[bool, ...], keys) -> dict[str, dict[bool, Prediction]]:
    """Tags and per-token confidences of every head under each decoding, from one pass of
    `fn` (compile_pass) per batch of the split."""
    count = len(split.token_ids)
    rows = {n: {v: [np.zeros(0, np.int32)] * count for v in decodings} for n in heads}
    confidence = {n: {v: [np.zeros(0, np.float32)] * count for v in decodings} for n in heads}
    for index, inputs in eval_batches(split):
        inputs = {k: inputs[k] for k in keys}
        lengths = inputs["tag_mask"].sum(axis=1)
        for name, (log_probs, paths) in fn(inputs).items():
            paths = {v: p.numpy() for v, p in paths.items()}
            decoded = decode_batch(log_probs.numpy(), paths, lengths, heads[name].transitions,
                                   decodings)
            for v, (path, conf) in decoded.items():
                for row, i in enumerate(index):
                    rows[name][v][i] = path[row, : lengths[row]]
                    confidence[name][v][i] = conf[row, : lengths[row]]
    return {name: {v: Prediction([head.tagset.decode(p) for p in split.assemble(rows[name][v])],
                                 [c.astype(float) for c in split.assemble(confidence[name][v])])
                   for v in decodings}
            for name, head in heads.items()}


class Predictor:
    """A model's prediction path: compiled passes, one per choice of heads and decodings
    (made on first use), and the numpy decoding after them."""

    def __init__(self, model, heads: Mapping[str, LabelledHead],
                 signature: dict[str, tf.TensorSpec]):
        self.model, self.heads, self.signature = model, heads, signature
        self._passes: dict[tuple, object] = {}

    def predict(self, split: EncodedSplit, heads: tuple[str, ...],
                decodings: tuple[bool, ...] = (True,)) -> dict[str, dict[bool, Prediction]]:
        """Per head, per decoding (True: constrained), tags and confidences of every
        sentence of an encoded split, from one encoder pass per batch for all `heads`."""
        heads, decodings = tuple(heads), tuple(decodings)
        # decodings change the graph only where a head decodes itself
        key = (heads, decodings if any(self.model.heads[n].decodes_itself for n in heads)
               else ())
        if key not in self._passes:
            self._passes[key] = compile_pass(
                self.model, {n: self.heads[n].transitions for n in heads}, key[1],
                self.signature)
        return predict(self._passes[key], {n: self.heads[n] for n in heads}, split, decodings,
                       tuple(self.signature))
