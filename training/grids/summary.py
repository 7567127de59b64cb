"""Grid summaries: the one place that turns a grid's records into rows of gains and verdicts.

Every grid command (pairwise, ablation, groups, adversarial, entity ablation) and report.py
build their rows here, from training.stats's paired gains, and print them with the same cells
(gain, 95% CI, p, Holm-corrected p with its mark, Holm-corrected equivalence p, verdict), so a
partner is ranked and judged the same way wherever its numbers are printed.

- `partner_rows`: a pairwise grid (the single-task row, then every partner, by devel gain),
  under the grid's plan of rounds (training.stats.Plan; the records name it).
- `gain_rows`: any list of (label, reference runs, candidate runs) comparisons, one look,
  Holm over the rows; `print_gains` and `gain_table` print them and turn them into csv rows.
- `undecided_note`: what an undecided verdict would take (seeds, and minutes at `Pace`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bioner_mtl.data.atomic import write_atomically
from bioner_mtl.training.fit.results import RunRecord
from bioner_mtl.training.grids import stats
from bioner_mtl.training.grids.stats import BASELINE

SIDE = 14  # width of a "mean ±std" cell: "   71.23 ±0.45"


# ----- cells every table prints the same way ----------------------------------------------
def points(value: float | None, sign: bool = True) -> str:
    """A fraction as F1 points ('+1.23', or '71.23' unsigned); '' for None."""
    if value is None:
        return ""
    return f"{100 * value:+.2f}" if sign else f"{100 * value:.2f}"


def mean_std_text(runs: Sequence[RunRecord], metric: str = "test_f1") -> str:
    mean, std = stats.mean_std([getattr(r, metric) for r in runs])
    return f"{100 * mean:8.2f} ±{100 * std:4.2f}"


def mark(gain: stats.Gain | None) -> str:
    """'*' where the Holm-corrected p says the gain is real (more than one seed)."""
    return "*" if gain is not None and (gain.helps or gain.hurts) else ""


def gain_cells(gain: stats.Gain | None) -> tuple[str, str, str, str, str, str]:
    """(gain, 95% CI, p, p Holm with its mark, p equiv, verdict) of a gain; empty cells for
    None. p Holm and p equiv are the corrected p-values the verdict reads (sequential over
    the looks of a grid run in rounds)."""
    if gain is None:
        return "", "", "", "", "", ""
    interval = f"[{points(gain.low)}, {points(gain.high)}]"
    p = "" if gain.p is None else f"{gain.p:.3f}"
    adjusted, equivalence = gain.adjusted, gain.equivalence
    holm = "" if adjusted is None else f"{adjusted:.3f}{mark(gain) or ' '}"
    equiv = "" if equivalence is None else f"{equivalence:.3f}"
    return points(gain.mean), interval, p, holm, equiv, gain.verdict


GAIN_HEADER = f"{'gain':>7} {'95% CI':>17} {'p':>6} {'p Holm':>7} {'p equiv':>7} {'verdict':10}"


def gain_text(gain: stats.Gain | None) -> str:
    """The gain cells, aligned under GAIN_HEADER."""
    g, interval, p, holm, equiv, verdict = gain_cells(gain)
    return f"{g:>7} {interval:>17} {p:>6} {holm:>7} {equiv:>7} {verdict:10}"


def margin_text(margin: float) -> str:
    """'+-1 point', '+-0.5 points': an equivalence margin (a fraction of F1) in F1 points."""
    value = 100 * margin
    return f"+-{value:g} point{'' if value == 1 else 's'}"


def notes_text(margin: float, sequential: bool = False) -> str:
    """What the corrected columns mean, for the line under a table."""
    looks = " over the looks reached (sequential)" if sequential else ""
    return (f"p Holm: p{looks}, Holm-corrected over the rows (* below {stats.ALPHA}: helps "
            f"or hurts); p equiv: the same for a gain within {margin_text(margin)} of F1 "
            f"(TOST; below {stats.ALPHA}: equivalent)")


@dataclass(frozen=True)
class Pace:
    """How fast a grid's cells train: mean seconds per cell (the records' wall_seconds) and
    cells trained side by side; what an undecided verdict's minutes are estimated from."""

    cell_seconds: float
    workers: int = 1

    @classmethod
    def of(cls, records: Sequence[RunRecord], workers: int = 1) -> Pace | None:
        seconds = [r.wall_seconds for r in records if r.wall_seconds]
        return cls(sum(seconds) / len(seconds), max(1, workers)) if seconds else None

    def minutes(self, cells: int) -> float:
        return math.ceil(cells / self.workers) * self.cell_seconds / 60


def undecided_note(label: str, gain: stats.Gain, plan: stats.Plan | None = None,
                   family: int = 1, pace: Pace | None = None,
                   reference_seeds: int | None = None) -> str:
    """One line on an undecided gain: how many seeds in all the data suggest would decide
    it (training.stats.seeds_to_decide), and about how many minutes of cells that is."""
    head = f"{label}: undecided after {gain.seeds} seed(s)"
    if gain.seeds < 2 or gain.seed_sd is None:
        return f"{head}; one seed has no spread to project from: run more seeds"
    total = stats.seeds_to_decide(gain, plan, family)
    if total is None:
        return (f"{head}; more seeds alone are unlikely to decide it within {stats.MAX_SEEDS} "
                f"(its gain, {points(gain.mean)}, lies within the test set's own noise of both "
                f"0 and the {margin_text(gain.margin)} margin)")
    if plan is not None and plan.looks and total > plan.looks[-1]:  # a new plan, from seed 1
        cells = 2 * total
        where = f"beyond this plan's {plan.looks[-1]}: a new grid of that many, {cells} cells"
    else:
        cells = (total - gain.seeds) + max(0, total - (reference_seeds or gain.seeds))
        where = f"{cells} more cells"
    minutes = f", ~{pace.minutes(cells):.0f} min" if pace else ""
    return f"{head}; about {total} seeds in all would likely decide it ({where}{minutes})"


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of one table (dicts with the same keys) as a csv file; nothing for no rows."""
    if not rows:
        return
    def write(handle) -> None:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    write_atomically(path, write, newline="")


# ----- pairwise: partners of one main corpus ----------------------------------------------
@dataclass
class PartnerRow:
    """One row of a pairwise table: the single-task runs (partner == BASELINE, gain None) or
    one partner's runs with its paired gain over them (None while the baseline is missing)."""

    main: str
    partner: str
    runs: list[RunRecord]
    gain: stats.Gain | None = None

    @property
    def f1(self) -> tuple[float, float]:
        return stats.mean_std([r.test_f1 for r in self.runs])

    @property
    def token_macro_f1(self) -> float:
        return stats.mean_std([r.test_token_macro_f1 for r in self.runs])[0]

    @property
    def seeds(self) -> int:
        return len(self.runs)

    @property
    def improving_at_cap(self) -> int:
        return sum(bool(r.improving_at_cap) for r in self.runs)


def partner_rows(records: Sequence[RunRecord], plan: stats.Plan | None = None
                 ) -> dict[str, list[PartnerRow]]:
    """Per main corpus: the single-task row, then one row per partner, sorted by devel gain
    (the choice) with its verdict, Holm over the partners, under `plan` (default: the plan
    the records name, else one look at every seed); without a baseline, partners by devel
    F1."""
    out: dict[str, list[PartnerRow]] = {}
    for main, (base, gains) in stats.pairwise_gains(records, plan).items():
        by_partner: dict[str, list[RunRecord]] = {}
        for r in records:
            if r.main == main:
                by_partner.setdefault(stats.partner_of(r), []).append(r)
        by_partner.pop(BASELINE, None)
        rows = [PartnerRow(main, BASELINE, base)] if base else []
        rows += [PartnerRow(main, g.name, by_partner[g.name], g) for g in gains]
        if not base:  # an interrupted grid: partners without a baseline yet, no gains
            rows += sorted((PartnerRow(main, n, runs) for n, runs in by_partner.items()),
                           key=lambda row: -stats.mean_std([r.devel_f1 for r in row.runs])[0])
        out[main] = rows
    return out


def verdict(rows: Sequence[PartnerRow]) -> str:
    """The verdict line of one main corpus's rows ('' without gains)."""
    gains = [row.gain for row in rows if row.gain is not None]
    return stats.verdict(gains) if gains else ""


def partner_table(summary: dict[str, list[PartnerRow]], plan: stats.Plan | None = None
                  ) -> list[dict[str, Any]]:
    """Every main corpus's rows as csv rows (pairwise.csv): each partner's `verdict` (one of
    training.stats.VERDICTS; empty on the single-task row), the seeds the data suggest
    would decide an undecided one, and the verdict line on the first row of a main corpus
    with gains, else on its last."""
    out = []
    for rows in summary.values():
        table = []
        partners = sum(row.gain is not None for row in rows)
        for row in rows:
            g = row.gain
            f1, f1_std = row.f1
            table.append({
                "main": row.main, "partner": row.partner, "seeds": g.seeds if g else row.seeds,
                "f1": f1, "f1_std": f1_std, "devel_gain": g.devel if g else None,
                "gain": g.mean if g else None, "ci_low": g.low if g else None,
                "ci_high": g.high if g else None, "p_value": g.p if g else None,
                "p_holm": g.adjusted if g else None,
                "p_equiv": g.p_equiv if g else None,
                "p_equiv_holm": g.equivalence if g else None,
                "margin": g.margin if g else None, "verdict": g.verdict if g else "",
                "seeds_to_decide": stats.seeds_to_decide(g, plan, partners)
                if g and g.verdict == "undecided" else None,
                "looks": ",".join(map(str, g.looks)) if g else "",
                "helps": g.helps if g else None, "hurts": g.hurts if g else None,
                "token_macro_f1": row.token_macro_f1,
                "improving_at_cap": row.improving_at_cap,
                "test_sampling": g.test_sampling if g else None, "verdict_line": ""})
        if table:
            line = verdict(rows)
            table[0 if line else -1]["verdict_line"] = line or stats.verdict([])
        out += table
    return out


# ----- any grid: a candidate against a reference, row by row ------------------------------
@dataclass
class GainRow:
    """One comparison of a grid: the candidate's runs against the reference's, paired by seed.
    `keys` names it (printed first, the csv's first columns): {"fraction": 0.25}, {"corpus":
    "BC2GM"}; `gain.p_holm` is corrected over the rows of its table."""

    keys: dict[str, Any]
    reference: list[RunRecord]
    candidate: list[RunRecord]
    gain: stats.Gain

    @property
    def reference_f1(self) -> tuple[float, float]:
        return stats.mean_std([r.test_f1 for r in self.reference])

    @property
    def candidate_f1(self) -> tuple[float, float]:
        return stats.mean_std([r.test_f1 for r in self.candidate])


Comparison = tuple[dict[str, Any], Sequence[RunRecord], Sequence[RunRecord]]


def gain_rows(comparisons: Iterable[Comparison], metric: str = "test_f1",
              margin: float = stats.MARGIN) -> list[GainRow]:
    """(keys, reference runs, candidate runs) -> rows with each side's runs, the paired gain
    (95% CI, p, equivalence p within +-margin), both Holm-corrected over all the rows (one
    test per row, one look), and so each row's verdict."""
    comparisons = list(comparisons)
    gains = stats.correct([stats.gain(_label(keys), reference, candidate, metric=metric,
                                      margin=margin)
                           for keys, reference, candidate in comparisons])
    return [GainRow(dict(keys), list(reference), list(candidate), g)
            for (keys, reference, candidate), g in zip(comparisons, gains)]


def _label(keys: dict[str, Any]) -> str:
    return " ".join(_text(v) for v in keys.values())


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def print_gains(rows: Sequence[GainRow], sides: tuple[str, str], workers: int = 1) -> None:
    """The table of a grid's gains: its key columns, then each side's test F1 (mean ±std over
    seeds, %), the gain, its 95% CI, p, the Holm-corrected p ('*': below 0.05), the
    Holm-corrected equivalence p and the verdict; then what the corrected columns mean and,
    for each undecided row, what would decide it (minutes with `workers` cells at once)."""
    if not rows:
        return
    names = list(rows[0].keys)
    cells = [[_text(row.keys[k]) for k in names] for row in rows]
    widths = [max(len(name), *(len(c[i]) for c in cells)) for i, name in enumerate(names)]
    numeric = [all(isinstance(row.keys[k], int | float) for row in rows) for k in names]

    def keyed(values: list[str]) -> str:
        return " ".join(f"{v:>{w}}" if right else f"{v:{w}}"
                        for v, w, right in zip(values, widths, numeric))

    side = [max(SIDE, len(s)) for s in sides]
    print(f"{keyed(names)} {sides[0]:>{side[0]}} {sides[1]:>{side[1]}} {GAIN_HEADER}")
    for row, values in zip(rows, cells):
        print(f"{keyed(values)} {mean_std_text(row.reference):>{side[0]}} "
              f"{mean_std_text(row.candidate):>{side[1]}} {gain_text(row.gain)}")
    print(notes_text(rows[0].gain.margin))
    for line in undecided_lines(rows, workers):
        print(line)


def undecided_lines(rows: Sequence[GainRow], workers: int = 1) -> list[str]:
    """An undecided_note for each undecided row (indented), minutes at the records' pace."""
    pace = Pace.of([r for row in rows for r in (*row.reference, *row.candidate)], workers)
    return ["  " + undecided_note(_label(row.keys), row.gain, family=len(rows), pace=pace,
                                  reference_seeds=len(row.reference))
            for row in rows if row.gain.verdict == "undecided"]


def gain_table(rows: Sequence[GainRow], sides: tuple[str, str] = ("reference", "candidate"),
               leading: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The rows as csv rows: `leading` columns (the same for every row), the keys, each side's
    mean and std (SIDE_f1, SIDE_std), gain, ci_low, ci_high, p_value, p_holm, p_equiv,
    p_equiv_holm, margin, verdict, seeds."""
    out = []
    for row in rows:
        (r_mean, r_std), (c_mean, c_std), g = row.reference_f1, row.candidate_f1, row.gain
        out.append({**(leading or {}), **row.keys,
                    f"{sides[0]}_f1": r_mean, f"{sides[0]}_std": r_std,
                    f"{sides[1]}_f1": c_mean, f"{sides[1]}_std": c_std,
                    "gain": g.mean, "ci_low": g.low, "ci_high": g.high, "p_value": g.p,
                    "p_holm": g.p_holm, "p_equiv": g.p_equiv, "p_equiv_holm": g.p_equiv_holm,
                    "margin": g.margin, "verdict": g.verdict, "seeds": g.seeds})
    return out
