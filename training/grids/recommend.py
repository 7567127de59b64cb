"""Partner recommender: rank a main corpus's candidate partners before training, from the
features of data/partner_features.py, and judge the ranking against measured gains.

- The gains file (JSON lines, one (main, aux) pair a line: main, aux, gain, ci_low, ci_high,
  p, seeds, devel_gain, preset, model; gains in test F1 points) is written from pairwise run
  directories by `collect` through training.summary.partner_rows (the one summary path).
- `Scorer`: ridge regression of the measured gain on the standardised features (closed form,
  intercept unpenalised; a missing feature takes the training mean). Its penalty is chosen
  from PENALTIES by an inner leave-one-main-corpus-out fit (the smallest mean squared error;
  FALLBACK_PENALTY when fewer than three main corpora). The expected gain's 95% interval is
  the prediction plus the empirical 2.5% and 97.5% quantiles of the leave-one-main-corpus-out
  residuals of the training rows.
- Without a gains file: the unweighted score of `unweighted_score` (entity-class overlap
  first, then the share of the main's mentions the partner annotates); no expected gain.
- `validate`: for every main corpus of a gains file, a scorer fitted on the other main
  corpora only ranks its partners; Spearman's rho (bootstrap 95% interval), top-1 and top-3
  hit rates, against a random ranking (exact expectations) and same-class-first.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from bioner_mtl.data import partner_features as pf
from bioner_mtl.data.atomic import write_text
from bioner_mtl.data.errors import InputError

GAINS_FILE = Path(str(resources.files("bioner_mtl.data") / "validation" / "partner_gains.jsonl"))
FEATURE_NAMES = tuple(pf.FEATURES)
PENALTIES = (0.1, 1.0, 10.0, 100.0)  # ridge penalties the inner leave-one-main-out chooses
FALLBACK_PENALTY = 10.0  # with fewer than three main corpora to choose by
RESAMPLES = 2000  # bootstrap resamples of a Spearman interval
BOOTSTRAP_SEED = 16  # fixed: the same file always prints the same intervals
FIELDS = ("main", "aux", "gain", "ci_low", "ci_high", "p", "seeds", "devel_gain", "preset",
          "model")
NUMBERS = ("gain", "ci_low", "ci_high")  # needed numbers; p, devel_gain may be null
UNWEIGHTED = ("unweighted score (no gains file): class_overlap + 0.1 x mention_coverage, so "
              "partners annotating the main's entity classes come first (class overlap moves "
              "in steps of at least 1/8, more than the coverage term's range), then those "
              "covering more of its mentions; no expected gain")


# ----- the gains file ----------------------------------------------------------------------
@dataclass(frozen=True)
class MeasuredGain:
    """One (main, partner) cell of a pairwise grid: test F1 gain in points, paired seeds."""

    main: str
    aux: str
    gain: float
    ci_low: float
    ci_high: float
    p: float | None
    seeds: int
    devel_gain: float | None
    preset: str | None
    model: str | None
    p_holm: float | None = None
    verdict: str | None = None  # helps / hurts / equivalent / undecided (older files: none)
    where: str = ""  # file:line it was read from (for error lines)

    @property
    def distinguishable(self) -> bool:
        """Its 95% interval excludes zero (uncorrected, p < 0.05)."""
        return self.ci_low > 0 or self.ci_high < 0


def read_gains(path: str | Path) -> list[MeasuredGain]:
    """A gains file, every line checked: one line naming file:line and the missing field."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such gains file; write one with experiments/recommend.py "
                         "--collect RUN_DIR --out FILE")
    out, seen = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise InputError(f"{where}: not a JSON object; a gains file holds one JSON object "
                             "a line") from None
        if not isinstance(row, dict):
            raise InputError(f"{where}: not a JSON object; a gains file holds one JSON object "
                             "a line")
        missing = [f for f in FIELDS if f not in row]
        if missing:
            raise InputError(f"{where}: lacks the field {missing[0]!r} (a gains line needs "
                             f"{', '.join(FIELDS)}); rewrite it with --collect")
        for name in (*NUMBERS, "seeds"):
            if not isinstance(row[name], int | float) or isinstance(row[name], bool) or \
                    not math.isfinite(row[name]):
                raise InputError(f"{where}: field {name!r} is {row[name]!r}, not a number")
        if (row["main"], row["aux"]) in seen:
            raise InputError(f"{where}: a second line for main {row['main']} and aux "
                             f"{row['aux']}; keep one")
        seen.add((row["main"], row["aux"]))
        if row.get("verdict") is not None:
            from bioner_mtl.training.grids.stats import VERDICTS

            if row["verdict"] not in VERDICTS:
                raise InputError(f"{where}: field 'verdict' is {row['verdict']!r}, not one of "
                                 f"{', '.join(VERDICTS)}; rewrite it with --collect")
        known = {f: row[f] for f in (*FIELDS, "p_holm", "verdict") if f in row}
        out.append(MeasuredGain(**{**known, "main": str(row["main"]), "aux": str(row["aux"]),
                                   "where": where}))
    if not out:
        raise InputError(f"{path}: no gains lines")
    return out


def collect(directories: Sequence[str | Path]) -> list[dict]:
    """Gains lines from pairwise run directories (each DIR/results.jsonl), through
    training.summary.partner_rows: the gains, intervals and p-values every table prints.

    A partner's runs are paired only with the single-task runs of their own kind of cell
    (the same model's baseline, preset, training fraction, decoding, settings and plan of
    rounds: the report's pairwise grids, training.grids.report.pairwise_grids), and each
    line names its model and preset. One (main, partner) measured as two kinds of cell (two
    models' grids, or two settings) is refused in one line naming both: the scorer has no
    feature for the model or the settings, so it could only fit one of them blindly."""
    from bioner_mtl.training.fit.results import ResultsFile
    from bioner_mtl.training.grids import report, summary

    lines, seen = [], {}
    for directory in map(Path, directories):
        results = directory / "results.jsonl"
        if not results.is_file():
            raise InputError(f"{directory}: no results.jsonl; pass a directory written by "
                             "experiments/pairwise.py")
        groups = report.group_records([(results, r) for r in ResultsFile(results).records()])
        for base, partners in report.pairwise_grids(groups):
            if base is None:  # partners without their baseline yet: no gain
                continue
            main = base.main
            runs = [r for g in (base, *partners) for r in g.records]
            for row in summary.partner_rows(runs)[main]:
                if row.gain is None:
                    continue
                kind = next(g for g in partners if g.aux == (row.partner,))
                if (main, row.partner) in seen:
                    raise InputError(twice(main, row.partner, *seen[main, row.partner],
                                           directory, kind))
                seen[main, row.partner] = (directory, kind)
                g = row.gain
                lines.append({
                    "main": main, "aux": row.partner, "gain": 100 * g.mean,
                    "ci_low": 100 * g.low, "ci_high": 100 * g.high, "p": g.p,
                    "p_holm": g.p_holm, "seeds": g.seeds, "verdict": g.verdict,
                    "p_adjusted": g.adjusted, "p_equiv": g.equivalence,
                    "margin": 100 * g.margin,
                    "devel_gain": None if g.devel is None else 100 * g.devel,
                    "preset": str(kind.preset), "model": kind.model})
    if not lines:
        raise InputError(f"{', '.join(map(str, directories))}: no partner with a gain over the "
                         "single-task baseline yet; finish the grid first")
    return lines


def _kind(group) -> dict[str, str]:
    """What makes a report Group a kind of cell, setting by setting (seed and partner aside):
    the kind a resume checks (results.cell_kind), its named parts as the group's records
    give them, and the plan of rounds; values as JSON."""
    from bioner_mtl.training.fit.results import cell_kind

    named = {"model": group.model, "preset": group.preset, "train_fraction": group.fraction,
             "decoding": group.decoding, "plan": group.plan or "one round"}
    kind = {k: v for k, v in cell_kind(group.records[0].config).items() if k != "viterbi"}
    return {**kind, **{k: json.dumps(v) for k, v in named.items()}}


def twice(main: str, partner: str, first_dir: Path, first, second_dir: Path, second) -> str:
    """The line refusing a (main, partner) collected twice: the same cell in two directories,
    or two kinds of cell (their first difference named)."""
    from bioner_mtl.training.fit.results import shown_kind_value

    pair = f"main {main} with partner {partner}"
    a, b = _kind(first), _kind(second)
    differs = sorted((k for k in set(a) | set(b) if a.get(k) != b.get(k)),
                     key=lambda k: (k not in ("model", "preset", "train_fraction"), k))
    if not differs:
        where = (f"twice in {first_dir}" if first_dir == second_dir
                 else f"in {first_dir} and in {second_dir}")
        return f"{second_dir}: {pair} is {where}; collect each cell once"
    key = differs[0]
    return (f"{second_dir}: {pair} was measured as two kinds of cell ({first.model}, "
            f"{first.preset} preset in {first_dir}; {second.model}, {second.preset} preset "
            f"in {second_dir}; they differ in {key}: {shown_kind_value(a.get(key))} / "
            f"{shown_kind_value(b.get(key))}), and the scorer has no feature for the model or the "
            "settings: collect one kind's grids into one gains file")


def write_gains(path: str | Path, lines: list[dict]) -> None:
    """The gains lines, written atomically."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"--out {path}: a directory; give the gains file's name")
    if not path.parent.is_dir():
        raise InputError(f"--out {path}: no directory {path.parent}; create it first")
    write_text(path, "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))


# ----- scoring -----------------------------------------------------------------------------
def feature_matrix(rows: Sequence[dict[str, float | None]]) -> np.ndarray:
    """[rows, features], NaN where a feature is missing."""
    return np.array([[np.nan if r[n] is None else r[n] for n in FEATURE_NAMES] for r in rows],
                    dtype=float)


def _ridge(x: np.ndarray, y: np.ndarray, penalty: float):
    """(predict function) of a ridge fit on standardised features, missing -> the mean."""
    present = (~np.isnan(x)).sum(axis=0)
    mean = np.where(present > 0, np.nansum(x, axis=0) / np.maximum(present, 1), 0.0)
    filled = np.where(np.isnan(x), mean, x)
    scale = filled.std(axis=0)
    scale[scale == 0] = 1.0
    z = (filled - mean) / scale
    y_mean = float(y.mean())
    weights = np.linalg.solve(z.T @ z + penalty * np.eye(z.shape[1]), z.T @ (y - y_mean))

    def predict(new: np.ndarray) -> np.ndarray:
        return y_mean + ((np.where(np.isnan(new), mean, new) - mean) / scale) @ weights

    return predict, dict(zip(FEATURE_NAMES, weights / scale))


def _lomo_residuals(x: np.ndarray, y: np.ndarray, mains: np.ndarray,
                    penalty: float) -> np.ndarray:
    """Each row's measured minus predicted gain, predicted by a fit without its main corpus."""
    residuals = np.empty(len(y))
    for main in np.unique(mains):
        held = mains == main
        predict, _ = _ridge(x[~held], y[~held], penalty)
        residuals[held] = y[held] - predict(x[held])
    return residuals


@dataclass
class Scorer:
    """Ridge regression of measured gains on the features (see the module's docstring)."""

    penalty: float
    predict_fn: object
    weights: dict[str, float]
    residual_low: float | None  # 2.5% quantile of the leave-one-main-out residuals
    residual_high: float | None
    rows: int
    mains: tuple[str, ...]
    chosen_by: str

    @classmethod
    def fit(cls, rows: Sequence[dict[str, float | None]], gains: Sequence[float],
            mains: Sequence[str]) -> Scorer:
        x, y, groups = feature_matrix(rows), np.asarray(gains, float), np.asarray(mains)
        distinct = tuple(dict.fromkeys(mains))
        if len(distinct) >= 3:
            errors = {p: float(np.mean(_lomo_residuals(x, y, groups, p) ** 2))
                      for p in PENALTIES}
            penalty = min(errors, key=errors.get)
            chosen_by = f"inner leave-one-main-out over {', '.join(f'{p:g}' for p in PENALTIES)}"
        else:
            penalty, chosen_by = FALLBACK_PENALTY, "fixed (fewer than 3 main corpora)"
        predict, weights = _ridge(x, y, penalty)
        low = high = None
        if len(distinct) >= 2:
            residuals = _lomo_residuals(x, y, groups, penalty)
            low, high = (float(q) for q in np.quantile(residuals, [0.025, 0.975]))
        return cls(penalty, predict, weights, low, high, len(y), distinct, chosen_by)

    def predict(self, rows: Sequence[dict[str, float | None]]) -> np.ndarray:
        return self.predict_fn(feature_matrix(rows))

    def describe(self) -> str:
        interval = ("expected gain's 95% interval: prediction + the 2.5/97.5% quantiles of the "
                    "leave-one-main-corpus-out residuals" if self.residual_low is not None
                    else "no interval (one main corpus: no leave-one-out residuals)")
        return (f"ridge regression on standardised features, fitted on {self.rows} measured "
                f"gains of {len(self.mains)} main corpora, penalty {self.penalty:g} "
                f"({self.chosen_by}); {interval}")


def unweighted_score(features: dict[str, float | None]) -> float:
    """The score without a gains file (see UNWEIGHTED)."""
    return (features["class_overlap"] or 0.0) + 0.1 * features["mention_coverage"]


@dataclass(frozen=True)
class Recommendation:
    partner: str
    rank: int
    score: float
    expected: float | None  # expected test F1 gain, points
    low: float | None
    high: float | None
    features: dict[str, float | None] = field(default_factory=dict)


def training_rows(gains: Sequence[MeasuredGain]) -> list[dict[str, float | None]]:
    """The features of every gains line (a corpus not found: the line that names it)."""
    rows = []
    for g in gains:
        try:
            rows.append(pf.features(g.main, g.aux))
        except InputError as err:
            raise InputError(f"{g.where}: {err}") from None
    return rows


@functools.lru_cache(maxsize=8)
def scorer_for(path: str) -> Scorer:
    gains = read_gains(path)
    return Scorer.fit(training_rows(gains), [g.gain for g in gains], [g.main for g in gains])


def default_gains() -> Path | None:
    return GAINS_FILE if GAINS_FILE.is_file() else None


def rank(main: str, candidates: Sequence[str], gains: str | Path | None = None
         ) -> tuple[list[Recommendation], str]:
    """Candidates ranked best first (ties by name), and how they were scored: the scorer
    fitted on `gains` (default GAINS_FILE where it exists), else the unweighted score."""
    if not candidates:
        raise InputError(f"no candidate partner for {main}; give --aux A,B")
    path = gains if gains is not None else default_gains()
    scorer = None if path is None else scorer_for(str(path))  # a bad file: before the features
    rows = [pf.features(main, c) for c in candidates]
    if scorer is None:
        scores, expected, how = [unweighted_score(r) for r in rows], [None] * len(rows), \
            UNWEIGHTED
        low = high = [None] * len(rows)
    else:
        scores = [float(s) for s in scorer.predict(rows)]
        expected, how = scores, f"{scorer.describe()} (gains: {path})"
        low = [None if scorer.residual_low is None else s + scorer.residual_low
               for s in scores]
        high = [None if scorer.residual_high is None else s + scorer.residual_high
                for s in scores]
    if any(r["class_overlap"] is None for r in rows):
        how += f"; {pf.MISSING_CLASSES}"
    order = sorted(range(len(rows)), key=lambda i: (-scores[i], candidates[i]))
    return [Recommendation(candidates[i], k + 1, scores[i], expected[i], low[i], high[i],
                           rows[i]) for k, i in enumerate(order)], how


def keep_best(runs: list, k: int, gains: str | Path | None = None) -> tuple[list, dict]:
    """pairwise --recommend K: the runs of the baseline and of each main corpus's K best
    partners, and per main corpus (its ranking, how it was scored)."""
    if k < 1:
        raise InputError(f"--recommend {k}: train at least one partner (K >= 1)")
    rankings, kept = {}, {}
    for main in dict.fromkeys(r.main for r in runs):
        candidates = list(dict.fromkeys(r.aux[0] for r in runs if r.main == main and r.aux))
        ranking, how = rank(main, candidates, gains)
        rankings[main] = (ranking, how)
        kept[main] = {r.partner for r in ranking[:k]}
    return [r for r in runs if not r.aux or r.aux[0] in kept[r.main]], rankings


def skipped_text(ranking: list[Recommendation], how: str, k: int) -> str:
    """The lines pairwise prints under its table: which partners were not trained, and why."""
    skipped = ranking[k:]
    if not skipped:
        return f"--recommend {k}: every candidate trained ({len(ranking)} partners)"
    lines = [f"--recommend {k}: skipped {len(skipped)} of {len(ranking)} candidate partners, "
             f"ranked below the {k} best by {how}:"]
    lines += [f"  skipped {r.partner:22} rank {r.rank:>2}  score {r.score:+.3f}"
              + (f"  expected gain {r.expected:+.2f}" if r.expected is not None else "")
              for r in skipped]
    return "\n".join(lines)


def ranking_rows(rankings: dict[str, tuple[list[Recommendation], str]], k: int) -> list[dict]:
    """keep_best's rankings as csv rows: every candidate, trained or skipped (and why)."""
    return [{"main": main, "rank": r.rank, "partner": r.partner,
             "status": "trained" if r.rank <= k else
             f"skipped: rank {r.rank} > {k}, score {r.score:+.3f}",
             "score": r.score, "expected_gain": r.expected, "low": r.low, "high": r.high,
             **r.features, "scored_by": how}
            for main, (ranking, how) in rankings.items() for r in ranking]


# ----- validation --------------------------------------------------------------------------
def average_ranks(values: Sequence[float]) -> np.ndarray:
    """1-based ranks, ties sharing their average rank."""
    values = np.asarray(values, float)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rho (Pearson on average ranks); None where either side is constant."""
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = math.sqrt(float(ra @ ra) * float(rb @ rb))
    return None if denominator == 0 else float(ra @ rb) / denominator


def hit_rate(scores: Sequence[float], gains: Sequence[float], k: int) -> float:
    """Probability that the measured best partner is among the top k of `scores`, ties in the
    scores broken uniformly at random (exactly: the expectation over tie orders). With several
    partners equally best, the first of them by score counts."""
    scores, gains = np.asarray(scores, float), np.asarray(gains, float)
    best = np.flatnonzero(gains == gains.max())
    target = best[np.argmax(scores[best])]
    ahead = int(np.sum(scores > scores[target]))
    tied = int(np.sum(scores == scores[target]))  # the target among them
    return float(min(1.0, max(0.0, (k - ahead) / tied)))


def random_expectation(n: int) -> dict[str, float]:
    """A uniformly random ranking of n partners: expected rho 0, top-k hit rate k / n."""
    return {"spearman": 0.0, "top1": 1 / n, "top3": min(3, n) / n}


def same_class_scores(rows: Sequence[dict[str, float | None]]) -> list[float]:
    """1 for a partner annotating one of the main's entity classes, else 0 (ties: random)."""
    return [1.0 if (r["class_overlap"] or 0) > 0 else 0.0 for r in rows]


def bootstrap_spearman(scores: np.ndarray, gains: np.ndarray, resamples: int = RESAMPLES,
                       seed: int = BOOTSTRAP_SEED) -> tuple[float, float] | None:
    """95% percentile interval of rho over resamples of the partners (with replacement)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        pick = rng.integers(len(scores), size=len(scores))
        rho = spearman(scores[pick], gains[pick])
        if rho is not None:
            values.append(rho)
    if len(values) < resamples / 2:
        return None
    return tuple(float(q) for q in np.quantile(values, [0.025, 0.975]))


@dataclass
class MainResult:
    main: str
    partners: int
    distinguishable: int  # partners whose gain's 95% CI excludes zero
    best: str  # the measured best partner
    predicted_first: str
    figures: dict[str, dict[str, float | None]]  # ranker -> spearman, top1, top3
    interval: tuple[float, float] | None  # the recommender's rho, bootstrap over partners
    gain_range: tuple[float, float]
    median_half_width: float


def main_figures(scores: Sequence[float], gains: Sequence[float]) -> dict[str, float | None]:
    """rho, top-1 and top-3 of one ranking; a constant ranking (every partner shares the
    main's class) orders its ties at random: rho 0, its expectation, as the hit rates take
    theirs, so every ranker is averaged over the same main corpora."""
    rho = spearman(scores, gains)
    if rho is None and len(set(np.asarray(scores, float))) == 1:
        rho = 0.0
    return {"spearman": rho, "top1": hit_rate(scores, gains, 1),
            "top3": hit_rate(scores, gains, 3)}


def validate(gains: Sequence[MeasuredGain], rows: Sequence[dict] | None = None,
             fit=None) -> tuple[list[MainResult], dict]:
    """Leave-one-main-corpus-out validation: the scorer for main X is fitted on the other main
    corpora's rows only. Returns per main its figures, and the overall figures (means over
    main corpora; rho's interval: bootstrap over main corpora)."""
    rows = training_rows(gains) if rows is None else list(rows)
    fit = fit or Scorer.fit
    mains = list(dict.fromkeys(g.main for g in gains))
    if len(mains) < 2:
        raise InputError(f"{len(mains)} main corpus in the gains file; leave-one-main-corpus-out "
                         "validation needs at least 2")
    results = []
    for main in mains:
        mine = [i for i, g in enumerate(gains) if g.main == main]
        others = [i for i, g in enumerate(gains) if g.main != main]
        scorer = fit([rows[i] for i in others], [gains[i].gain for i in others],
                     [gains[i].main for i in others])
        scores = np.asarray(scorer.predict([rows[i] for i in mine]), float)
        measured = np.array([gains[i].gain for i in mine])
        same = same_class_scores([rows[i] for i in mine])
        figures = {"recommender": main_figures(scores, measured),
                   "same class first": main_figures(same, measured),
                   "random (expected)": random_expectation(len(mine))}
        half = [(gains[i].ci_high - gains[i].ci_low) / 2 for i in mine]
        results.append(MainResult(
            main, len(mine), sum(gains[i].distinguishable for i in mine),
            gains[mine[int(np.argmax(measured))]].aux, gains[mine[int(np.argmax(scores))]].aux,
            figures, bootstrap_spearman(scores, measured) if len(mine) >= 3 else None,
            (float(measured.min()), float(measured.max())), float(np.median(half))))
    overall = {}
    for ranker in results[0].figures:
        overall[ranker] = {}
        for metric in ("spearman", "top1", "top3"):
            values = [r.figures[ranker][metric] for r in results
                      if r.figures[ranker][metric] is not None]
            overall[ranker][metric] = float(np.mean(values)) if values else None
    both = [r for r in results if r.figures["recommender"]["spearman"] is not None
            and r.figures["same class first"]["spearman"] is not None]
    rhos = np.array([r.figures["recommender"]["spearman"] for r in both])
    ahead = rhos - np.array([r.figures["same class first"]["spearman"] for r in both])
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    picks = [rng.integers(len(both), size=len(both)) for _ in range(RESAMPLES)] \
        if len(both) >= 2 else []
    overall["interval"] = _interval([rhos[i].mean() for i in picks])
    # the two rankers on the same resampled main corpora: their paired difference
    overall["ahead"] = (float(ahead.mean()), _interval([ahead[i].mean() for i in picks])) \
        if len(both) else None
    return results, overall


def _interval(values: list[float]) -> tuple[float, float] | None:
    return tuple(float(q) for q in np.quantile(values, [0.025, 0.975])) if values else None
