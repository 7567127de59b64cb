"""Train (or fetch from the cache) the default word2vec vectors, and measure coverage.

    python experiments/vectors.py train [--corpora A,B] [--dim 200] [--epochs 5] [--seed 1]
                                        [--out FILE.npz]
    python experiments/vectors.py coverage --vectors FILE|trained --corpus NAME [--split test]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from bioner_mtl.data.atomic import refuse_existing
from bioner_mtl.data.corpora import SPLITS, load_corpus, spec_for
from bioner_mtl.data.errors import InputError
from bioner_mtl.embeddings import WordVectors, coverage, load_vectors, train_word2vec
from bioner_mtl.training.cli import ArgumentParser

COVERAGE_CORPUS = "BC2GM"


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def report_coverage(vectors: WordVectors, corpus: str, split: str) -> None:
    sentences = load_corpus(corpus).split(split)
    tokens = [t for sentence in sentences for t in sentence.tokens]
    cov = coverage(tokens, vectors)
    print(f"coverage of {corpus} {split}: {cov['tokens']:,} tokens, {cov['types']:,} types")
    for unit in ("tokens", "types"):
        print(f"  {unit:<6} found {_percent(cov[f'{unit}_found']):>6} "
              f"(exact {_percent(cov[f'{unit}_exact'])}, "
              f"via fallback {_percent(cov[f'{unit}_fallback'])})")
    # Entity tokens are rarer than the rest: their coverage is what limits a tagger.
    inside = [t for s in sentences for t, tag in zip(s.tokens, s.tags) if tag != "O"]
    if inside and len(inside) < len(tokens):
        outside = [t for s in sentences for t, tag in zip(s.tokens, s.tags) if tag == "O"]
        found_in = coverage(inside, vectors)["tokens_found"]
        found_out = coverage(outside, vectors)["tokens_found"]
        print(f"  tokens inside mentions found {_percent(found_in)}, "
              f"outside mentions {_percent(found_out)}")


def cmd_train(args: argparse.Namespace) -> None:
    if args.out is not None and args.out.suffix != ".npz":
        raise InputError(f"--out {args.out}: the vectors are saved as .npz; "
                         "give a file name ending in .npz")
    if args.out is not None:
        refuse_existing(args.out, args.force)  # before minutes of training
    names = [n.strip() for n in args.corpora.split(",") if n.strip()] if args.corpora else None
    if args.corpora is not None and not names:
        raise InputError("--corpora is empty; give names separated by commas, e.g. BC2GM,BC5CDR")
    start = time.perf_counter()
    vectors = train_word2vec(names, dim=args.dim, epochs=args.epochs, seed=args.seed,
                             window=args.window, min_count=args.min_count,
                             workers=args.workers, cache_dir=args.cache_dir)
    print(f"word2vec: {vectors.origin}; {time.perf_counter() - start:.1f} s")
    print(f"vocabulary: {len(vectors):,} words x {vectors.dim} dimensions")
    if args.out is not None:
        vectors.save(args.out)
        print(f"saved to {args.out}")
    report_coverage(vectors, COVERAGE_CORPUS, "test")


def cmd_coverage(args: argparse.Namespace) -> None:
    spec_for(args.corpus)  # an unknown corpus stops before the vectors load
    start = time.perf_counter()
    vectors = train_word2vec() if args.vectors == "trained" else load_vectors(args.vectors)
    print(f"vectors: {vectors.origin}; {len(vectors):,} words x {vectors.dim} "
          f"({time.perf_counter() - start:.1f} s)")
    report_coverage(vectors, args.corpus, args.split)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train word2vec on the train+devel text")
    train.add_argument("--corpora", help="comma-separated names (default: all bundled NER "
                                         "corpora and GENIA-POS)")
    train.add_argument("--dim", type=int, default=200)
    train.add_argument("--epochs", type=int, default=5)
    train.add_argument("--seed", type=int, default=1)
    train.add_argument("--window", type=int, default=5)
    train.add_argument("--min-count", type=int, default=2)
    train.add_argument("--workers", type=int, default=2)
    train.add_argument("--cache-dir", type=Path,
                       help="default: $BIONER_CACHE/vectors or ~/.cache/bioner-mtl/vectors")
    train.add_argument("--out", type=Path, help="also save the vectors to this .npz file")
    train.add_argument("--force", action="store_true",
                       help="replace --out if it exists (default: refuse)")
    train.set_defaults(run=cmd_train)
    cov = commands.add_parser("coverage", help="share of a corpus's tokens the vectors cover")
    cov.add_argument("--vectors", required=True,
                     help="a word2vec (.bin or text), GloVe or .npz file, or 'trained'")
    cov.add_argument("--corpus", required=True)
    cov.add_argument("--split", choices=SPLITS, default="test")
    cov.set_defaults(run=cmd_coverage)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("gensim").setLevel(logging.WARNING)  # its per-epoch chatter
    try:
        args = parse_args(argv)  # a bad flag too is one error line (training.cli.ArgumentParser)
        args.run(args)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
