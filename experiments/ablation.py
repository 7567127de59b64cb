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
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data import corpora  # noqa: E402
from data.ablation import check_fraction  # noqa: E402
from data.errors import InputError  # noqa: E402
from experiments.cli import (  # noqa: E402
    add_run_arguments,
    aux_weights,
    executor_from,
    open_results,
    resolve_run,
    run,
    seeded,
)
from training import stats  # noqa: E402
from training.config import replace  # noqa: E402
from training.grid import run_cells  # noqa: E402
from training.results import ResultsFile  # noqa: E402


def best_partner(directory: str, main: str) -> str:
    """The best partner for `main` found by a pairwise run: highest mean devel gain (the
    pairwise table's choice; never chosen on test)."""
    results = Path(directory) / "results.jsonl"
    best = stats.best_on_devel(ResultsFile(results).records(), main)
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


def plot(path: Path, main: str, partner: str, table: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("single", f"{main} alone"), ("multi", f"{main} + {partner}")):
        ax.errorbar([r["fraction"] for r in table], [100 * r[key][0] for r in table],
                    yerr=[100 * r[key][1] for r in table], marker="o", capsize=3, label=label)
    ax.set_xlabel(f"share of {main} training sentences")
    ax.set_ylabel("test mention F1 (%)")
    ax.set_title(f"Data ablation: {main}")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
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
    args = p.parse_args(argv)
    partner = args.partner or best_partner(args.best_from, args.main)
    corpora.spec_for(partner)
    if partner == args.main:
        raise InputError(f"partner {partner} is the main corpus; choose another")
    fractions = fractions_from(args)
    out = Path(args.out or f"runs/ablation-{args.main}-{args.model}-{args.preset}")
    runs = []
    for fraction in fractions:
        base = replace(resolve_run(args, args.main), train_fraction=fraction)
        runs += seeded(base, args) + seeded(replace(
            base, aux=(partner,), loss_weights=aux_weights(args, (partner,))), args)
    results = open_results(out, args.resume, "ablation")
    records = run_cells(runs, results, progress=not args.no_progress,
                        extra={"preset": args.preset, "experiment": "data-ablation"},
                        executor=executor_from(args))
    table = []
    for fraction in fractions:
        mine = [r for r in records if r["train_fraction"] == fraction]
        single = [r for r in mine if not r["aux"]]
        multi = [r for r in mine if r["aux"]]
        table.append({"fraction": fraction,
                      "single": stats.mean_std([r["test_f1"] for r in single]),
                      "multi": stats.mean_std([r["test_f1"] for r in multi]),
                      "gain": stats.gain(f"{fraction:g}", single, multi)})
    corrected = stats.holm([r["gain"].p for r in table])  # one test per fraction
    print(f"\ndata ablation of {args.main} ({args.model}, partner {partner}): test mention F1 "
          f"(%), {args.seeds} paired seed(s); gain with 95% CI, Holm over fractions")
    print(f"{'fraction':>8} {'single-task':>14} {'with partner':>14} {'gain':>7} "
          f"{'95% CI':>17} {'p Holm':>7}")
    for r, p_holm in zip(table, corrected):
        g = r["gain"]
        p_text = "" if p_holm is None else f"{p_holm:.3f}" + ("*" if stats.significant(p_holm)
                                                              and g.seeds > 1 else "")
        print(f"{r['fraction']:8g} {100 * r['single'][0]:8.2f} ±{100 * r['single'][1]:4.2f} "
              f"{100 * r['multi'][0]:8.2f} ±{100 * r['multi'][1]:4.2f} "
              f"{100 * g.mean:+7.2f} {f'[{100 * g.low:+.2f}, {100 * g.high:+.2f}]':>17} "
              f"{p_text:>7}")
        r["p_holm"] = p_holm
    with (out / "ablation.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["main", "partner", "fraction", "single_f1", "single_std", "multi_f1",
                         "multi_std", "gain", "ci_low", "ci_high", "p_value", "p_holm"])
        for r in table:
            g = r["gain"]
            writer.writerow([args.main, partner, r["fraction"], *r["single"], *r["multi"],
                             g.mean, g.low, g.high, g.p, r["p_holm"]])
    plot(out / f"ablation_{args.main}.png", args.main, partner, table)
    print(f"wrote {out / 'ablation.csv'}, {out / f'ablation_{args.main}.png'}")


if __name__ == "__main__":
    sys.exit(run(main))
