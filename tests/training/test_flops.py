"""The analytic FLOP counts equal 2 x (weights of every matrix product) x (positions it is
applied at), the weights being read from the real built models, not from the formulas."""

from __future__ import annotations

import numpy as np

from bioner_mtl.training.bench import flops


def kernels(layer) -> dict[str, int]:
    return {v.path: int(np.prod(v.shape)) for v in layer.weights
            if v.path.endswith("kernel")}


def test_bert_forward_counts_every_kernel_once_per_token_plus_attention():
    import keras_hub

    layers, hidden, intermediate, batch, length, words, labels = 2, 16, 40, 3, 7, 11, 5
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=30, num_layers=layers, num_heads=2, hidden_dim=hidden,
        intermediate_dim=intermediate, max_sequence_length=16)
    encoder_kernels = sum(size for path, size in kernels(backbone).items()
                          if "transformer_layer" in path)
    attention = layers * 4 * batch * length * length * hidden  # QK^T and AV
    expected = (2 * batch * length * encoder_kernels + attention
                + 2 * words * hidden * labels)
    assert flops.bert_forward(batch, length, words, layers=layers, hidden=hidden,
                              intermediate=intermediate, labels=labels) == expected


def test_bilstm_forward_counts_the_built_model(tiny_run):
    from bioner_mtl.training.fit.trainer import Trainer

    trainer = Trainer(tiny_run("NCBI-disease", model="bilstm-crf", steps=1), progress=False)
    model, config = trainer.model, trainer.model_config
    labels = len(trainer.tasks["NCBI-disease"].tagset.labels)
    batch, length, chars = 4, 9, 20
    sizes = kernels(model)
    per_char = sum(s for p, s in sizes.items() if "char_conv" in p)
    per_word = sum(s for p, s in sizes.items() if "char_conv" not in p)
    assert per_char and per_word
    positions = chars + config.char_width - 1  # full convolution over the padded word
    expected = 2 * batch * length * (positions * per_char + per_word)
    assert flops.bilstm_crf_forward(
        batch, length, chars, word_dim=trainer.featurizer.features.word_vectors.shape[1],
        char_dim=config.char_dim, char_filters=config.char_filters,
        char_width=config.char_width, lstm=config.lstm, projection=config.projection,
        labels=labels) == expected


def test_a_training_step_is_three_forward_passes():
    assert flops.train_step(10) == 30
