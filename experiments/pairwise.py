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
import csv
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data import corpora  # noqa: E402
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
from models.registry import baseline_of  # noqa: E402
from training import stats  # noqa: E402
from training.config import replace  # noqa: E402
from training.grid import run_cells  # noqa: E402
from training.stats import BASELINE  # noqa: E402

log = logging.getLogger("pairwise")


def names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def partners_for(main: str, args: argparse.Namespace) -> list[str]:
    if args.aux is not None:
        chosen = names(args.aux)
        if not chosen:
            raise InputError(f"--aux {args.aux!r} names no corpus; give A,B or leave --aux out "
                             "for every other corpus")
    elif args.aux_group:
        chosen = corpora.corpora_with_class(args.aux_group)
    else:
        chosen = corpora.bundled_ner_corpora()
    if args.aux and main in chosen and len(names(args.main)) == 1:
        raise InputError(f"--aux lists the main corpus {main} as its own partner; drop it")
    return [c for c in chosen if c != main]


def build_runs(args: argparse.Namespace) -> list:
    runs = []
    if not names(args.main):
        raise InputError(f"--main {args.main!r} names no corpus; give one, e.g. --main BC2GM")
    for main in names(args.main):
        base = resolve_run(args, main)
        for partner in [None, *partners_for(main, args)]:
            corpora.spec_for(partner or main)
            aux = (partner,) if partner else ()
            weights = aux_weights(args, aux)
            # the single-task cell is the family's baseline model (cross-sharing needs a
            # partner: its baseline is the single-task BiLSTM-CNN-CRF)
            model = base.model if partner else baseline_of(base.model)
            runs += seeded(replace(base, aux=aux, loss_weights=weights, model=model), args)
    return runs


def summarise(records: list[dict]) -> dict[str, list[dict]]:
    """Per main corpus: the baseline row, then one row per partner (sorted by devel gain)
    with its paired test gain, 95% interval, raw and Holm-corrected p-values, and verdict."""
    out = {}
    for main, (base, gains) in stats.pairwise_gains(records).items():
        by_partner: dict[str, list[dict]] = {}
        for r in records:
            if r["main"] == main:
                by_partner.setdefault(stats.partner_of(r), []).append(r)
        rows = [_row(main, BASELINE, base, None)] if base else []
        rows += [_row(main, g.name, by_partner[g.name], g) for g in gains]
        if not base:  # partners without a baseline yet (an interrupted grid): no gains
            rows += [_row(main, n, runs, None) for n, runs in by_partner.items()]
        if rows:
            rows[-1 if not gains else 0]["verdict"] = stats.verdict(gains)
        out[main] = rows
    return out


def _row(main: str, partner: str, runs: list[dict], gain: stats.Gain | None) -> dict:
    f1, f1_std = stats.mean_std([r["test_f1"] for r in runs])
    return {"main": main, "partner": partner, "seeds": len(runs), "f1": f1, "f1_std": f1_std,
            "devel_gain": gain.devel if gain else None, "gain": gain.mean if gain else None,
            "ci_low": gain.low if gain else None, "ci_high": gain.high if gain else None,
            "p_value": gain.p if gain else None, "p_holm": gain.p_holm if gain else None,
            "helps": gain.helps if gain else None, "hurts": gain.hurts if gain else None,
            "token_macro_f1": stats.mean_std([r["test_token_macro_f1"] for r in runs])[0],
            "improving_at_cap": sum(bool(r.get("improving_at_cap")) for r in runs),
            "test_sampling": gain.test_sampling if gain else None, "verdict": ""}


def _points(value: float | None, sign: bool = True) -> str:
    if value is None:
        return ""
    return f"{100 * value:+.2f}" if sign else f"{100 * value:.2f}"


def print_table(main: str, rows: list[dict]) -> None:
    seeds = max((r["seeds"] for r in rows), default=0)
    print(f"\nmain corpus {main}: test mention F1 (strict, %), {seeds} seed(s); gain = partner "
          "minus single-task, paired by seed")
    print(f"{'partner':22} {'F1':>6} {'gain':>7} {'95% CI':>17} {'p':>6} {'p Holm':>7} "
          f"{'devel gain':>10}")
    for r in rows:
        interval = (f"[{_points(r['ci_low'])}, {_points(r['ci_high'])}]"
                    if r["ci_low"] is not None else "")
        p = "" if r["p_value"] is None else f"{r['p_value']:.3f}"
        holm = "" if r["p_holm"] is None else f"{r['p_holm']:.3f}" + ("*" if r["helps"] or
                                                                      r["hurts"] else " ")
        mark = f"  ^{r['improving_at_cap']}" if r["improving_at_cap"] else ""
        print(f"{r['partner']:22} {_points(r['f1'], False):>6} {_points(r['gain']):>7} "
              f"{interval:>17} {p:>6} {holm:>7} {_points(r['devel_gain']):>10}{mark}")
    notes = [f"partners sorted by devel gain (the choice); * Holm-corrected p < {stats.ALPHA}"]
    if any(r["improving_at_cap"] for r in rows):
        notes.append("^N: N seeds still improving on devel at the step cap (raise --epochs)")
    if any(r["test_sampling"] is False for r in rows):
        notes.append("records without per-sentence counts: intervals cover seed variance only")
    print("; ".join(notes))
    verdict = next((r["verdict"] for r in rows if r["verdict"]), "")
    if verdict:
        print(f"verdict for {main}: {verdict}")


def write_csv(path: Path, summary: dict[str, list[dict]]) -> None:
    rows = [r for rows in summary.values() for r in rows]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _colour(row: dict) -> str:
    return "tab:green" if row["helps"] else "tab:red" if row["hurts"] else "tab:gray"


def plot(out: Path, summary: dict[str, list[dict]]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for main, rows in summary.items():
        partners = [r for r in rows if r["gain"] is not None]
        if not partners:
            continue
        fig, ax = plt.subplots(figsize=(7, 0.4 * len(partners) + 1.7))
        gains = [100 * r["gain"] for r in partners]
        errors = [[100 * (r["gain"] - r["ci_low"]) for r in partners],
                  [100 * (r["ci_high"] - r["gain"]) for r in partners]]
        ax.barh([r["partner"] for r in partners], gains, xerr=errors, capsize=3,
                color=[_colour(r) for r in partners])
        ax.axvline(0, color="black", linewidth=0.8)
        ax.invert_yaxis()
        ax.set_xlabel("gain in test F1 over the single-task baseline (points, 95% CI)")
        ax.set_title(f"Auxiliary partners for {main} (sorted by devel gain)")
        fig.tight_layout()
        path = out / f"gains_{file_name(main)}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    if len(summary) > 1:
        written.append(heatmap(out / "heatmap.png", summary))
    return written


def heatmap(path: Path, summary: dict[str, list[dict]]) -> Path:
    import matplotlib.pyplot as plt

    mains = list(summary)
    auxes = sorted({r["partner"] for rows in summary.values() for r in rows
                    if r["gain"] is not None})
    cells = {(m, r["partner"]): r for m in mains for r in summary[m] if r["gain"] is not None}
    grid = [[100 * cells[m, a]["gain"] if (m, a) in cells else float("nan") for a in auxes]
            for m in mains]
    fig, ax = plt.subplots(figsize=(1.1 * len(auxes) + 2.5, 0.7 * len(mains) + 1.8))
    limit = max(1.0, max((abs(v) for row in grid for v in row if v == v), default=1.0))
    image = ax.imshow(grid, cmap="RdYlGn", vmin=-limit, vmax=limit)
    ax.set_xticks(range(len(auxes)), auxes, rotation=45, ha="right")
    ax.set_yticks(range(len(mains)), mains)
    for i, m in enumerate(mains):
        for j, a in enumerate(auxes):
            row = cells.get((m, a))
            if row is None:
                continue
            star = "*" if row["helps"] or row["hurts"] else ""
            ax.text(j, i, f"{100 * row['gain']:+.1f}{star}\n[{100 * row['ci_low']:+.1f}, "
                    f"{100 * row['ci_high']:+.1f}]", ha="center", va="center", fontsize=7,
                    fontweight="bold" if star else "normal")
    fig.colorbar(image, label="gain in test F1 (points)")
    ax.set_title("gain [95% CI]; * Holm-corrected p < 0.05", fontsize=9)
    ax.set_xlabel("auxiliary corpus")
    ax.set_ylabel("main corpus")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def file_name(corpus: str) -> str:
    """A corpus's display name fit for a file name (a path given as --main is not)."""
    return Path(str(corpus)).name or str(corpus)  # a registry name, or a directory's name


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--main", required=True, help="main corpus, or A,B,C for a main x aux matrix")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--aux", help="auxiliary partners A,B (default: every other NER corpus)")
    group.add_argument("--aux-group", help="partners annotating one entity class, e.g. "
                       "Gene/Protein, Chemical, Disease, Species, Cell")
    group.add_argument("--aa", action="store_true",
                       help="A/A check of the statistics: the single-task model against itself "
                            "on 2 x --seeds different seeds; it should find no difference")
    add_run_arguments(p)
    p.add_argument("--out", help="run directory (default runs/pairwise-MAIN-MODEL-PRESET)")
    return p


def aa_check(args: argparse.Namespace) -> None:
    """The single-task cell against itself: seeds S.. as the reference, the next --seeds as
    the candidate (unpaired: a seed paired with itself would differ by exactly 0)."""
    main = names(args.main)
    if len(main) != 1:
        raise InputError("--aa checks one main corpus at a time")
    base = resolve_run(args, main[0])
    runs = [replace(base, model=baseline_of(base.model), seed=s)
            for s in range(args.seed, args.seed + 2 * args.seeds)]
    out = Path(args.out or f"runs/aa-{file_name(main[0])}-{args.model}-{args.preset}")
    results = open_results(out, args.resume, "pairwise")
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
    runs = build_runs(args)
    default = "_".join(file_name(m) for m in names(args.main))
    out = Path(args.out or f"runs/pairwise-{default}-{args.model}-{args.preset}")
    results = open_results(out, args.resume, "pairwise")
    log.info("%d runs (%s preset) into %s", len(runs), args.preset, out)
    records = run_cells(runs, results, progress=not args.no_progress,
                        extra={"preset": args.preset}, executor=executor_from(args))
    summary = summarise(records)
    for main_name, rows in summary.items():
        print_table(main_name, rows)
    write_csv(out / "pairwise.csv", summary)
    written = plot(out, summary)
    print(f"\nwrote {out / 'results.jsonl'}, {out / 'pairwise.csv'}"
          + "".join(f", {p}" for p in written))


if __name__ == "__main__":
    sys.exit(run(main))
