"""Linear-chain CRF head, interchangeable with SoftmaxHead per task.

tensorflow-addons (the usual Keras CRF) is end-of-life and does not run on Keras 3, so the
forward algorithm and Viterbi live here, as TensorFlow graph ops: they run inside `tf.function`
with unknown batch and time sizes, and on the GPU.

Conventions shared by every method:

* `scores` are emissions [B, N, T] as returned by `call`; any float dtype (mixed precision
  included), always computed in float32.
* `mask` is [B, N], True on real tokens, which form a prefix of each row (padding only at the
  end). Padded positions never change a score: their emissions are zeroed, the forward and
  Viterbi states are carried through them, and the end score is added at each sentence's own
  last real token. A sentence of length 0 scores 0 everywhere and decodes to zeros.
* `N` must be at least 1 (a batch's width is its longest sentence).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

__all__ = ["CRFHead"]


class CRFHead(keras.layers.Layer):
    """Dense emissions plus learned start, transition and end scores, trained by sentence NLL.

    `transitions[i, j]` scores tag j following tag i. The transition-type constraint (which
    starts, pairs and ends were seen in training) is stored in non-trainable weights by
    `set_constraint`, so it is saved and loaded with the model's weights; `decode` applies it
    unless given another one.
    """

    # The harness calls `head.decode(scores, mask, allowed)` instead of the numpy Viterbi over
    # the log-softmax of the scores (a CRF's token marginals are not what it decodes).
    decodes_itself = True

    def __init__(self, num_labels: int, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # emissions come with the BiLSTM mask; loss takes it
        self.num_labels = num_labels
        self.dense = keras.layers.Dense(num_labels, name="emissions")
        t = num_labels
        # Zero start: the untrained CRF decodes like per-token argmax, and learns structure.
        # Created here rather than in build so constraints can be set before the first call.
        self.transitions = self._float_weight("transitions", (t, t), "zeros", True)
        self.start = self._float_weight("start", (t,), "zeros", True)
        self.end = self._float_weight("end", (t,), "zeros", True)
        self.allowed_start = self._float_weight("allowed_start", (t,), "ones", False)
        self.allowed_pairs = self._float_weight("allowed_pairs", (t, t), "ones", False)
        self.allowed_end = self._float_weight("allowed_end", (t,), "ones", False)
        self.use_constraint = self._float_weight("use_constraint", (), "zeros", False)

    def _float_weight(self, name: str, shape: tuple[int, ...], init: str, trainable: bool):
        # float32 and no autocast: log-space sums in float16 lose the small differences.
        return self.add_weight(name=name, shape=shape, initializer=init, trainable=trainable,
                               dtype="float32", autocast=False)

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, features):
        return self.dense(features)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_labels": self.num_labels}

    # ----- constraint ------------------------------------------------------------------------
    def set_constraint(self, transitions: Any | None) -> None:
        """Store allowed start/pair/end masks (e.g. `training.decoding.Transitions`) for decode;
        None clears them. Kept as weights so a saved model decodes as it was evaluated."""
        if transitions is None:
            for weight in (self.allowed_start, self.allowed_pairs, self.allowed_end):
                weight.assign(np.ones(weight.shape, "float32"))
            self.use_constraint.assign(0.0)
            return
        start, pairs, end = _masks(transitions)
        t = self.num_labels
        for name, value, shape in (("start", start, (t,)), ("pairs", pairs, (t, t)),
                                   ("end", end, (t,))):
            if np.shape(value) != shape:
                raise ValueError(f"allowed {name} must have shape {shape}, got {np.shape(value)}")
        self.allowed_start.assign(np.asarray(start, "float32"))
        self.allowed_pairs.assign(np.asarray(pairs, "float32"))
        self.allowed_end.assign(np.asarray(end, "float32"))
        self.use_constraint.assign(1.0)

    @property
    def constrained(self) -> bool:
        """Whether `decode(scores, mask)` applies a stored constraint."""
        return bool(self.use_constraint.numpy() > 0.5)

    def _forbidden(self, allowed: Any | None) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """1.0 where a start/pair/end is forbidden, 0.0 where allowed."""
        if allowed is None:
            use = tf.convert_to_tensor(self.use_constraint)
            masks = (self.allowed_start, self.allowed_pairs, self.allowed_end)
            return tuple(use * (1.0 - tf.convert_to_tensor(m)) for m in masks)
        return tuple(1.0 - tf.cast(tf.convert_to_tensor(m), tf.float32) for m in _masks(allowed))

    # ----- scores ----------------------------------------------------------------------------
    def _params(self) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        return (tf.cast(self.transitions, tf.float32), tf.cast(self.start, tf.float32),
                tf.cast(self.end, tf.float32))

    def log_partition(self, scores, mask) -> tf.Tensor:
        """log Z per sentence [B]: logsumexp of every tag path's score (forward algorithm)."""
        emissions, mask, lengths = _prepare(scores, mask)
        transitions, start, end = self._params()
        steps = tf.transpose(emissions, [1, 0, 2])  # time-major: [N, B, T]
        real = tf.transpose(mask)  # [N, B]
        width = tf.shape(steps)[0]

        def step(t, alpha):
            # alpha[b, i] + transitions[i, j], summed out over the previous tag i.
            forward = ops.logsumexp(alpha[:, :, None] + transitions[None], axis=1) + steps[t]
            return t + 1, tf.where(real[t][:, None], forward, alpha)

        _, alpha = tf.while_loop(lambda t, _: t < width, step,
                                 (tf.constant(1), start[None] + steps[0]))
        log_z = ops.logsumexp(alpha + end[None], axis=1)
        return tf.where(lengths > 0, log_z, 0.0)

    def path_score(self, scores, tags, mask) -> tf.Tensor:
        """Score [B] of each sentence's given tag path (its unnormalised log-probability)."""
        emissions, mask, lengths = _prepare(scores, mask)
        transitions, start, end = self._params()
        tags = tf.where(mask, tf.cast(tags, tf.int32), 0)  # padding tags may be anything
        emitted = tf.reduce_sum(tf.gather(emissions, tags, batch_dims=2), axis=1)
        pairs = tags[:, :-1] * self.num_labels + tags[:, 1:]
        paired = tf.gather(tf.reshape(transitions, [-1]), pairs) * tf.cast(mask[:, 1:], tf.float32)
        last = tf.gather(tags, tf.maximum(lengths - 1, 0), batch_dims=1)
        edges = tf.gather(start, tags[:, 0]) + tf.gather(end, last)
        total = emitted + tf.reduce_sum(paired, axis=1) + edges
        return tf.where(lengths > 0, total, 0.0)

    def loss(self, scores, tags, mask) -> tf.Tensor:
        """Mean negative log-likelihood per sentence (log Z minus gold path score), float32.

        Per sentence, not per token as in SoftmaxHead: it is the usual CRF objective, and a
        sentence's NLL is already a sum over its tokens, so this loss is about the mean sentence
        length times larger than a softmax head's. Empty sentences count 0 and are not counted.
        """
        nll = self.log_partition(scores, mask) - self.path_score(scores, tags, mask)
        lengths = tf.reduce_sum(tf.cast(tf.cast(mask, tf.bool), tf.float32), axis=1)
        sentences = tf.reduce_sum(tf.cast(lengths > 0, tf.float32))
        return tf.reduce_sum(nll) / tf.maximum(sentences, 1.0)

    def _penalised(self, emissions, lengths, transitions, start, end, allowed, margin):
        """Start [B, T], pair [B, T, T] and end [B, T] scores with forbidden ones lowered by a
        per-sentence penalty: the spread bound (max minus min path score, summed over the
        parts of a path) plus `margin`. Decoding needs a margin of 1 (any allowed path beats
        any forbidden one); marginals one that makes forbidden paths carry no mass."""
        no_start, no_pair, no_end = self._forbidden(allowed)
        penalty = (tf.reduce_sum(_spread(emissions, axis=2), axis=1)
                   + tf.cast(tf.maximum(lengths - 1, 0), tf.float32) * _spread(transitions)
                   + _spread(start) + _spread(end) + margin)  # [B]; padded emissions are 0
        return (start[None] - penalty[:, None] * no_start[None],
                transitions[None] - penalty[:, None, None] * no_pair[None],
                end[None] - penalty[:, None] * no_end[None])

    def marginals(self, scores, mask, allowed: Any | None = None,
                  temperature: Any = 1.0) -> tf.Tensor:
        """Per-token marginals P(y_t = k | x), float32 [B, N, T], by forward-backward in log
        space; rows sum to 1 on real tokens and are 0 on padding (and on empty sentences).

        `allowed` as in `decode` (None: the stored constraint if set, else free). Forbidden
        starts, pairs and ends are penalised by the spread bound plus N log T + 30, so that
        all forbidden paths together carry under e^-30 of the best allowed path's mass: the
        marginals are those of the distribution over allowed paths (and, in a sentence with no
        allowed path, of the paths with the fewest forbidden transitions, as `decode` falls
        back to). `temperature` T divides every score (emissions, transitions, start, end):
        P_T(y | x) is proportional to exp(score(y) / T), so T changes the marginals but never
        the best path.
        """
        emissions, mask, lengths = _prepare(scores, mask)
        temperature = tf.cast(temperature, tf.float32)
        emissions = emissions / temperature
        transitions, start, end = (p / temperature for p in self._params())
        margin = (tf.cast(lengths, tf.float32) * float(np.log(max(self.num_labels, 2)))
                  + 30.0)
        start_b, pairs_b, end_b = self._penalised(emissions, lengths, transitions, start, end,
                                                  allowed, margin)
        steps = tf.transpose(emissions, [1, 0, 2])  # [N, B, T]
        real = tf.transpose(mask)  # [N, B]
        width = tf.shape(steps)[0]
        first = start_b + steps[0]

        def forward(t, alpha, alphas):
            stepped = ops.logsumexp(alpha[:, :, None] + pairs_b, axis=1) + steps[t]
            alpha = tf.where(real[t][:, None], stepped, alpha)
            return t + 1, alpha, alphas.write(t, alpha)

        # alphas[t]: log-sum of the scores of every prefix path ending in each tag at t
        _, _, alphas = tf.while_loop(
            lambda t, *_: t < width, forward,
            (tf.constant(1), first, tf.TensorArray(tf.float32, size=width).write(0, first)))

        def backward(t, beta, betas):
            # betas[t]: log-sum over every suffix after t; padding after t carries `end`
            stepped = ops.logsumexp(pairs_b + (steps[t + 1] + beta)[:, None, :], axis=2)
            beta = tf.where(real[t + 1][:, None], stepped, beta)
            return t - 1, beta, betas.write(t, beta)

        _, _, betas = tf.while_loop(
            lambda t, *_: t >= 0, backward,
            (width - 2, end_b, tf.TensorArray(tf.float32, size=width).write(width - 1, end_b)))
        # alpha + beta summed over the tags of any one position is log Z: normalising per
        # position rather than by log Z keeps each row a distribution to the last bit when
        # large scores cost float32 precision
        marginals = tf.nn.softmax(tf.transpose(alphas.stack() + betas.stack(), [1, 0, 2]))
        return tf.where(mask[..., None], marginals, 0.0)

    # ----- decoding --------------------------------------------------------------------------
    def decode(self, scores, mask, allowed: Any | None = None) -> tf.Tensor:
        """Best tag path per sentence, int32 [B, N], 0 past each sentence's length.

        `allowed` (an object or mapping with boolean `start`, `pairs`, `end`, such as
        `training.decoding.Transitions`) overrides the stored constraint; None uses the stored
        one if `set_constraint` set it, else decodes unconstrained.

        Forbidden transitions are penalised, not removed: the penalty exceeds the spread of
        every path score in the sentence, so any allowed path beats any path with a forbidden
        transition, and a sentence with no allowed path gets the path with the fewest forbidden
        transitions (then the best score) instead of garbage. All finite: no inf, no NaN.
        """
        emissions, mask, lengths = _prepare(scores, mask)
        transitions, start, end = self._params()
        start_b, pairs_b, end_b = self._penalised(emissions, lengths, transitions, start, end,
                                                  allowed, 1.0)

        steps = tf.transpose(emissions, [1, 0, 2])
        real = tf.transpose(mask)
        width = tf.shape(steps)[0]
        first = start_b + steps[0]
        # Backpointers: row t holds, per tag at t, the best tag at t - 1 (row 0 is unused).
        pointers = tf.TensorArray(tf.int32, size=width).write(0, tf.zeros_like(first, tf.int32))

        def forward(t, best, pointers):
            candidates = best[:, :, None] + pairs_b  # [B, previous, next]
            stepped = tf.reduce_max(candidates, axis=1) + steps[t]
            pointers = pointers.write(t, tf.argmax(candidates, axis=1, output_type=tf.int32))
            return t + 1, tf.where(real[t][:, None], stepped, best), pointers

        _, best, pointers = tf.while_loop(lambda t, *_: t < width, forward,
                                          (tf.constant(1), first, pointers))
        last = tf.argmax(best + end_b, axis=1, output_type=tf.int32)

        def backward(t, current, path):
            # Padding keeps `current`, so each sentence starts backtracking at its own end.
            path = path.write(t, tf.where(real[t], current, 0))
            previous = tf.gather(pointers.read(t), current, batch_dims=1)
            return t - 1, tf.where(real[t] & (t > 0), previous, current), path

        _, _, path = tf.while_loop(lambda t, *_: t >= 0, backward,
                                   (width - 1, last, tf.TensorArray(tf.int32, size=width)))
        return tf.transpose(path.stack())


def _spread(x, axis=None):
    return tf.reduce_max(x, axis=axis) - tf.reduce_min(x, axis=axis)


def _masks(allowed: Any) -> tuple[Any, Any, Any]:
    """(start, pairs, end) from a mapping or an object such as `Transitions`."""
    if isinstance(allowed, Mapping):
        return allowed["start"], allowed["pairs"], allowed["end"]
    return allowed.start, allowed.pairs, allowed.end


def _prepare(scores, mask) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """float32 emissions with padding zeroed (huge or NaN padding cannot leak), bool mask,
    int32 lengths."""
    mask = tf.cast(mask, tf.bool)
    emissions = tf.where(mask[..., None], tf.cast(scores, tf.float32), 0.0)
    return emissions, mask, tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
