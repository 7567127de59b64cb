"""Tag new text with a trained model bundle: every head in one pass.

    python experiments/predict.py --model runs/my-model abstracts.txt          # JSON lines
    cat abstracts.txt | python experiments/predict.py --model runs/my-model -
    python experiments/predict.py --model runs/my-model notes.txt --format brat --out ann/
    python experiments/predict.py --model runs/my-model corpus.conll --format conll --heads BC2GM

Plain text is split into sentences and tokens the way the bundled corpora are tokenised
(`S-100` -> `S - 100`), keeping character offsets into the original text. Files ending in
.conll, .tsv or .iob are read as one token per line (first column) instead. Input is read and
tagged in chunks, so a large file never has to fit in memory.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from data.errors import InputError
from training.cli import add_verbose_argument, run
from training.results import atomic_write_text

CONLL_SUFFIXES = (".conll", ".tsv", ".iob", ".bio")


def open_lines(name: str) -> Iterator[str]:
    if name == "-":
        yield from sys.stdin
        return
    path = Path(name)
    if not path.is_file():
        raise InputError(f"{name}: no such file; give text or CoNLL files, or - for stdin")
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            yield from handle
    except UnicodeDecodeError as err:
        raise InputError(f"{name}: not UTF-8 text ({err.reason} at byte {err.start}); "
                         "re-encode it as UTF-8") from None


def conll_sentences(lines: Iterator[str]) -> Iterator[list[str]]:
    """First column of a one-token-per-line file; blank lines end sentences."""
    sentence: list[str] = []
    for line in lines:
        fields = line.strip().split()
        if fields and fields[0] != "-DOCSTART-":
            sentence.append(fields[0])
        elif sentence:
            yield sentence
            sentence = []
    if sentence:
        yield sentence


def chunks(iterator, size: int):
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def brat_type(head: str, kind: str) -> str:
    return re.sub(r"[^0-9A-Za-z_-]", "_", f"{head}_{kind}")


def write_conll(out, words: list[list[str]], tagged: dict) -> None:
    """One token per line, one tag column per head, a blank line after each sentence."""
    for i, sentence in enumerate(words):
        for j, word in enumerate(sentence):
            out.write("\t".join([word, *(tags[i][j] for tags, _ in tagged.values())]) + "\n")
        out.write("\n")


def tag_file(tagger, name: str, args, out) -> int:
    """Tag one input; returns the number of sentences."""
    from tqdm.auto import tqdm

    from data.text import iter_sentences
    from training.bundle import with_offsets

    is_conll = args.input_format == "conll" or (
        args.input_format == "auto" and name.endswith(CONLL_SUFFIXES))
    count, mention = 0, 0
    text_parts: list[str] = []
    lines = open_lines(name)
    if args.format == "brat" and not is_conll:
        lines = (text_parts.append(line) or line for line in lines)
    stream = StreamText(lines)
    source = conll_sentences(stream) if is_conll else iter_sentences(stream)
    bar = tqdm(desc=name, unit="sentence", disable=None, file=sys.stderr)  # TTY only
    for chunk in chunks(source, args.chunk):
        bar.update(len(chunk))
        words = chunk if is_conll else [[t.text for t in s] for s in chunk]
        count += len(chunk)
        if args.format == "conll":
            write_conll(out, words, tagger.tag_sentences(words, args.heads))
        for i, entities in enumerate(tagger.entities(words, args.heads)
                                     if args.format != "conll" else []):
            if is_conll:  # no character offsets: token offsets within the sentence
                found = [dict(head=h, type=k, sentence=count - len(chunk) + i, start=s, end=e,
                              text=" ".join(words[i][s:e]), confidence=round(c, 4))
                         for h, k, s, e, c in entities]
            else:
                found = [e.__dict__ for e in with_offsets(entities, chunk[i], stream)]
            for entity in found:
                if args.format == "jsonl":
                    out.write(json.dumps({"document": name, **entity}, ensure_ascii=False) + "\n")
                else:
                    mention += 1  # BRAT's text field is one line: whitespace shown as spaces
                    shown = re.sub(r"\s", " ", entity["text"])
                    out.write(f"T{mention}\t{brat_type(entity['head'], entity['type'])} "
                              f"{entity['start']} {entity['end']}\t{shown}\n")
        stream.forget(stream.base + len(stream.buffer) if is_conll else chunk[-1][-1].end)
    bar.close()
    if count == 0:
        raise InputError(f"{name}: no text to tag (empty input)")
    if args.format == "brat" and args.out and not is_conll:
        text = Path(args.out) / f"{Path(name).stem if name != '-' else 'stdin'}.txt"
        if name == "-" or text.resolve() != Path(name).resolve():  # the input is that text
            atomic_write_text(text, "".join(text_parts))
    return count


class StreamText:
    """The raw text of a stream, kept from the oldest sentence not yet written: entity text
    is sliced from the original (tabs, several spaces), and memory stays bounded."""

    def __init__(self, lines: Iterator[str]):
        self.lines, self.buffer, self.base = lines, "", 0

    def __iter__(self) -> Iterator[str]:
        for line in self.lines:
            self.buffer += line
            yield line

    def __getitem__(self, span: slice) -> str:
        return self.buffer[span.start - self.base:span.stop - self.base]

    def forget(self, upto: int) -> None:
        self.buffer, self.base = self.buffer[upto - self.base:], upto


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a bundle written by train.py --save-model")
    p.add_argument("inputs", nargs="*", default=["-"], help="text or CoNLL files; - is stdin")
    p.add_argument("--format", choices=["jsonl", "conll", "brat"], default="jsonl")
    p.add_argument("--input-format", choices=["auto", "text", "conll"], default="auto")
    p.add_argument("--heads", help="heads to run, A,B (default: every NER head)")
    p.add_argument("--out", help="directory for one output file per input (default: stdout)")
    p.add_argument("--chunk", type=int, default=1000, help="sentences tagged per batch")
    add_verbose_argument(p)
    args = p.parse_args(argv)
    if args.chunk < 1:
        raise InputError(f"--chunk {args.chunk}: sentences tagged per batch, at least 1 "
                         "(default 1000)")
    if args.heads is not None and not [h for h in args.heads.split(",") if h.strip()]:
        raise InputError(f"--heads {args.heads!r}: no head names; give A,B or leave it out "
                         "for every NER head")
    if args.format == "brat" and not args.out:
        raise InputError("--format brat writes NAME.ann (and NAME.txt) files: give --out DIR")
    suffix = {"jsonl": ".jsonl", "conll": ".conll", "brat": ".ann"}[args.format]
    targets = output_paths(args.inputs, args.out, suffix, args.format == "brat")
    from training.bundle import load

    tagger = load(args.model)
    args.heads = [h.strip() for h in args.heads.split(",") if h.strip()] if args.heads else None
    tagger.heads_for(args.heads)  # unknown heads fail before any input is read
    for name in args.inputs:
        if args.out:
            target = targets[name]
            target.parent.mkdir(parents=True, exist_ok=True)
            # written beside the target and moved into place once whole: an interrupted
            # run leaves no half file, and no input is opened for writing before it is read
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    count = tag_file(tagger, name, args, out)
                os.replace(tmp, target)
            finally:
                Path(tmp).unlink(missing_ok=True)
            print(f"{name}: {count} sentences -> {target}", file=sys.stderr)
        else:
            tag_file(tagger, name, args, sys.stdout)


def output_paths(inputs: list[str], out: str | None, suffix: str, text_too: bool
                 ) -> dict[str, Path]:
    """Each input's output file in --out, refusing before anything is tagged: two inputs that
    would write one file, and an output that would overwrite an input."""
    if not out:
        return {}
    if Path(out).exists() and not Path(out).is_dir():
        raise InputError(f"--out {out}: a file, not a directory; give a directory for the "
                         "output files")
    paths: dict[str, Path] = {}
    owner: dict[Path, str] = {}
    sources = {Path(n).resolve() for n in inputs if n != "-"}
    for name in inputs:
        stem = Path(name).stem if name != "-" else "stdin"
        target = Path(out) / f"{stem}{suffix}"
        written = [target] + ([Path(out) / f"{stem}.txt"] if text_too else [])
        for path in written:
            resolved = path.resolve()
            if resolved in owner:
                raise InputError(f"{owner[resolved]} and {name} would both write {path}; "
                                 "rename one or tag them into different --out directories")
            if resolved in sources and not (path.suffix == ".txt" and resolved ==
                                            Path(name).resolve()):
                raise InputError(f"--out {out}: writing {path} would overwrite an input "
                                 "file; choose another --out")
            owner[resolved] = name
        paths[name] = target
    return paths


if __name__ == "__main__":
    sys.exit(run(main))
