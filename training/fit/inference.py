"""The one prediction path, shared by the trainer (devel/test scoring) and by model bundles.

One compiled pass runs the encoder once for the requested heads and returns, per head, its
float32 log-probabilities (log-softmax of the scores), each token's distribution over tags at
the head's temperature and, for heads that decode themselves (CRF), the path under each
requested decoding: constrained to the transitions seen in training, or free. One numpy
function then gives, per head and per decoding, IOB2 tags per sentence and a confidence per
token: the probability of the chosen tag. Softmax heads are decoded by the numpy Viterbi over
their log-probabilities (constrained) or by argmax (free), each sentence whole: the rows of a
sentence cut into subword windows are put back together first.

Confidences (`token_probabilities`): a softmax head's softmax(scores / T); a CRF head's
forward-backward marginals P(y_t = k | x) with every CRF score divided by T, under the same
constraint as the path (constrained or free). The temperature T (1 unless a bundle stores a
fitted one, see training/calibration.py) changes confidences only, never tags: softmax heads
are decoded from the unscaled log-probabilities, and a CRF's best path is the same at every T.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import tensorflow as tf
from keras import ops

from bioner_mtl.training.fit.batches import EncodedSplit, TagSet, eval_batches
from bioner_mtl.training.fit.decoding import Transitions, decode_sentences


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
    # per sentence [tokens, tags]: each token's distribution over tags, whose entry for the
    # chosen tag is its confidence; only when asked for (`distributions=True`)
    probabilities: list[np.ndarray] | None = None


def token_probabilities(head, scores, mask, temperature, allowed) -> tf.Tensor:
    """Each token's distribution over tags [B, N, T] at `temperature`: the CRF marginals
    under `allowed` for heads that decode themselves, softmax(scores / T) otherwise."""
    if head.decodes_itself:
        return head.marginals(scores, mask, allowed, temperature)
    return ops.softmax(ops.cast(scores, "float32") / temperature, axis=-1)


def compile_pass(model, heads: Mapping[str, Transitions], decodings: tuple[bool, ...],
                 signature: dict[str, tf.TensorSpec]):
    """One compiled pass for several heads: the shared encoder runs once. It takes the batch
    and the heads' temperatures (float32 [heads], in `heads`' order) and returns, per head,
    (log-probabilities [B, N, T] at temperature 1, {decoding: path [B, N]}, token
    distributions [B, N, T] at the head's temperature); the paths, and distributions per
    decoding ({decoding: distributions}), only for heads that decode themselves, under each
    decoding (True: constrained to the head's transitions)."""
    names = tuple(heads)

    def run(inputs, temperatures):
        scores = model.scores_many(inputs, names, training=False)
        mask = inputs["tag_mask"]
        out = {}
        for i, name in enumerate(names):
            head = model.heads[name]
            paths, probabilities = {}, {}
            if head.decodes_itself:
                free = Transitions.all_allowed(heads[name].num_tags)
                for v in decodings:
                    allowed = heads[name] if v else free
                    paths[v] = head.decode(scores[name], mask, allowed=allowed)
                    probabilities[v] = token_probabilities(head, scores[name], mask,
                                                           temperatures[i], allowed)
            else:  # one distribution for every decoding (the graph has no decodings here)
                probabilities = token_probabilities(head, scores[name], mask, temperatures[i],
                                                    None)
            out[name] = (ops.log_softmax(ops.cast(scores[name], "float32"), axis=-1), paths,
                         probabilities)
        return out

    return tf.function(run, input_signature=[signature,
                                             tf.TensorSpec([len(names)], tf.float32)])


def predict(fn, heads: Mapping[str, LabelledHead], split: EncodedSplit,
            decodings: tuple[bool, ...], keys, temperatures: Mapping[str, float] | None = None,
            distributions: bool = False) -> dict[str, dict[bool, Prediction]]:
    """Tags and per-token confidences of every head under each decoding, from one pass of
    `fn` (compile_pass) per batch of the split, at the heads' temperatures (default 1);
    with `distributions`, every token's distribution over tags as well.

    A softmax head's rows are put back into their sentences before they are decoded: a long
    sentence cut into several subword rows (or sentences packed into one) is decoded whole,
    so the start and end constraints hold at the sentence's own ends, not at a row's, and the
    pair constraints hold across a cut. A head that decodes itself (CRF) gives its paths per
    row."""
    count = len(split.token_ids)
    temperatures = temperatures or {}
    scale = np.array([temperatures.get(n, 1.0) for n in heads], np.float32)
    log_probs = {n: [None] * count for n in heads}  # per row [words, tags]
    spread = {n: {v: [None] * count for v in decodings} for n in heads}
    paths = {n: {v: [None] * count for v in decodings} for n in heads}  # CRF heads only
    decoding_itself: set[str] = set()  # heads whose pass gave their own paths
    for index, inputs in eval_batches(split):
        inputs = {k: inputs[k] for k in keys}
        lengths = inputs["tag_mask"].sum(axis=1)
        for name, (scores, decoded, probabilities) in fn(inputs, scale).items():
            scores = scores.numpy()
            decoded = {v: p.numpy() for v, p in decoded.items()}
            if decoded:
                decoding_itself.add(name)
            probabilities = ({v: p.numpy() for v, p in probabilities.items()}
                             if isinstance(probabilities, dict)
                             else dict.fromkeys(decodings, probabilities.numpy()))
            for row, i in enumerate(index):
                n = lengths[row]
                log_probs[name][i] = scores[row, :n]
                for v in decodings:
                    spread[name][v][i] = probabilities[v][row, :n]
                    if decoded:
                        paths[name][v][i] = decoded[v][row, :n]
    out: dict[str, dict[bool, Prediction]] = {}
    for name, head in heads.items():
        out[name], whole = {}, None
        for v in decodings:
            if name in decoding_itself:
                tags = split.assemble(paths[name][v])
            else:
                whole = whole if whole is not None else split.assemble(log_probs[name])
                tags = decode_sentences(whole, head.transitions if v else None)
            dist = split.assemble(spread[name][v])
            chosen = [d[np.arange(len(t)), t].astype(float) for d, t in zip(dist, tags)]
            out[name][v] = Prediction([head.tagset.decode(t) for t in tags], chosen,
                                      dist if distributions else None)
    return out


class Predictor:
    """A model's prediction path: compiled passes, one per choice of heads and decodings
    (made on first use), and the numpy decoding after them. `temperatures` holds each head's
    temperature: a head's own `temperature` attribute where it has one (a bundle's Head),
    else 1; setting an entry changes the confidences of later calls, not their tags and not
    the compiled passes."""

    def __init__(self, model, heads: Mapping[str, LabelledHead],
                 signature: dict[str, tf.TensorSpec]):
        self.model, self.heads, self.signature = model, heads, signature
        self.temperatures = {n: float(getattr(h, "temperature", 1.0)) for n, h in heads.items()}
        self._passes: dict[tuple, object] = {}

    def predict(self, split: EncodedSplit, heads: tuple[str, ...],
                decodings: tuple[bool, ...] = (True,), distributions: bool = False
                ) -> dict[str, dict[bool, Prediction]]:
        """Per head, per decoding (True: constrained), tags and confidences of every
        sentence of an encoded split, from one encoder pass per batch for all `heads`
        (with `distributions`, each token's distribution over tags too)."""
        asked, decodings = tuple(heads), tuple(decodings)
        # one compiled pass per set of heads, in the model's order (a service's requests
        # name them in any order); decodings change the graph only where a head decodes
        heads = tuple(n for n in self.heads if n in asked)
        key = (heads, decodings if any(self.model.heads[n].decodes_itself for n in heads)
               else ())
        if key not in self._passes:
            self._passes[key] = compile_pass(
                self.model, {n: self.heads[n].transitions for n in heads}, key[1],
                self.signature)
        out = predict(self._passes[key], {n: self.heads[n] for n in heads}, split, decodings,
                      tuple(self.signature), self.temperatures, distributions)
        return {n: out[n] for n in asked}  # in the order asked
