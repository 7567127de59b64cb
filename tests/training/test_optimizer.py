"""The gradient cap is one norm over all gradients (WANG's torch clip_grad_norm), not a cap
per variable (Keras's clipnorm), so clipping never turns the update's direction."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import tensorflow as tf

from bioner_mtl.training.fit.trainer import Trainer
from bioner_mtl.training.spec.config import TrainConfig


def test_clipnorm_caps_the_global_gradient_norm():
    train = TrainConfig(optimizer="sgd", learning_rate=1.0, clipnorm=6.5)
    optimizer = Trainer._optimizer(SimpleNamespace(run=SimpleNamespace(train=train),
                                                   total_steps=10))
    a, b = tf.Variable([0.0, 0.0]), tf.Variable([0.0])
    # global norm sqrt(3^2 + 4^2 + 12^2) = 13: both gradients scaled by 6.5 / 13 = 0.5; a
    # per-variable cap would leave (3, 4) (norm 5) alone and cut 12 to 6.5
    optimizer.apply_gradients([(tf.constant([3.0, 4.0]), a), (tf.constant([12.0]), b)])
    np.testing.assert_allclose(a.numpy(), [-1.5, -2.0], rtol=1e-6)
    np.testing.assert_allclose(b.numpy(), [-6.0], rtol=1e-6)
