"""Weight averaging (train.ema): the average follows the hand-computed recurrence, the model
holds the averaged weights only where asked, and a run keeps and scores the averaged ones."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bioner_mtl.training.fit.averaging import WeightAverage
from bioner_mtl.training.fit.trainer import Trainer


def test_the_average_follows_the_recurrence_with_the_num_updates_rule():
    variable = tf.Variable([1.0, -2.0])
    average = WeightAverage([variable], decay=0.6)
    expected = np.array([1.0, -2.0])
    for n, value in enumerate([[3.0, 0.0], [5.0, 4.0], [-1.0, 1.0], [2.0, 2.0]] * 5, start=1):
        variable.assign(value)
        average.update_now()
        keep = min(0.6, (1 + n) / (10 + n))  # TensorFlow's ExponentialMovingAverage rule
        expected = keep * expected + (1 - keep) * np.array(value)
        np.testing.assert_allclose(average.shadows[0].numpy(), expected, rtol=1e-6)
    assert keep == 0.6  # the cap was reached: both regimes were checked


def test_applied_swaps_the_average_in_and_the_raw_weights_back():
    variable = tf.Variable([4.0])
    average = WeightAverage([variable], decay=0.5)
    variable.assign([8.0])
    average.update_now()  # keep = min(0.5, 2 / 11): 4 + (8 - 4) * 9 / 11
    with average.applied():
        np.testing.assert_allclose(variable.numpy(), [4.0 + 4.0 * 9 / 11], rtol=1e-6)
    np.testing.assert_allclose(variable.numpy(), [8.0])


def test_a_run_keeps_scores_and_saves_the_averaged_weights(tiny_run):
    trainer = Trainer(tiny_run("NCBI-disease", steps=40, eval_every=40, ema=0.9), progress=False)
    raw, scored = [], []
    step, score = trainer.train_step, trainer._devel_score

    def spy_step(task, inputs, tags):
        loss = step(task, inputs, tags)
        raw[:] = [v.numpy().copy() for v in trainer.model.trainable_variables]
        return loss

    def spy_score():
        scored[:] = [v.numpy().copy() for v in trainer.model.trainable_variables]
        return score()

    trainer.train_step, trainer._devel_score = spy_step, spy_score
    record = trainer.fit()
    kept = [v.numpy() for v in trainer.model.trainable_variables]
    assert record.best_step == 40  # one evaluation, at the end: the kept weights are its
    assert all(np.array_equal(k, s) for k, s in zip(kept, scored))  # devel scored these
    assert any(not np.allclose(k, r) for k, r in zip(kept, raw))  # not the last raw step
    again, _ = trainer.devel_score()  # after the run the kept weights are the average
    assert abs(again - record.devel_f1) < 1e-9
    assert all(np.array_equal(k, v.numpy())
               for k, v in zip(kept, trainer.model.trainable_variables))


def test_no_averaging_by_default(tiny_run):
    assert Trainer(tiny_run("NCBI-disease", steps=2), progress=False).average is None
