"""Which auxiliary corpus helps my corpus? Train the single-task baseline and one two-corpus
model per partner over paired seeds, in rounds; rank partners by devel gain, report each
one's test gain with a 95% interval (seeds and test-set resampling) and its verdict: helps,
hurts, equivalent (within +-margin) or undecided (with what would decide it).

Seeds run in rounds: --seeds for every partner, then more (3, 6, 10 ... up to --max-seeds)
only for partners still undecided, and their baseline's seeds, while the next round fits in
--budget minutes. The tests are sequential (alpha spent over the planned looks, Holm over the
partners), so stopping early does not inflate their error rates: docs/grids.md.

    python experiments/pairwise.py --main BC2GM                      # every other NER corpus
    python experiments/pairwise.py --main NCBI-disease --aux BC5CDR,BioNLP09 --max-seeds 20
    python experiments/pairwise.py --main BC2GM --aux-group Gene/Protein --budget 30
    python experiments/pairwise.py --main BC2GM,NCBI-disease --aux Linnaeus,BC5CDR   # matrix
    python experiments/pairwise.py --main BC2GM --resume --out runs/pairwise-BC2GM
    python experiments/pairwise.py --main NCBI-disease --aa          # the A/A check

Writes results.jsonl (one record per run), pairwise.csv, gains_MAIN.png (gains_MAIN-HASH.png
where two main corpora's folders share a name) and, for several main corpora, heatmap.png
into --out; a new grid never replaces such a file it did not write.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from bioner_mtl.data.atomic import save_figure
from bioner_mtl.data.errors import InputError
from bioner_mtl.training.cli import (
    ArgumentParser,
    add_run_arguments,
    add_verdict_arguments,
    aux_weights,
    check_same_grid,
    check_verdict_arguments,
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
    from bioner_mtl.training.grids import grid, stats, summary

COLOURS = {"helps": "tab:green", "hurts": "tab:red", "equivalent": "tab:blue",
           "undecided": "tab:gray"}


def build_runs(args: argparse.Namespace) -> list:
    """Every cell of the grid, each one checked (training.cli.checked)."""
    from bioner_mtl.training.spec.presets import single_task

    runs = []
    if not names(args.main, "--main"):
        raise InputError(f"--main {args.main!r} names no corpus; give one, e.g. --main BC2GM")
    for main in names(args.main):
        base = resolve_run(args, main)
        if base.train_on == "train+devel":  # partners are ranked on devel, never on test
            raise InputError("--set train_on=train+devel: the grid ranks partners by their "
                             "devel gain, and a run trained on devel has none; compare "
                             "partners on train (the default), then train the chosen model "
                             "on train+devel with train.py --train-on train+devel")
        runs += seeded(single_task(base), args)  # the catalogue's baseline, no partner
        for partner in partners_for(main, args.aux, args.aux_group,
                                    matrix=len(names(args.main)) > 1):
            runs += seeded(replace(base, aux=(partner,),
                                   loss_weights=aux_weights(args, (partner,))), args)
    return checked(runs)


def print_table(main: str, rows: list[summary.PartnerRow], plan: stats.Plan | None = None,
                pace: summary.Pace | None = None) -> None:
    from bioner_mtl.training.grids import stats, summary

    plan = plan or stats.Plan()
    looks = f"; rounds end at {', '.join(map(str, plan.looks))} seeds" if plan.sequential else ""
    print(f"\nmain corpus {main}: test mention F1 (strict, %); gain = partner minus "
          f"single-task, paired by seed{looks}")
    print(f"{'partner':22} {'F1':>6} {'seeds':>5} {summary.GAIN_HEADER} {'devel gain':>10}")
    for r in rows:
        mark = f"  ^{r.improving_at_cap}" if r.improving_at_cap else ""
        devel = summary.points(r.gain.devel if r.gain else None)
        seeds = r.gain.seeds if r.gain else r.seeds
        print(f"{r.partner:22} {summary.points(r.f1[0], False):>6} {seeds:>5} "
              f"{summary.gain_text(r.gain)} {devel:>10}{mark}")
    notes = ["partners sorted by devel gain (the choice)",
             summary.notes_text(plan.margin, plan.sequential)]
    if any(r.improving_at_cap for r in rows):
        notes.append("^N: N seeds still improving on devel at the step cap (raise --epochs)")
    if any(r.gain is not None and not r.gain.test_sampling for r in rows):
        notes.append("records without per-sentence counts: intervals cover seed variance only")
    print("; ".join(notes))
    partners = [r for r in rows if r.gain is not None]
    base = next((r.seeds for r in rows if r.gain is None), None)
    for r in partners:
        if r.gain.verdict == "undecided":
            print("  " + summary.undecided_note(r.partner, r.gain, plan, len(partners), pace,
                                                base))
    verdict = summary.verdict(rows) or (stats.verdict([]) if rows else "")
    if verdict:
        print(f"verdict for {main}: {verdict}")


def _colour(row: summary.PartnerRow) -> str:
    return COLOURS[row.gain.verdict]


def plot(out: Path, by_main: dict[str, list[summary.PartnerRow]]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    written = []
    files = plot_names(list(by_main))
    for main, rows in by_main.items():
        partners = [r for r in rows if r.gain is not None]
        if not partners:
            continue
        fig, ax = plt.subplots(figsize=(7, 0.4 * len(partners) + 1.9))
        gains = [100 * r.gain.mean for r in partners]
        errors = [[100 * (r.gain.mean - r.gain.low) for r in partners],
                  [100 * (r.gain.high - r.gain.mean) for r in partners]]
        labels = [f"{r.partner} ({r.gain.verdict})" for r in partners]
        ax.barh(labels, gains, xerr=errors, capsize=3, color=[_colour(r) for r in partners])
        ax.scatter(gains, labels, color=[_colour(r) for r in partners], edgecolors="black",
                   zorder=3)  # a gain of about 0 has no bar to see
        ax.axvline(0, color="black", linewidth=0.8)
        margin = 100 * partners[0].gain.margin
        for side in (-margin, margin):  # the equivalence band
            ax.axvline(side, color="tab:blue", linewidth=0.8, linestyle=":")
        ax.invert_yaxis()
        ax.set_xlabel(f"test F1 gain over single-task (points, 95% CI); dotted: ±{margin:g} "
                      "margin")
        ax.set_title(f"Auxiliary partners for {main} (sorted by devel gain)")
        shown = dict.fromkeys(r.gain.verdict for r in partners)
        ax.legend(handles=[Patch(color=COLOURS[v], label=v) for v in shown], fontsize=8,
                  loc="best")
        fig.tight_layout()
        path = out / f"gains_{files[main]}.png"
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
                    f"{100 * g.high:+.1f}]\n{g.verdict}", ha="center", va="center",
                    fontsize=7, fontweight="bold" if g.verdict != "undecided" else "normal")
    fig.colorbar(image, label="gain in test F1 (points)")
    ax.set_title("gain [95% CI], verdict; * Holm-corrected p < 0.05", fontsize=9)
    ax.set_xlabel("auxiliary corpus")
    ax.set_ylabel("main corpus")
    fig.tight_layout()
    save_figure(path, fig, dpi=120)
    plt.close(fig)
    return path


def file_name(corpus: str) -> str:
    """A corpus's display name fit for a file name (a path given as --main is not)."""
    return Path(str(corpus)).name or str(corpus)  # a registry name, or a directory's name


def plot_names(mains: list[str]) -> dict[str, str]:
    """Each main corpus's name in its plot's file name (gains_NAME.png): its display name,
    unless another main corpus has the same one (two folders named `corpus`, told apart
    regardless of case, as some file systems do not): then that name and a hash of the folder
    it resolves to, so no plot replaces another."""
    from bioner_mtl.data import corpora

    shown = {main: file_name(main) for main in mains}
    counts = Counter(name.lower() for name in shown.values())
    return {main: name if counts[name.lower()] == 1 else
            f"{name}-{hashlib.sha256(repr(corpora.resolved(main)).encode()).hexdigest()[:8]}"
            for main, name in shown.items()}


def outputs(out: Path, mains: list[str], recommend: bool) -> list[Path]:
    """The files a grid writes into --out beside results.jsonl."""
    several = [out / "heatmap.png"] if len(mains) > 1 else []
    chosen = [out / "recommendation.csv"] if recommend else []
    return [out / "pairwise.csv", *(out / f"gains_{name}.png"
                                    for name in plot_names(mains).values()), *several, *chosen]


def refuse_others(out: Path, results, paths: list[Path]) -> None:
    """A grid replaces only the files it wrote itself: those of a run directory it resumes
    (its records are there). A new grid stops, before it trains, where --out holds a file of
    that name that it did not write."""
    if results.records():
        return
    for path in paths:
        if path.exists() or path.is_symlink():
            raise InputError(f"--out {out}: {path.name} is already there, not written by this "
                             "grid (the directory holds no results of it), and would be "
                             "replaced; choose another --out, or move the file")


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
                            "(seeds S, S+2, ... against S+1, S+3, ...), in rounds like a "
                            "partner; it should say equivalent or undecided")
    p.add_argument("--recommend", type=int, metavar="K",
                   help="rank the candidate partners with experiments/recommend.py's "
                        "recommender and train the baseline and only the K best")
    add_run_arguments(p)
    add_verdict_arguments(p, rounds=True)
    p.add_argument("--out", help="run directory (default runs/pairwise-MAIN-MODEL-PRESET)")
    return p


def rounds_text(done: grid.Rounds, plan: stats.Plan, budget: float,
                what: str = "partner") -> str:
    """Why the rounds stopped, one line."""
    given = sorted(set(done.seeds.values()))
    head = f"{done.rounds} round(s), seeds per {what} {', '.join(map(str, given))}"
    if done.stopped == "decided":
        return f"{head}: {'every partner ' if what == 'partner' else ''}decided"
    if done.stopped == "max-seeds":
        return f"{head}: the undecided reached --max-seeds {plan.looks[-1]}"
    return (f"{head}: the next round (~{done.next_minutes:.1f} min) would overrun the "
            f"--budget of {budget:g} min; continue with --resume and a larger --budget")


def aa_check(args: argparse.Namespace, margin: float, started: float) -> None:
    """The single-task cell against itself, in rounds like a partner: odd seeds (S, S + 2...)
    as the reference, even ones as the candidate (unpaired: a seed paired with itself would
    differ by exactly 0). Its true gain is 0, so it can only be `equivalent` or `undecided`;
    a significant difference is a false positive of the statistics."""
    main = names(args.main)
    if len(main) != 1:
        raise InputError("--aa checks one main corpus at a time")
    from bioner_mtl.training.spec.presets import single_task

    base = single_task(resolve_run(args, main[0]))
    checked([replace(base, seed=s) for s in (args.seed, args.seed + 1)])
    out = Path(args.out or f"runs/aa-{file_name(main[0])}-{args.model}-{args.preset}")
    results = open_results(out, args.resume, "pairwise")
    from bioner_mtl.training.grids import grid, stats, summary

    plan = stats.Plan.rounds(args.seeds, args.max_seeds, margin)
    grid.check_plan(results, f"aa {plan.tag}", "--seeds, --max-seeds and --margin")
    check_same_grid(results, [base], out)  # a resume with another --model, --set...: refused

    def cells(_, start: int, stop: int) -> list:
        return [replace(base, seed=args.seed + 2 * i + side)
                for i in range(start, stop) for side in (0, 1)]

    def halves(records: list) -> tuple[list, list]:
        return tuple([r for r in records if (r.seed - args.seed) % 2 == side] for side in (0, 1))

    def check(records: list) -> stats.Gain:
        return stats.correct([stats.sequential_gain("A/A", *halves(records), plan)])[0]

    executor = executor_from(args)
    done = grid.run_rounds(plan.looks, ["A/A"], cells,
                           lambda records: ["A/A"] if check(records).verdict == "undecided"
                           else [], results, budget_seconds=60 * args.budget, started=started,
                           progress=not args.no_progress,
                           extra={"preset": args.preset, "experiment": f"aa {plan.tag}"},
                           executor=executor)
    g = check(done.records)
    found = {"equivalent": "equivalent: the two halves differ by less than "
                           f"{summary.margin_text(margin)} (TOST p {g.equivalence:.3f})",
             "undecided": "undecided, no difference detected"}.get(
        g.verdict, "a difference was detected: a false positive of the statistics (the "
                   f"halves are the same model; expected in at most {stats.ALPHA:.0%} of "
                   "checks), or the runs are not reproducible")
    seeds = (f"seeds {args.seed}, {args.seed + 2}, ... against {args.seed + 1}, "
             f"{args.seed + 3}, ..., {g.seeds} each")
    print(f"\nA/A check for {main[0]} ({base.model}, {seeds}): {found} "
          f"({g.interval_text()}, sequential p {g.adjusted:.3f})")
    if g.verdict == "undecided":
        pace = summary.Pace.of(done.records, getattr(executor, "workers", 1))
        print("  " + summary.undecided_note("A/A", g, plan, 1, pace, g.seeds))
    print(rounds_text(done, plan, args.budget, "half"))
    print(f"wrote {out / 'results.jsonl'}")


def main(argv: list[str] | None = None) -> None:
    started = time.monotonic()  # the --budget counts from here
    args = parser().parse_args(argv)
    margin = check_verdict_arguments(args)
    if args.aa:
        return aa_check(args, margin, started)
    runs, rankings = build_runs(args), {}
    if args.recommend is not None:  # the baseline and the K best-ranked partners only
        from bioner_mtl.training.grids import recommend
        runs, rankings = recommend.keep_best(runs, args.recommend)
    default = "_".join(file_name(m) for m in names(args.main))
    out = Path(args.out or f"runs/pairwise-{default}-{args.model}-{args.preset}")
    results = open_results(out, args.resume, "pairwise")
    refuse_others(out, results, outputs(out, names(args.main), args.recommend is not None))
    from bioner_mtl.training.grids import grid, stats, summary

    plan = stats.Plan.rounds(args.seeds, args.max_seeds, margin)
    grid.check_plan(results, plan.tag, "--seeds, --max-seeds and --margin")
    check_same_grid(results, runs, out)  # a resume with another --model, --set...: refused
    first = [r for r in runs if r.seed == args.seed]  # one cell of each: the templates
    bases = {r.main: r for r in first if not r.aux}
    units = {(r.main, "+".join(r.aux)): r for r in first if r.aux}

    def cells(unit: tuple[str, str], start: int, stop: int) -> list:
        return [replace(template, seed=args.seed + i) for i in range(start, stop)
                for template in (bases[unit[0]], units[unit])]

    def undecided(records: list) -> list[tuple[str, str]]:
        """The partners still undecided, the nearest to a verdict first."""
        waiting = []
        for main_name, rows in summary.partner_rows(records, plan).items():
            gains = [r.gain for r in rows if r.gain is not None]
            for g in gains:
                if g.verdict == "undecided":
                    need = stats.seeds_to_decide(g, plan, len(gains))
                    waiting.append((need or stats.MAX_SEEDS + 1, (main_name, g.name)))
        return [unit for _, unit in sorted(waiting)]

    executor = executor_from(args)
    done = grid.run_rounds(plan.looks, list(units), cells, undecided, results,
                           budget_seconds=60 * args.budget, started=started,
                           progress=not args.no_progress,
                           extra={"preset": args.preset, "experiment": plan.tag},
                           executor=executor)
    by_main = summary.partner_rows(done.records, plan)
    pace = summary.Pace.of(done.records, getattr(executor, "workers", 1))
    for main_name, rows in by_main.items():
        print_table(main_name, rows, plan, pace)
        if main_name in rankings:
            print(recommend.skipped_text(*rankings[main_name], args.recommend))
    print(rounds_text(done, plan, args.budget))
    summary.write_csv(out / "pairwise.csv", summary.partner_table(by_main, plan))
    written = plot(out, by_main)
    if rankings:  # every candidate: its rank, score, features, trained or skipped and why
        summary.write_csv(out / "recommendation.csv", recommend.ranking_rows(rankings,
                                                                             args.recommend))
        written.append(out / "recommendation.csv")
    print(f"\nwrote {out / 'results.jsonl'}, {out / 'pairwise.csv'}"
          + "".join(f", {p}" for p in written))


if __name__ == "__main__":
    sys.exit(run(main))
