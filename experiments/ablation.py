"""Data ablation: how a corpus's F1 falls with less training data, alone and with a partner
(CRICHTON table 10, WANG table 6, TONG table 3, RODRIGUEZ tables 4-5).

    python experiments/ablation.py --main NCBI-disease --partner BC5CDR-disease
    python experiments/ablation.py --main BC2GM --best-from runs/pairwise-BC2GM-window-cnn-quick
    python experiments/ablation.py --main NCBI-disease --partner BioNLP09 --removed 0,.25,.5,.75,.9

Only the main corpus's training split shrinks (seeded); devel, test and the partner stay
whole. Prints a table, writes ablation.csv and ablation_MAIN.png (F1 against training
fraction with seed error bars) into --out.
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


def plot(path: Path, main: str, partner: str, rows: list[summary.GainRow]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    fractions = [r.keys["fraction"] for r in rows]
    for side, label in (("reference_f1", f"{main} alone"),
                        ("candidate_f1", f"{main} + {partner}")):
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
    share = p.add_mutually_exclusive_group()
    share.add_argument("--fractions", default="1.0,0.5,0.25,0.1",
                       help="training fractions kept (CRICHTON, WANG, TONG)")
    share.add_argument("--removed", help="shares removed instead (RODRIGUEZ: 0,.25,.5,.75,.9)")
    p.add_argument("--out", help="run directory (default runs/ablation-MAIN-MODEL-PRESET)")
    add_run_arguments(p)
    add_verdict_arguments(p)
    args = p.parse_args(argv)
    margin = check_verdict_arguments(args)
    partner = args.partner or best_partner(args.best_from, args.main)
    if partner == args.main:
        raise InputError(f"partner {partner} is the main corpus; choose another")
    fractions = fractions_from(args)
    out = Path(args.out or f"runs/ablation-{args.main}-{args.model}-{args.preset}")
    from bioner_mtl.training.spec.presets import single_task

    runs = []
    for fraction in fractions:
        base = replace(resolve_run(args, args.main), train_fraction=fraction)
        runs += seeded(single_task(base), args) + seeded(replace(
            base, aux=(partner,), loss_weights=aux_weights(args, (partner,))), args)
    checked(runs)
    results = open_results(out, args.resume, "ablation")
    from bioner_mtl.training.grids import summary
    from bioner_mtl.training.grids.grid import run_cells

    executor = executor_from(args)
    records = run_cells(runs, results, progress=not args.no_progress,
                        extra={"preset": args.preset, "experiment": "data-ablation"},
                        executor=executor)
    rows = summary.gain_rows(  # one test per fraction, Holm over them
        (({"fraction": f}, [r for r in records if r.train_fraction == f and not r.aux],
          [r for r in records if r.train_fraction == f and r.aux]) for f in fractions),
        margin=margin)
    print(f"\ndata ablation of {args.main} ({args.model}, partner {partner}): test mention F1 "
          f"(%), {args.seeds} paired seed(s); gain with 95% CI, Holm over fractions")
    summary.print_gains(rows, ("single-task", "with partner"), executor.workers)
    summary.write_csv(out / "ablation.csv", summary.gain_table(
        rows, ("single", "multi"), leading={"main": args.main, "partner": partner}))
    plot(out / f"ablation_{args.main}.png", args.main, partner, rows)
    print(f"wrote {out / 'ablation.csv'}, {out / f'ablation_{args.main}.png'}")


if __name__ == "__main__":
    sys.exit(run(main))
