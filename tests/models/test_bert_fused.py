"""The feed-forward intermediate dense computed as one 2-D matmul (for oneDNN to fuse it with
its bias and GELU) equals keras-hub's own computation, forward and backward, on real word
pieces of NCBI-disease through MiniLM cut to two layers; and it leaves the weights as they were.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from bioner_mtl.data.corpora import load_corpus
from bioner_mtl.models.bert_encoder import load_encoder

ATOL = 1e-5  # float32 rounding of another summation order; tanh GELU is 2e-3 off here


def inner_denses(encoder):
    return [block._feedforward_intermediate_dense for block in encoder.backbone.transformer_layers]


def unfused(encoder):
    """The same encoder computing keras' Dense.call again (tensordot, then bias, then GELU)."""
    for dense in inner_denses(encoder):
        vars(dense).pop("call")
    return encoder


@pytest.fixture(scope="module")
def encoders(small_bert_dir):
    return load_encoder(small_bert_dir), unfused(load_encoder(small_bert_dir))


@pytest.fixture(scope="module")
def batch(encoders):
    """The first 16 devel sentences of NCBI-disease as [CLS] pieces [SEP], padded."""
    encoder = encoders[0]
    rows = [[encoder.cls_id, *encoder.tokenizer(" ".join(s.tokens)).tolist(),
             encoder.sep_id] for s in load_corpus("NCBI-disease").devel[:16]]
    ids = np.full((len(rows), max(map(len, rows))), encoder.pad_id, "int32")
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
    return {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": ids != 0}


def forward(encoder, batch):
    """The sequence output from a tf.function, where oneDNN's graph rewrite applies."""
    call = tf.function(lambda x: encoder.backbone(x, training=False)["sequence_output"])
    return call(batch).numpy()


def gradients(encoder, batch):
    weights = np.random.default_rng(0).normal(size=(encoder.hidden_dim,)).astype("float32")

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(encoder.backbone(x, training=False)["sequence_output"] * weights)
        return tape.gradient(loss, variables)

    variables = [w for block in encoder.backbone.transformer_layers
                 for w in block.trainable_variables]
    return [g.numpy() for g in step(batch)]


def test_fused_outputs_equal_keras_hubs_and_differ_from_tanh_gelu(encoders, batch):
    fused, plain = encoders
    mask = batch["padding_mask"]
    ours, reference = forward(fused, batch)[mask], forward(plain, batch)[mask]
    np.testing.assert_allclose(ours, reference, atol=ATOL)
    for dense in inner_denses(fused):  # the tolerance tells the two GELUs apart
        dense.activation = lambda x: keras.activations.gelu(x, approximate=True)
    try:
        assert np.abs(forward(fused, batch)[mask] - reference).max() > 10 * ATOL
    finally:
        for dense in inner_denses(fused):
            dense.activation = keras.activations.gelu


def test_fused_gradients_equal_keras_hubs(encoders, batch):
    fused, plain = encoders
    for ours, reference in zip(gradients(fused, batch), gradients(plain, batch)):
        scale = np.abs(reference).max()
        np.testing.assert_allclose(ours / scale, reference / scale, atol=ATOL)


def test_the_matmul_feeds_its_bias_directly(encoders, batch):
    """No reshape between MatMul and bias: what oneDNN's MatMul + BiasAdd + Gelu fusion needs
    (it then runs as _MklNativeFusedMatMul; this graph is before that rewrite)."""
    graph = tf.function(lambda x: encoders[0].backbone(x, training=False)).get_concrete_function(
        {k: tf.constant(v) for k, v in batch.items()}).graph
    matmuls = [op for op in graph.get_operations()
               if "feedforward_intermediate_dense" in op.name and op.type == "MatMul"]
    assert len(matmuls) == 2
    for op in matmuls:
        assert {c.type for c in op.outputs[0].consumers()} <= {"BiasAdd", "AddV2"}


def test_weights_are_unchanged_and_load_into_the_plain_encoder(encoders, batch, tmp_path):
    fused, plain = encoders
    assert [w.path for w in fused.backbone.weights] == [w.path for w in plain.backbone.weights]
    fused.backbone.save_weights(tmp_path / "encoder.weights.h5")
    blank = unfused(load_encoder(fused.source, weights=False))
    blank.backbone.load_weights(tmp_path / "encoder.weights.h5")
    mask = batch["padding_mask"]
    np.testing.assert_allclose(forward(blank, batch)[mask], forward(fused, batch)[mask],
                               atol=ATOL)
