"""The one statistics module of every grid: gains over seeds, their uncertainty, and verdicts.

A comparison pairs the runs of a candidate (a partner's model, a pretrained start, a group
model) with the reference's runs of the same seed, which share the main corpus's batches and
initial weights (the trainer's paired design), so shared noise cancels in the per-seed gain.
The gain's uncertainty has two sources, and both are counted:

- seeds: the sample variance of the per-seed gains (a / n);
- the test set: a paired bootstrap over test sentences (documents where a corpus marks them),
  the same resample for every seed and for both sides, of the mean-over-seeds gain (v).

With several seeds, v is the bootstrap covariance between different seeds' gains: the part of
the test-set noise all seeds share (each seed's own is already in a; unpaired runs likewise).
The standard error is sqrt(a/n + v); the 95% interval, the two-sided p-value and the
equivalence test (TOST) all use Student's t with n - 1 degrees of freedom (the seeds'):
whatever share of the variance the test set has, that t bounds the statistic's tails (the known
term only makes the variance estimate less variable), where Welch-Satterthwaite's
data-dependent degrees of freedom are several times too liberal in the far tails a sequential
design looks at.

Verdicts. Every candidate gets one of VERDICTS: `helps` / `hurts` when its two-sided test,
Holm-corrected over the candidates, rejects a zero gain (the sign says which); `equivalent`
when TOST, Holm-corrected the same way, shows the gain within +-margin; `undecided` otherwise.
A grid that adds seeds in rounds (a Plan of looks) makes each test sequential: a candidate's
p-value is min over the looks it reached of p_k x alpha / alpha_k, where alpha_k is the level
the plan spends at look k (alpha (n_k / n_K)^3 - alpha (n_(k-1) / n_K)^3, summing to alpha).
By the union bound that p-value is valid whatever decided how far the grid went (the verdicts
so far, a time budget, an interruption), so Holm over the candidates keeps each kind of error
(a false helps / hurts, a false equivalent) at most alpha over the candidates. Only looks of
two or more seeds test; a look counts toward helps / hurts only when its mean has the sign of
the last look's, and toward equivalent only when the last look's mean is within the margin
(sequential_pvalues): a verdict never contradicts the gain printed beside it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from bioner_mtl.data.errors import InputError
from bioner_mtl.training.fit.results import RunRecord

ALPHA = 0.05
POWER = 0.8  # the power the smallest detectable gain is quoted at
RESAMPLES = 1000
BOOTSTRAP_SEED = 20240  # fixed: the same records always print the same intervals
MARGIN = 0.01  # equivalence margin: a gain shown within +-1 point of F1 is `equivalent`
SPENDING = 3.0  # alpha spent by look k: alpha (n_k / n_K)^3 (Kim and DeMets' power family)
MAX_SEEDS = 1000  # the most seeds a plan may run (and the farthest a projection looks)
VERDICTS = ("helps", "hurts", "equivalent", "undecided")
METHOD = ("paired over seeds; 95% CI and p from Student's t (n - 1 df) on sqrt(seed variance "
          "/ n + test-set bootstrap variance); Holm-corrected over the partners of one main "
          "corpus, sequential over the looks of a grid run in rounds")


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def significant(p: float | None) -> bool:
    return p is not None and p < ALPHA


# ----- the plan: where rounds end and what each look spends -------------------------------
def ladder(first: int, last: int) -> tuple[int, ...]:
    """The seed counts at which rounds end: `first`, then about 1.7 times the previous one
    (3, 6, 10, 17, 29, ...), ending at `last`; a last step shorter than `first` is merged
    into the one before (3, 6, 11 rather than 3, 6, 10, 11)."""
    looks = [first]
    while looks[-1] < last:
        step = max(first, round(0.7 * looks[-1]))
        looks.append(min(last, looks[-1] + step))
    if len(looks) > 2 and looks[-1] - looks[-2] < first:
        looks[-2:] = [looks[-1]]
    return tuple(looks)


@dataclass(frozen=True)
class Plan:
    """How a grid's seeds are looked at: `looks`, the seed counts at which its rounds end
    (fixed before any run; () for a fixed design, one look at whatever seeds there are), and
    the equivalence `margin` (F1 as a fraction). Look k spends alpha_k = F(n_k) - F(n_(k-1)),
    F(n) = ALPHA (n / n_K)^SPENDING: little at the first looks, most at the last."""

    looks: tuple[int, ...] = ()
    margin: float = MARGIN

    @classmethod
    def rounds(cls, first: int, last: int, margin: float = MARGIN) -> Plan:
        return cls(ladder(first, max(first, last)), margin)

    @property
    def sequential(self) -> bool:
        return len(self.looks) > 1

    def levels(self) -> tuple[float, ...]:
        """alpha_k of every look (they sum to ALPHA)."""
        if not self.looks:
            return (ALPHA,)
        spent = [ALPHA * (n / self.looks[-1]) ** SPENDING for n in self.looks]
        return tuple(b - a for a, b in zip([0.0, *spent[:-1]], spent))

    def reached(self, seeds: int) -> list[tuple[int, float]]:
        """(seed count, alpha_k) of every look `seeds` seeds complete, in order."""
        if not self.looks:
            return [(seeds, ALPHA)] if seeds >= 1 else []
        return [(n, a) for n, a in zip(self.looks, self.levels()) if n <= seeds]

    def next_look(self, seeds: int) -> int | None:
        """The first look beyond `seeds` seeds (None past the last)."""
        return next((n for n in self.looks if n > seeds), None)

    @property
    def tag(self) -> str | None:
        """How the records of a grid run in rounds name their plan (their `experiment`
        field), so every reader of them (resume, summaries, the report) finds it again."""
        if not self.looks:
            return None
        return (f"sequential looks={','.join(map(str, self.looks))} "
                f"margin={100 * self.margin:g}")

    @classmethod
    def from_tag(cls, text: str | None) -> Plan | None:
        match = re.search(r"sequential looks=([\d,]+) margin=([\d.e+-]+)", text or "")
        if not match:
            return None
        return cls(tuple(int(n) for n in match[1].split(",")), float(match[2]) / 100)


def plan_of(records: Sequence[RunRecord], margin: float = MARGIN) -> Plan:
    """The plan the records were run under (their tag), else a fixed design with `margin`.
    Records of two different plans are one grid only by mistake: refused."""
    plans = {p for p in (Plan.from_tag(r.experiment) for r in records) if p is not None}
    if len(plans) > 1:
        found = "; ".join(sorted(p.tag for p in plans))
        raise InputError(f"records of one grid were run under different plans ({found}); "
                         "summarise each grid's directory on its own")
    return plans.pop() if plans else Plan(margin=margin)


# ----- one look: t statistics, p-values, the sequential combination ------------------------
def t_p(mean, se, df):
    """Two-sided p of a zero gain (arrays broadcast); 1 where se is 0 and mean is 0."""
    mean, se = np.asarray(mean, float), np.asarray(se, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(mean) / se
    p = 2 * stats.t.sf(np.where(se > 0, z, 0.0), df)
    return np.where(se > 0, p, np.where(mean == 0, 1.0, 0.0))


def tost_p(mean, se, df, margin):
    """Equivalence within +-margin (two one-sided tests): the larger of the p-values of
    gain <= -margin and of gain >= +margin, each from the same t as the interval."""
    mean, se = np.asarray(mean, float), np.asarray(se, float)
    safe = np.where(se > 0, se, 1.0)
    lower = stats.t.sf((mean + margin) / safe, df)  # against gain <= -margin
    upper = stats.t.sf((margin - mean) / safe, df)  # against gain >= +margin
    p = np.maximum(lower, upper)
    return np.where(se > 0, p, np.where(np.abs(mean) < margin, 0.0, 1.0))


def sequential_pvalues(p, p_equiv, means, seeds, levels, margin=MARGIN):
    """(p, p_equiv) sequential over the looks reached (looks on the last axis; NaN for a
    look not reached), from each look's two-sided p, TOST p, mean gain and seed count. A
    look of one seed tests nothing (no spread); a look counts toward helps / hurts only if
    its mean points the way the last look's does, and toward equivalent only if the last
    look's mean lies within the margin. Both only raise p, so the union bound still holds,
    and a verdict never contradicts the gain it is printed with."""
    p, p_equiv, means = (np.asarray(x, float) for x in (p, p_equiv, means))
    reached = ~np.isnan(means)
    last_index = reached.shape[-1] - 1 - np.argmax(reached[..., ::-1], axis=-1)
    last = np.take_along_axis(means, last_index[..., None], axis=-1)
    tests = reached & (np.asarray(seeds) >= 2)
    untested = np.where(reached, 1.0, np.nan)
    p = np.where(tests & (np.sign(means) == np.sign(last)), p, untested)
    p_equiv = np.where(tests & (np.abs(last) < margin), p_equiv, untested)
    return sequential_p(p, levels), sequential_p(p_equiv, levels)


def sequential_p(pvalues, levels):
    """min over the looks reached of p_k x ALPHA / alpha_k, at most 1 (arrays: looks on the
    last axis; NaN for a look not reached)."""
    p = np.asarray(pvalues, float) * (ALPHA / np.asarray(levels, float))
    p = np.where(np.isnan(p), np.inf, p)
    return np.minimum(1.0, p.min(axis=-1))


def holm_array(p):
    """Holm's step-down adjustment over the last axis (arrays of any shape)."""
    p = np.asarray(p, float)
    m = p.shape[-1]
    order = np.argsort(p, axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1)
    adjusted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * ranked), axis=-1)
    out = np.empty_like(adjusted)
    np.put_along_axis(out, order, adjusted, axis=-1)
    return out


def verdicts(mean, p_adjusted, p_equivalent, seeds):
    """The verdict of each gain from its corrected p-values (arrays broadcast): helps /
    hurts where the test rejects a zero gain (below ALPHA), else equivalent where TOST
    rejects a gain beyond the margin, else undecided; one seed is always undecided."""
    mean = np.asarray(mean, float)
    known = np.asarray(seeds) > 1
    differs = known & (np.asarray(p_adjusted, float) < ALPHA)
    same = known & (np.asarray(p_equivalent, float) < ALPHA)
    out = np.where(differs & (mean > 0), "helps",
                   np.where(differs & (mean < 0), "hurts",
                            np.where(same & ~differs, "equivalent", "undecided")))
    return out.astype(object) if out.ndim else str(out)


# ----- per-unit mention counts -------------------------------------------------------------
def counts_of(record: RunRecord, split: str = "test") -> np.ndarray | None:
    """[units, 3] matched / predicted / gold mentions per test unit, None where a record has
    none for `split` (its gains then carry seed variance only)."""
    counts = (record.unit_counts or {}).get(split)
    if not counts:
        return None
    return np.stack([counts["tp"], counts["pred"], counts["gold"]], axis=-1).astype(np.int64)


def f1_of(counts: np.ndarray) -> np.ndarray:
    """Micro F1 from summed counts [..., 3]: 2 tp / (pred + gold), 0 where both are 0."""
    tp, pred, gold = counts[..., 0], counts[..., 1], counts[..., 2]
    denominator = pred + gold
    return np.where(denominator > 0, 2.0 * tp / np.maximum(denominator, 1), 0.0)


def _bootstrap_f1(runs: list[np.ndarray], resamples: int, seed: int) -> np.ndarray:
    """[resamples, runs] F1 of every run on each resample of the units; every run sees the
    same resample (the test set is one sample shared by all of them)."""
    units = runs[0].shape[0]
    if any(r.shape[0] != units for r in runs):
        raise ValueError("runs compared on different test units; were they scored on the "
                         "same test split?")
    stacked = np.concatenate(runs, axis=1).astype(np.float64)  # [U, 3 x runs]
    rng = np.random.default_rng(seed)
    out, chunk = [], max(1, 2_000_000 // max(units, 1))
    for start in range(0, resamples, chunk):
        n = min(chunk, resamples - start)
        weights = np.stack([np.bincount(rng.integers(units, size=units), minlength=units)
                            for _ in range(n)]).astype(np.float64)  # [n, U]
        out.append(f1_of((weights @ stacked).reshape(n, len(runs), 3)))
    return np.concatenate(out)


def shared_test_variance(reference: list[np.ndarray], candidate: list[np.ndarray],
                         paired: bool, resamples: int = RESAMPLES,
                         seed: int = BOOTSTRAP_SEED) -> float:
    """The test-set part of the mean gain's variance. Paired: the mean bootstrap covariance
    between different seeds' gains, the part every seed shares (each seed's own sampling
    noise is already in the spread of the per-seed gains); one seed: its variance. Unpaired:
    the variance of the difference of the two means less each run's own variance (in the
    runs' spread, which Welch's term counts); one run a side: all of it."""
    f1 = _bootstrap_f1([*reference, *candidate], resamples, seed)
    ref, cand = f1[:, :len(reference)], f1[:, len(reference):]
    if not paired:  # less each run's own variance, already in the runs' spread (Welch)
        total = float((cand.mean(axis=1) - ref.mean(axis=1)).var())
        if len(reference) < 2 or len(candidate) < 2:  # no spread: all of it
            return total
        own = (cand.var(axis=0).sum() / cand.shape[1] ** 2
               + ref.var(axis=0).sum() / ref.shape[1] ** 2)
        return max(0.0, total - float(own))
    gains = cand - ref  # [resamples, seeds]
    n = gains.shape[1]
    if n == 1:
        return float(gains.var())
    cov = np.cov(gains, rowvar=False, bias=True)
    return max(0.0, float((cov.sum() - np.trace(cov)) / (n * (n - 1))))


@dataclass(frozen=True)
class Gain:
    """A candidate's gain over the reference, in F1 (fractions, not points), at the last look
    its seeds complete, with its p-values: raw at that look, sequential over the looks
    (`p_seq`; None for a single look, where it is `p`), Holm-corrected over the candidates;
    the same three for equivalence within +-margin (TOST)."""

    name: str
    seeds: int  # paired seeds (or runs per side when unpaired)
    mean: float
    low: float
    high: float
    p: float | None
    se: float
    df: float
    seed_sd: float | None  # spread of the per-seed gains; None with one seed
    test_sampling: bool  # the interval includes test-set resampling
    devel: float | None = None  # mean devel gain: what a choice between candidates uses
    p_holm: float | None = None
    p_equiv: float | None = None  # TOST at this look: the larger one-sided p
    p_seq: float | None = None
    p_equiv_seq: float | None = None
    p_equiv_holm: float | None = None
    margin: float = MARGIN
    looks: tuple[int, ...] = ()  # the seed counts of the looks reached (a plan's rounds)
    level: float = ALPHA  # the alpha its plan spends at the last look reached

    @property
    def adjusted(self) -> float | None:
        """The p-value the helps / hurts verdict reads: Holm over the sequential p."""
        return next((p for p in (self.p_holm, self.p_seq, self.p) if p is not None), None)

    @property
    def equivalence(self) -> float | None:
        """The p-value the equivalent verdict reads: Holm over the sequential TOST p."""
        return next((p for p in (self.p_equiv_holm, self.p_equiv_seq, self.p_equiv)
                     if p is not None), None)

    @property
    def verdict(self) -> str:
        """One of VERDICTS."""
        adjusted, equivalence = self.adjusted, self.equivalence
        return verdicts(self.mean, 1.0 if adjusted is None else adjusted,
                        1.0 if equivalence is None else equivalence, self.seeds)

    @property
    def helps(self) -> bool:
        return self.verdict == "helps"

    @property
    def hurts(self) -> bool:
        return self.verdict == "hurts"

    @property
    def equivalent(self) -> bool:
        return self.verdict == "equivalent"

    def interval_text(self) -> str:
        return f"{100 * self.mean:+.2f}, 95% CI [{100 * self.low:+.2f}, {100 * self.high:+.2f}]"


def gain(name: str, reference: Sequence[RunRecord], candidate: Sequence[RunRecord], *,
         metric: str = "test_f1", resamples: int = RESAMPLES, margin: float = MARGIN) -> Gain:
    """Candidate minus reference over all the runs given (one look), paired by seed where
    seeds match, else unpaired."""
    if not reference or not candidate:
        raise ValueError(f"{name}: nothing to compare (reference {len(reference)} runs, "
                         f"candidate {len(candidate)} runs)")
    by_seed = {r.seed: r for r in reference}
    pairs = [(by_seed[c.seed], c) for c in candidate if c.seed in by_seed]
    devel = None
    if pairs:
        ref_runs, cand_runs = [p[0] for p in pairs], [p[1] for p in pairs]
        diffs = np.array([getattr(c, metric) - getattr(r, metric) for r, c in pairs],
                         dtype=float)
        n, mean = len(diffs), float(diffs.mean())
        seed_var = float(diffs.var(ddof=1)) / n if n > 1 else None
        devel = float(np.mean([c.devel_f1 - r.devel_f1 for r, c in pairs]))
        devel = None if math.isnan(devel) else devel  # train+devel runs have no devel score
    else:  # no common seed: Welch's variance of a difference of two means
        ref_runs, cand_runs = list(reference), list(candidate)
        a = np.array([getattr(r, metric) for r in ref_runs], dtype=float)
        b = np.array([getattr(r, metric) for r in cand_runs], dtype=float)
        n, mean = min(len(a), len(b)), float(b.mean() - a.mean())
        seed_var = (float(a.var(ddof=1)) / len(a) + float(b.var(ddof=1)) / len(b)
                    if len(a) > 1 and len(b) > 1 else None)
    split = {"test_f1": "test", "devel_f1": "devel"}.get(metric)  # mention F1 resamples
    counts_r = [counts_of(r, split) for r in ref_runs] if split else [None]
    counts_c = [counts_of(c, split) for c in cand_runs] if split else [None]
    test_var, sampled = 0.0, False
    if all(c is not None for c in (*counts_r, *counts_c)):
        test_var = shared_test_variance(counts_r, counts_c, bool(pairs), resamples)
        sampled = True
    return _interval(name, mean, n, seed_var, test_var, sampled, devel, margin)


def standard_error(seed_var, test_var, n):
    """(se, df) of a mean gain: sqrt(seed variance of the mean + test-set variance) with the
    seeds' n - 1 degrees of freedom (inf without a seed variance: one seed). Arrays
    broadcast: the simulations in the tests call it as the grids do."""
    se = np.sqrt(np.asarray(seed_var, float) + test_var)
    return se, np.where(np.asarray(n) > 1, np.asarray(n) - 1.0, np.inf)


def _interval(name: str, mean: float, n: int, seed_var: float | None, test_var: float,
              sampled: bool, devel: float | None, margin: float = MARGIN) -> Gain:
    se, df = (float(x) for x in standard_error(seed_var or 0.0, test_var,
                                               n if seed_var is not None else 1))
    seed_sd = math.sqrt(seed_var * n) if seed_var is not None else None
    p, p_equiv = float(t_p(mean, se, df)), float(tost_p(mean, se, df, margin))
    half = float(stats.t.ppf(1 - ALPHA / 2, df)) * se if se > 0 else 0.0
    return Gain(name, n, mean, mean - half, mean + half, p, se, df, seed_sd, sampled, devel,
                p_equiv=p_equiv, margin=margin)


def sequential_gain(name: str, reference: Sequence[RunRecord],
                    candidate: Sequence[RunRecord], plan: Plan | None = None, *,
                    metric: str = "test_f1", resamples: int = RESAMPLES) -> Gain:
    """The gain at the last look of `plan` the seeds complete, with its sequential p-values
    over every look reached: at look k the first n_k seeds of each side (paired seeds in
    seed order), as they stood when that round ended. A fixed plan is one look at every run
    given (then p_seq is p). Seeds short of the first look give the gain so far, no test."""
    plan = plan or Plan()
    if not plan.looks:
        g = gain(name, reference, candidate, metric=metric, resamples=resamples,
                 margin=plan.margin)
        return dataclasses.replace(g, p_seq=g.p, p_equiv_seq=g.p_equiv)
    by_seed = {r.seed: r for r in reference}
    mine = {c.seed: c for c in candidate}
    common = sorted(set(mine) & set(by_seed))
    if common:
        def sides(n: int) -> tuple[list, list]:
            return [by_seed[s] for s in common[:n]], [mine[s] for s in common[:n]]
        available = len(common)
    else:  # unpaired (the A/A check): the first n runs of each side
        ordered = (sorted(reference, key=lambda r: r.seed),
                   sorted(candidate, key=lambda r: r.seed))

        def sides(n: int) -> tuple[list, list]:
            return ordered[0][:n], ordered[1][:n]
        available = min(map(len, ordered))
    reached = plan.reached(available)
    if not reached:
        g = gain(name, *sides(available), metric=metric, resamples=resamples,
                 margin=plan.margin)
        return dataclasses.replace(g, p_seq=1.0, p_equiv_seq=1.0)
    looks = [_look(name, *sides(n), metric=metric, resamples=resamples, margin=plan.margin)
             for n, _ in reached]
    levels = [level for _, level in reached]
    p_seq, p_equiv_seq = sequential_pvalues(
        [g.p for g in looks], [g.p_equiv for g in looks], [g.mean for g in looks],
        [g.seeds for g in looks], levels, plan.margin)
    return dataclasses.replace(looks[-1], p_seq=float(p_seq), p_equiv_seq=float(p_equiv_seq),
                               looks=tuple(n for n, _ in reached), level=levels[-1])


_LOOKS: dict[tuple, Gain] = {}  # a finished look's gain: its records never change


def _look(name: str, reference: list[RunRecord], candidate: list[RunRecord], **kwargs) -> Gain:
    """gain() of one look, remembered while this process runs: a grid in rounds summarises
    its records after every round, and the looks already reached are the same records (a
    bootstrap each). Only records with a cell key (written by a grid) are remembered, by
    what they hold (a grid re-run elsewhere has the same cells, not the same numbers)."""
    runs = (*reference, *candidate)
    if not all(r.cell for r in runs):
        return gain(name, reference, candidate, **kwargs)
    key = (name, tuple(map(_fingerprint, reference)), tuple(map(_fingerprint, candidate)),
           tuple(sorted(kwargs.items())))
    if key not in _LOOKS:
        if len(_LOOKS) > 10_000:
            _LOOKS.clear()
        _LOOKS[key] = gain(name, reference, candidate, **kwargs)
    return _LOOKS[key]


def _fingerprint(record: RunRecord) -> tuple:
    counts = (record.unit_counts or {}).get("test") or {}
    return (record.cell, record.seed, record.test_f1, record.devel_f1, record.wall_seconds,
            tuple(sum(counts.get(k, ())) for k in ("tp", "pred", "gold")),
            len(counts.get("tp", ())))


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment (None stays None and does not count as a test)."""
    present = [i for i, p in enumerate(pvalues) if p is not None]
    adjusted: list[float | None] = [None] * len(pvalues)
    if present:
        for i, p in zip(present, holm_array([pvalues[i] for i in present])):
            adjusted[i] = float(p)
    return adjusted


def correct(gains: Sequence[Gain]) -> list[Gain]:
    """The gains with Holm over them of both the test of a zero gain and the equivalence
    test (each on its sequential p): the one place verdicts of a family are corrected."""
    p = holm([g.p_seq if g.p_seq is not None else g.p for g in gains])
    q = holm([g.p_equiv_seq if g.p_equiv_seq is not None else g.p_equiv for g in gains])
    return [dataclasses.replace(g, p_holm=a, p_equiv_holm=b) for g, a, b in zip(gains, p, q)]


def compare_all(reference: Sequence[RunRecord], candidates: dict[str, Sequence[RunRecord]],
                plan: Plan | None = None, **kwargs) -> list[Gain]:
    """Every candidate against one reference under `plan` (default: one look), Holm-corrected;
    sorted by devel gain (the choice), best first."""
    gains = correct([sequential_gain(name, reference, runs, plan, **kwargs)
                     for name, runs in candidates.items()])
    return sorted(gains, key=lambda g: -(g.devel if g.devel is not None else g.mean))


def seeds_to_decide(g: Gain, plan: Plan | None = None, family: int = 1) -> int | None:
    """About how many seeds in all (per side) would decide an undecided gain, if its mean,
    seed spread and test-set variance stayed as measured: the first look of `plan` (then of
    a plan run to that many seeds) at which the gain's test, Bonferroni over `family`, would
    reject zero or the margin. None where one seed gives no spread, or where more seeds
    alone would not do by MAX_SEEDS: seeds shrink only the seed term, so a gain within the
    test set's own noise of both 0 and the margin stays undecided (a larger test set, or a
    wider margin, would decide it)."""
    if g.seed_sd is None or g.seeds < 2:
        return None
    plan = plan or Plan(margin=g.margin)
    first = plan.looks[0] if plan.looks else None
    seed_var = g.seed_sd ** 2
    test_var = max(0.0, g.se ** 2 - seed_var / g.seeds)
    ahead = [(n, level) for n, level in zip(plan.looks, plan.levels()) if n > g.seeds]
    last = plan.looks[-1] if plan.looks else g.seeds
    ahead += [(n, Plan.rounds(first, n).levels()[-1] if first else ALPHA)
              for n in range(max(last, g.seeds) + 1, MAX_SEEDS + 1)]
    if not ahead:
        return None
    n = np.array([a for a, _ in ahead], float)
    level = np.array([b for _, b in ahead]) / family
    se, df = standard_error(seed_var / n, test_var, n)
    size = abs(g.mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        differs = size / se >= stats.t.ppf(1 - level / 2, df)
        same = (g.margin - size) / se >= stats.t.ppf(1 - level, df)
    found = np.flatnonzero(np.where(se > 0, differs | same, True))
    return int(n[found[0]]) if found.size else None


def detectable(gains: Sequence[Gain]) -> float | None:
    """About the smallest gain this design detects with 80% power at the corrected level:
    (t_{1 - alpha_K / 2m} + t_{power}) x the median standard error, alpha_K the level the
    plan spends at the last look reached (ALPHA for one look)."""
    usable = [g for g in gains if g.se > 0]
    if not usable:
        return None
    m = len(gains)
    se = float(np.median([g.se for g in usable]))
    df = float(np.median([g.df for g in usable]))
    level = min(g.level for g in usable)
    return (float(stats.t.ppf(1 - level / (2 * m), df)) + float(stats.t.ppf(POWER, df))) * se


def verdict(gains: Sequence[Gain], what: str = "partner") -> str:
    """The table's last line: the devel-chosen candidate helps, hurts, or nothing is
    detectable (with the size this run could have detected)."""
    if not gains:
        return f"no {what} to compare"
    best = gains[0]  # compare_all sorts by devel gain
    chosen = f"(best on devel: {best.name}) " if best.devel is not None else ""
    if best.seeds < 2:
        return (f"one seed: no verdict, seed variance is unknown; {best.name} "
                f"{100 * best.mean:+.2f} on test; run --seeds 3 or more")
    if best.helps:
        return f"{best.name} helps ({best.interval_text()})"
    if best.hurts:
        return f"{chosen}{best.name} hurts ({best.interval_text()})"
    others = [g for g in gains[1:] if g.helps]
    if others:  # significant on test, yet devel preferred another: not a choice to act on
        named = "; ".join(f"{g.name} helps on test after Holm correction ({g.interval_text()})"
                          for g in others)
        return (f"{best.name}, the best {what} on devel, does not help detectably "
                f"({undetected_text(best, len(gains))}); {named}, but devel ranked it lower: "
                "confirm with more seeds before relying on it")
    d = detectable(gains)
    size = f"; the smallest gain this run could detect is about {100 * d:.1f} points" if d else ""
    return f"no {what} helps detectably at this budget{size}"


def undetected_text(g: Gain, family: int) -> str:
    """A gain the verdict does not call detectable; where its own 95% interval excludes zero
    the Holm correction over the `family` compared is why, and the text says so."""
    text = g.interval_text()
    if g.p_holm is not None and g.low * g.high > 0:
        return (f"{text} before correction, Holm-corrected p {g.p_holm:.3f} over {family} "
                "compared")
    return text


# ----- grids -------------------------------------------------------------------------------
BASELINE = "(single-task)"


def partner_of(record: RunRecord) -> str:
    return "+".join(record.aux) if record.aux else BASELINE


def pairwise_gains(records: Sequence[RunRecord], plan: Plan | None = None
                   ) -> dict[str, tuple[list[RunRecord], list[Gain]]]:
    """Per main corpus: its single-task runs and every partner's gain over them under `plan`
    (default: the one its records name, else one look), Holm-corrected over the partners and
    sorted by devel gain (the choice), best first."""
    table: dict[str, dict[str, list[RunRecord]]] = {}
    for r in records:
        table.setdefault(r.main, {}).setdefault(partner_of(r), []).append(r)
    out = {}
    for main, by_partner in table.items():
        base = by_partner.pop(BASELINE, [])
        mine = plan or plan_of([r for runs in (base, *by_partner.values()) for r in runs])
        out[main] = (base, compare_all(base, by_partner, mine) if base and by_partner else [])
    return out


def best_on_devel(records: Sequence[RunRecord], main: str) -> Gain | None:
    """The partner whose mean devel gain is highest (never chosen on test)."""
    _, gains = pairwise_gains(records).get(main, ([], []))
    return gains[0] if gains else None
