"""Which auxiliary corpus helps my corpus? Train the single-task baseline and one two-corpus
model per partner over paired seeds; rank partners by devel gain, report each one's test gain
with a 95% interval (seeds and test-set resampling) and say whether the best one helps.

    python experiments/pairwise.py --main BC2GM                      # every other NER corpus
    python experiments/pairwise.py --main NCBI-disease --aux BC5CDR,BioNLP09 --seeds 3
    python experiments/pairwise.py --main BC2GM --aux-group Gene/Protein
    python experiments/pairwise.py --main BC2GM,NCBI-disease --aux Linnaeus,BC5CDR   # matrix
    python experiments/pairwise.py --main BC2GM --resume --out runs/pairwise-BC2GM

Writes results.jsonl (one record per run), pairwise.csv, gains_MAIN.png and, for several
main corpora, heatmap.png into --out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bioner_mtl.data.atomic import save_figure
from bioner_mtl.data.errors import InputError
from bioner_mtl.training.cli import (
    ArgumentParser,
    add_run_arguments,
    aux_weights,
    checked,
    executor_from,
    names,
    open_results,
    partners_for,
    resolve_run,
    run,
    seeded,
)
from bioner_mtl.training.spec.config import replace

# training.grid (which trains), training.summary and training.stats (SciPy) are imported in
# the functions that use them, after every run is checked: a mistake stops before they load
if TYPE_CHECKING:
    from bioner_mtl.training.grids import summary


def build_runs(args: argparse.Namespace) -> list:
    """Every cell of the grid, each one checked (training.cli.checked)."""
    from bioner_mtl.training.spec.presets import single_task

    runs = []
    if not names(args.main):
        raise InputError(f"--main {args.main!r} names no corpus; give one, e.g. --main BC2GM")
    for main in names(args.main):
        base = resolve_run(args, main)
        runs += seeded(single_task(base), args)  # the catalogue's baseline, no partner
        for partner in partners_for(main, args.aux, args.aux_group,
                                    matrix=len(names(args.main)) > 1):
            runs += seeded(replace(base, aux=(partner,),
                                   loss_weights=aux_weights(args, (partner,))), args)
    return checked(runs)


def print_table(main: str, rows: list[summary.PartnerRow]) -> None:
    from bioner_mtl.training.grids import stats, summary

    seeds = max((r.seeds for r in rows), default=0)
    print(f"\nmain corpus {main}: test mention F1 (strict, %), {seeds} seed(s); gain = partner "
          "minus single-task, paired by seed")
    print(f"{'partner':22} {'F1':>6} {summary.GAIN_HEADER} {'devel gain':>10}")
    for r in rows:
        mark = f"  ^{r.improving_at_cap}" if r.improving_at_cap else ""
        devel = summary.points(r.gain.devel if r.gain else None)
        print(f"{r.partner:22} {summary.points(r.f1[0], False):>6} "
              f"{summary.gain_text(r.gain)} {devel:>10}{mark}")
    notes = [f"partners sorted by devel gain (the choice); * Holm-corrected p < {stats.ALPHA}"]
    if any(r.improving_at_cap for r in rows):
        notes.append("^N: N seeds still improving on devel at the step cap (raise --epochs)")
    if any(r.gain is not None and not r.gain.test_sampling for r in rows):
        notes.append("records without per-sentence counts: intervals cover seed variance only")
    print("; ".join(notes))
    verdict = summary.verdict(rows) or (stats.verdict([]) if rows else "")
    if verdict:
        print(f"verdict for {main}: {verdict}")


def _colour(row: summary.PartnerRow) -> str:
    return "tab:green" if row.gain.helps else "tab:red" if row.gain.hurts else "tab:gray"


def plot(out: Path, by_main: dict[str, list[summary.PartnerRow]]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for main, rows in by_main.items():
        partners = [r for r in rows if r.gain is not None]
        if not partners:
            continue
        fig, ax = plt.subplots(figsize=(7, 0.4 * len(partners) + 1.7))
        gains = [100 * r.gain.mean for r in partners]
        errors = [[100 * (r.gain.mean - r.gain.low) for r in partners],
                  [100 * (r.gain.high - r.gain.mean) for r in partners]]
        ax.barh([r.partner for r in partners], gains, xerr=errors, capsize=3,
                color=[_colour(r) for r in partners])
        ax.axvline(0, color="black", linewidth=0.8)
        ax.invert_yaxis()
        ax.set_xlabel("gain in test F1 over the single-task baseline (points, 95% CI)")
        ax.set_title(f"Auxiliary partners for {main} (sorted by devel gain)")
        fig.tight_layout()
        path = out / f"gains_{file_name(main)}.png"
        save_figure(path, fig, dpi=120)
        plt.close(fig)
        written.append(path)
    if len(by_main) > 1:
        written.append(heatmap(out / "heatmap.png", by_main))
    return written


def heatmap(path: Path, by_main: dict[str, list[summary.PartnerRow]]) -> Path:
    import matplotlib.pyplot as plt

    from bioner_mtl.training.grids import summary

    mains = list(by_main)
    cells = {(m, r.partner): r.gain for m in mains for r in by_main[m] if r.gain is not None}
    auxes = sorted({a for _, a in cells})
    grid = [[100 * cells[m, a].mean if (m, a) in cells else float("nan") for a in auxes]
            for m in mains]
    fig, ax = plt.subplots(figsize=(1.1 * len(auxes) + 2.5, 0.7 * len(mains) + 1.8))
    limit = max(1.0, max((abs(v) for row in grid for v in row if v == v), default=1.0))
    image = ax.imshow(grid, cmap="RdYlGn", vmin=-limit, vmax=limit)
    ax.set_xticks(range(len(auxes)), auxes, rotation=45, ha="right")
    ax.set_yticks(range(len(mains)), mains)
    for i, m in enumerate(mains):
        for j, a in enumerate(auxes):
            g = cells.get((m, a))
            if g is None:
                continue
            star = summary.mark(g)
            ax.text(j, i, f"{100 * g.mean:+.1f}{star}\n[{100 * g.low:+.1f}, "
                    f"{100 * g.high:+.1f}]", ha="center", va="center", fontsize=7,
                    fontweight="bold" if star else "normal")
    fig.colorbar(image, label="gain in test F1 (points)")
    ax.set_title("gain [95% CI]; * Holm-corrected p < 0.05", fontsize=9)
    ax.set_xlabel("auxiliary corpus")
    ax.set_ylabel("main corpus")
    fig.tight_layout()
    save_figure(path, fig, dpi=120)
    plt.close(fig)
    return path


def file_name(corpus: str) -> str:
    """A corpus's display name fit for a file name (a path given as --main is not)."""
    return Path(str(corpus)).name or str(corpus)  # a registry name, or a directory's name


def parser() -> argparse.ArgumentParser:
    p = ArgumentParser(description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--main", required=True, help="main corpus, or A,B,C for a main x aux matrix")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--aux", help="auxiliary partners A,B (default: every other NER corpus)")
    group.add_argument("--aux-group", help="partners annotating one entity class, e.g. "
                       "Gene/Protein, Chemical, Disease, Species, Cell")
    group.add_argument("--aa", action="store_true",
                       help="A/A check of the statistics: the single-task model against itself "
                            "on 2 x --seeds different seeds; it should find no difference")
    p.add_argument("--recommend", type=int, metavar="K",
                   help="rank the candidate partners with experiments/recommend.py's "
                        "recommender and train the baseline and only the K best")
    add_run_arguments(p)
    p.add_argument("--out", help="run directory (default runs/pairwise-MAIN-MODEL-PRESET)")
    return p


def aa_check(args: argparse.Namespace) -> None:
    """The single-task cell against itself: seeds S.. as the reference, the next --seeds as
    the candidate (unpaired: a seed paired with itself would differ by exactly 0)."""
    main = names(args.main)
    if len(main) != 1:
        raise InputError("--aa checks one main corpus at a time")
    from bioner_mtl.training.spec.presets import single_task

    base = resolve_run(args, main[0])
    runs = checked([replace(single_task(base), seed=s)
                    for s in range(args.seed, args.seed + 2 * args.seeds)])
    out = Path(args.out or f"runs/aa-{file_name(main[0])}-{args.model}-{args.preset}")
    results = open_results(out, args.resume, "pairwise")
    from bioner_mtl.training.grids import stats
    from bioner_mtl.training.grids.grid import run_cells

    records = run_cells(runs, results, progress=not args.no_progress,
                        extra={"preset": args.preset, "experiment": "aa"},
                        executor=executor_from(args))
    first, second = records[:args.seeds], records[args.seeds:]
    g = stats.gain("A/A", first, second)
    seeds = f"seeds {args.seed}-{args.seed + args.seeds - 1} vs the next {args.seeds}"
    found = "a difference was detected (a false positive)" if stats.significant(g.p) else \
        "no detectable difference"
    print(f"\nA/A check for {main[0]} ({base.model}, {seeds}): {found} "
          f"({g.interval_text()}, p = {g.p:.3f})")
    print(f"wrote {out / 'results.jsonl'}")


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.aa:
        return aa_check(args)
    runs, rankings = build_runs(args), {}
    if args.recommend is not None:  # the baseline and the K best-ranked partners only
        from bioner_mtl.training.grids import recommend
        runs, rankings = recommend.keep_best(runs, args.recommend)
    default = "_".join(file_name(m) for m in names(args.main))
    out = Path(args.out or f"runs/pairwise-{default}-{args.model}-{args.preset}")
    results = open_results(out, args.resume, "pairwise")
    from bioner_mtl.training.grids import summary
    from bioner_mtl.training.grids.grid import run_cells

    records = run_cells(runs, results, progress=not args.no_progress,
                        extra={"preset": args.preset}, executor=executor_from(args))
    by_main = summary.partner_rows(records)
    for main_name, rows in by_main.items():
        print_table(main_name, rows)
        if main_name in rankings:
            print(recommend.skipped_text(*rankings[main_name], args.recommend))
    summary.write_csv(out / "pairwise.csv", summary.partner_table(by_main))
    written = plot(out, by_main)
    if rankings:  # every candidate: its rank, score, features, trained or skipped and why
        summary.write_csv(out / "recommendation.csv", recommend.ranking_rows(rankings,
                                                                             args.recommend))
        written.append(out / "recommendation.csv")
    print(f"\nwrote {out / 'results.jsonl'}, {out / 'pairwise.csv'}"
          + "".join(f", {p}" for p in written))


if __name__ == "__main__":
    sys.exit(run(main))
