"""The statistics every grid prints: intervals and Holm by hand, the bootstrap against a plain
loop, the verdict lines, the devel choice, the false-positive rate on simulated grids; the
verdicts by hand, the sequential plan, and its error rates on simulated grids run in rounds
with optional stopping."""

import dataclasses

import numpy as np
import pytest

from bioner_mtl.data.errors import InputError
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
    g = stats.gain("X", base, other)
    assert g.test_sampling and g.se ** 2 >= shared * 0.8  # seed variance + shared test part


def plain_f1s(runs, resamples, rng):
    """[resamples, runs] F1 of every run on each resample of the units, as the obvious loop."""
    out = []
    for _ in range(resamples):
        idx = rng.integers(runs[0].shape[0], size=runs[0].shape[0])
        out.append([2 * x[idx, 0].sum() / (x[idx, 1].sum() + x[idx, 2].sum()) for x in runs])
    return np.array(out)


def test_unpaired_test_term_leaves_out_each_runs_own_noise():
    """Unpaired (no common seed), Welch's term already holds each run's own test-set noise;
    the bootstrap adds only what the runs share: Var(mean difference) less each run's own
    variance over n^2, by a plain loop. Runs whose per-sentence outcomes are independent
    share nothing: their term is near 0, not the whole variance of the difference."""
    base, other = simulated_grid(np.random.default_rng(0), seeds=3, units=300)
    ref, cand = [stats.counts_of(r) for r in base], [stats.counts_of(r) for r in other]
    f1 = plain_f1s([*ref, *cand], 4000, np.random.default_rng(3))
    r, c = f1[:, :3], f1[:, 3:]
    shared = (c.mean(1) - r.mean(1)).var() - c.var(0).sum() / 9 - r.var(0).sum() / 9
    assert shared > 0
    assert stats.shared_test_variance(ref, cand, False, 4000, 1) == pytest.approx(shared, rel=0.15)
    one = stats.shared_test_variance(ref[:1], cand[:1], False, 4000, 1)
    assert one == pytest.approx((c[:, 0] - r[:, 0]).var(), rel=0.1)  # one run a side: all
    rng = np.random.default_rng(4)  # 6 runs a side, each sentence right or wrong at random
    runs = [np.stack([rng.random(2000) < 0.7, np.ones(2000), np.ones(2000)], -1).astype(int)
            for _ in range(12)]
    f1 = plain_f1s(runs, 2000, np.random.default_rng(5))
    whole = (f1[:, 6:].mean(1) - f1[:, :6].mean(1)).var()
    term = stats.shared_test_variance(runs[:6], runs[6:], False, 2000, 1)
    assert term < 0.2 * whole  # before: the whole variance, each run's noise counted twice


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


# ----- verdicts, the sequential plan and its error rates under optional stopping ----------
def t2_sf(t):
    """The upper tail of Student's t with 2 degrees of freedom, in closed form (a textbook
    formula, so these cases do not lean on the code's own t)."""
    return (1 - t / np.sqrt(t * t + 2)) / 2


@pytest.mark.parametrize(("mean", "se", "margin", "verdict"), [
    # gain / se, two-sided p = 2 sf(t); TOST p = sf((margin - |gain|) / se)
    (0.030, 0.001, 0.01, "helps"),      # t = 30: p = 0.00111
    (-0.030, 0.001, 0.01, "hurts"),
    (0.000, 0.0005, 0.01, "equivalent"),  # TOST t = 20: p = 0.00125
    (0.004, 0.0005, 0.01, "helps"),     # t = 8: p = 0.0153; also within the margin: helps wins
    (0.002, 0.002, 0.01, "undecided"),  # t = 1: p = 0.42; TOST t = 4: p = 0.0286 > 0.05 / 2
    (0.000, 0.0005, 0.005, "equivalent"),  # TOST t = 10: p = 0.0049
    (0.000, 0.0005, 0.001, "undecided"),   # TOST t = 2: p = 0.0918
])
def test_verdicts_by_hand_at_one_look(mean, se, margin, verdict):
    """Three seeds (df 2), one look; Holm over a family of two: the case and a partner with p
    and TOST p of 1 (so the case's p-values are doubled)."""
    p = 2 * t2_sf(abs(mean) / se)
    p_equiv = t2_sf((margin - abs(mean)) / se)
    assert stats.t_p(mean, se, 2) == pytest.approx(p, rel=1e-9)
    assert stats.tost_p(mean, se, 2, margin) == pytest.approx(
        max(t2_sf((mean + margin) / se), p_equiv), rel=1e-9)
    case = stats.Gain("X", 3, mean, 0, 0, float(p), se, 2.0, se * np.sqrt(3), False,
                      p_equiv=float(p_equiv), margin=margin)
    flat = stats.Gain("Y", 3, 0.05, 0, 0, 1.0, 0.1, 2.0, 0.1, False, p_equiv=1.0)
    corrected = stats.correct([case, flat])[0]
    assert corrected.p_holm == pytest.approx(min(1, 2 * p))
    assert corrected.p_equiv_holm == pytest.approx(min(1, 2 * p_equiv))
    assert corrected.verdict == verdict
    assert stats.verdicts(mean, min(1, 2 * p), min(1, 2 * p_equiv), 3) == verdict


def test_one_seed_is_always_undecided():
    assert stats.verdicts(0.05, 0.0, 0.0, 1) == "undecided"


def test_ladder_and_what_each_look_spends():
    assert stats.ladder(3, 10) == (3, 6, 10)
    assert stats.ladder(3, 20) == (3, 6, 10, 17, 20)
    assert stats.ladder(3, 11) == (3, 6, 11)  # a last step of 1 is merged into the one before
    assert stats.ladder(1, 4) == (1, 2, 3, 4)
    assert stats.ladder(5, 5) == (5,)
    plan = stats.Plan.rounds(3, 10)
    # F(n) = 0.05 (n / 10)^3: 0.00135, 0.0108, 0.05
    assert plan.levels() == pytest.approx((0.00135, 0.0108 - 0.00135, 0.05 - 0.0108))
    assert sum(plan.levels()) == pytest.approx(stats.ALPHA)
    assert plan.reached(7) == [(3, pytest.approx(0.00135)), (6, pytest.approx(0.00945))]
    assert plan.reached(2) == [] and plan.next_look(6) == 10 and plan.next_look(10) is None
    assert stats.Plan().reached(4) == [(4, stats.ALPHA)]  # a fixed design: one look
    assert stats.Plan.rounds(5, 5).levels() == (stats.ALPHA,)


def test_sequential_p_by_hand():
    # looks of 3, 6 and 10 seeds: p x alpha / alpha_k, the smallest over the looks reached
    levels = stats.Plan.rounds(3, 10).levels()
    p = [0.001, 0.004, np.nan]
    assert stats.sequential_p(p, levels) == pytest.approx(
        min(0.001 * 0.05 / 0.00135, 0.004 * 0.05 / 0.00945))
    assert stats.sequential_p([0.9, 0.9, 0.9], levels) == 1.0  # 0.9 x 0.05 / 0.0392: capped
    assert stats.sequential_p([0.02], (stats.ALPHA,)) == pytest.approx(0.02)  # one look: p


def test_sequential_gain_looks_at_the_first_seeds_of_each_look():
    """Records of 7 paired seeds under looks 3, 6, 10: the look at 3 uses seeds 1-3, the one
    at 6 seeds 1-6; seed 7 (a round cut short) waits for the look at 10."""
    diffs = [0.02, 0.021, 0.019, 0.03, 0.01, 0.02, 0.5]
    base = [record(s, 0.5) for s in range(1, 8)]
    cand = [record(s, 0.5 + d) for s, d in zip(range(1, 8), diffs)]
    plan = stats.Plan.rounds(3, 10)
    g = stats.sequential_gain("X", base, cand, plan)
    three, six = (stats.gain("X", base[:n], cand[:n]) for n in (3, 6))
    assert g.looks == (3, 6) and g.seeds == 6 and g.mean == pytest.approx(six.mean)
    levels = plan.levels()
    assert g.p_seq == pytest.approx(min(three.p * 0.05 / levels[0], six.p * 0.05 / levels[1]))
    assert g.p_equiv_seq == pytest.approx(min(1.0, three.p_equiv * 0.05 / levels[0],
                                              six.p_equiv * 0.05 / levels[1]))
    early = stats.sequential_gain("X", base[:2], cand[:2], plan)  # short of the first look
    assert early.looks == () and early.p_seq == 1.0 and early.verdict == "undecided"
    fixed = stats.sequential_gain("X", base, cand)  # no plan: one look at all seven
    assert fixed.seeds == 7 and fixed.p_seq == fixed.p


def test_a_look_of_one_seed_tests_nothing():
    """--seeds 1 gives a first look of one seed, whose p has no seed spread (only the
    test-set term, here none: p would be 0). It must not decide: gains of +0.5 and -0.3
    points are undecided."""
    plan = stats.Plan.rounds(1, 6)
    assert plan.looks[:2] == (1, 2)
    base = [record(s, 0.5) for s in (1, 2)]
    cand = [record(1, 0.505), record(2, 0.497)]
    g = stats.sequential_gain("X", base, cand, plan)
    two = stats.gain("X", base, cand)
    assert g.looks == (1, 2)
    assert g.p_seq == pytest.approx(min(1.0, two.p * stats.ALPHA / plan.levels()[1]))
    assert g.verdict == "undecided"


def test_a_verdict_follows_the_sign_and_margin_of_the_last_look():
    """Looks 3 and 6. Seeds 1-3 gain about +1 point, seeds 4-6 about -3: the early
    positive evidence cannot make the partner `hurts` (nor `helps`: its mean is -1). A
    look counts only with the last look's sign; equivalence only with the last mean inside
    the margin. By hand: p_seq is the look at 6's p alone, scaled by its level."""
    plan = stats.Plan.rounds(3, 6)
    gains = [0.010, 0.011, 0.009, -0.030, -0.032, -0.028]
    base = [record(s, 0.5) for s in range(1, 7)]
    a = stats.sequential_gain("A", base, [record(s, 0.5 + d) for s, d in
                                          zip(range(1, 7), gains)], plan)
    six = stats.gain("A", base, [record(s, 0.5 + d) for s, d in zip(range(1, 7), gains)])
    assert a.mean == pytest.approx(-0.01)
    assert a.p_seq == pytest.approx(min(1.0, six.p * stats.ALPHA / plan.levels()[1]))
    helper = stats.sequential_gain("B", base, [record(s, 0.51 + 0.001 * s) for s in
                                               range(1, 7)], plan)
    corrected = {g.name: g for g in stats.correct([a, helper])}
    assert corrected["B"].verdict == "helps" and corrected["A"].verdict == "undecided"
    # equivalence shown at 3 seeds (tight, near 0), then the mean leaves the margin
    drift = [0.001, 0.0, -0.001, 0.04, 0.041, 0.039]
    e = stats.sequential_gain("E", base, [record(s, 0.5 + d) for s, d in
                                          zip(range(1, 7), drift)], plan)
    assert abs(e.mean) > e.margin and e.p_equiv_seq == 1.0 and e.verdict != "equivalent"
    # arrays as the simulations call it: the same rule
    p, q = stats.sequential_pvalues([[0.001, 0.2]], [[0.001, 0.9]], [[0.01, -0.01]],
                                    [3, 6], plan.levels(), stats.MARGIN)
    assert p[0] == pytest.approx(min(1.0, 0.2 * stats.ALPHA / plan.levels()[1]))
    assert q[0] == pytest.approx(min(1.0, 0.9 * stats.ALPHA / plan.levels()[1]))


def test_detectable_size_uses_the_level_spent_at_the_last_look():
    g = gain_of("A", 0.0, -0.01, 0.01, 0.5)
    at_one_look = stats.detectable([g])
    late = stats.detectable([dataclasses.replace(g, level=0.0095)])
    assert late > at_one_look  # a plan spends less than 5% at its last look


def test_plan_is_named_in_the_records_and_read_back():
    plan = stats.Plan.rounds(3, 10, margin=0.02)
    assert plan.tag == "sequential looks=3,6,10 margin=2"
    assert stats.Plan.from_tag(plan.tag) == plan
    assert stats.Plan.from_tag(f"aa {plan.tag}") == plan and stats.Plan.from_tag("aa") is None
    tagged = [make_record(seed=1, experiment=plan.tag), make_record(seed=2)]
    assert stats.plan_of(tagged) == plan and stats.plan_of([make_record()]) == stats.Plan()
    other = make_record(seed=3, experiment=stats.Plan.rounds(3, 6).tag)
    with pytest.raises(InputError, match="run under different plans"):
        stats.plan_of([*tagged, other])


def test_seeds_to_decide_projects_the_measured_spread():
    # a gain of 1.5 points, per-seed sd 1.1 points, no test-set term: at n seeds se = 1.1 /
    # sqrt(n); the first look of rounds 3, 6, 10 where 0.015 / se >= t(1 - alpha_k / 2, n - 1)
    g = stats.Gain("X", 3, 0.015, 0, 0, 0.1, 0.011 / np.sqrt(3), 2.0, 0.011, False)
    plan = stats.Plan.rounds(3, 10)
    assert stats.seeds_to_decide(g, plan) == 10
    from scipy.stats import t
    assert 0.015 / (0.011 / np.sqrt(10)) >= t.ppf(1 - plan.levels()[2] / 2, 9)  # 4.31 > 2.41
    assert 0.015 / (0.011 / np.sqrt(6)) < t.ppf(1 - plan.levels()[1] / 2, 5)  # 3.34 < 4.09
    # beyond the plan's 10 seeds: a plan run that far
    small = dataclasses.replace(g, mean=0.008)
    need = stats.seeds_to_decide(small, plan)
    assert need > 10
    alpha = stats.Plan.rounds(3, need).levels()[-1]
    assert 0.008 / (0.011 / np.sqrt(need)) >= t.ppf(1 - alpha / 2, need - 1)
    # seeds shrink only the seed term: with a test-set term of 1 point (se 1.01 at 3 seeds of
    # sd 0.3), a gain of 0.6 points is within that noise of both 0 and the 1-point margin
    floor = dataclasses.replace(g, mean=0.006, se=np.sqrt(0.0001 + 0.003 ** 2 / 3),
                                seed_sd=0.003)
    assert stats.seeds_to_decide(floor, plan) is None
    # one seed: no spread to project from
    assert stats.seeds_to_decide(dataclasses.replace(g, seeds=1, seed_sd=None), plan) is None


def simulate_grids(rng, grids, planted, plan, partners=3, seed_sd=0.011, test_sd=0.003,
                   budget_stops=False):
    """The verdicts of `grids` pairwise grids run in rounds as training.grids.grid.run_rounds
    gives seeds: every partner gets the first look's seeds, then the next look's only while
    it is undecided after the verdicts of all partners (sequential p, Holm over partners) are
    recomputed; with `budget_stops`, each grid stops after a random number of rounds, as a
    time budget may. Per-seed gain = planted + this test set's deviation for the partner
    (shared by its seeds, sd test_sd, its variance known as the bootstrap term) + the
    partner's seed noise - the baseline's seed noise (shared by the partners)."""
    looks, levels = plan.looks, plan.levels()
    base = rng.normal(0, seed_sd / np.sqrt(2), (grids, 1, looks[-1]))
    cand = rng.normal(0, seed_sd / np.sqrt(2), (grids, partners, looks[-1]))
    diffs = planted + rng.normal(0, test_sd, (grids, partners, 1)) + cand - base
    p_looks = np.full((grids, partners, len(looks)), np.nan)
    e_looks, m_looks = p_looks.copy(), p_looks.copy()
    rounds = rng.integers(1, len(looks) + 1, grids) if budget_stops else len(looks)
    active = np.ones((grids, partners), bool)
    mean, seeds = np.zeros((grids, partners)), np.zeros((grids, partners), int)
    for k, n in enumerate(looks):
        given = active & (k < np.broadcast_to(rounds, grids))[:, None]
        x = diffs[..., :n]
        se, df = stats.standard_error(x.var(-1, ddof=1) / n, test_sd ** 2, n)
        p_looks[..., k] = np.where(given, stats.t_p(x.mean(-1), se, df), np.nan)
        e_looks[..., k] = np.where(given, stats.tost_p(x.mean(-1), se, df, plan.margin), np.nan)
        m_looks[..., k] = np.where(given, x.mean(-1), np.nan)
        mean, seeds = np.where(given, x.mean(-1), mean), np.where(given, n, seeds)
        p_seq, e_seq = stats.sequential_pvalues(p_looks, e_looks, m_looks, np.array(looks),
                                                levels, plan.margin)
        verdict = stats.verdicts(mean, stats.holm_array(p_seq), stats.holm_array(e_seq), seeds)
        active = given & (verdict == "undecided")
    return verdict


GRIDS = 20000  # 0.1 s of numpy; the bound's Monte Carlo allowance is 0.3 points
BOUND = stats.ALPHA + 2 * np.sqrt(stats.ALPHA * (1 - stats.ALPHA) / GRIDS)  # 5% + 2 s.e.


@pytest.mark.parametrize("budget_stops", [False, True])
def test_optional_stopping_keeps_false_helps_and_hurts_within_alpha(budget_stops):
    """No partner has a gain: grids that say helps or hurts of any partner (the family-wise
    error the union bound over looks and Holm over partners hold at 5%)."""
    plan = stats.Plan.rounds(3, 10)
    verdict = simulate_grids(np.random.default_rng(11), GRIDS, 0.0, plan,
                             budget_stops=budget_stops)
    wrong = np.isin(verdict, ["helps", "hurts"]).any(axis=1).mean()
    assert wrong <= BOUND, wrong
    assert (verdict == "equivalent").mean() > 0.0  # the rounds do decide some


@pytest.mark.parametrize("planted", [stats.MARGIN, -stats.MARGIN])
def test_optional_stopping_keeps_false_equivalence_within_alpha(planted):
    """Every partner's gain sits on the margin: grids that call any partner equivalent."""
    plan = stats.Plan.rounds(3, 10)
    verdict = simulate_grids(np.random.default_rng(12), GRIDS, planted, plan, seed_sd=0.006,
                             test_sd=0.001, budget_stops=True)
    wrong = (verdict == "equivalent").any(axis=1).mean()
    assert wrong <= BOUND, wrong
    assert (verdict == ("helps" if planted > 0 else "hurts")).mean() > 0.3  # real power


def test_longer_plans_hold_too_and_decide_more():
    plan = stats.Plan.rounds(3, 30)
    verdict = simulate_grids(np.random.default_rng(13), GRIDS, 0.0, plan, budget_stops=True)
    assert np.isin(verdict, ["helps", "hurts"]).any(axis=1).mean() <= BOUND
    ten = simulate_grids(np.random.default_rng(13), GRIDS, 0.0, stats.Plan.rounds(3, 10))
    assert (verdict == "equivalent").mean() > (ten == "equivalent").mean()


class Peeking(stats.Plan):
    """The full alpha at every look: what testing after each round without a plan does."""

    def levels(self):
        return tuple(stats.ALPHA for _ in self.looks)


def test_the_simulation_catches_peeking():
    """The same simulated grids tested at 5% after every added seed up to 29, with no alpha
    spent over the looks: the false helps / hurts rate goes well past the bound (about 9%;
    the simulation has teeth)."""
    verdict = simulate_grids(np.random.default_rng(14), GRIDS, 0.0, Peeking(tuple(range(3, 30))))
    assert np.isin(verdict, ["helps", "hurts"]).any(axis=1).mean() > BOUND + 0.02


def test_looks_are_remembered_by_what_the_records_hold_not_by_their_cells():
    """A grid in rounds summarises its records after every round, and each finished look is
    computed once; a grid re-run elsewhere has the same cells and other numbers."""
    plan = stats.Plan.rounds(3, 6)

    def grid(shift):
        base = [make_record(seed=s, test_f1=0.5, cell=f"b{s}") for s in range(1, 7)]
        cand = [make_record(seed=s, test_f1=0.5 + shift + 0.001 * s, cell=f"c{s}")
                for s in range(1, 7)]
        return base, cand

    first = stats.sequential_gain("X", *grid(0.01), plan)
    assert stats.sequential_gain("X", *grid(0.01), plan) == first
    assert stats.sequential_gain("X", *grid(0.02), plan).mean == pytest.approx(first.mean + 0.01)
