"""Inference speed of model bundles on the BC5CDR test text, and what a multi-head model
saves: one model with N heads against N single-task models tagging the same text (or, with
--train, training on the same batches: KHAN section 5.2).

    python experiments/inference_speed.py                        # window-cnn, bilstm-crf, bert
    python experiments/inference_speed.py --models bert --sentences 500 --heads 1,3
    python experiments/inference_speed.py --train --models bert --heads 1,3 --batches 50

Speed does not depend on the weights, so the bundles are built untrained (paper settings);
compilation is excluded (one warm-up pass). Prints a markdown table. The same measurement,
with sizes on disk and beside the peers, is `experiments/bench.py --only multihead`.

--train measures training instead: one model with a head per corpus trains --batches batches
of each of its N corpora in KHAN's mixed order, and each of the N single-task models trains
the same batches of its corpus; every model trains in a process of its own (paper settings),
timed from building it to its last step (compilation included), with its process's peak
memory. The N single-task models are summed as trained side by side.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

from bioner_mtl.data.errors import InputError
from bioner_mtl.training.cli import ArgumentParser, run
from bioner_mtl.training.spec.catalogue import get_model

PARTNERS = ["BC5CDR", "NCBI-disease", "BC2GM", "Linnaeus", "BioNLP09", "Ex-PTM"]
BATCHES = 50  # --train: batches of each corpus


def print_training(models: list[str], counts: list[int], batches: int) -> None:
    """KHAN section 5.2 as a markdown table: one N-head model against N single-task models,
    training seconds and peak memory side by side, with their ratios."""
    from bioner_mtl.training.bench import ours

    print(f"training on {batches} batches of each corpus (paper settings), {platform.machine()} "
          f"CPU x {os.cpu_count()}; every model in its own process; N single-task models "
          "summed as trained side by side\n")
    print("| model | N heads | one N-head model: s | N single-task models: s | time ratio | "
          "N-head peak MB | single-task peaks MB (sum; largest) | memory ratio | "
          "above import MB: N-head / single-task sum |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model in models:
        record = ours.multihead_training({"model": model, "heads": counts,
                                          "corpora": PARTNERS, "batches": batches})
        for r in record["rows"]:
            print(f"| {model} | {r['heads']} | {r['multi_head_seconds']:.1f} | "
                  f"{r['single_models_seconds']:.1f} | "
                  f"{r['multi_head_seconds'] / r['single_models_seconds']:.2f} | "
                  f"{r['multi_head_peak_mb']:,.0f} | {r['single_models_peak_mb']:,.0f}; "
                  f"{r['largest_single_peak_mb']:,.0f} | "
                  f"{r['multi_head_peak_mb'] / r['single_models_peak_mb']:.2f} | "
                  f"{r['multi_head_added_mb']:,.0f} / {r['single_models_added_mb']:,.0f} |",
                  flush=True)
    print("\nratios: one N-head model / N single-task models (below 1: the N-head model "
          "trains faster, or in less memory)")


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="window-cnn,bilstm-crf,bert")
    p.add_argument("--heads", default="1,3", help="numbers of heads N to compare")
    p.add_argument("--sentences", type=int, default=1000, help="BC5CDR test sentences tagged")
    p.add_argument("--train", action="store_true",
                   help="measure training time and peak memory instead (KHAN section 5.2)")
    p.add_argument("--batches", type=int,
                   help=f"with --train: batches of each corpus trained (default {BATCHES})")
    args = p.parse_args(argv)
    try:
        counts = [int(n) for n in args.heads.split(",")]
    except ValueError:
        counts = []
    if not counts or not all(1 <= n <= len(PARTNERS) for n in counts):
        raise InputError(f"--heads {args.heads!r}: numbers of heads from 1 to {len(PARTNERS)}, "
                         "separated by commas, e.g. 1,3")
    if args.sentences < 1:
        raise InputError(f"--sentences {args.sentences}: tag at least 1 sentence")
    if args.batches is not None and not args.train:
        raise InputError(f"--batches {args.batches} counts training batches: add --train")
    if args.batches is not None and args.batches < 1:
        raise InputError(f"--batches {args.batches}: train at least 1 batch of each corpus")
    for model in args.models.split(","):
        get_model(model)  # an unknown name stops before anything is built
    if args.train:
        return print_training(args.models.split(","), counts, args.batches or BATCHES)
    from bioner_mtl.training.bench.ours import multihead

    print(f"{args.sentences} BC5CDR test sentences (at most), {platform.machine()} CPU x "
          f"{os.cpu_count()}\n")
    print("| model | N heads | one N-head model: sentences/s | N single-task models: "
          "sentences/s | multi-head speed-up |")
    print("|---|---|---|---|---|")
    for model in args.models.split(","):
        record = multihead({"model": model, "heads": counts, "corpora": PARTNERS,
                            "sentences": args.sentences})
        n = record["sentences"]
        for row in record["rows"]:
            print(f"| {model} | {row['heads']} | {n / row['multi_head_seconds']:,.0f} | "
                  f"{n / row['single_models_seconds']:,.0f} | "
                  f"{row['single_models_seconds'] / row['multi_head_seconds']:.2f}x |",
                  flush=True)


if __name__ == "__main__":
    sys.exit(run(main))
