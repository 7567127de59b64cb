"""Which auxiliary corpus helps my corpus? Train the single-task baseline and one two-corpus
model per partner, then rank partners by their gain in test F1 over the baseline.

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
from experiments.cli import add_run_arguments, executor_from, open_results, resolve_run, run, seeded  # noqa: E402
from training import stats  # noqa: E402
from training.config import replace  # noqa: E402
from training.grid import run_cells  # noqa: E402

log = logging.getLogger("pairwise")
BASELINE = "(single-task)"


def names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def partners_for(main: str, args: argparse.Namespace) -> list[str]:
    if args.aux:
        chosen = names(args.aux)
    elif args.aux_group:
        chosen = corpora.corpora_with_class(args.aux_group)
    else:
        chosen = corpora.bundled_ner_corpora()
    if args.aux and main in chosen and len(names(args.main)) == 1:
        raise InputError(f"--aux lists the main corpus {main} as its own partner; drop it")
    return [c for c in chosen if c != main]


def build_runs(args: argparse.Namespace) -> list:
    runs = []
    for main in names(args.main):
        base = resolve_run(args, main)
        for partner in [None, *partners_for(main, args)]:
            corpora.spec_for(partner or main)
            aux = (partner,) if partner else ()
            weights = {partner: args.aux_weight} if partner and args.aux_weight != 1 else {}
            runs += seeded(replace(base, aux=aux, loss_weights=weights), args)
    return runs


def summarise(records: list[dict]) -> dict[str, list[dict]]:
    """Per main corpus: one row per partner with F1 mean/std over seeds, gain and p-value."""
    table: dict[str, dict[str, list[dict]]] = {}
    for r in records:
        table.setdefault(r["main"], {}).setdefault(r["aux"][0] if r["aux"] else BASELINE,
                                                   []).append(r)
    out = {}
    for main, by_partner in table.items():
        base = [r["test_f1"] for r in by_partner.get(BASELINE, [])]
        base_mean = stats.mean_std(base)[0] if base else float("nan")
        rows = []
        for partner, runs in by_partner.items():
            f1 = [r["test_f1"] for r in runs]
            mean, std = stats.mean_std(f1)
            token = stats.mean_std([r["test_token_macro_f1"] for r in runs])[0]
            p = None if partner == BASELINE else stats.t_test(f1, base)
            rows.append({"main": main, "partner": partner, "seeds": len(f1), "f1": mean,
                         "f1_std": std, "gain": mean - base_mean, "token_macro_f1": token,
                         "p_value": p, "significant": stats.significant(p)})
        out[main] = sorted(rows, key=lambda r: (r["partner"] != BASELINE, -r["gain"]))
    return out


def print_table(main: str, rows: list[dict]) -> None:
    print(f"\nmain corpus {main}: test mention F1 (strict, %), mean over seeds")
    print(f"{'partner':22} {'F1':>7} {'std':>5} {'gain':>7} {'token-macro F1':>15} {'p':>7}")
    for r in rows:
        p = "" if r["p_value"] is None else f"{r['p_value']:.3f}" + ("*" if r["significant"]
                                                                       else " ")
        print(f"{r['partner']:22} {100 * r['f1']:7.2f} {100 * r['f1_std']:5.2f} "
              f"{100 * r['gain']:+7.2f} {100 * r['token_macro_f1']:15.2f} {p:>7}")
    partners = [r for r in rows if r["partner"] != BASELINE]
    if partners:
        best = partners[0]
        verdict = "helps" if best["gain"] > 0 else "does not beat the baseline"
        print(f"best partner for {main}: {best['partner']} ({100 * best['gain']:+.2f} F1, "
              f"{verdict}); * marks p < {stats.ALPHA} (two-tailed t-test against the baseline)")


def write_csv(path: Path, summary: dict[str, list[dict]]) -> None:
    rows = [r for rows in summary.values() for r in rows]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def plot(out: Path, summary: dict[str, list[dict]]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for main, rows in summary.items():
        partners = [r for r in rows if r["partner"] != BASELINE]
        if not partners:
            continue
        fig, ax = plt.subplots(figsize=(7, 0.4 * len(partners) + 1.5))
        gains = [100 * r["gain"] for r in partners]
        ax.barh([r["partner"] for r in partners], gains,
                xerr=[100 * r["f1_std"] for r in partners],
                color=["tab:green" if g > 0 else "tab:red" for g in gains])
        ax.axvline(0, color="black", linewidth=0.8)
        ax.invert_yaxis()
        ax.set_xlabel("gain in test F1 over the single-task baseline (points)")
        ax.set_title(f"Auxiliary partners for {main}")
        fig.tight_layout()
        path = out / f"gains_{main}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    if len(summary) > 1:
        mains = list(summary)
        auxes = sorted({r["partner"] for rows in summary.values() for r in rows} - {BASELINE})
        grid = [[next((100 * r["gain"] for r in summary[m] if r["partner"] == a), float("nan"))
                 for a in auxes] for m in mains]
        fig, ax = plt.subplots(figsize=(0.8 * len(auxes) + 2, 0.5 * len(mains) + 1.5))
        limit = max(1.0, max(abs(v) for row in grid for v in row if v == v))
        image = ax.imshow(grid, cmap="RdYlGn", vmin=-limit, vmax=limit)
        ax.set_xticks(range(len(auxes)), auxes, rotation=45, ha="right")
        ax.set_yticks(range(len(mains)), mains)
        for i, row in enumerate(grid):
            for j, value in enumerate(row):
                if value == value:
                    ax.text(j, i, f"{value:+.1f}", ha="center", va="center", fontsize=8)
        fig.colorbar(image, label="gain in test F1 (points)")
        ax.set_xlabel("auxiliary corpus")
        ax.set_ylabel("main corpus")
        fig.tight_layout()
        fig.savefig(out / "heatmap.png", dpi=120)
        plt.close(fig)
        written.append(out / "heatmap.png")
    return written


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--main", required=True, help="main corpus, or A,B,C for a main x aux matrix")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--aux", help="auxiliary partners A,B (default: every other NER corpus)")
    group.add_argument("--aux-group", help="partners annotating one entity class, e.g. "
                       "Gene/Protein, Chemical, Disease, Species, Cell")
    add_run_arguments(p)
    p.add_argument("--out", help="run directory (default runs/pairwise-MAIN-MODEL-PRESET)")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    runs = build_runs(args)
    out = Path(args.out or f"runs/pairwise-{args.main.replace(',', '_')}-{args.model}-"
                          f"{args.preset}")
    results = open_results(out, args.resume)
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
