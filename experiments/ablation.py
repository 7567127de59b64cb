"""Data ablation: how a corpus's F1 falls with less training data, alone and with a partner
(CRICHTON table 10, WANG table 6, TONG table 3, RODRIGUEZ tables 4-5).

    python experiments/ablation.py --main NCBI-disease --partner BC5CDR-disease
    python experiments/ablation.py --main BC2GM --best-from runs/pairwise-BC2GM-window-cnn-quick
    python experiments/ablation.py --main NCBI-disease --partner BioNLP09 --removed 0,.25,.5,.75,.9
    python experiments/ablation.py --main NCBI-disease --partner BC5CDR-chem --model bert \\
        --removed 0,.5,.9 --cut-partner                            # RODRIGUEZ table 5
    python experiments/ablation.py --main NCBI-disease --model bert-tong --against bert \\
        --fractions 0.5,0.25,0.1                                   # TONG table 3

Only the main corpus's training split shrinks (seeded); devel, test and the partner stay
whole, unless --cut-partner cuts the partner's training split to the same share too
(RODRIGUEZ table 5: the partner is then the corpus NAME%P, P% of its training sentences,
the same ones in every run). --against MODEL compares --model with another model instead of a
partner, both on the main corpus alone (TONG table 3: bert-tong against bert); a model with
TONG's auxiliary heads also gets each head's own test accuracy per fraction. Prints a table,
writes ablation.csv and ablation_MAIN.png (F1 against training fraction with seed error bars)
into --out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bioner_mtl.data.ablation import check_fraction
from bioner_mtl.data.atomic import save_figure
from bioner_mtl.data.errors import InputError
from bioner_mtl.training.cli import (
    ArgumentParser,
    add_run_arguments,
    add_verdict_arguments,
    aux_weights,
    check_verdict_arguments,
    checked,
    executor_from,
    open_results,
    resolve_run,
    run,
    seeded,
)
from bioner_mtl.training.fit.results import ResultsFile
from bioner_mtl.training.spec.config import replace

# training.grid (which trains), training.summary and training.stats (SciPy) are imported in
# the functions that use them, after every run is checked: a mistake stops before they load
if TYPE_CHECKING:
    from bioner_mtl.training.grids import summary


def best_partner(directory: str, main: str) -> str:
    """The best partner for `main` found by a pairwise run: highest mean devel gain (the
    pairwise table's choice; never chosen on test)."""
    results = Path(directory) / "results.jsonl"
    records = ResultsFile(results).records()
    from bioner_mtl.training.grids import stats

    best = stats.best_on_devel(records, main) if records else None
    if best is None:
        raise InputError(f"{directory}: no pairwise results for main corpus {main}; run "
                         f"experiments/pairwise.py --main {main} --out {directory} first")
    return best.name


def fractions_from(args: argparse.Namespace) -> list[float]:
    try:
        if args.removed is not None:
            values = [round(1 - float(r), 6) for r in args.removed.split(",")]
        else:
            values = [float(f) for f in args.fractions.split(",")]
    except ValueError:
        raise InputError("--fractions/--removed: numbers separated by commas") from None
    return sorted({check_fraction(v) for v in values}, reverse=True)


def plot(path: Path, main: str, labels: tuple[str, str], rows: list[summary.GainRow]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    fractions = [r.keys["fraction"] for r in rows]
    for side, label in zip(("reference_f1", "candidate_f1"), labels):
        f1 = [getattr(r, side) for r in rows]
        ax.errorbar(fractions, [100 * m for m, _ in f1], yerr=[100 * s for _, s in f1],
                    marker="o", capsize=3, label=label)
    ax.set_xlabel(f"share of {main} training sentences")
    ax.set_ylabel("test mention F1 (%)")
    ax.set_title(f"Data ablation: {main}")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(path, fig, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--main", required=True, help="the corpus whose training data shrinks")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--partner", help="auxiliary corpus of the multi-task model")
    who.add_argument("--best-from", metavar="DIR", help="take the best partner of a pairwise run")
    who.add_argument("--against", metavar="MODEL",
                     help="no partner: --model against this model, both on the main corpus "
                          "alone (TONG table 3: --model bert-tong --against bert)")
    share = p.add_mutually_exclusive_group()
    share.add_argument("--fractions", default="1.0,0.5,0.25,0.1",
                       help="training fractions kept (CRICHTON, WANG, TONG)")
    share.add_argument("--removed", help="shares removed instead (RODRIGUEZ: 0,.25,.5,.75,.9)")
    p.add_argument("--cut-partner", action="store_true",
                   help="cut the partner's training split to the same share as the main "
                        "corpus's (RODRIGUEZ table 5: every dataset cut; NAME%%P corpora)")
    p.add_argument("--out", help="run directory (default runs/ablation-MAIN-MODEL-PRESET)")
    add_run_arguments(p)
    add_verdict_arguments(p)
    args = p.parse_args(argv)
    margin = check_verdict_arguments(args)
    fractions = fractions_from(args)
    if args.against:
        if args.cut_partner:
            raise InputError("--cut-partner cuts a partner's data: --against has no partner")
        return against(args, fractions, margin)
    partner = args.partner or best_partner(args.best_from, args.main)
    if partner == args.main:
        raise InputError(f"partner {partner} is the main corpus; choose another")
    out = Path(args.out or f"runs/ablation-{args.main}-{args.model}-{args.preset}")
    from bioner_mtl.data.corpora import shrunk_name
    from bioner_mtl.training.spec.presets import single_task

    runs = []
    for fraction in fractions:
        base = replace(resolve_run(args, args.main), train_fraction=fraction)
        aux = (shrunk_name(partner, fraction) if args.cut_partner else partner,)
        runs += seeded(single_task(base), args) + seeded(replace(
            base, aux=aux, loss_weights=aux_weights(args, aux)), args)
    records, workers = train_cells(args, runs, out)
    rows = gain_rows(fractions, margin, records, lambda r: not r.aux)
    cut = ", cut to the same share" if args.cut_partner else ""
    print(f"\ndata ablation of {args.main} ({args.model}, partner {partner}{cut}): test "
          f"mention F1 (%), {args.seeds} paired seed(s); gain with 95% CI, Holm over fractions")
    write(args.main, out, rows, workers, ("single-task", "with partner"), ("single", "multi"),
          {"main": args.main, "partner": partner},
          (f"{args.main} alone", f"{args.main} + {partner}"))


def against(args: argparse.Namespace, fractions: list[float], margin: float) -> None:
    """TONG table 3: --model against another model (--against), both on the main corpus
    alone, paired by seed at each fraction; the auxiliary heads' own accuracy beside."""
    from bioner_mtl.training.spec.catalogue import get_model

    get_model(args.against)  # an unknown name stops here, with the valid ones
    if args.against == args.model:
        raise InputError(f"--against {args.against} is --model itself; name another model "
                         "(e.g. --model bert-tong --against bert)")
    other = argparse.Namespace(**{**vars(args), "model": args.against})
    out = Path(args.out or f"runs/ablation-{args.main}-{args.model}-vs-{args.against}-"
               f"{args.preset}")
    runs = []
    for fraction in fractions:
        for namespace in (other, args):
            runs += seeded(replace(resolve_run(namespace, args.main), aux=(),
                                   loss_weights={}, train_fraction=fraction), args)
    records, workers = train_cells(args, runs, out)
    rows = gain_rows(fractions, margin, records, lambda r: r.model == args.against)
    print(f"\ndata ablation of {args.main}: {args.model} against {args.against}, test mention "
          f"F1 (%), {args.seeds} paired seed(s); gain with 95% CI, Holm over fractions")
    write(args.main, out, rows, workers, (args.against, args.model), (args.against, args.model),
          {"main": args.main, "partner": ""}, (args.against, args.model))
    heads_table(out, [r for r in records if r.model == args.model], fractions)


def train_cells(args: argparse.Namespace, runs: list, out: Path) -> tuple[list, int]:
    """Every run checked, then trained (or read back on --resume) into out/results.jsonl:
    the records, and how many cells trained side by side."""
    checked(runs)
    results = open_results(out, args.resume, "ablation")
    from bioner_mtl.training.grids.grid import run_cells

    executor = executor_from(args)
    return run_cells(runs, results, progress=not args.no_progress,
                     extra={"preset": args.preset, "experiment": "data-ablation"},
                     executor=executor), executor.workers


def gain_rows(fractions: list[float], margin: float, records: list, is_reference) -> list:
    """One paired comparison per fraction, Holm over them (training/grids/summary.py)."""
    from bioner_mtl.training.grids import summary

    def side(fraction: float, reference: bool) -> list:
        return [r for r in records
                if r.train_fraction == fraction and bool(is_reference(r)) == reference]

    return summary.gain_rows((({"fraction": f}, side(f, True), side(f, False))
                              for f in fractions), margin=margin)


def write(main: str, out: Path, rows: list, workers: int, sides: tuple[str, str],
          columns: tuple[str, str], leading: dict, labels: tuple[str, str]) -> None:
    """The table printed, ablation.csv and the plot, the same for every kind of ablation."""
    from bioner_mtl.training.grids import summary

    summary.print_gains(rows, sides, workers)
    summary.write_csv(out / "ablation.csv", summary.gain_table(rows, columns, leading=leading))
    plot(out / f"ablation_{main}.png", main, labels, rows)
    print(f"wrote {out / 'ablation.csv'}, {out / f'ablation_{main}.png'}")


def heads_table(out: Path, records: list, fractions: list[float]) -> None:
    """TONG's auxiliary heads, each scored on its own: mean ± std test accuracy over seeds
    per fraction; printed and written to aux_heads.csv (nothing for a model without them)."""
    from bioner_mtl.training.grids import stats, summary

    kinds = sorted({k for r in records for k in (r.aux_heads or {})})
    if not kinds:
        return
    rows = []
    for fraction in fractions:
        runs = [r for r in records if r.train_fraction == fraction and r.aux_heads]
        row = {"fraction": fraction, "seeds": len(runs)}
        for kind in kinds:
            mean, std = stats.mean_std([r.aux_heads[kind]["test"] for r in runs
                                        if kind in r.aux_heads])
            row[kind], row[f"{kind}_std"] = round(100 * mean, 2), round(100 * std, 2)
        rows.append(row)
    print(f"\nauxiliary heads of {records[0].model} on their own: test accuracy (%), mean "
          "± std over seeds (bCLS, mCLS: sentences; mtCLS: words)")
    print(f"{'fraction':>8} " + " ".join(f"{k:>14}" for k in kinds))
    for row in rows:
        print(f"{row['fraction']:>8g} " + " ".join(
            f"{row[k]:8.2f} ±{row[k + '_std']:4.2f}" for k in kinds))
    summary.write_csv(out / "aux_heads.csv", rows)
    print(f"wrote {out / 'aux_heads.csv'}")

if __name__ == "__main__":
    sys.exit(run(main))
