"""The window CNN's windows gathered in one op (issue 24) against the stacked slices it
replaced, on real batches of bundled corpora: the same outputs bit for bit, gradients and the
weights after several training steps equal to float rounding (the gradient sums the same terms
in another order)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from bioner_mtl.models import layers
from bioner_mtl.models.window_cnn import WindowEncoder
from bioner_mtl.training.fit.trainer import Trainer

MAIN, AUX = "BC2GM", "BioNLP09"


def trainer(tiny_run, model: str, stacked: bool, monkeypatch) -> Trainer:
    if stacked:
        monkeypatch.setattr(WindowEncoder, "gather", staticmethod(layers.stack_windows))
    else:
        monkeypatch.setattr(WindowEncoder, "gather", staticmethod(layers.gather_windows))
    return Trainer(tiny_run(MAIN, (AUX,), model=model, steps=5), progress=False)


def real_batches(t: Trainer, task: str, count: int = 3):
    split = t.tasks[task].train
    order = np.argsort(split.lengths)  # short, middle and long sentences
    picks = np.array_split(order, count)
    return [split.batch(np.sort(p[:16])) for p in picks]


def test_gather_is_the_stacked_slices_value_for_value():
    features = tf.random.stateless_normal([3, 17, 5], seed=[1, 2])
    for width in (1, 3, 7):
        length = 17 - width + 1
        np.testing.assert_array_equal(layers.gather_windows(features, width, length),
                                      layers.stack_windows(features, width, length))


@pytest.mark.parametrize("model", ["window-cnn", "mlp"])
def test_same_outputs_and_gradients_on_real_batches(tiny_run, model, monkeypatch):
    fast = trainer(tiny_run, model, False, monkeypatch)
    reference = trainer(tiny_run, model, True, monkeypatch)
    assert all(np.array_equal(a, b) for a, b in zip(fast.model.get_weights(),
                                                     reference.model.get_weights()))
    for task in (MAIN, AUX):
        for inputs, tags in real_batches(fast, task):
            outputs = []
            for t, gather in ((fast, layers.gather_windows), (reference, layers.stack_windows)):
                monkeypatch.setattr(WindowEncoder, "gather", staticmethod(gather))
                with tf.GradientTape() as tape:
                    loss = t.model.task_loss(inputs, tags, task, training=False)
                variables = t.model.trainable_variables
                grads = tape.gradient(loss, variables)
                scores = t.model.scores(inputs, task)
                outputs.append((np.asarray(scores), [None if g is None else
                                                      np.asarray(tf.convert_to_tensor(g))
                                                      for g in grads]))
            (scores, grads), (ref_scores, ref_grads) = outputs
            np.testing.assert_array_equal(scores, ref_scores)  # bit for bit
            assert [g is None for g in grads] == [r is None for r in ref_grads]
            for g, r in zip(grads, ref_grads):
                if g is not None:  # the other task's head has none
                    np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-7)


def test_same_weights_after_training_steps_with_dropout(tiny_run, monkeypatch):
    """Five steps each of both tasks, dropout on: the stacked-slice model's weights to float
    rounding (only the order of a gradient's sums differs; dropout draws the same masks)."""
    weights = []
    for stacked in (False, True):
        t = trainer(tiny_run, "window-cnn", stacked, monkeypatch)
        for _ in range(5):
            for task in (MAIN, AUX):
                for inputs, tags in real_batches(t, task, 2):
                    t.train_step(task, inputs, tags)
        weights.append(t.model.get_weights())
    fast, reference = weights
    assert not all(np.array_equal(a, b) for a, b in zip(fast, tiny_start(tiny_run, monkeypatch)))
    for a, b in zip(fast, reference):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def tiny_start(tiny_run, monkeypatch) -> list[np.ndarray]:
    """The untrained weights (the steps above must have moved them)."""
    return trainer(tiny_run, "window-cnn", False, monkeypatch).model.get_weights()
