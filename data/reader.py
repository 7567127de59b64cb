"""Reader for CoNLL-style token<TAB>tag files (plain or gzip), with one-line errors.

A blank line ends a sentence; `-DOCSTART-` lines start a new document. CRLF, spaces around
a column and a UTF-8 byte-order mark (at the start of the file or of any line) are tolerated;
gzip data is unpacked whatever the file's name. Anything else that is off (column count, empty
token, bad bytes, a truncated gzip file, a bad tag, a broken tag sequence, a file mixing IOB2
and IOBES, an empty split) raises InputError naming the file and line.
"""

from __future__ import annotations

import codecs
import gzip
import logging
import zlib
from dataclasses import dataclass
from pathlib import Path

from bioner_mtl.data import tags as tagging
from bioner_mtl.data.atomic import write_text
from bioner_mtl.data.errors import InputError

log = logging.getLogger(__name__)

DOCSTART = "-DOCSTART-"


@dataclass(frozen=True)
class Sentence:
    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    document: int = 0  # index of the -DOCSTART- block the sentence belongs to

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True)
class Block:
    """One sentence as read: the line number of each row and its columns."""

    lines: tuple[int, ...]
    columns: tuple[tuple[str, ...], ...]  # one tuple per column, e.g. (tokens, tags)
    document: int


GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when they are gzip data (whatever the file's name)."""
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a file; give the token<TAB>tag file "
                         "itself")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror or err}); check the path") from None
    if not raw.startswith(GZIP_MAGIC):
        if path.suffix == ".gz":
            raise InputError(f"{path}: not gzip data ({len(raw)} bytes, no gzip header), so "
                             "truncated or corrupt; re-copy it (a plain text file must not "
                             "end in .gz)")
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise InputError(f"{path}: gzip file is truncated or corrupt ({err}); re-copy or "
                         "re-download it") from None


def _decode(path: Path) -> str:
    raw = _read_bytes(path)
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(f"{path}: the file is UTF-16 (its first bytes are a UTF-16 byte-order "
                         "mark); re-encode it as UTF-8")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise InputError(
            f"{path}:{line}: bytes that are not UTF-8 ({raw[err.start:err.end]!r}); "
            "re-encode the file as UTF-8"
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise InputError(f"{path}:{line}: NUL byte; this is not a UTF-8 text file (UTF-16 or "
                         "binary?); re-encode it as UTF-8 text")
    return text


def read_blocks(path: str | Path, num_columns: int, layout: str | None = None) -> list[Block]:
    """Split a file into sentences of `num_columns` columns, checking the shape of every line.
    `layout` names the expected columns in the error message (default: token<TAB>tag)."""
    path = Path(path)
    blocks: list[Block] = []
    rows: list[tuple[int, list[str]]] = []
    document = 0

    def flush() -> None:
        if rows:
            columns = tuple(tuple(col) for col in zip(*(fields for _, fields in rows)))
            blocks.append(Block(tuple(n for n, _ in rows), columns, document))
            rows.clear()

    for number, line in enumerate(_decode(path).split("\n"), start=1):
        line = line.rstrip().removeprefix("\ufeff")  # a BOM mid-file: files joined with cat
        if not line:
            flush()
            continue
        if "\r" in line:
            raise InputError(f"{path}:{number}: carriage return (\\r) inside a line (old Mac "
                             "line ends, or a stray \\r); convert the line ends to \\n")
        fields = list(map(str.strip, line.split("\t"))) if "\t" in line else line.split()
        if fields[0] == DOCSTART:
            flush()
            document += 1 if blocks else 0
            continue
        if len(fields) != num_columns:
            expected = layout or ("token<TAB>tag" if num_columns == 2
                                  else f"{num_columns} tab-separated columns")
            raise InputError(
                f"{path}:{number}: found {len(fields)} column(s), expected {expected}; "
                "sentences are separated by one blank line"
            )
        if not fields[0]:
            raise InputError(f"{path}:{number}: empty token; remove the line or give the token")
        rows.append((number, fields))
    flush()
    return blocks


def first_iobes_line(blocks: list[Block], column: int = 1) -> int | None:
    """Line of the first S-/E- tag in a column: a file with one is IOBES throughout."""
    for block in blocks:
        joined = "\n" + "\n".join(block.columns[column])
        if "\nS-" in joined or "\nE-" in joined:  # a fast scan; the loop finds the line
            return next(line for line, tag in zip(block.lines, block.columns[column])
                        if tag[:2] in ("S-", "E-"))
    return None


def check_tags(path: Path, block: Block, tags: list[str], repair: bool,
               iobes_from: int | None = None, *, what: str = "tag",
               stray_inside: bool = False) -> tuple[list[str], int]:
    """Validate one sentence's tags and return them as IOB2 (and the number of repairs).

    The scheme is the file's: IOBES when `iobes_from` (the line of the file's first S-/E-
    tag) is given, else IOB2. IOBES must be valid in every sentence. In IOB2 an I-X that
    follows neither B-X nor I-X stops the read, unless `repair` (it becomes B-X) or
    `stray_inside` (predictions: left as they are for the scorer's strict and default modes).
    """
    for i, tag in enumerate(tags):
        problem = tagging.tag_problem(tag)
        if problem is not None:
            raise InputError(f"{path}:{block.lines[i]}: {what} {tag!r} {problem}")
    if iobes_from is not None:
        found = tagging.iobes_problem(tags)
        if found is not None:
            bad, why = found
            raise InputError(
                f"{path}:{block.lines[bad]}: tag sequence breaks IOBES at {tags[bad]!r}: {why} "
                f"(the file is IOBES, with S-/E- tags from line {iobes_from}; a file uses one "
                "scheme throughout)"
            )
        return tagging.iobes_to_iob2(tags), 0
    bad = tagging.iob2_violation(tags)
    if bad is None or stray_inside:
        return tags, 0
    if repair:
        return tagging.repair_iob2(tags)
    kind = tagging.entity_type(tags[bad])
    raise InputError(
        f"{path}:{block.lines[bad]}: {tags[bad]} follows "
        f"{tags[bad - 1] if bad else 'the sentence start'}, not B-{kind} or I-{kind}; "
        f"fix the file or read it with repair (turns it into B-{kind})"
    )


def tag_column(path: str | Path, blocks: list[Block], column: int = 1, *, repair: bool = False,
               what: str = "tag", stray_inside: bool = False) -> tuple[list[list[str]], int]:
    """One column of a file's tags, checked (see `check_tags`) and as IOB2; and the repairs."""
    path, iobes_from = Path(path), first_iobes_line(blocks, column)
    sequences, repairs = [], 0
    for block in blocks:
        fixed, count = check_tags(path, block, list(block.columns[column]), repair, iobes_from,
                                  what=what, stray_inside=stray_inside)
        sequences.append(fixed)
        repairs += count
    return sequences, repairs


def read_split(path: str | Path, *, labels: str = "iob", repair: bool = False) -> list[Sentence]:
    """Read one split. labels='iob' checks and normalises tags to IOB2; 'plain' (POS) does not."""
    path = Path(path)
    blocks = read_blocks(path, 2)
    if not blocks:
        raise InputError(f"{path}: no sentences; a split needs at least one token<TAB>tag line")
    if labels == "iob":
        tags, repairs = tag_column(path, blocks, repair=repair)
    else:
        tags, repairs = [list(b.columns[1]) for b in blocks], 0
    sentences = [Sentence(b.columns[0], tuple(t), b.document) for b, t in zip(blocks, tags)]
    if repairs:
        log.warning("%s: repaired %d I- tag(s) that followed neither B- nor I- of their type "
                    "(now B-)", path, repairs)
    return sentences


def write_split(path: str | Path, sentences: list[Sentence], scheme: str = "IOB2") -> None:
    """Write sentences as token<TAB>tag, converting tags to `scheme` (IOB2 or IOBES)."""
    path = Path(path)
    lines = []
    document = 0
    for sentence in sentences:
        if sentence.document != document:
            lines += [f"{DOCSTART}\tO", ""]
            document = sentence.document
        tags = tagging.convert(sentence.tags, scheme) if scheme else sentence.tags
        lines += [f"{tok}\t{tag}" for tok, tag in zip(sentence.tokens, tags)] + [""]
    write_text(path, "\n".join(lines))
