"""Inference speed of model bundles on the BC5CDR test text, and what a multi-head model
saves: one model with N heads against N single-task models tagging the same text.

    python experiments/inference_speed.py                        # window-cnn, bilstm-crf, bert
    python experiments/inference_speed.py --models bert --sentences 500 --heads 1,3

Speed does not depend on the weights, so the bundles are built untrained (paper settings);
compilation is excluded (one warm-up pass). Prints a markdown table. The same measurement,
with sizes on disk and beside the peers, is `experiments/bench.py --only multihead`.
"""

from __future__ import annotations

import argparse
import platform
import sys

from bioner_mtl.data.errors import InputError
from bioner_mtl.training.cli import ArgumentParser, run
from bioner_mtl.training.spec.catalogue import get_model

PARTNERS = ["BC5CDR", "NCBI-disease", "BC2GM", "Linnaeus", "BioNLP09", "Ex-PTM"]


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="window-cnn,bilstm-crf,bert")
    p.add_argument("--heads", default="1,3", help="numbers of heads N to compare")
    p.add_argument("--sentences", type=int, default=1000, help="BC5CDR test sentences tagged")
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
    for model in args.models.split(","):
        get_model(model)  # an unknown name stops before anything is built
    from bioner_mtl.training.bench.ours import multihead

    print(f"{args.sentences} BC5CDR test sentences (at most), {platform.machine()} CPU x "
          f"{__import__('os').cpu_count()}\n")
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
