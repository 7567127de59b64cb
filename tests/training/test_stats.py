"""The statistics every grid prints: intervals and Holm by hand, the bootstrap against a plain
loop, the verdict lines, the devel choice, and the false-positive rate on simulated grids."""

import numpy as np
import pytest

from bioner_mtl.training.fit.evaluation import mention_scores, unit_counts
from bioner_mtl.training.grids import stats
from tests.helpers import make_record


def record(seed, f1, devel=None, counts=None, aux=(), main="M"):
    units = {}
    if counts is not None:
        units = {"test": {"unit": "sentence", "tp": counts[:, 0].tolist(),
                          "pred": counts[:, 1].tolist(), "gold": counts[:, 2].tolist()}}
    return make_record(seed=seed, test_f1=f1, devel_f1=f1 if devel is None else devel,
                       main=main, aux=list(aux), test_token_macro_f1=f1, unit_counts=units)


def test_holm_by_hand():
    # sorted: 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04 -> raised to 0.06
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, None, 0.2]) == pytest.approx([0.5, None, 0.4], nan_ok=True)
    assert stats.holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # 0.8 x 2 capped at 1


def test_seed_only_interval_by_hand():
    # gains 1, 2, 3 points: mean 2, sd 1, se 1/sqrt(3), df 2; t(0.975, 2) = 4.302653;
    # for df = 2 the t tail has a closed form: sf(t) = (1 - t / sqrt(t^2 + 2)) / 2.
    base = [record(s, 0.50) for s in (1, 2, 3)]
    cand = [record(s, 0.50 + d) for s, d in zip((1, 2, 3), (0.01, 0.02, 0.03))]
    g = stats.gain("X", base, cand)
    t = 0.02 / (0.01 / np.sqrt(3))
    assert g.mean == pytest.approx(0.02)
    assert g.df == pytest.approx(2)
    assert g.high - g.mean == pytest.approx(4.302653 * 0.01 / np.sqrt(3), rel=1e-5)
    assert g.p == pytest.approx(1 - t / np.sqrt(t * t + 2), rel=1e-6)
    assert not g.test_sampling  # no per-sentence counts in these records


def test_pairing_by_seed_cancels_shared_noise():
    # seed effects of +-5 points shared by both sides; the partner is always 1 point better
    shift = {1: -0.05, 2: 0.0, 3: 0.05}
    base = [record(s, 0.6 + shift[s]) for s in shift]
    cand = [record(s, 0.61 + shift[s]) for s in reversed(list(shift))]  # order does not matter
    g = stats.gain("X", base, cand)
    assert g.mean == pytest.approx(0.01) and g.low == pytest.approx(0.01)  # no spread at all
    unpaired = stats.gain("X", base, [record(s + 10, r.test_f1) for s, r in
                                      zip(shift, cand)])
    assert unpaired.high - unpaired.low > 0.1  # without pairing the seed effects stay


def plain_bootstrap(ref, cand, resamples, rng):
    """Per-seed gains on each resample, written as the obvious loop."""
    gains = []
    for _ in range(resamples):
        idx = rng.integers(ref[0].shape[0], size=ref[0].shape[0])
        row = []
        for r, c in zip(ref, cand):
            f = [2 * x[idx, 0].sum() / (x[idx, 1].sum() + x[idx, 2].sum()) for x in (r, c)]
            row.append(f[1] - f[0])
        gains.append(row)
    return np.array(gains)


def test_bootstrap_term_matches_a_plain_loop():
    base, other = simulated_grid(np.random.default_rng(0), seeds=2, units=300)
    ref, cand = [stats.counts_of(r) for r in base], [stats.counts_of(r) for r in other]
    slow = plain_bootstrap(ref, cand, 4000, np.random.default_rng(2))
    shared = np.cov(slow, rowvar=False)[0, 1]  # two seeds: their one covariance
    assert shared > 0  # the sentences favour one side for both seeds alike
    assert stats.shared_test_variance(ref, cand, True, 4000, 1) == pytest.approx(shared, rel=0.15)
    one = stats.shared_test_variance(ref[:1], cand[:1], True, 4000, 1)
    assert one == pytest.approx(slow[:, 0].var(), rel=0.1)  # one seed: its own variance
    unpaired = stats.shared_test_variance(ref, cand, False, 4000, 1)
    assert unpaired == pytest.approx(slow.mean(axis=1).var(), rel=0.1)
    g = stats.gain("X", base, other)
    assert g.test_sampling and g.se ** 2 >= shared * 0.8  # seed variance + shared test part


def test_unit_counts_sum_to_the_micro_counts():
    from bioner_mtl.data.corpora import load_corpus

    ner_corpus = load_corpus("NCBI-disease")
    gold = [list(s.tags) for s in ner_corpus.devel[:300]]
    pred = [tags[:1] + ["O"] * (len(tags) - 1) if i % 3 else tags for i, tags in enumerate(gold)]
    pred = [["B-" + t[2:] if t.startswith("I-") and j == 0 else t for j, t in enumerate(p)]
            for p in pred]
    counts = unit_counts(gold, pred)
    scores = mention_scores(gold, pred)
    assert sum(counts["tp"]) == scores.tp
    assert sum(counts["pred"]) == scores.tp + scores.fp
    assert sum(counts["gold"]) == scores.tp + scores.fn
    total = np.array([sum(counts[k]) for k in ("tp", "pred", "gold")])
    assert stats.f1_of(total) == pytest.approx(scores.f1)
    # units group sentences: two units, the sums are kept
    grouped = unit_counts(gold, pred, [i % 2 for i in range(len(gold))])
    assert len(grouped["tp"]) == 2 and sum(grouped["tp"]) == scores.tp


def gain_of(name, mean, low, high, p, devel=None, seeds=3, se=0.01):
    return stats.Gain(name, seeds, mean, low, high, p, se, 10.0, 0.01, True, devel, p)


def test_verdict_lines():
    helps = gain_of("A", 0.02, 0.01, 0.03, 0.001, devel=0.02)
    flat = gain_of("B", 0.004, -0.01, 0.02, 0.4, devel=0.01)
    hurts = gain_of("C", -0.03, -0.05, -0.01, 0.002, devel=0.0)
    assert stats.verdict([helps, flat]) == "A helps (+2.00, 95% CI [+1.00, +3.00])"
    assert stats.verdict([hurts]).endswith("C hurts (-3.00, 95% CI [-5.00, -1.00])")
    line = stats.verdict([flat, hurts])
    assert line.startswith("no partner helps detectably at this budget; the smallest gain "
                           "this run could detect is about")
    line = stats.verdict([flat, helps])  # devel prefers B; A is significant on test only
    assert line.startswith("B, the best partner on devel, does not help detectably (+0.40")
    assert "A helps on test after Holm correction (+2.00" in line and "confirm" in line
    assert "one seed" in stats.verdict([gain_of("A", 0.02, 0.01, 0.03, 0.001, seeds=1)])
    # a gain whose raw p passes but whose Holm-corrected p does not is no finding
    corrected = stats.Gain("A", 3, 0.02, 0.001, 0.04, 0.04, 0.01, 10.0, 0.01, True, 0.02, 0.08)
    assert not corrected.helps
    # ... and when devel chose it, the verdict says the correction is why (its own interval
    # excludes zero), not a bare "does not help" beside an interval above zero
    line = stats.verdict([corrected, helps])
    assert line.startswith("A, the best partner on devel, does not help detectably (+2.00, "
                           "95% CI [+0.10, +4.00] before correction, Holm-corrected p 0.080 "
                           "over 2 compared)")
    assert "(+0.40, 95% CI [-1.00, +2.00]);" in stats.verdict([flat, helps])  # no note


def test_partner_chosen_on_devel_not_test():
    records = [record(s, 0.60, main="M") for s in (1, 2, 3)]
    # A: better on devel, smaller on test; B: best on test, worse on devel
    records += [record(s, 0.61, devel=0.65, aux=("A",)) for s in (1, 2, 3)]
    records += [record(s, 0.63, devel=0.61, aux=("B",)) for s in (1, 2, 3)]
    assert stats.best_on_devel(records, "M").name == "A"
    base, gains = stats.pairwise_gains(records)["M"]
    assert [g.name for g in gains] == ["A", "B"] and len(base) == 3


def simulated_grid(rng, seeds=3, units=400, planted=0.0):
    """One grid of baseline and partner runs. Sentences favour one side or the other
    (balanced in the population, not in one test sample), each seed shifts both sides alike
    plus a little of its own, false positives are Poisson; `planted` raises the partner's
    detection rate everywhere."""
    gold = rng.integers(0, 3, size=units)
    favour = rng.choice([-0.1, 0.1], size=units)
    base, cand = [], []
    for seed in range(seeds):
        shared = rng.normal(0, 0.03)
        for side, sign, out in (("base", -1, base), ("cand", 1, cand)):
            rate = 0.7 + shared + rng.normal(0, 0.01) + sign * favour / 2
            rate = np.clip(rate + (planted if side == "cand" else 0.0), 0, 1)
            tp = rng.binomial(gold, rate)
            counts = np.stack([tp, tp + rng.poisson(0.2, units), gold], axis=-1)
            out.append(record(seed, float(stats.f1_of(counts.sum(0))), counts=counts))
    return base, cand


def test_false_positive_rate_near_nominal_and_planted_gain_found():
    rng = np.random.default_rng(7)
    null = [stats.gain("X", *simulated_grid(rng), resamples=300).p for _ in range(300)]
    rate = np.mean(np.array(null) < stats.ALPHA)
    assert 0.02 <= rate <= 0.09, rate  # nominal 5%; 300 grids give a standard error of 1.3%
    planted = [stats.gain("X", *simulated_grid(rng, seeds=5, units=1000, planted=0.06),
                          resamples=300) for _ in range(60)]
    found = np.mean([g.p < stats.ALPHA and g.mean > 0 for g in planted])
    assert found >= 0.8, found
    assert 0.02 < np.mean([g.mean for g in planted]) < 0.06  # a gain of a few F1 points
