"""List, count, validate and convert corpora.

    python experiments/corpora.py list
    python experiments/corpora.py stats [NAME ...]
    python experiments/corpora.py validate DIR [--repair]
    python experiments/corpora.py convert NAME_OR_DIR --scheme IOBES --out DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from data import corpora
from data.errors import InputError
from data.reader import write_split
from training.cli import run


def cmd_list(args: argparse.Namespace) -> None:
    print(f"{'corpus':20} {'kind':4} {'derived from':14} entity classes")
    for name, spec in corpora.REGISTRY.items():
        classes = ", ".join(spec.classes) or "part-of-speech"
        print(f"{name:20} {spec.kind:4} {spec.parent or '-':14} {classes}")


def cmd_stats(args: argparse.Namespace) -> None:
    names = args.names or [n for n, s in corpora.REGISTRY.items() if s.parent is None]
    header = " | ".join(f"{s} sentences / tokens / mentions" for s in corpora.SPLITS)
    print(f"| corpus | {header} | entity types |")
    print("|---" * 5 + "|")
    for name in names:
        corpus = corpora.load_corpus(name, args.repair)
        stats = corpora.corpus_stats(corpus)
        cells = " | ".join(" / ".join(str(v) for v in stats[s].values()) for s in corpora.SPLITS)
        types = ", ".join(corpus.entity_types) or f"labels ({len(corpus.labels())})"
        print(f"| {name} | {cells} | {types} |")


def cmd_validate(args: argparse.Namespace) -> None:
    corpus = corpora.load_corpus(args.corpus, args.repair)
    total = sum(len(corpus.split(s)) for s in corpora.SPLITS)
    print(f"{args.corpus}: ok ({total} sentences, entity types: "
          f"{', '.join(corpus.entity_types) or '-'})")


def cmd_convert(args: argparse.Namespace) -> None:
    corpus = corpora.load_corpus(args.corpus, args.repair)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{out}: cannot create the output directory ({err.strerror}); "
                         "choose another --out") from None
    scheme = args.scheme if corpus.spec.kind == "ner" else None
    for split in corpora.SPLITS:
        write_split(out / f"{split}.tsv", corpus.split(split), scheme)
    print(f"wrote {corpus.name} in {scheme or 'its own labels'} to {out}/"
          f"{{{','.join(corpora.SPLITS)}}}.tsv")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repair", action="store_true",
                        help="turn an I-X that follows neither B-X nor I-X into B-X (and say how "
                             "many) instead of stopping")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="registered corpora and their entity classes").set_defaults(
        func=cmd_list)
    stats = sub.add_parser("stats", help="sentences, tokens and mentions per split")
    stats.add_argument("names", nargs="*", help="corpus names or directories (default: bundled)")
    stats.set_defaults(func=cmd_stats)
    validate = sub.add_parser("validate", help="read a corpus directory and report problems")
    validate.add_argument("corpus", help="corpus directory (or name)")
    validate.set_defaults(func=cmd_validate)
    convert = sub.add_parser("convert", help="write a corpus's splits in a tag scheme")
    convert.add_argument("corpus", help="corpus name (derived ones too) or directory")
    convert.add_argument("--scheme", choices=["IOB2", "IOB", "IOBES"], default="IOB2")
    convert.add_argument("--out", required=True, help="output directory")
    convert.set_defaults(func=cmd_convert)
    args = parser.parse_args(argv)
    if getattr(args, "scheme", None) == "IOB":
        args.scheme = "IOB2"
    args.func(args)


if __name__ == "__main__":
    sys.exit(run(main))
