"""Tests for transition-constrained Viterbi decoding, using brute-force enumeration as oracle."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from bioner_mtl.training.fit.decoding import Transitions, viterbi_decode

OUT, BEG, INS = 0, 1, 2  # IOB2 tag ids for O, B and I


def _random_transitions(rng: np.random.Generator, num_tags: int) -> Transitions:
    density = rng.uniform(0.5, 0.95)
    return Transitions(
        start=rng.random(num_tags) < density,
        pairs=rng.random((num_tags, num_tags)) < density,
        end=rng.random(num_tags) < density,
    )


def _random_log_probs(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    logits = rng.normal(size=shape)
    return logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))


def _path_ok(path: tuple[int, ...], trans: Transitions) -> bool:
    """Independent of Transitions.allows so that method is tested too."""
    if not path:
        return True
    if not (trans.start[path[0]] and trans.end[path[-1]]):
        return False
    return all(trans.pairs[a, b] for a, b in itertools.pairwise(path))


def _brute_force(log_probs: np.ndarray, trans: Transitions) -> tuple[tuple[int, ...], float] | None:
    """Best allowed path of one sentence ([n, T] log-probs), or None if none is allowed."""
    n, num_tags = log_probs.shape
    best: tuple[tuple[int, ...], float] | None = None
    for path in itertools.product(range(num_tags), repeat=n):
        if not _path_ok(path, trans):
            continue
        score = float(sum(log_probs[t, tag] for t, tag in enumerate(path)))
        if best is None or score > best[1]:
            best = (path, score)
    return best


@pytest.mark.parametrize("seed", range(50))
def test_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    num_tags = int(rng.integers(2, 5))
    max_len = int(rng.integers(1, 6))
    batch = int(rng.integers(3, 8))
    lengths = rng.integers(1, max_len + 1, size=batch)
    lengths[0] = max_len  # at least one full-length sentence per batch
    if seed % 5 == 0:
        lengths[1] = 0  # empty sentences mixed into a batch
    log_probs = _random_log_probs(rng, (batch, max_len, num_tags))
    trans = _random_transitions(rng, num_tags)

    decoded = viterbi_decode(log_probs, lengths, trans)

    assert decoded.shape == (batch, max_len)
    assert decoded.dtype == np.int32
    for b in range(batch):
        n = int(lengths[b])
        assert (decoded[b, n:] == 0).all()
        got = tuple(int(x) for x in decoded[b, :n])
        expected = _brute_force(log_probs[b, :n], trans)
        if expected is None:
            # No allowed path: documented fallback to per-token argmax.
            assert got == tuple(int(x) for x in np.argmax(log_probs[b, :n], axis=-1))
            continue
        # Continuous random scores make ties probability 0, so the paths must match exactly.
        assert got == expected[0]
        got_score = sum(log_probs[b, t, tag] for t, tag in enumerate(got))
        assert got_score == pytest.approx(expected[1])
        assert trans.allows(got)
        assert _path_ok(got, trans)


@pytest.mark.parametrize("seed", range(10))
def test_decoded_paths_never_break_constraints(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    num_tags, max_len, batch = 5, 12, 32
    # Tag 0 may start, repeat and end, so every length has an allowed path and no fallback hides
    # a constraint violation.
    tag0 = np.arange(num_tags) == 0
    trans = Transitions(
        start=(rng.random(num_tags) < 0.5) | tag0,
        pairs=(rng.random((num_tags, num_tags)) < 0.5) | np.outer(tag0, tag0),
        end=(rng.random(num_tags) < 0.5) | tag0,
    )
    lengths = rng.integers(1, max_len + 1, size=batch)
    decoded = viterbi_decode(_random_log_probs(rng, (batch, max_len, num_tags)), lengths, trans)
    for b in range(batch):
        assert trans.allows(decoded[b, : lengths[b]].tolist())


@pytest.mark.parametrize("seed", range(5))
def test_unconstrained_equals_argmax(seed: int) -> None:
    rng = np.random.default_rng(2000 + seed)
    batch, max_len, num_tags = 6, 7, 4
    log_probs = _random_log_probs(rng, (batch, max_len, num_tags))
    lengths = rng.integers(0, max_len + 1, size=batch)
    valid = np.arange(max_len)[None, :] < lengths[:, None]
    expected = np.where(valid, np.argmax(log_probs, axis=-1), 0)

    np.testing.assert_array_equal(viterbi_decode(log_probs, lengths), expected)
    np.testing.assert_array_equal(viterbi_decode(log_probs, lengths, None), expected)
    np.testing.assert_array_equal(
        viterbi_decode(log_probs, lengths, Transitions.all_allowed(num_tags)), expected
    )


def test_from_sequences_iob2_by_hand() -> None:
    trans = Transitions.from_sequences([[OUT, BEG, INS, OUT], [BEG, OUT], []], num_tags=3)
    np.testing.assert_array_equal(trans.start, [True, True, False])
    np.testing.assert_array_equal(trans.end, [True, False, False])
    # Observed pairs: O->B, B->I, I->O, B->O.
    np.testing.assert_array_equal(
        trans.pairs,
        [
            [False, True, False],
            [True, False, True],
            [True, False, False],
        ],
    )
    assert trans.start.dtype == bool and trans.pairs.dtype == bool and trans.end.dtype == bool


def test_from_sequences_rejects_out_of_range_tags() -> None:
    with pytest.raises(ValueError):
        Transitions.from_sequences([[0, 3]], num_tags=3)
    with pytest.raises(ValueError):
        Transitions.from_sequences([[-1]], num_tags=3)


def test_allows() -> None:
    trans = Transitions.from_sequences([[OUT, BEG, INS, OUT], [BEG, OUT]], num_tags=3)
    assert trans.allows([OUT, BEG, INS, OUT])
    assert trans.allows([BEG, OUT])
    assert trans.allows([])
    assert not trans.allows([OUT, INS, OUT])  # O -> I never seen
    assert not trans.allows([INS, OUT])  # I never starts a sentence
    assert not trans.allows([OUT, BEG])  # B never ends a sentence
    assert Transitions.all_allowed(3).allows([INS, INS, OUT, INS])


def test_iob2_constraint_removes_o_then_i() -> None:
    trans = Transitions.from_sequences(
        [[OUT, BEG, INS, OUT], [BEG, INS, INS, OUT], [OUT, OUT], [BEG, OUT], [OUT, BEG]], num_tags=3
    )
    probs = np.array(
        [
            [0.8, 0.15, 0.05],  # O
            [0.4, 0.15, 0.45],  # argmax I, but O -> I was never seen
            [0.2, 0.1, 0.7],  # I
            [0.9, 0.05, 0.05],  # O
        ]
    )
    log_probs = np.log(probs)[None]
    lengths = np.array([4])

    argmax_path = viterbi_decode(log_probs, lengths)[0].tolist()
    assert argmax_path == [OUT, INS, INS, OUT]
    assert not trans.allows(argmax_path)

    constrained = viterbi_decode(log_probs, lengths, trans)[0].tolist()
    assert trans.allows(constrained)
    assert constrained == [OUT, BEG, INS, OUT]


def test_no_allowed_path_falls_back_to_argmax() -> None:
    # Tag 0 may only start, tag 1 may only end, and neither may follow the other: a length-1
    # sentence has no allowed path, and neither does any longer one.
    trans = Transitions(
        start=np.array([True, False]),
        pairs=np.zeros((2, 2), dtype=bool),
        end=np.array([False, True]),
    )
    log_probs = np.log(
        np.array(
            [
                [[0.3, 0.7], [0.5, 0.5], [0.5, 0.5]],
                [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]],
            ]
        )
    )
    lengths = np.array([1, 3])
    decoded = viterbi_decode(log_probs, lengths, trans)
    np.testing.assert_array_equal(decoded, [[1, 0, 0], [0, 1, 0]])


def test_fallback_is_per_sentence() -> None:
    # Only length-2 paths 0 -> 1 are allowed, so the length-1 sentence falls back while the
    # length-2 sentence in the same batch is still constrained.
    trans = Transitions(
        start=np.array([True, False]),
        pairs=np.array([[False, True], [False, False]]),
        end=np.array([False, True]),
    )
    log_probs = np.log(np.array([[[0.6, 0.4], [0.5, 0.5]], [[0.1, 0.9], [0.8, 0.2]]]))
    decoded = viterbi_decode(log_probs, np.array([1, 2]), trans)
    np.testing.assert_array_equal(decoded, [[0, 0], [0, 1]])


def test_zero_length_sentences_are_all_zero() -> None:
    rng = np.random.default_rng(7)
    log_probs = _random_log_probs(rng, (3, 4, 3))
    trans = Transitions.from_sequences([[OUT, BEG, INS, OUT]], num_tags=3)
    decoded = viterbi_decode(log_probs, np.array([0, 0, 0]), trans)
    np.testing.assert_array_equal(decoded, np.zeros((3, 4)))
    assert viterbi_decode(np.zeros((2, 0, 3)), np.array([0, 0]), trans).shape == (2, 0)
    assert viterbi_decode(np.zeros((0, 4, 3)), np.zeros(0, dtype=int), trans).shape == (0, 4)


def test_end_constraint_uses_each_sentence_own_length() -> None:
    # Tag 1 is strongly preferred everywhere but may not end a sentence; the short sentence
    # must therefore end on tag 0 at its own last token, not at the batch's max length.
    trans = Transitions(
        start=np.array([True, True]),
        pairs=np.ones((2, 2), dtype=bool),
        end=np.array([True, False]),
    )
    log_probs = np.log(np.tile(np.array([0.2, 0.8]), (2, 5, 1)))
    decoded = viterbi_decode(log_probs, np.array([2, 5]), trans)
    np.testing.assert_array_equal(decoded, [[1, 0, 0, 0, 0], [1, 1, 1, 1, 0]])


def test_zero_probabilities_do_not_produce_nan_or_forbidden_paths() -> None:
    trans = Transitions.from_sequences([[OUT, BEG, INS, OUT], [OUT, OUT]], num_tags=3)
    # The only allowed paths go through tokens with probability exactly 0.
    probs = np.array([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]])
    with np.errstate(divide="ignore"):
        log_probs = np.log(probs)
    decoded = viterbi_decode(log_probs, np.array([3]), trans)
    assert trans.allows(decoded[0].tolist())


def test_float32_input_and_integer_like_lengths() -> None:
    rng = np.random.default_rng(11)
    log_probs = _random_log_probs(rng, (4, 5, 3)).astype(np.float32)
    trans = Transitions.from_sequences([[OUT, BEG, INS, OUT], [BEG, OUT], [OUT]], num_tags=3)
    lengths = np.array([5, 3, 1, 0], dtype=np.int32)
    decoded = viterbi_decode(log_probs, lengths, trans)
    for b, n in enumerate(lengths):
        expected = _brute_force(log_probs[b, :n].astype(np.float64), trans)
        if n and expected is not None:
            assert tuple(decoded[b, :n].tolist()) == expected[0]


def test_input_validation() -> None:
    trans = Transitions.all_allowed(3)
    log_probs = np.zeros((2, 4, 3))
    with pytest.raises(ValueError):
        viterbi_decode(np.zeros((4, 3)), np.array([4]), trans)
    with pytest.raises(ValueError):
        viterbi_decode(log_probs, np.array([4]), trans)
    with pytest.raises(ValueError):
        viterbi_decode(log_probs, np.array([5, 1]), trans)
    with pytest.raises(ValueError):
        viterbi_decode(log_probs, np.array([-1, 1]), trans)
    with pytest.raises(ValueError):
        viterbi_decode(log_probs, np.array([2, 2]), Transitions.all_allowed(4))
    bad = log_probs.copy()
    bad[0, 1, 2] = np.nan
    with pytest.raises(ValueError):
        viterbi_decode(bad, np.array([2, 2]), trans)
    # NaN in padding is ignored.
    viterbi_decode(bad, np.array([1, 2]), trans)


def test_dict_round_trip_through_json() -> None:
    trans = Transitions.from_sequences([[OUT, BEG, INS, OUT], [BEG, OUT]], num_tags=3)
    data = json.loads(json.dumps(trans.to_dict()))
    assert data == {
        "start": [1, 1, 0],
        "pairs": [[0, 1, 0], [1, 0, 1], [1, 0, 0]],
        "end": [1, 0, 0],
    }
    restored = Transitions.from_dict(data)
    assert restored == trans
    assert hash(restored) == hash(trans)
    assert restored != Transitions.all_allowed(3)


def test_invalid_construction() -> None:
    with pytest.raises(ValueError):
        Transitions(start=np.ones(3), pairs=np.ones((3, 2)), end=np.ones(3))
    with pytest.raises(ValueError):
        Transitions(start=np.ones(3), pairs=np.ones((3, 3)), end=np.ones(2))
    with pytest.raises(ValueError):
        Transitions.from_dict({"start": [1, 2], "pairs": [[1, 1], [1, 1]], "end": [1, 1]})
    with pytest.raises(ValueError):
        Transitions.from_dict({"start": [1, 1], "pairs": [[1, 1], [1, 1]]})


def test_transitions_are_immutable() -> None:
    source = np.ones(2, dtype=bool)
    trans = Transitions(start=source, pairs=np.ones((2, 2), dtype=bool), end=np.ones(2))
    source[0] = False  # caller's array is copied, not aliased
    assert trans.start[0]
    with pytest.raises(ValueError):
        trans.start[0] = False
    with pytest.raises(AttributeError):
        trans.start = np.zeros(2, dtype=bool)  # type: ignore[misc]


def test_large_batch_runs() -> None:
    rng = np.random.default_rng(3)
    batch, max_len, num_tags = 64, 100, 20
    sequences = [rng.integers(0, num_tags, size=int(rng.integers(1, 30))) for _ in range(200)]
    trans = Transitions.from_sequences(sequences, num_tags=num_tags)
    lengths = rng.integers(0, max_len + 1, size=batch)
    decoded = viterbi_decode(_random_log_probs(rng, (batch, max_len, num_tags)), lengths, trans)
    assert decoded.shape == (batch, max_len)
    assert decoded.dtype == np.int32
    assert ((decoded >= 0) & (decoded < num_tags)).all()
