"""Calibration: ECE on hand-computed cases, temperature fitting recovering a known temperature
(softmax and CRF), and saved bundles (softmax and CRF heads) with their calibration files, a
stored temperature that tagging uses, and --min-confidence filtering."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from bioner_mtl.data.errors import InputError
from bioner_mtl.models.crf import CRFHead
from bioner_mtl.training.fit.batches import BatchStream
from bioner_mtl.training.fit.decoding import Transitions
from bioner_mtl.training.fit.trainer import Trainer
from bioner_mtl.training.product.bundle import BUNDLE_FILE, load, save_bundle
from bioner_mtl.training.product.calibration import (
    CALIBRATION_FILE,
    expected_calibration_error,
    fit,
    reliability,
)

MAIN = "NCBI-disease"


def test_ece_and_bins_by_hand():
    # bin (13/15, 14/15]: 4 at 0.9, 3 right -> |0.75 - 0.9| * 4/6; bin (4/15, 5/15]: 2 at
    # 0.3, 1 right -> |0.5 - 0.3| * 2/6; ECE = 0.1 + 0.2/3
    confidences = [0.9, 0.9, 0.9, 0.9, 0.3, 0.3]
    correct = [True, True, True, False, False, True]
    assert expected_calibration_error(confidences, correct) == pytest.approx(0.1 + 0.2 / 3)
    counts, mean, accuracy = reliability(confidences, correct)
    assert counts.tolist() == [0, 0, 0, 0, 2] + [0] * 8 + [4, 0]
    assert mean[13] == pytest.approx(0.9) and accuracy[4] == 0.5
    # 0 goes to the first bin, 1 to the last, 0.5 to (7/15, 8/15]
    counts, _, _ = reliability([0.0, 1.0, 0.5], [False, True, True])
    assert counts[0] == counts[14] == counts[7] == 1
    assert expected_calibration_error([1.0, 1.0], [True, True]) == 0.0
    assert expected_calibration_error([0.5] * 4, [True, False] * 2) == 0.0  # perfect at 0.5
    assert expected_calibration_error([0.8] * 5, [False] * 5) == pytest.approx(0.8)
    assert np.isnan(expected_calibration_error([], []))
    with pytest.raises(ValueError, match="0, 1"):
        expected_calibration_error([1.2], [True])


def test_fit_recovers_the_temperature_of_overconfident_softmax_scores():
    """Gold tags drawn from softmax(z); the scores are 3 z, so the best temperature is 3."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1.5, (20000, 5))
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    gold = (probabilities.cumsum(1) < rng.random((20000, 1))).sum(1)
    scores = 3 * logits

    def nll(temperature):
        scaled = scores / temperature
        log_p = scaled - np.log(np.exp(scaled).sum(1, keepdims=True))
        return -log_p[np.arange(len(gold)), gold].mean()

    assert fit(nll) == pytest.approx(3.0, rel=0.05)
    confident = probabilities.max(1)
    over = np.exp(scores).max(1) / np.exp(scores).sum(1)
    right = probabilities.argmax(1) == gold
    assert expected_calibration_error(over, right) > 5 * expected_calibration_error(
        confident, right)  # and the scaled scores are the badly calibrated ones


def test_fit_recovers_the_temperature_of_an_overconfident_crf():
    """Tag paths sampled from a CRF by enumeration; a head with every score tripled fits T = 3
    on the marginal NLL (the objective calibrate uses for CRF heads)."""
    rng = np.random.default_rng(1)
    num_tags, width, count = 3, 4, 1500
    true = CRFHead(num_tags)
    for weight, shape in ((true.transitions, (3, 3)), (true.start, (3,)), (true.end, (3,))):
        weight.assign(rng.normal(0, 1, shape).astype("float32"))
    emissions = rng.normal(0, 1, (count, width, num_tags)).astype("float32")
    mask = np.ones((count, width), bool)
    paths = np.array(np.meshgrid(*[range(num_tags)] * width, indexing="ij")).reshape(width, -1).T
    path_scores = np.stack([true.path_score(emissions, np.tile(p, (count, 1)), mask).numpy()
                            for p in paths], axis=1)  # [count, paths]
    weights = np.exp(path_scores - path_scores.max(1, keepdims=True))
    choice = ((weights / weights.sum(1, keepdims=True)).cumsum(1)
              < rng.random((count, 1))).sum(1)
    gold = paths[np.minimum(choice, len(paths) - 1)]  # [count, width]
    hot = CRFHead(num_tags)
    hot.transitions.assign(3 * true.transitions.numpy())
    hot.start.assign(3 * true.start.numpy())
    hot.end.assign(3 * true.end.numpy())
    free = Transitions.all_allowed(num_tags)
    marginals = tf.function(lambda t: hot.marginals(3 * emissions, mask, free, t))

    def nll(temperature):
        picked = np.take_along_axis(marginals(tf.constant(temperature, tf.float32)).numpy(),
                                    gold[..., None], axis=-1)
        return -np.log(picked).mean()

    assert fit(nll) == pytest.approx(3.0, rel=0.1)


@pytest.fixture(scope="module", params=[("window-cnn", 300), ("bilstm-crf", 5)],
                ids=["window-cnn", "bilstm-crf"])
def saved(request, tiny_run, tmp_path_factory):
    """A trainer moved a few steps and its saved bundle (the window CNN long enough to
    predict some entities, the CRF a few steps: its calibration is what is checked)."""
    name, steps = request.param
    run = tiny_run(MAIN, (), name, devel_limit=60, test_limit=60)
    trainer = Trainer(run, progress=False)
    batches = BatchStream(trainer.tasks[MAIN].train, 16, np.random.default_rng(0))
    for _ in range(steps):
        trainer.train_step(MAIN, *next(batches))
    return trainer, save_bundle(trainer, tmp_path_factory.mktemp("bundle") / name)


def test_saved_bundle_has_calibration_and_tags_with_its_temperature(saved):
    trainer, path = saved
    calibration = json.loads((path / CALIBRATION_FILE).read_text())
    entry = calibration["heads"][MAIN]
    temperature = entry["temperature"]
    assert 0.05 <= temperature <= 20 and temperature != 1.0
    for split in ("devel", "test"):
        for when in ("before", "after"):
            assert 0 <= entry["token_ece"][split][when] < 1
        assert entry["tokens"][split] == sum(len(s) for s in
                                             getattr(trainer.tasks[MAIN], split).sentences)
    assert (path / f"reliability_{MAIN}.png").stat().st_size > 1000
    meta = json.loads((path / BUNDLE_FILE).read_text())
    assert meta["heads"][MAIN]["temperature"] == temperature

    tagger = load(path)
    assert tagger.predictor.temperatures[MAIN] == temperature
    test = trainer.tasks[MAIN].test
    words = [list(s.tokens) for s in test.sentences]
    tags, confidences = tagger.tag_sentences(words)[MAIN]
    # the trainer was left at the fitted temperature: its confidences are the bundle's
    scored = trainer.predictor.predict(test, (MAIN,), (trainer.run.viterbi,))[MAIN]
    assert tags == scored[trainer.run.viterbi].tags
    np.testing.assert_allclose(np.concatenate(confidences),
                               np.concatenate(scored[trainer.run.viterbi].confidences),
                               atol=1e-6)
    # at T = 1 the same tags with other confidences
    trainer.predictor.temperatures[MAIN] = 1.0
    try:
        plain = trainer.predictor.predict(test, (MAIN,), (trainer.run.viterbi,))[MAIN]
    finally:
        trainer.predictor.temperatures[MAIN] = temperature
    assert plain[trainer.run.viterbi].tags == tags
    assert np.abs(np.concatenate(plain[trainer.run.viterbi].confidences)
                  - np.concatenate(confidences)).max() > 1e-4

    # a bundle without temperatures (saved before them) loads with T = 1
    for head in meta["heads"].values():
        del head["temperature"]
    (path / BUNDLE_FILE).write_text(json.dumps(meta))
    try:
        old = load(path)
        assert set(old.predictor.temperatures.values()) == {1.0}
        np.testing.assert_allclose(
            np.concatenate(old.tag_sentences(words)[MAIN][1]),
            np.concatenate(plain[trainer.run.viterbi].confidences), atol=1e-6)
        meta["heads"][MAIN]["temperature"] = -2
        (path / BUNDLE_FILE).write_text(json.dumps(meta))
        with pytest.raises(InputError, match="temperature should be a positive number"):
            load(path)
    finally:
        meta["heads"][MAIN]["temperature"] = temperature
        (path / BUNDLE_FILE).write_text(json.dumps(meta))


def test_min_confidence_drops_entities_below_it(saved):
    trainer, path = saved
    if trainer.run.model != "window-cnn":
        pytest.skip("the few-step CRF predicts no entities; the filter is the same code")
    tagger = load(path)
    words = [list(s.tokens) for s in trainer.tasks[MAIN].test.sentences]
    every = tagger.entities(words)
    scores = sorted(e[4] for sentence in every for e in sentence)
    assert len(set(scores)) >= 2, "the tiny model should predict some entities"
    distinct = sorted(set(scores))  # a threshold with scores on both sides, ties or not
    threshold = distinct[len(distinct) // 2]
    kept = tagger.entities(words, None, threshold)
    assert kept == [[e for e in sentence if e[4] >= threshold] for sentence in every]
    assert 0 < sum(map(len, kept)) < len(scores)
    text = " ".join(words[next(i for i, s in enumerate(every) if s)])
    assert all(e.confidence >= round(threshold, 4) - 1e-4
               for e in tagger.tag(text, min_confidence=threshold))
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(InputError, match="not a probability"):
            tagger.entities(words, None, bad)
