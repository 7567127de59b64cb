"""The CRF head against brute force: every tag path of small sentences is enumerated in numpy,
so log Z, path scores and (constrained) Viterbi have an exact oracle."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from bioner_mtl.models.crf import CRFHead
from bioner_mtl.training.fit.decoding import Transitions, viterbi_decode


def random_head(rng: np.random.Generator, num_tags: int, scale: float = 1.0) -> CRFHead:
    head = CRFHead(num_tags)
    head.transitions.assign(rng.normal(0, scale, (num_tags, num_tags)).astype("float32"))
    head.start.assign(rng.normal(0, scale, num_tags).astype("float32"))
    head.end.assign(rng.normal(0, scale, num_tags).astype("float32"))
    return head


def random_batch(rng: np.random.Generator, num_tags: int, width: int, batch: int = 4):
    """Emissions, a prefix mask with different lengths (1..width), and random tags."""
    lengths = rng.integers(1, width + 1, batch)
    lengths[0] = width
    mask = np.arange(width)[None, :] < lengths[:, None]
    emissions = rng.normal(0, 2, (batch, width, num_tags)).astype("float32")
    tags = np.where(mask, rng.integers(0, num_tags, (batch, width)), 0).astype("int32")
    return emissions, mask, tags, lengths


def params(head: CRFHead) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (head.transitions.numpy().astype("float64"), head.start.numpy().astype("float64"),
            head.end.numpy().astype("float64"))


def score_of(path, emissions, transitions, start, end) -> float:
    path = list(path)
    total = start[path[0]] + end[path[-1]] + sum(emissions[t, k] for t, k in enumerate(path))
    return float(total + sum(transitions[a, b] for a, b in zip(path, path[1:])))


def all_paths(emissions, length, head, allowed: Transitions | None = None):
    """(path, score) of every tag path of one sentence's first `length` tokens."""
    transitions, start, end = params(head)
    emissions = emissions[:length].astype("float64")
    for path in itertools.product(range(emissions.shape[1]), repeat=length):
        if allowed is None or allowed.allows(path):
            yield path, score_of(path, emissions, transitions, start, end)


def random_allowed(rng: np.random.Generator, num_tags: int) -> Transitions:
    """Random masks, about half forbidden, with one guaranteed path (through tag `anchor`)."""
    anchor = rng.integers(num_tags)
    start, pairs, end = (rng.random(s) < 0.5 for s in (num_tags, (num_tags, num_tags), num_tags))
    start[anchor] = pairs[anchor, anchor] = end[anchor] = True
    return Transitions(start=start, pairs=pairs, end=end)


CASES = [(seed, 2 + seed % 3, 1 + seed // 3 % 4) for seed in range(20)]  # (seed, T, N)


@pytest.mark.parametrize("seed,num_tags,width", CASES)
def test_log_partition_and_path_score_match_enumeration(seed, num_tags, width):
    rng = np.random.default_rng(seed)
    head = random_head(rng, num_tags)
    emissions, mask, tags, lengths = random_batch(rng, num_tags, width)
    log_z = head.log_partition(emissions, mask).numpy()
    gold = head.path_score(emissions, tags, mask).numpy()
    transitions, start, end = params(head)
    for b, length in enumerate(lengths):
        scores = np.array([s for _, s in all_paths(emissions[b], length, head)])
        expected = scores.max() + np.log(np.exp(scores - scores.max()).sum())
        np.testing.assert_allclose(log_z[b], expected, rtol=1e-5, atol=1e-4)
        expected_gold = score_of(tags[b, :length], emissions[b].astype("float64"),
                                 transitions, start, end)
        np.testing.assert_allclose(gold[b], expected_gold, rtol=1e-5, atol=1e-4)
    assert (log_z - gold >= -1e-4).all()
    loss = head.loss(emissions, tags, mask).numpy()
    np.testing.assert_allclose(loss, np.mean(log_z - gold), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("seed,num_tags,width", CASES[::2])
def test_viterbi_matches_brute_force_argmax(seed, num_tags, width):
    rng = np.random.default_rng(100 + seed)
    head = random_head(rng, num_tags)
    emissions, mask, _, lengths = random_batch(rng, num_tags, width)
    paths = head.decode(emissions, mask).numpy()
    assert paths.dtype == np.int32 and paths.shape == mask.shape
    for b, length in enumerate(lengths):
        best = max(all_paths(emissions[b], length, head), key=lambda ps: ps[1])[0]
        assert paths[b, :length].tolist() == list(best)
        assert not paths[b, length:].any()


@pytest.mark.parametrize("seed,num_tags,width", CASES[1::2])
def test_constrained_viterbi_matches_brute_force_over_allowed_paths(seed, num_tags, width):
    rng = np.random.default_rng(200 + seed)
    head = random_head(rng, num_tags)
    emissions, mask, _, lengths = random_batch(rng, num_tags, width)
    allowed = random_allowed(rng, num_tags)
    paths = head.decode(emissions, mask, allowed).numpy()
    as_dict = head.decode(emissions, mask, allowed.to_dict()).numpy()
    np.testing.assert_array_equal(paths, as_dict)
    for b, length in enumerate(lengths):
        best = max(all_paths(emissions[b], length, head, allowed), key=lambda ps: ps[1])[0]
        assert paths[b, :length].tolist() == list(best)
        assert allowed.allows(paths[b, :length])
        assert not paths[b, length:].any()


def test_constraint_beats_large_scores_and_falls_back_when_nothing_is_allowed():
    """Huge emissions favour forbidden transitions; the constraint must still hold."""
    rng = np.random.default_rng(7)
    head = random_head(rng, 3, scale=50.0)
    emissions, mask, _, lengths = random_batch(rng, 3, 12, batch=6)
    allowed = random_allowed(rng, 3)
    free = head.decode(emissions * 1000, mask).numpy()
    assert not all(allowed.allows(p[:n]) for p, n in zip(free, lengths))  # it does bind
    paths = head.decode(emissions * 1000, mask, allowed).numpy()
    assert all(allowed.allows(p[:n]) for p, n in zip(paths, lengths))
    # No tag may start or end: every path breaks the constraint twice, so the fallback (fewest
    # broken transitions, then the best score) is the unconstrained path.
    nothing = Transitions(np.zeros(3, bool), np.ones((3, 3), bool), np.zeros(3, bool))
    np.testing.assert_array_equal(head.decode(emissions, mask, nothing).numpy(),
                                  head.decode(emissions, mask).numpy())


def test_uniform_crf_with_constraint_agrees_with_numpy_viterbi():
    """Zero transition scores leave only the constraint: training.decoding's Viterbi problem."""
    rng = np.random.default_rng(3)
    num_tags = 4
    head = CRFHead(num_tags)
    emissions, mask, _, lengths = random_batch(rng, num_tags, 7, batch=8)
    log_probs = np.log(tf.nn.softmax(emissions).numpy())
    allowed = random_allowed(rng, num_tags)
    np.testing.assert_array_equal(head.decode(log_probs, mask, allowed).numpy(),
                                  viterbi_decode(log_probs, lengths, allowed))


def test_stored_constraint_is_used_cleared_and_saved_in_weights():
    rng = np.random.default_rng(11)
    head = random_head(rng, 3)
    emissions, mask, _, _ = random_batch(rng, 3, 6, batch=8)
    only_cycle = Transitions(start=[1, 0, 0], pairs=np.roll(np.eye(3, dtype=bool), 1, axis=1),
                             end=[1, 1, 1])
    assert not head.constrained
    free = head.decode(emissions, mask).numpy()
    head.set_constraint(only_cycle)
    assert head.constrained
    cycled = head.decode(emissions, mask).numpy()
    expected = np.where(mask, np.arange(6)[None, :] % 3, 0)
    np.testing.assert_array_equal(cycled, expected)
    copy = random_head(rng, 3)
    copy.set_weights(head.get_weights())  # non-trainable weights travel with the model
    np.testing.assert_array_equal(copy.decode(emissions, mask).numpy(), expected)
    head.set_constraint(None)
    assert not head.constrained
    np.testing.assert_array_equal(head.decode(emissions, mask).numpy(), free)
    with pytest.raises(ValueError, match="shape"):
        head.set_constraint(Transitions.all_allowed(4))


def test_padding_changes_nothing_and_decodes_to_zero():
    rng = np.random.default_rng(5)
    head = random_head(rng, 3)
    emissions, mask, tags, _ = random_batch(rng, 3, 4, batch=5)
    pad = 3
    padded = np.concatenate([emissions, rng.normal(0, 1e6, (5, pad, 3)).astype("float32")], 1)
    padded[0, -1] = np.nan
    padded_mask = np.concatenate([mask, np.zeros((5, pad), bool)], axis=1)
    padded_tags = np.concatenate([tags, rng.integers(0, 3, (5, pad)).astype("int32")], axis=1)
    for method, args, padded_args in (
            (head.log_partition, (emissions, mask), (padded, padded_mask)),
            (head.path_score, (emissions, tags, mask), (padded, padded_tags, padded_mask)),
            (head.loss, (emissions, tags, mask), (padded, padded_tags, padded_mask))):
        np.testing.assert_allclose(method(*padded_args).numpy(), method(*args).numpy(),
                                   rtol=1e-6, atol=1e-5)
    decoded = head.decode(padded, padded_mask).numpy()
    np.testing.assert_array_equal(decoded[:, :4], head.decode(emissions, mask).numpy())
    assert not decoded[~padded_mask].any()


def test_empty_sentences_score_zero():
    rng = np.random.default_rng(2)
    head = random_head(rng, 3)
    emissions = rng.normal(0, 1, (2, 3, 3)).astype("float32")
    mask = np.array([[True, True, False], [False, False, False]])
    tags = np.zeros((2, 3), "int32")
    nll = (head.log_partition(emissions, mask) - head.path_score(emissions, tags, mask)).numpy()
    assert np.isfinite(nll).all() and nll[1] == 0.0
    np.testing.assert_allclose(head.loss(emissions, tags, mask).numpy(), nll[0], rtol=1e-6)
    assert head.loss(emissions, tags, np.zeros_like(mask)).numpy() == 0.0
    assert not head.decode(emissions, mask).numpy()[1].any()


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_gradients_are_finite(scale):
    rng = np.random.default_rng(9)
    head = random_head(rng, 4)
    emissions, mask, tags, _ = random_batch(rng, 4, 6, batch=5)
    emissions = tf.constant(emissions * scale)
    with tf.GradientTape() as tape:
        tape.watch(emissions)
        loss = head.loss(emissions, tags, mask)
    grads = tape.gradient(loss, [emissions, head.transitions, head.start, head.end])
    assert np.isfinite(loss.numpy())
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    assert not grads[0].numpy()[~mask].any()  # padding gets no gradient
    assert np.abs(grads[1].numpy()).sum() > 0


def test_mixed_precision_loss_is_float32_and_finite():
    rng = np.random.default_rng(4)
    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        head = CRFHead(3)
        features = tf.constant(rng.normal(0, 30, (4, 5, 8)), tf.float16)
        _, mask, tags, _ = random_batch(rng, 3, 5)
        with tf.GradientTape() as tape:
            scores = head(features)
            loss = head.loss(scores, tags, mask)
        grads = tape.gradient(loss, head.trainable_weights)
        assert scores.dtype == tf.float16 and loss.dtype == tf.float32
        assert np.isfinite(loss.numpy()) and all(np.isfinite(g.numpy()).all() for g in grads)
        assert head.decode(scores, mask).dtype == tf.int32
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_runs_in_tf_function_with_unknown_batch_and_time():
    rng = np.random.default_rng(8)
    head = random_head(rng, 3)
    allowed = random_allowed(rng, 3)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.float32),
                                  tf.TensorSpec([None, None], tf.int32),
                                  tf.TensorSpec([None, None], tf.bool)])
    def run(scores, tags, mask):
        return head.loss(scores, tags, mask), head.decode(scores, mask, allowed)

    for width, batch in ((4, 3), (1, 2), (7, 5)):
        emissions, mask, tags, _ = random_batch(rng, 3, width, batch)
        loss, paths = run(emissions, tags, mask)
        np.testing.assert_allclose(loss.numpy(), head.loss(emissions, tags, mask).numpy(),
                                   rtol=1e-5)
        np.testing.assert_array_equal(paths.numpy(), head.decode(emissions, mask, allowed))
    assert len(run.get_concrete_function().graph.get_operations()) > 0


def test_learns_a_transition_pattern():
    """The first tag is readable from the features at position 0 only, every later tag is the
    previous + 1 (mod 3): only the transition scores can predict the tokens after the first."""
    rng = np.random.default_rng(0)
    num_tags, batch, width = 3, 32, 8
    features = rng.normal(0, 1, (batch, width, 6)).astype("float32")
    lengths = rng.integers(3, width + 1, batch)
    mask = np.arange(width)[None, :] < lengths[:, None]
    features[:, 1:, :num_tags] = 0.0  # the first tag is read from these at position 0 only
    first = np.argmax(features[:, 0, :num_tags], axis=1)
    tags = np.where(mask, (first[:, None] + np.arange(width)[None, :]) % num_tags, 0)
    tags = tags.astype("int32")
    keras.utils.set_random_seed(0)
    head = CRFHead(num_tags)
    optimizer = keras.optimizers.Adam(0.05)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = head.loss(head(features), tags, mask)
        optimizer.apply_gradients(zip(tape.gradient(loss, head.trainable_weights),
                                      head.trainable_weights))
        return loss

    losses = [float(step()) for _ in range(100)]
    assert losses[-1] < 0.2 * losses[0]
    decoded = head.decode(head(features), mask).numpy()
    assert (decoded[mask] == tags[mask]).mean() > 0.9
    np.testing.assert_array_equal(np.argmax(head.transitions.numpy(), axis=1), [1, 2, 0])


def test_config_round_trip():
    head = CRFHead(5, name="head_NCBI_disease")
    config = head.get_config()
    clone = CRFHead.from_config(config)
    assert clone.get_config() == config
    assert clone.num_labels == 5 and clone.name == "head_NCBI_disease"
    assert CRFHead.decodes_itself and not hasattr(CRFHead, "log_probs")


# ----- marginals (forward-backward) ---------------------------------------------------------
def brute_marginals(emissions, length, head, allowed=None, temperature=1.0) -> np.ndarray:
    """P(y_t = k | x) [length, T] by summing exp(score / T) over every (allowed) path."""
    paths, scores = zip(*all_paths(emissions, length, head, allowed))
    weights = np.exp((np.array(scores) - max(scores)) / temperature)
    out = np.zeros((length, emissions.shape[1]))
    for path, weight in zip(paths, weights):
        out[np.arange(length), list(path)] += weight
    return out / weights.sum()


@pytest.mark.parametrize("seed,num_tags,width", CASES)
def test_marginals_match_enumeration_free_constrained_and_tempered(seed, num_tags, width):
    rng = np.random.default_rng(300 + seed)
    head = random_head(rng, num_tags)
    emissions, mask, _, lengths = random_batch(rng, num_tags, width)
    allowed = random_allowed(rng, num_tags)
    temperature = (0.5, 1.0, 3.0)[seed % 3]
    for constraint in (None, allowed):
        got = head.marginals(emissions, mask, constraint, temperature).numpy()
        assert got.shape == emissions.shape and got.dtype == np.float32
        for b, length in enumerate(lengths):
            expected = brute_marginals(emissions[b], length, head, constraint, temperature)
            np.testing.assert_allclose(got[b, :length], expected, rtol=0, atol=2e-5)
            assert not got[b, length:].any()  # padding is 0


def test_marginals_ignore_padding_use_the_stored_constraint_and_fall_back():
    rng = np.random.default_rng(13)
    head = random_head(rng, 3, scale=3.0)
    emissions, mask, _, lengths = random_batch(rng, 3, 4, batch=5)
    padded = np.concatenate([emissions, rng.normal(0, 1e6, (5, 3, 3)).astype("float32")], 1)
    padded[0, -1] = np.nan
    padded_mask = np.concatenate([mask, np.zeros((5, 3), bool)], axis=1)
    np.testing.assert_allclose(head.marginals(padded, padded_mask).numpy()[:, :4],
                               head.marginals(emissions, mask).numpy(), rtol=0, atol=1e-6)
    allowed = random_allowed(rng, 3)
    head.set_constraint(allowed)
    np.testing.assert_allclose(head.marginals(emissions, mask).numpy(),
                               head.marginals(emissions, mask, allowed).numpy(), atol=1e-7)
    # nothing may start: every path breaks the constraint once, so all paths count again
    nothing = Transitions(np.zeros(3, bool), np.ones((3, 3), bool), np.ones(3, bool))
    free = Transitions.all_allowed(3)
    np.testing.assert_allclose(head.marginals(emissions * 100, mask, nothing).numpy(),
                               head.marginals(emissions * 100, mask, free).numpy(), atol=1e-5)
    empty = head.marginals(emissions, np.zeros_like(mask)).numpy()
    assert np.isfinite(empty).all() and not empty.any()
    # the best path is the same at every temperature; marginals sharpen as T falls
    cold = head.marginals(emissions, mask, free, 0.05).numpy().argmax(-1)
    np.testing.assert_array_equal(np.where(mask, cold, 0), head.decode(emissions, mask, free))
