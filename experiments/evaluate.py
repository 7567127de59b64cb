"""Score predicted tags against gold tags, like conlleval.

    python experiments/evaluate.py GOLD PRED        # two token<TAB>tag files, same tokens
    python experiments/evaluate.py GOLD_AND_PRED    # one file: token<TAB>gold<TAB>predicted
    python experiments/evaluate.py GOLD PRED --json

Prints mention-level exact P/R/F1 in strict mode and in default (conlleval) mode, each overall
and per type, and the token-level macro P/R/F1. Each file uses one scheme, IOB2 or IOBES
(read as IOB2). Gold tags must be valid; a predicted I-X after O is scored by the two modes,
a predicted IOBES sequence must be valid IOBES.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from bioner_mtl.data.errors import InputError
from bioner_mtl.data.reader import Block, read_blocks, tag_column
from bioner_mtl.training.cli import ArgumentParser, run

log = logging.getLogger(__name__)

THREE_COLUMNS = ("token<TAB>gold<TAB>predicted (or give the predictions as a second file, "
                 "token<TAB>tag)")


def _tags(path: str, blocks: list[Block], column: int, gold: bool, repair: bool,
          what: str) -> list[list[str]]:
    """One column as IOB2; gold must be valid (or repaired), predictions may hold a stray I-."""
    tags, repairs = tag_column(path, blocks, column, repair=repair and gold, what=what,
                               stray_inside=not gold)
    if repairs:
        log.warning("%s: repaired %d gold I- tag(s) that followed neither B- nor I- of their "
                    "type (now B-)", path, repairs)
    return tags


def _align(gold_path: str, gold: list[Block], pred_path: str, pred: list[Block]) -> None:
    """Both files must hold the same tokens in the same sentences: name the first difference."""
    for g, p in zip(gold, pred):
        if g.columns[0] == p.columns[0]:
            continue
        gt, pt = g.columns[0], p.columns[0]
        i = next((i for i, (a, b) in enumerate(zip(gt, pt)) if a != b), None)
        if i is not None:
            raise InputError(f"{pred_path}:{p.lines[i]}: token {pt[i]!r} differs from "
                             f"{gold_path}:{g.lines[i]} ({gt[i]!r}); both files need the same "
                             "tokens and sentence breaks")
        if len(pt) < len(gt):
            raise InputError(f"{pred_path}:{p.lines[-1]}: the sentence ends here but goes on in "
                             f"{gold_path} (line {g.lines[len(pt)]}); both files need the same "
                             "tokens and sentence breaks")
        raise InputError(f"{pred_path}:{p.lines[len(gt)]}: the sentence goes on here but ends "
                         f"in {gold_path} (line {g.lines[-1]}); both files need the same tokens "
                         "and sentence breaks")
    if len(pred) < len(gold):
        raise InputError(f"{pred_path}: {len(pred)} sentences but {gold_path} has {len(gold)}; "
                         f"gold sentence {len(pred) + 1} ({gold_path}:{gold[len(pred)].lines[0]}) "
                         "has no prediction: predict every gold sentence, in order")
    if len(pred) > len(gold):
        raise InputError(f"{pred_path}:{pred[len(gold)].lines[0]}: sentence {len(gold) + 1} has "
                         f"no gold sentence ({gold_path} has {len(gold)}); predict every gold "
                         "sentence, in order, and nothing else")


def read_pair(gold_path: str, pred_path: str | None,
              repair: bool = False) -> tuple[list[list[str]], list[list[str]]]:
    """Gold and predicted tag sequences (IOB2), checking both files hold the same tokens."""
    if pred_path is None:
        blocks = read_blocks(gold_path, 3, THREE_COLUMNS)
        if not blocks:
            raise InputError(f"{gold_path}: no sentences to score")
        return (_tags(gold_path, blocks, 1, True, repair, "gold tag"),
                _tags(gold_path, blocks, 2, False, repair, "predicted tag"))
    gold_blocks = read_blocks(gold_path, 2)
    if not gold_blocks:
        raise InputError(f"{gold_path}: no sentences to score")
    pred_blocks = read_blocks(pred_path, 2)
    _align(gold_path, gold_blocks, pred_path, pred_blocks)
    return (_tags(gold_path, gold_blocks, 1, True, repair, "tag"),
            _tags(pred_path, pred_blocks, 1, False, repair, "tag"))


def _types(sequences: list[list[str]]) -> set[str]:
    return {tag[2:] for tags in sequences for tag in tags if tag != "O"}


def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gold", help="gold file (token, tag) or (token, gold, predicted)")
    parser.add_argument("pred", nargs="?", help="predicted file (token, tag)")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    parser.add_argument("--repair", action="store_true",
                        help="turn a gold I-X that follows neither B-X nor I-X into B-X (and "
                             "say how many) instead of stopping")
    args = parser.parse_args(argv)
    gold, pred = read_pair(args.gold, args.pred, args.repair)
    unknown = _types(pred) - _types(gold)
    if unknown:
        log.warning("predicted entity types that gold never uses: %s (gold: %s); each of their "
                    "mentions is a false positive: check the type names",
                    ", ".join(sorted(unknown)), ", ".join(sorted(_types(gold))) or "none")
    from bioner_mtl.training.fit.evaluation import (
        evaluate,  # only now: seqeval and scikit-learn load slowly
    )

    result = evaluate(gold, pred)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.report())


if __name__ == "__main__":
    sys.exit(run(main))
