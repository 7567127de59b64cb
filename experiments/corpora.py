"""List, count, validate and convert corpora.

    python experiments/corpora.py list
    python experiments/corpora.py stats [NAME ...]
    python experiments/corpora.py validate DIR [--repair]
    python experiments/corpora.py convert NAME_OR_DIR --scheme IOBES --out DIR [--force]
    python experiments/corpora.py import DIR_OR_FILE --format brat|bioc|pubtator --out DIR \
        [--force] [--split 0.8,0.1,0.1 --seed 1 | --split-files train.ids,devel.ids,test.ids] \
        [--types Gene,Chemical]

`import` reads annotated documents (BRAT .txt/.ann directories, BioC XML or JSON, PubTator),
tokenises them as the bundled corpora are tokenised, turns the mentions into IOB2 tags and
writes a corpus directory split by document: train.tsv, devel.tsv, test.tsv, and the document
ids of each split in train.ids, devel.ids, test.ids (reusable as --split-files). Each problem
found is one warning line naming file and offset, and how it was resolved; a summary counts
them.

`convert` and `import` never replace an existing --out (a corpus, or anything else) unless
given --force; the new corpus is written into a temporary directory beside --out and renamed
into place whole, so a failure half way leaves what was there before.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bioner_mtl.data import corpora
from bioner_mtl.data.atomic import refuse_existing, refuse_input, write_directory, write_text
from bioner_mtl.data.errors import InputError
from bioner_mtl.data.reader import write_split
from bioner_mtl.training.cli import ArgumentParser, run

FORCE_HELP = ("replace --out if it exists (default: refuse; the new corpus is built beside it "
              "and swapped in whole)")


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
    out = Path(args.out)
    sources = corpora.source_files(args.corpus)
    for split in corpora.SPLITS:
        if (out / f"{split}.tsv").resolve() in {p.resolve() for p in sources}:
            raise InputError(f"--out {out}: writing {split}.tsv there would overwrite the "
                             "corpus's own file; choose another --out")
    refuse_input(out, sources)
    refuse_existing(out, args.force, kind=corpora.CORPUS_KIND)
    corpus = corpora.load_corpus(args.corpus, args.repair)
    scheme = args.scheme if corpus.spec.kind == "ner" else None

    def write(directory: Path) -> None:
        for split in corpora.SPLITS:
            write_split(directory / f"{split}.tsv", corpus.split(split), scheme)

    write_directory(out, write)  # the whole corpus or, after a failure, what was there
    print(f"wrote {corpus.name} in {scheme or 'its own labels'} to {out}/"
          f"{{{','.join(corpora.SPLITS)}}}.tsv")


def cmd_import(args: argparse.Namespace) -> None:
    from bioner_mtl.data import documents

    out = Path(args.out)
    if args.split_files and args.split is not None:
        raise InputError("--split and --split-files both given; choose one (fractions, or "
                         "your own files of document ids)")
    types = [t.strip() for t in args.types.split(",") if t.strip()] if args.types else None
    if args.types is not None and not types:
        raise InputError(f"--types {args.types!r}: no type names; give A,B or leave it out")
    split_files = [f.strip() for f in args.split_files.split(",")] if args.split_files else None
    fractions = documents.parse_fractions(args.split or "0.8,0.1,0.1")
    if not Path(args.source).exists():
        raise InputError(f"{args.source}: no such file or directory")
    refuse_input(out, [args.source, *(split_files or [])])
    refuse_existing(out, args.force, kind=corpora.CORPUS_KIND)
    imported = documents.load_documents(args.source, args.format, types=types,
                                        fractions=fractions, seed=args.seed,
                                        split_files=split_files)

    def write(directory: Path) -> None:
        for split in corpora.SPLITS:
            write_split(directory / f"{split}.tsv", imported.splits[split])
            write_text(directory / f"{split}.ids",
                       "".join(f"{i}\n" for i in imported.ids[split]))

    # built beside --out and swapped in whole: a failure half way (a full disk) leaves the
    # old corpus as it was, never new train beside old devel and test
    write_directory(out, write)
    sizes = ", ".join(f"{s} {len(imported.ids[s])} documents / {len(imported.splits[s])} "
                      "sentences" for s in corpora.SPLITS)
    print(f"wrote {out}/{{{','.join(corpora.SPLITS)}}}.tsv ({sizes}); document ids in "
          f"{out}/*.ids")


def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(description=__doc__,
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
    convert.add_argument("--out", required=True, help="output directory (new or empty)")
    convert.add_argument("--force", action="store_true", help=FORCE_HELP)
    convert.set_defaults(func=cmd_convert)
    imports = sub.add_parser("import", help="annotated documents (BRAT, BioC, PubTator) as a "
                             "corpus directory, split by document")
    imports.add_argument("source", help="a BRAT directory, or a BioC / PubTator file or "
                         "directory of such files")
    imports.add_argument("--format", choices=["brat", "bioc", "pubtator"], required=True,
                         help="bioc reads XML and JSON")
    imports.add_argument("--out", required=True, help="output corpus directory (new or "
                         "empty)")
    imports.add_argument("--force", action="store_true", help=FORCE_HELP)
    imports.add_argument("--split", help="train,devel,test fractions of the documents "
                         "(default 0.8,0.1,0.1)")
    imports.add_argument("--seed", type=int, default=1, help="seed of the document shuffle "
                         "(default 1)")
    imports.add_argument("--split-files", help="train,devel,test files of document ids, one "
                         "per line, instead of --split")
    imports.add_argument("--types", help="entity types to keep, A,B (others are dropped, each "
                         "type named once)")
    imports.set_defaults(func=cmd_import)
    args = parser.parse_args(argv)
    if getattr(args, "scheme", None) == "IOB":
        args.scheme = "IOB2"
    args.func(args)


if __name__ == "__main__":
    sys.exit(run(main))
