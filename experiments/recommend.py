"""Which partners should I train with? Rank a main corpus's candidate partners in seconds,
without training, from features of the two corpora (entity classes, entity and word
vocabulary overlap, text similarity, sizes, label density), and judge that ranking against a
grid's measured gains.

    python experiments/recommend.py --main NCBI-disease                  # every other NER corpus
    python experiments/recommend.py --main my/corpus --aux BC2GM,BC5CDR,Linnaeus
    python experiments/recommend.py --main BC2GM --gains my_gains.jsonl
    python experiments/recommend.py --collect runs/pairwise-A runs/pairwise-B --out gains.jsonl
    python experiments/recommend.py --validate data/validation/partner_gains.jsonl

The expected gain comes from a ridge regression fitted on a gains file (default
data/validation/partner_gains.jsonl where it exists); without one the partners are ranked by a
fixed unweighted score and no expected gain is given. No TensorFlow is loaded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bioner_mtl.data import corpora
from bioner_mtl.data import partner_features as pf
from bioner_mtl.data.atomic import refuse_existing, refuse_input
from bioner_mtl.data.errors import InputError
from bioner_mtl.training.cli import ArgumentParser, add_verbose_argument, partners_for, run
from bioner_mtl.training.grids import recommend

SHORT = {"class_overlap": "class", "mention_coverage": "mentcov", "entity_jaccard": "entJ",
         "token_coverage": "tokcov", "vocab_jaccard": "vocJ", "js_divergence": "JSD",
         "log_size_ratio": "lnsize", "density_diff": "ddens"}


def candidates(main: str, aux: str | None) -> list[str]:
    chosen = partners_for(main, aux)
    for name in chosen:
        corpora.spec_for(name)  # an unknown name: one line with the valid ones
    return chosen


def cell(value: float | None, text: str = "{:.3f}") -> str:
    return "-" if value is None else text.format(value)


def print_ranking(main: str, ranking: list[recommend.Recommendation], how: str) -> None:
    print(f"partners for {main}, best first; scored by {how}")
    heads = " ".join(f"{SHORT[n]:>7}" for n in pf.FEATURES)
    print(f"{'rank':>4} {'partner':22} {'score':>7} {'expected gain [95%]':>22} {heads}")
    for r in ranking:
        expected = "" if r.expected is None else f"{r.expected:+.2f}"
        if r.low is not None:
            expected += f" [{r.low:+.2f}, {r.high:+.2f}]"
        values = " ".join(f"{cell(r.features[n]):>7}" for n in pf.FEATURES)
        print(f"{r.rank:>4} {r.partner:22} {r.score:+7.3f} {expected or 'n/a':>22} {values}")
    print("features (training splits):")
    for name, why in pf.FEATURES.items():
        print(f"  {SHORT[name]:>7} {name}: {why}")


def print_validation(path: str, results: list[recommend.MainResult], overall: dict) -> None:
    print(f"leave-one-main-corpus-out validation on {path}: each main corpus's partners are "
          "ranked by a scorer fitted on the other main corpora's gains only")
    print("rho: Spearman between predicted score and measured test gain (95% bootstrap over "
          f"that main's partners, {recommend.RESAMPLES} seeded resamples); top-1 / top-3: the "
          "measured best partner is ranked first / in the top 3 (score ties: expectation over "
          "random tie orders); same class first: partners annotating one of the main's entity "
          "classes first; random: exact expectation")
    header = (f"{'main':16} {'n':>3} {'CI!=0':>5} {'gains range':>15} {'±CI':>5}  "
              f"{'recommender rho [95%]':>23} {'top1':>4} {'top3':>4}  {'same-class rho':>14} "
              f"{'top1':>4} {'top3':>4}  {'random top1':>11} {'top3':>4}  best / ranked first")
    print(header)
    for r in results:
        rec, same, rand = (r.figures[k] for k in ("recommender", "same class first",
                                                  "random (expected)"))
        interval = f"[{r.interval[0]:+.2f}, {r.interval[1]:+.2f}]" if r.interval else ""
        print(f"{r.main:16} {r.partners:>3} {r.distinguishable:>5} "
              f"{f'{r.gain_range[0]:+.2f}..{r.gain_range[1]:+.2f}':>15} "
              f"{r.median_half_width:5.2f}  "
              f"{cell(rec['spearman'], '{:+.2f}') + ' ' + interval:>23} {rec['top1']:4.2f} "
              f"{rec['top3']:4.2f}  {cell(same['spearman'], '{:+.2f}'):>14} {same['top1']:4.2f} "
              f"{same['top3']:4.2f}  {rand['top1']:11.2f} {rand['top3']:4.2f}  "
              f"{r.best} / {r.predicted_first}")
    rec, same, rand = (overall[k] for k in ("recommender", "same class first",
                                            "random (expected)"))
    interval = overall["interval"]
    span = f" [{interval[0]:+.2f}, {interval[1]:+.2f}]" if interval else ""
    print(f"overall (means over {len(results)} main corpora; rho's 95% interval: bootstrap over "
          f"main corpora): recommender rho {cell(rec['spearman'], '{:+.2f}')}{span}, top-1 "
          f"{rec['top1']:.2f}, top-3 {rec['top3']:.2f}; same class first rho "
          f"{cell(same['spearman'], '{:+.2f}')}, top-1 {same['top1']:.2f}, top-3 "
          f"{same['top3']:.2f}; random rho +0.00, top-1 {rand['top1']:.2f}, top-3 "
          f"{rand['top3']:.2f}")
    if overall.get("ahead"):
        mean, span = overall["ahead"]
        shown = f" [{span[0]:+.2f}, {span[1]:+.2f}]" if span else ""
        print(f"recommender minus same class first, rho {mean:+.2f}{shown} (paired over the "
              "same main corpora, bootstrap over them)")
    print("n: partners; CI!=0: partners whose gain's 95% interval excludes zero; ±CI: median "
          "half-width of those intervals (points); a constant ranking (every partner shares a "
          "class with the main) has rho +0.00, its expectation over random orders of its ties")
    noise = [r.main for r in results if r.distinguishable == 0]
    if noise:
        print(f"measured spread: no partner's gain is distinguishable from zero for "
              f"{', '.join(noise)}: those rankings are among noise and cannot judge the "
              "recommender")
    if len(noise) == len(results):
        print("measured spread: every main corpus's gains are indistinguishable from zero: "
              "this file cannot tell a good ranking from a bad one")


def parser() -> argparse.ArgumentParser:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--main", help="main corpus: a registered name or a directory")
    mode.add_argument("--collect", nargs="+", metavar="RUN_DIR",
                      help="pairwise run directories to write a gains file from (with --out)")
    mode.add_argument("--validate", metavar="FILE",
                      help="a gains file: leave-one-main-corpus-out validation of the ranking")
    p.add_argument("--aux", help="candidate partners A,B (default: every other NER corpus)")
    p.add_argument("--gains", help="gains file to fit the scorer on (default "
                                   f"{recommend.GAINS_FILE.relative_to(recommend.GAINS_FILE.parents[2])}"
                                   " where it exists)")
    p.add_argument("--out", help="with --collect: the gains file to write")
    p.add_argument("--force", action="store_true",
                   help="with --collect: replace --out if it exists (default: refuse)")
    add_verbose_argument(p)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.collect:
        if not args.out:
            raise InputError("--collect needs --out FILE, the gains file to write")
        # never over a results file it reads; over anything else only with --force
        refuse_input(args.out, [Path(d) / "results.jsonl" for d in args.collect])
        lines = recommend.collect(args.collect)  # reads and checks the grids first
        refuse_existing(args.out, args.force)
        recommend.write_gains(args.out, lines)
        print(f"wrote {len(lines)} gains lines of {len({x['main'] for x in lines})} main "
              f"corpora to {args.out}")
        return
    if args.out or args.force:
        raise InputError(f"{'--out' if args.out else '--force'} goes with --collect")
    if args.validate:
        gains = recommend.read_gains(args.validate)
        results, overall = recommend.validate(gains)
        print_validation(args.validate, results, overall)
        return
    corpora.spec_for(args.main)  # an unknown name: one line with the valid ones
    ranking, how = recommend.rank(args.main, candidates(args.main, args.aux), args.gains)
    print_ranking(args.main, ranking, how)


if __name__ == "__main__":
    sys.exit(run(main))
