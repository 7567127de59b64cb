"""Decoding a trained model, shared by the trainer (devel/test) and by loaded model bundles.

Softmax heads hand log-probabilities to the numpy Viterbi (constrained to the transitions
seen in training, or free); CRF heads run their own Viterbi in the graph. Either way the
result is one IOB2 tag per word; bundles also give a per-word confidence from each head's
scores, all heads from one pass of the shared encoder.
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
    """The compiled functions of one head: decoding free and constrained (training's
    devel/test scoring; bundles decode all heads at once with compile_heads)."""

    self_decoding: bool
    constrained: object
    free: object
    keys: tuple[str, ...]  # the inputs the functions take (batches may carry labels too)


def compile_decoder(model, task: str, transitions: Transitions,
                    signature: dict[str, tf.TensorSpec]) -> Decoder:
    head = model.heads[task]
    spec = [signature]
    if not getattr(head, "decodes_itself", False):
        fn = tf.function(lambda inputs: model.log_probs(inputs, task), input_signature=spec)
        return Decoder(False, fn, fn, tuple(signature))
    free = Transitions.all_allowed(transitions.num_tags)

    def decoder(allowed):
        return tf.function(lambda inputs: model.decode(inputs, task, allowed),
                           input_signature=spec)

    return Decoder(True, decoder(transitions), decoder(free), tuple(signature))


def predict(decoder: Decoder, tagset: B.TagSet, transitions: Transitions, split,
            viterbi: tuple[bool, ...] = (True,)) -> dict[bool, list[list[str]]]:
    """IOB2 tags for every sentence of an encoded split, in order, under each decoding
    (constrained Viterbi or free); softmax heads run the model once for every decoding."""
    rows = {v: [np.zeros(0, np.int32)] * len(split.token_ids) for v in viterbi}
    for index, inputs in B.eval_batches(split):
        inputs = {k: inputs[k] for k in decoder.keys}
        lengths = inputs["tag_mask"].sum(axis=1)
        log_probs = None if decoder.self_decoding else decoder.free(inputs).numpy()
        for v in viterbi:
            paths = ((decoder.constrained if v else decoder.free)(inputs).numpy()
                     if decoder.self_decoding else
                     viterbi_decode(log_probs, lengths, transitions if v else None))
            for row, i in enumerate(index):
                rows[v][i] = paths[row, : lengths[row]]
    return {v: [tagset.decode(path) for path in split.assemble(rows[v])] for v in viterbi}

def compile_heads(model, heads: dict[str, Transitions], viterbi: bool,
                  signature: dict[str, tf.TensorSpec]):
    """One compiled pass for several heads: the shared encoder runs once. Returns, per head,
    its tag probabilities and, for CRF heads, the path it decodes (with the training
    constraint when `viterbi`)."""
    names = tuple(heads)

    def run(inputs):
        scores = model.scores_many(inputs, names, training=False)
        out = {}
        for name in names:
            probs = ops.softmax(ops.cast(scores[name], "float32"), axis=-1)
            head = model.heads[name]
            path = (head.decode(scores[name], inputs["tag_mask"], allowed=heads[name] if viterbi
                                else Transitions.all_allowed(heads[name].num_tags))
                    if getattr(head, "decodes_itself", False) else ops.zeros((1, 1), "int32"))
            out[name] = (probs, path)
        return out

    return tf.function(run, input_signature=[signature])


def predict_heads(fn, heads: dict[str, tuple[B.TagSet, Transitions, bool]], split,
                  viterbi: bool, keys) -> dict[str, tuple[list[list[str]], list[np.ndarray]]]:
    """Tags and per-word confidences of every head, from one pass per batch."""
    rows = {n: [np.zeros(0, np.int32)] * len(split.token_ids) for n in heads}
    confidence = {n: [np.zeros(0, np.float32)] * len(split.token_ids) for n in heads}
    for index, inputs in B.eval_batches(split):
        inputs = {k: inputs[k] for k in keys}
        lengths = inputs["tag_mask"].sum(axis=1)
        for name, (probs, path) in fn(inputs).items():
            _, transitions, self_decoding = heads[name]
            probs = probs.numpy()
            paths = path.numpy() if self_decoding else viterbi_decode(
                np.log(np.maximum(probs, 1e-30)), lengths, transitions if viterbi else None)
            for row, i in enumerate(index):
                rows[name][i] = paths[row, : lengths[row]]
                confidence[name][i] = probs[row, np.arange(lengths[row]), rows[name][i]]
    return {name: ([tagset.decode(p) for p in split.assemble(rows[name])],
                   [c.astype(float) for c in split.assemble(confidence[name])])
            for name, (tagset, _, _) in heads.items()}
