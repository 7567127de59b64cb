"""Shared layers checked on their own: by hand, or by the property that defines them."""

import numpy as np
import tensorflow as tf

from bioner_mtl.models.layers import CharCNN, GatedCrossSharing, GradientReversal, orthogonality


def test_gradient_reversal_is_identity_forward_and_flips_the_gradient():
    x = tf.constant([[1.0, -2.0, 3.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = GradientReversal()(x)
        loss = tf.reduce_sum(y * tf.constant([[2.0, 3.0, 4.0]]))
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    np.testing.assert_array_equal(tape.gradient(loss, x).numpy(), [[-2.0, -3.0, -4.0]])


def test_orthogonality_is_zero_for_orthogonal_features_and_sums_squares_otherwise():
    mask = np.array([[True, True, False]])
    # shared and private feature columns are orthogonal over the sentence's two real tokens
    shared = np.array([[[1.0, 0.0], [0.0, 0.0], [5.0, 5.0]]], dtype="float32")
    private = np.array([[[0.0, 0.0], [0.0, 3.0], [7.0, 7.0]]], dtype="float32")
    # the padded third token would add (5*7)^2 * 4 if it were not masked
    assert float(orthogonality(shared, private, mask)) == 0.0
    private[0, 0] = [2.0, 3.0]  # S^T P = [[2, 3], [0, 0]] -> 4 + 9
    assert float(orthogonality(shared, private, mask)) == 13.0


def test_gated_cross_sharing_matches_the_formula():
    unit = GatedCrossSharing(3)
    rng = np.random.default_rng(0)
    p_main, p_aux = (rng.normal(size=(2, 4, 3)).astype("float32") for _ in range(2))
    g_main, g_aux = unit(p_main, p_aux)

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    w, b = (v.numpy() for v in unit.gate_main.weights)
    np.testing.assert_allclose(g_main, p_main * sigmoid(p_aux @ w + b), rtol=1e-5)
    w, b = (v.numpy() for v in unit.gate_aux.weights)
    np.testing.assert_allclose(g_aux, p_aux * sigmoid(p_main @ w + b), rtol=1e-5)


def test_char_cnn_ignores_character_padding():
    cnn = CharCNN(num_chars=10, dim=4, filters=5, width=3)
    word = np.array([[[3, 4, 5, 0, 0, 0]]])
    longer_pad = np.array([[[3, 4, 5, 0, 0, 0, 0, 0, 0]]])
    np.testing.assert_allclose(cnn(word), cnn(longer_pad), rtol=1e-6)
    assert np.all(np.asarray(cnn(np.zeros((1, 1, 6), dtype="int32"))) == 0)


def test_char_cnn_is_ma_and_hovy_full_convolution_max_then_tanh():
    """Reference: pad the word's char vectors (padding char included) with width - 1 zero
    vectors on each side, convolve, max over all positions, tanh (Ma & Hovy's and WANG's code)."""
    cnn = CharCNN(num_chars=10, dim=4, filters=5, width=3)
    ids = np.array([[[3, 4, 5, 0, 0, 0], [7, 0, 0, 0, 0, 0], [0] * 6]])
    out = np.asarray(cnn(ids))
    table = np.asarray(cnn.embedding.embeddings)
    kernel, bias = (np.asarray(v) for v in cnn.conv.weights)  # [3, 4, 5], [5]
    for word, expected in zip(ids[0][:2], out[0][:2]):
        padded = np.concatenate([np.zeros((2, 4)), table[word], np.zeros((2, 4))])
        windows = np.stack([padded[i:i + 3] for i in range(len(padded) - 2)])  # [8, 3, 4]
        conv = np.einsum("pwd,wdf->pf", windows, kernel) + bias
        np.testing.assert_allclose(expected, np.tanh(conv.max(axis=0)), rtol=1e-5, atol=1e-6)
    assert np.all(out[0][2] == 0)  # a padding token has no characters
    assert np.all(np.abs(out) < 1)
