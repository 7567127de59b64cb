"""The one statistics module of every grid: gains over seeds with their uncertainty.

A comparison pairs the runs of a candidate (a partner's model, a pretrained start, a group
model) with the reference's runs of the same seed, which share the main corpus's batches and
initial weights (the trainer's paired design), so shared noise cancels in the per-seed gain.
The gain's uncertainty has two sources, and both are counted:

- seeds: the sample variance of the per-seed gains (a / n);
- the test set: a paired bootstrap over test sentences (documents where a corpus marks them),
  the same resample for every seed and for both sides, of the mean-over-seeds gain (v).

With several seeds, v is the bootstrap covariance between different seeds' gains: the part of
the test-set noise all seeds share (each seed's own is already in a). The standard error is
sqrt(a/n + v); the 95% interval and two-sided p-value use Student's t
with Welch-Satterthwaite degrees of freedom (the bootstrap term counts as known). With several
candidates against one reference, p-values are Holm-corrected (family-wise error 5%).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from bioner_mtl.training.fit.results import RunRecord

ALPHA = 0.05
POWER = 0.8  # the power the smallest detectable gain is quoted at
RESAMPLES = 1000
BOOTSTRAP_SEED = 20240  # fixed: the same records always print the same intervals
METHOD = ("paired over seeds; 95% CI and p from Student's t on sqrt(seed variance / n + "
          "test-set bootstrap variance); Holm-corrected over the partners of one main corpus")


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def significant(p: float | None) -> bool:
    return p is not None and p < ALPHA


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
    the variance of the difference of the two means."""
    f1 = _bootstrap_f1([*reference, *candidate], resamples, seed)
    ref, cand = f1[:, :len(reference)], f1[:, len(reference):]
    if not paired:
        return float((cand.mean(axis=1) - ref.mean(axis=1)).var())
    gains = cand - ref  # [resamples, seeds]
    n = gains.shape[1]
    if n == 1:
        return float(gains.var())
    cov = np.cov(gains, rowvar=False, bias=True)
    return max(0.0, float((cov.sum() - np.trace(cov)) / (n * (n - 1))))


@dataclass(frozen=True)
class Gain:
    """A candidate's gain over the reference, in F1 (fractions, not points)."""

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

    @property
    def helps(self) -> bool:
        return self.seeds > 1 and significant(self.adjusted) and self.mean > 0

    @property
    def hurts(self) -> bool:
        return self.seeds > 1 and significant(self.adjusted) and self.mean < 0

    @property
    def adjusted(self) -> float | None:
        return self.p if self.p_holm is None else self.p_holm

    def interval_text(self) -> str:
        return f"{100 * self.mean:+.2f}, 95% CI [{100 * self.low:+.2f}, {100 * self.high:+.2f}]"


def gain(name: str, reference: Sequence[RunRecord], candidate: Sequence[RunRecord], *,
         metric: str = "test_f1", resamples: int = RESAMPLES) -> Gain:
    """Candidate minus reference, paired by seed where seeds match, else unpaired."""
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
    return _interval(name, mean, n, seed_var, test_var, sampled, devel)


def _interval(name: str, mean: float, n: int, seed_var: float | None, test_var: float,
              sampled: bool, devel: float | None) -> Gain:
    total = (seed_var or 0.0) + test_var
    if seed_var and seed_var > 0:
        df = total ** 2 / (seed_var ** 2 / (n - 1))  # Welch-Satterthwaite, bootstrap known
    else:
        df = math.inf
    se = math.sqrt(total)
    seed_sd = math.sqrt(seed_var * n) if seed_var is not None else None
    if se == 0.0:
        p = 1.0 if mean == 0.0 else 0.0
        return Gain(name, n, mean, mean, mean, p, 0.0, df, seed_sd, sampled, devel)
    half = float(stats.t.ppf(1 - ALPHA / 2, df)) * se
    p = float(2 * stats.t.sf(abs(mean) / se, df))
    return Gain(name, n, mean, mean - half, mean + half, p, se, df, seed_sd, sampled, devel)


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment (None stays None and does not count as a test)."""
    present = [(p, i) for i, p in enumerate(pvalues) if p is not None]
    m = len(present)
    adjusted: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def compare_all(reference: Sequence[RunRecord], candidates: dict[str, Sequence[RunRecord]],
                **kwargs) -> list[Gain]:
    """Every candidate against one reference, Holm-corrected; sorted by devel gain (the
    choice), best first."""
    gains = [gain(name, reference, runs, **kwargs) for name, runs in candidates.items()]
    corrected = holm([g.p for g in gains])
    gains = [dataclasses.replace(g, p_holm=p) for g, p in zip(gains, corrected)]
    return sorted(gains, key=lambda g: -(g.devel if g.devel is not None else g.mean))


def detectable(gains: Sequence[Gain]) -> float | None:
    """About the smallest gain this design detects with 80% power at the corrected level:
    (t_{1 - alpha / 2m} + t_{power}) x the median standard error."""
    usable = [g for g in gains if g.se > 0]
    if not usable:
        return None
    m = len(gains)
    se = float(np.median([g.se for g in usable]))
    df = float(np.median([g.df for g in usable]))
    return (float(stats.t.ppf(1 - ALPHA / (2 * m), df)) + float(stats.t.ppf(POWER, df))) * se


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


def pairwise_gains(records: Sequence[RunRecord]
                   ) -> dict[str, tuple[list[RunRecord], list[Gain]]]:
    """Per main corpus: its single-task runs and every partner's gain over them, Holm-corrected
    over the partners and sorted by devel gain (the choice), best first."""
    table: dict[str, dict[str, list[RunRecord]]] = {}
    for r in records:
        table.setdefault(r.main, {}).setdefault(partner_of(r), []).append(r)
    out = {}
    for main, by_partner in table.items():
        base = by_partner.pop(BASELINE, [])
        out[main] = (base, compare_all(base, by_partner) if base and by_partner else [])
    return out


def best_on_devel(records: Sequence[RunRecord], main: str) -> Gain | None:
    """The partner whose mean devel gain is highest (never chosen on test)."""
    _, gains = pairwise_gains(records).get(main, ([], []))
    return gains[0] if gains else None
