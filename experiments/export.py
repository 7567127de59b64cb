"""Export a model bundle as a TensorFlow SavedModel for serving (TensorFlow alone loads it).

    python experiments/export.py --model runs/my-model --out runs/my-model-savedmodel

The `serving_default` signature takes tokenised sentences (word models: `tokens` string
[B, N] and `lengths` int32 [B]; BERT: `token_ids`, `lengths`, `word_positions`,
`word_counts`, int32) and returns `<head>/tags` (IOB2 strings) and `<head>/confidences`
for every head, decoded in the graph as the bundle decodes (constrained Viterbi or CRF).
assets.extra/bioner_export.json in the SavedModel lists the heads and inputs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bioner_mtl.training.cli import ArgumentParser, add_verbose_argument, run

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a bundle written by train.py --save-model")
    p.add_argument("--out", required=True, help="directory for the SavedModel (new or empty; "
                   "built beside it and renamed into place whole)")
    p.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                   help="what a BERT bundle's encoder computes in, inside the SavedModel "
                        "(recorded in its bioner_export.json; default float32, the same on "
                        "every machine that serves it)")
    add_verbose_argument(p)
    args = p.parse_args(argv)
    # a wrong --out or --model is said before TensorFlow loads (seconds)
    from bioner_mtl.data.atomic import check_new_directory
    from bioner_mtl.training.product.bundle import Tagger

    check_new_directory(Path(args.out))
    tagger = Tagger(args.model, build=False, precision=args.precision)
    from bioner_mtl.training.product.export import export_tagger

    tagger.build()
    out = export_tagger(tagger, args.out)
    log.info("SavedModel written to %s", out)


if __name__ == "__main__":
    sys.exit(run(main))
