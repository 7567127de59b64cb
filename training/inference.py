"""Decoding a trained model, shared by the trainer (devel/test) and by loaded model bundles.

Softmax heads hand log-probabilities to the numpy Viterbi (constrained to the transitions
seen in training, or free); CRF heads run their own Viterbi in the graph. Either way the
result is one IOB2 tag per word, and a per-word confidence from the head's scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from keras import ops

from training import batches as B
from training.decoding import Transitions, viterbi_decode


def signature_of(inputs: dict[str, np.ndarray]) -> dict[str, tf.TensorSpec]:
    """Every batch input with unknown sizes: one trace per function, whatever the shapes."""
    return {k: tf.TensorSpec([None] * v.ndim, tf.as_dtype(v.dtype)) for k, v in inputs.items()}


@dataclass
class Decoder:
    """The compiled functions of one head: decoding (free and constrained) and probabilities."""

    self_decoding: bool
    constrained: object
    free: object
    probabilities: object
    keys: tuple[str, ...]  # the inputs the functions take (batches may carry labels too)


def compile_decoder(model, task: str, transitions: Transitions,
                    signature: dict[str, tf.TensorSpec]) -> Decoder:
    head = model.heads[task]
    spec = [signature]
    probabilities = tf.function(
        lambda inputs: ops.softmax(ops.cast(model.scores(inputs, task), "float32"), axis=-1),
        input_signature=spec)
    if not getattr(head, "decodes_itself", False):
        fn = tf.function(lambda inputs: model.log_probs(inputs, task), input_signature=spec)
        return Decoder(False, fn, fn, probabilities, tuple(signature))
    free = Transitions.all_allowed(transitions.num_tags)

    def decoder(allowed):
        return tf.function(lambda inputs: model.decode(inputs, task, allowed),
                           input_signature=spec)

    return Decoder(True, decoder(transitions), decoder(free), probabilities, tuple(signature))


def predict(decoder: Decoder, tagset: B.TagSet, transitions: Transitions, split,
            viterbi: bool, with_confidence: bool = False):
    """IOB2 tags for every sentence of an encoded split, in order; with_confidence also gives
    each word's probability of its chosen tag (the head's softmax; for a CRF, of its
    emission scores)."""
    rows: list[np.ndarray] = [np.zeros(0, np.int32)] * len(split.token_ids)
    confidence: list[np.ndarray] = [np.zeros(0, np.float32)] * len(split.token_ids)
    fn = decoder.constrained if viterbi else decoder.free
    for index, inputs in B.eval_batches(split):
        inputs = {k: inputs[k] for k in decoder.keys}
        result = fn(inputs).numpy()
        lengths = inputs["tag_mask"].sum(axis=1)
        paths = result if decoder.self_decoding else viterbi_decode(
            result, lengths, transitions if viterbi else None)
        probs = decoder.probabilities(inputs).numpy() if with_confidence else None
        for row, i in enumerate(index):
            rows[i] = paths[row, : lengths[row]]
            if probs is not None:
                confidence[i] = probs[row, np.arange(lengths[row]), rows[i]]
    tags = [tagset.decode(path) for path in split.assemble(rows)]
    if not with_confidence:
        return tags
    return tags, [c.astype(float) for c in split.assemble(confidence)]
