"""Tag new text with a trained model bundle: every head in one pass.

    python experiments/predict.py --model runs/my-model abstracts.txt          # JSON lines
    cat abstracts.txt | python experiments/predict.py --model runs/my-model -
    python experiments/predict.py --model runs/my-model notes.txt --format brat --out ann/
    python experiments/predict.py --model runs/my-model corpus.conll --format conll --heads BC2GM
    python experiments/predict.py --model runs/my-model abstracts.xml --format bioc --out tagged/
    python experiments/predict.py --model runs/my-model docs.pubtator --format pubtator

Plain text is split into sentences and tokens the way the bundled corpora are tokenised
(`S-100` -> `S - 100`), keeping character offsets into the original text. Files ending in
.conll, .tsv, .iob or .bio are read as one token per line (first column) instead: JSON lines
then give each entity's sentence number and token offsets, and the formats that need
character offsets (brat, bioc, bioc-json, pubtator) refuse such input. Input is read in
chunks of about --chunk sentences, cut where a sentence ends, so a large file never has to fit
in memory: --workers N processes (default: the cores) split, tag and write the chunks, and
this one writes what they return in input order; a sentence over --max-tokens is tagged in
pieces. With --out, a killed run run again (the same command) keeps the outputs it finished
and continues the one it was writing after the last chunk written whole.

BioC (XML or JSON: .xml, .json) and PubTator (.pubtator) files are read as documents: each
passage is tagged, and the output keeps the document ids and passage offsets, so entity
offsets are offsets into the input's documents (a documents file is read whole, then tagged in
chunks). --format bioc, bioc-json and pubtator write the documents with the predicted entities
(type, head and confidence as BioC infons, or PubTator columns after the identifier); plain
text input becomes one document per file, its id the file name.

A BERT bundle's encoder computes in bfloat16 where that was measured to pay (a GPU, a CPU
with AMX) and in float32 elsewhere (--precision; the bundle itself is not changed).

An output file already in --out (a BRAT folder's gold NAME.ann, another run's output) is
never replaced unless --force is given; each output is written whole or not at all. A hidden
journal beside each output (.NAME.journal) records the run that wrote it: a rerun of that
same run keeps the output, one with another input, model or setting is refused.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import sys
from collections.abc import Collection, Iterator
from pathlib import Path

from bioner_mtl.data import resumable
from bioner_mtl.data.atomic import refuse_existing, write_atomically, write_text
from bioner_mtl.data.documents import check_pubtator_id
from bioner_mtl.data.errors import InputError
from bioner_mtl.training.cli import ArgumentParser, add_verbose_argument, run

CONLL_SUFFIXES = (".conll", ".tsv", ".iob", ".bio")
BIOC_SUFFIXES = (".xml", ".json")
PUBTATOR_SUFFIXES = (".pubtator", ".pubtator.txt", ".pubtator3")
DOCUMENT_FORMATS = ("bioc", "bioc-json", "pubtator")  # output formats holding documents
SUFFIXES = {"jsonl": ".jsonl", "conll": ".conll", "brat": ".ann", "bioc": ".xml",
            "bioc-json": ".json", "pubtator": ".pubtator"}


def input_kind(name: str, input_format: str) -> str:
    """text, conll, bioc or pubtator: --input-format, or the file's suffix."""
    if input_format != "auto":
        return input_format
    if name.endswith(CONLL_SUFFIXES):
        return "conll"
    if name.endswith(BIOC_SUFFIXES):
        return "bioc"
    return "pubtator" if name.endswith(PUBTATOR_SUFFIXES) else "text"


def open_lines(name: str) -> Iterator[str]:
    """The lines of a file or of stdin (-), as UTF-8 text (line ends kept as they are): bytes
    that are not UTF-8, or a NUL byte (binary data), stop with one line naming the line
    before anything is tagged as if it were text. stdin's bytes are decoded here, as a file's
    are: its own decoding may turn any byte into a character (surrogateescape under a C
    locale)."""
    if name == "-":
        yield from _text_lines("stdin", sys.stdin.buffer)
        return
    path = Path(name)
    if not path.is_file():
        raise InputError(f"{name}: no such file; give text or CoNLL files, or - for stdin")
    with path.open("rb") as handle:
        yield from _text_lines(name, handle)


SNIFF_BYTES = 1 << 16  # how much of each input is checked for binary data before loading


def check_text_start(name: str) -> None:
    """Refuse binary data (a NUL byte, bytes that are not UTF-8) in the first 64 KiB of an
    input before the model loads; stdin's bytes are looked at without being consumed. The
    rest is checked line by line as it is read (open_lines)."""
    import codecs

    if name == "-":
        head = sys.stdin.buffer.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    elif Path(name).is_file():
        with Path(name).open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
    else:
        return
    where = "stdin" if name == "-" else name
    lines = head.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        last = number == len(lines)  # may end inside a character: decoded incrementally
        if b"\x00" in raw:
            raise InputError(f"{where}:{number}: a NUL byte: binary data, not text; give UTF-8 "
                             "text")
        try:
            codecs.getincrementaldecoder("utf-8")().decode(raw, final=not last)
        except UnicodeDecodeError as err:
            raise InputError(f"{where}:{number}: not UTF-8 text ({err.reason} at byte "
                             f"{err.start} of the line); binary data, or text in another "
                             "encoding: re-encode it as UTF-8") from None


PIECE_BYTES = 1 << 16  # a line longer than this is read in pieces: no sentence end needed


def _text_lines(name: str, handle) -> Iterator[str]:
    """Lines (line ends kept), a line longer than PIECE_BYTES in several pieces, so a file
    with no line end is never read whole; a character cut between pieces is decoded whole."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    number = 1
    while raw := handle.readline(PIECE_BYTES):  # split on b"\n": never inside a character
        if b"\x00" in raw:
            raise InputError(f"{name}:{number}: a NUL byte: binary data, not text; give UTF-8 "
                             "text")
        try:
            text = decoder.decode(raw, final=raw.endswith(b"\n"))
        except UnicodeDecodeError as err:
            raise InputError(f"{name}:{number}: not UTF-8 text ({err.reason} at byte "
                             f"{err.start} of the line); binary data, or text in another "
                             "encoding: re-encode it as UTF-8") from None
        if text:
            yield text
        number += raw.endswith(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as err:
        raise InputError(f"{name}:{number}: not UTF-8 text ({err.reason} at the end of the "
                         "file); re-encode it as UTF-8") from None


def conll_sentences(lines: Iterator[str], max_tokens: int | None = None
                    ) -> Iterator[tuple[int, list[str]]]:
    """(document, tokens): the first column of a one-token-per-line file; blank lines end
    sentences (and, with `max_tokens`, every that many tokens: a file with no blank line
    streams too); a -DOCSTART- line starts the next document."""
    sentence: list[str] = []
    document = 0
    for line in lines:
        fields = line.strip().split()
        if fields and fields[0] != "-DOCSTART-":
            sentence.append(fields[0])
            if max_tokens and len(sentence) >= max_tokens:
                yield document, sentence
                sentence = []
            continue
        if sentence:
            yield document, sentence
            sentence = []
        if fields:  # -DOCSTART-: what follows is another document
            document += 1
    if sentence:
        yield document, sentence


def write_documents(out, documents: list, fmt: str) -> None:
    from bioner_mtl.data import documents as formats

    writer = {"bioc": formats.bioc_xml_text, "bioc-json": formats.bioc_json_text,
              "pubtator": formats.pubtator_text}[fmt]
    out.write(writer(documents))


def read_documents_file(name: str, kind: str) -> list:
    from bioner_mtl.data.documents import read_bioc, read_pubtator

    if name == "-":
        raise InputError(f"{kind} input is read from a file, not stdin; give the file name")
    if not Path(name).is_file():
        raise InputError(f"{name}: no such file; give a {kind} file")
    return (read_bioc if kind == "bioc" else read_pubtator)(name)


def document_chunks(documents: list, size: int) -> Iterator[list]:
    """Chunks of about `size` characters of the documents' passages, each a list of
    Segments (offsets into the document), cut where a sentence ends."""
    from bioner_mtl.training.product.bulk import Segment, text_pieces

    chunk, length = [], 0
    for d, document in enumerate(documents):
        for passage in document.passages:
            for offset, text in text_pieces([passage.text], size):
                chunk.append(Segment(d, document.id, passage.offset + offset, text))
                length += len(text)
                if length >= size:
                    yield chunk
                    chunk, length = [], 0
    if chunk:
        yield chunk


def conll_chunks(name: str, lines: Iterator[str], args) -> Iterator:
    """Chunks of --chunk sentences of a CoNLL input, each numbered by its first sentence."""
    from bioner_mtl.training.product.bulk import Sentences, batches

    first = 0
    for chunk in batches(conll_sentences(lines, args.max_tokens), args.chunk):
        yield Sentences(name, first, [s for _, s in chunk], [d for d, _ in chunk])
        first += len(chunk)


def after_skipping(chunks: Iterator, done: int) -> Iterator:
    """The chunks after the first `done` (written by an earlier, killed run: read and cut
    again, not tagged again)."""
    return itertools.islice(chunks, done, None)


def tag_file(engine, name: str, args, out, resume=None, bar=None) -> int:
    """Tag one input: this process cuts it into chunks (of about --chunk sentences) and
    writes what the engine's workers made of them, in order; the chunks an earlier run of a
    resumed output wrote are skipped. Returns the number of sentences."""
    from bioner_mtl.training.product.bulk import SENTENCE_CHARS, Segment, text_pieces

    kind = input_kind(name, args.input_format)
    size = args.chunk * SENTENCE_CHARS
    documents, text_parts = None, []
    if kind in ("bioc", "pubtator"):
        documents = read_documents_file(name, kind)
        chunks = document_chunks(documents, size)
    else:
        lines = open_lines(name)
        if args.format in ("brat", *DOCUMENT_FORMATS) and kind == "text":
            lines = (text_parts.append(line) or line for line in lines)  # the text is copied
        chunks = (conll_chunks(name, lines, args) if kind == "conll" else
                  ([Segment(0, name, offset, text)] for offset, text in text_pieces(lines, size)))
    progress = resume.progress if resume else {}
    done, count, mention = (progress.get(k, 0) for k in ("chunks", "sentences", "mentions"))
    found = collections.defaultdict(list)  # document number -> its mentions
    shown = 0  # documents counted on the progress bar
    for chunk, tagged in engine.tagged(after_skipping(chunks, done)):
        count += tagged.sentences
        out.write(tagged.text)
        for item in tagged.found:
            if args.format == "brat":
                mention += 1
                out.write(f"T{mention}\t{item}")
            else:
                found[item[0]].append(item[1])
        done += 1
        if resume:
            resume.checkpoint({"chunks": done, "sentences": count, "mentions": mention})
        if bar is not None:
            if documents:  # the documents before the chunk's last one are whole
                bar.update(chunk[-1].document - shown)
                shown = chunk[-1].document
            bar.set_postfix(sentences=count, refresh=False)
    if count == 0:
        raise InputError(f"{name}: no text to tag "
                         f"({'no document holds any' if documents is not None else 'empty input'})")
    if bar is not None:
        bar.update((len(documents) if documents is not None else 1) - shown)
    if args.format in DOCUMENT_FORMATS:
        from dataclasses import replace

        from bioner_mtl.data.documents import Document, Passage

        if documents is None:  # a text input is one document, its id the file name
            documents = [Document(Path(name).stem if name != "-" else "stdin",
                                  (Passage(0, "".join(text_parts)),))]
        write_documents(out, [replace(d, mentions=tuple(found[i]))
                              for i, d in enumerate(documents)], args.format)
    if args.format == "brat" and args.out and kind == "text":
        text = Path(args.out) / f"{Path(name).stem if name != '-' else 'stdin'}.txt"
        if name == "-" or text.resolve() != Path(name).resolve():  # the input is that text
            # listed in the journal: a rerun of this job may write it again (stdin: whole)
            (resume.write_beside if resume else write_text)(text, "".join(text_parts))
    return count


def main(argv: list[str] | None = None) -> None:
    from bioner_mtl.training.product.bundle import PRECISION_HELP, PRECISIONS

    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a bundle written by train.py --save-model")
    p.add_argument("inputs", nargs="*", default=["-"],
                   help="text, CoNLL, BioC or PubTator files, or directories of them (every "
                        "file under one, by name; hidden files left out); - is stdin")
    p.add_argument("--format", choices=list(SUFFIXES), default="jsonl",
                   help="bioc is BioC XML (default: jsonl)")
    p.add_argument("--input-format", choices=["auto", "text", "conll", "bioc", "pubtator"],
                   default="auto", help="auto: .conll/.tsv/.iob/.bio are CoNLL, .xml/.json "
                   "BioC, .pubtator PubTator, anything else text; bioc reads XML and JSON")
    p.add_argument("--heads", help="heads to run, A,B (default: every NER head)")
    p.add_argument("--out", help="directory for one output file per input (default: stdout)")
    p.add_argument("--force", action="store_true",
                   help="replace output files already in --out (default: refuse, naming the "
                        "first; a BRAT folder's gold NAME.ann is such a file)")
    p.add_argument("--chunk", type=int, default=1000,
                   help="sentences tagged per batch; text is handed out in chunks of about "
                        "this many (N x 128 characters, ended where a sentence ends)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes that tag, the input's chunks shared out in order (default: "
                        "the cores; an input of one chunk is tagged in this process)")
    p.add_argument("--max-tokens", type=int, default=MAX_TOKENS, metavar="N",
                   help="a sentence longer than N tokens is tagged in pieces of N, so text with "
                        f"no sentence end streams in bounded memory (default {MAX_TOKENS})")
    p.add_argument("--min-confidence", type=float, metavar="P",
                   help="drop entities whose confidence is below P (0 to 1; calibrated by the "
                        "bundle's temperature)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help=PRECISION_HELP)
    add_verbose_argument(p)
    args = p.parse_args(argv)
    args.inputs = expand_directories(args.inputs)
    if args.chunk < 1:
        raise InputError(f"--chunk {args.chunk}: sentences tagged per batch, at least 1 "
                         "(default 1000)")
    check_workers(args)
    if args.heads is not None and not [h for h in args.heads.split(",") if h.strip()]:
        raise InputError(f"--heads {args.heads!r}: no head names; give A,B or leave it out "
                         "for every NER head")
    if args.format == "brat" and not args.out:
        raise InputError("--format brat writes NAME.ann (and NAME.txt) files: give --out DIR")
    if args.format == "brat" and any(input_kind(n, args.input_format) in ("bioc", "pubtator")
                                     for n in args.inputs):
        raise InputError("--format brat writes one .txt/.ann pair per text input; for BioC "
                         "or PubTator input write --format bioc, bioc-json or pubtator (they "
                         "keep the document ids and offsets)")
    conll = [n for n in args.inputs if input_kind(n, args.input_format) == "conll"]
    if conll and args.format in ("brat", *DOCUMENT_FORMATS):
        fix = ("tag the text itself (BRAT copies it as NAME.txt), or write --format conll or "
               "jsonl" if args.format == "brat" else "tag text, BioC or PubTator input")
        raise InputError(f"{conll[0]}: --format {args.format} needs character offsets, and "
                         f"CoNLL input has none; {fix}")
    if args.format in ("bioc", "bioc-json") and len(args.inputs) > 1 and not args.out:
        raise InputError(f"--format {args.format} with {len(args.inputs)} inputs writes one "
                         "collection per input: give --out DIR")
    suffix = SUFFIXES[args.format]
    if args.format == "pubtator":  # a text input's document id is its file name
        for name in args.inputs:
            if input_kind(name, args.input_format) == "text":
                check_pubtator_id(Path(name).stem if name != "-" else "stdin", name)
    targets = output_paths(args.inputs, args.out, suffix, args.format == "brat", args.force)
    from bioner_mtl.training.product import bundle

    bundle.check_min_confidence(args.min_confidence)  # before the model loads
    for name in args.inputs:
        if name != "-" and not Path(name).is_file():
            raise InputError(f"{name}: no such file; give text or CoNLL files, or - for stdin")
        if input_kind(name, args.input_format) in ("text", "conll"):
            check_text_start(name)  # binary data is refused before the model loads
    # with workers, the bundle is checked here and built in each worker (and here only for
    # an input of one chunk)
    tagger = (bundle.load(args.model, args.precision) if args.workers == 1
              else bundle.Tagger(args.model, build=False, precision=args.precision))
    bundle.warn_if_no_encoder(tagger, args.precision)
    args.heads = [h.strip() for h in args.heads.split(",") if h.strip()] if args.heads else None
    tagger.heads_for(args.heads)  # unknown heads fail before any input is read
    tag_all(tagger, targets, args, kept_outputs(tagger, targets, args))


def expand_directories(inputs: list[str]) -> list[str]:
    """A directory stands for the files under it, sorted by path (hidden ones, such as a
    resumable output's .NAME.partial, left out); an empty one is refused."""
    from bioner_mtl.data.documents import files_under

    expanded = []
    for name in inputs:
        if name == "-" or not Path(name).is_dir():
            expanded.append(name)
            continue
        found = [str(f) for f in files_under(Path(name))
                 if not any(part.startswith(".") for part in f.relative_to(name).parts)]
        if not found:
            raise InputError(f"{name}: a directory with no files to tag; give text, CoNLL, "
                             "BioC or PubTator files")
        expanded += found
    return expanded


MAX_TOKENS = 512  # tokens per tagged piece of an over-long sentence
MAX_WORKERS = 256


def check_workers(args) -> None:
    from bioner_mtl.training.product.bulk import default_workers

    if args.workers is None:
        args.workers = default_workers()
    if not 1 <= args.workers <= MAX_WORKERS:
        raise InputError(f"--workers {args.workers}: processes that tag, from 1 to "
                         f"{MAX_WORKERS} (default: the cores, {default_workers()} here)")
    if args.max_tokens < 1:
        raise InputError(f"--max-tokens {args.max_tokens}: tokens per tagged piece of a long "
                         f"sentence, at least 1 (default {MAX_TOKENS})")


def tag_all(tagger, targets: dict[str, Path], args, kept: Collection[str] = ()) -> None:
    """Every input, in order, by `--workers` processes, but those whose output an earlier run
    of the same job finished (`kept`); a progress bar of documents (a text file is one, a BioC
    or PubTator file holds several) on a terminal."""
    from tqdm.auto import tqdm

    from bioner_mtl.training.product.bulk import Engine, Job

    def load_here():
        if getattr(tagger, "model", True) is None:  # checked, not built
            tagger.build()
        return tagger

    bar = tqdm(desc="tagging", unit="doc", disable=None, file=sys.stderr)  # TTY only
    job = Job(args.model, args.heads, args.format, args.min_confidence, args.chunk,
              args.max_tokens, tagger.precision)
    shown = f" (encoder in {tagger.precision})" if tagger.precision else ""
    with Engine(job, args.workers, load_here) as engine:
        for name in args.inputs:
            if not args.out:
                tag_file(engine, name, args, sys.stdout, bar=bar)
                continue
            target = targets[name]
            if name in kept:
                print(f"{name}: already tagged in {target} (kept)", file=sys.stderr)
                continue
            if args.format in DOCUMENT_FORMATS or name == "-":
                # moved into place once whole: an interrupted run leaves no half file, and
                # no input is opened for writing before it is read
                count = write_atomically(target, lambda out, name=name: tag_file(
                    engine, name, args, out, bar=bar))
                if name != "-":  # a rerun keeps it
                    resumable.finish(target, fingerprint(tagger, name, args))
            else:  # written chunk by chunk: a killed run continues where it stopped
                with resumable.ResumableOutput(target, fingerprint(tagger, name, args)) as resume:
                    if resume.progress:
                        print(f"{name}: resuming after {resume.progress['sentences']} "
                              f"sentences already in {target}", file=sys.stderr)
                    count = tag_file(engine, name, args, resume.handle, resume, bar)
            print(f"{name}: {count} sentences -> {target}{shown}", file=sys.stderr)
    bar.close()


CHUNKING = 2  # how inputs are cut into chunks (2: text at sentence ends, by characters)


def fingerprint(tagger, name: str, args) -> dict:
    """What an output depends on: a journal of another input, model or setting is not
    resumed."""
    stat = Path(name).stat()
    return {"input": str(Path(name).resolve()), "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns, "model": str(Path(args.model).resolve()),
            "weights": tagger.meta.get("weights_sha256"), "format": args.format,
            "input_format": args.input_format, "heads": args.heads,
            "min_confidence": args.min_confidence, "chunk": args.chunk,
            "max_tokens": args.max_tokens, "chunking": CHUNKING,
            **({"precision": tagger.precision} if tagger.precision else {})}


def kept_outputs(tagger, targets: dict[str, Path], args) -> set[str]:
    """The inputs whose output an earlier run of this same job (same input size and time,
    bundle and settings: `fingerprint`) finished: a rerun keeps them. A file in --out that
    a run with another fingerprint wrote, or that changed since, is refused, naming it and
    the fix; with --force every input is tagged again."""
    kept: set[str] = set()
    if args.force:
        return kept
    for name, target in targets.items():
        record = resumable.read_journal(target)
        if name == "-" or record is None:
            continue
        beside = [target.with_name(n) for n in record.get("beside", [])]
        ours = [p for p in (target, *beside)
                if p.exists() and resumable.vouches(record, target, p)]
        if not ours:  # nothing an earlier run wrote is there: tagged as any input is
            continue
        now = fingerprint(tagger, name, args)
        if record["fingerprint"] != now:
            raise InputError(f"{ours[0]}: written by another run of predict.py "
                             f"({changed(record['fingerprint'], now)}); add --force to tag "
                             f"{name} again, or choose another --out")
        if not record.get("finished") or not target.exists():
            continue  # an unfinished run of this job: continued
        size = target.stat().st_size
        if size != record["bytes"]:
            raise InputError(f"{target}: changed since predict.py wrote it ({size} bytes, "
                             f"not {record['bytes']}); add --force to tag {name} again, or "
                             "move it away")
        if all(p.exists() for p in beside):
            kept.add(name)
    return kept


def changed(before: dict, now: dict) -> str:
    """What makes two fingerprints differ, in words: `the input changed since, another
    --chunk`."""
    keys = {k for k in {*before, *now} if before.get(k) != now.get(k)}
    words = (["another input file"] if "input" in keys else
             ["the input changed since"] if keys & {"size", "mtime_ns"} else [])
    words += (["another bundle"] if "model" in keys else
              ["the bundle's weights changed since"] if "weights" in keys else [])
    words += ["another version of predict.py"] if "chunking" in keys else []
    words += [f"another --{k.replace('_', '-')}" for k in sorted(
        keys - {"input", "size", "mtime_ns", "model", "weights", "chunking"})]
    return ", ".join(words) or "another run"


def output_paths(inputs: list[str], out: str | None, suffix: str, text_too: bool,
                 force: bool = False) -> dict[str, Path]:
    """Each input's output file in --out, refusing before anything is tagged: two inputs that
    would write one file, an output that would overwrite an input, and (without --force) an
    output file that is already there: a BRAT folder's gold NAME.ann, another run's output.
    A file whose journal says a run of predict.py wrote it passes here: `kept_outputs`
    checks, once the bundle is read, that it was this same job."""
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
            is_own_text = path.suffix == ".txt" and resolved == Path(name).resolve()
            if resolved in sources and not is_own_text:
                raise InputError(f"--out {out}: writing {path} would overwrite an input "
                                 "file; choose another --out")
            written_here = resumable.vouches(resumable.read_journal(target), target, path)
            if not is_own_text and not written_here:  # the input itself is not written again
                refuse_existing(path, force)
            owner[resolved] = name
        paths[name] = target
    return paths


if __name__ == "__main__":
    sys.exit(run(main))
