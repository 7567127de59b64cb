"""Score predicted tags against gold tags, like conlleval.

    python experiments/evaluate.py GOLD PRED        # two token<TAB>tag files, same tokens
    python experiments/evaluate.py GOLD_AND_PRED    # one file: token<TAB>gold<TAB>predicted
    python experiments/evaluate.py GOLD PRED --json

Prints mention-level exact P/R/F1 (strict and default mode) overall and per type, and the
token-level macro P/R/F1. IOBES files are read as IOB2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data import tags as tagging  # noqa: E402
from data.errors import InputError  # noqa: E402
from data.reader import read_blocks  # noqa: E402
from experiments.cli import run  # noqa: E402
from training.evaluation import evaluate  # noqa: E402


def _as_iob2(tags: tuple[str, ...], path: str, line: int) -> list[str]:
    try:
        return tagging.convert(tags, "IOB2")
    except ValueError as err:
        raise InputError(f"{path}:{line}: {err}") from None


def read_pair(gold_path: str, pred_path: str | None) -> tuple[list[list[str]], list[list[str]]]:
    """Gold and predicted tag sequences, checking both files hold the same tokens."""
    if pred_path is None:
        blocks = read_blocks(gold_path, 3)
        gold = [_as_iob2(b.columns[1], gold_path, b.lines[0]) for b in blocks]
        pred = [_as_iob2(b.columns[2], gold_path, b.lines[0]) for b in blocks]
        return gold, pred
    gold_blocks, pred_blocks = read_blocks(gold_path, 2), read_blocks(pred_path, 2)
    if len(gold_blocks) != len(pred_blocks):
        raise InputError(f"{pred_path}: {len(pred_blocks)} sentences but {gold_path} has "
                         f"{len(gold_blocks)}; predict every gold sentence, in order")
    for g, p in zip(gold_blocks, pred_blocks):
        if g.columns[0] != p.columns[0]:
            i = next((i for i, (a, b) in enumerate(zip(g.columns[0], p.columns[0])) if a != b),
                     min(len(g.columns[0]), len(p.columns[0])))
            line = p.lines[min(i, len(p.lines) - 1)]
            raise InputError(f"{pred_path}:{line}: tokens differ from {gold_path}:"
                             f"{g.lines[min(i, len(g.lines) - 1)]}; both files need the same "
                             "tokens and sentence breaks")
    gold = [_as_iob2(b.columns[1], gold_path, b.lines[0]) for b in gold_blocks]
    pred = [_as_iob2(b.columns[1], pred_path, b.lines[0]) for b in pred_blocks]
    return gold, pred


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gold", help="gold file (token, tag) or (token, gold, predicted)")
    parser.add_argument("pred", nargs="?", help="predicted file (token, tag)")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    args = parser.parse_args(argv)
    gold, pred = read_pair(args.gold, args.pred)
    if not gold:
        raise InputError(f"{args.gold}: no sentences to score")
    result = evaluate(gold, pred)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.report())


if __name__ == "__main__":
    sys.exit(run(main))
