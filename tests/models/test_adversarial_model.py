"""The adversarial model's extra parts must train: built before the optimizer sees variables."""

import numpy as np

from bioner_mtl.training.fit.trainer import Trainer


def test_discriminator_and_shared_encoder_receive_gradients(tiny_run):
    trainer = Trainer(tiny_run("Ex-PTM", ("BioNLP13PC",), "adversarial", steps=2,
                               model_options={"adversarial_weight": 1.0,
                                              "orthogonality_weight": 1.0}), progress=False)
    discriminator = trainer.model.discriminator
    assert discriminator.trainable_weights  # built up front, not inside the compiled step
    before = [w.numpy().copy() for w in discriminator.trainable_weights]
    inputs, tags = trainer.tasks["Ex-PTM"].train.batch(np.arange(8))
    trainer.train_step("Ex-PTM", inputs, tags)
    after = [w.numpy() for w in discriminator.trainable_weights]
    assert any(not np.array_equal(b, a) for b, a in zip(before, after))
