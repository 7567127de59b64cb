"""Weight averaging: an exponential moving average of the trainable weights.

Early stopping keeps whichever weights scored best on devel, and with a constant learning
rate those are one noisy point of the optimiser's walk: two seeds, or a partner's cell and
its single-task twin, land on different points of it. The average smooths the walk, so the
devel curve and the kept weights vary less from seed to seed and a grid's paired gains need
fewer seeds to decide. Devel, test and the saved model all use the averaged weights.
"""

from __future__ import annotations

import contextlib

import tensorflow as tf


class WeightAverage:
    """The averaged copy of `variables`, updated after each optimiser step with decay
    min(decay, (1 + n) / (10 + n)) at update n, so early updates are not dominated by the
    initial weights (TensorFlow's num_updates rule)."""

    def __init__(self, variables: list[tf.Variable], decay: float):
        self.variables, self.decay = list(variables), float(decay)
        self.updates = tf.Variable(0.0, trainable=False, name="average_updates")
        self.shadows = [tf.Variable(v, trainable=False, name="average") for v in self.variables]
        self.update_now = tf.function(self.update)  # for steps that cannot call update inside

    def update(self) -> None:
        n = self.updates.assign_add(1.0)
        keep = tf.minimum(self.decay, (1.0 + n) / (10.0 + n))
        for shadow, variable in zip(self.shadows, self.variables):
            shadow.assign_sub((1.0 - tf.cast(keep, shadow.dtype)) * (shadow - variable))

    def reset(self) -> None:
        """Start averaging afresh from the current weights (after a pretraining phase)."""
        self.updates.assign(0.0)
        for shadow, variable in zip(self.shadows, self.variables):
            shadow.assign(variable)

    def apply(self) -> None:
        """Put the averaged weights into the model for good (the end of a fixed-length run)."""
        for shadow, variable in zip(self.shadows, self.variables):
            variable.assign(shadow)

    @contextlib.contextmanager
    def applied(self):
        """The model holds the averaged weights inside the block, its own ones after it."""
        raw = [tf.identity(v) for v in self.variables]
        self.apply()
        try:
            yield
        finally:
            for variable, value in zip(self.variables, raw):
                variable.assign(value)
