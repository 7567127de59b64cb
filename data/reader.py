"""Reader for CoNLL-style token<TAB>tag files (plain or gzip), with one-line errors.

A blank line ends a sentence; `-DOCSTART-` lines start a new document. CRLF and trailing
spaces are tolerated. Anything else that is off (column count, empty token, bad bytes, a
broken tag sequence, an empty split) raises InputError naming the file and line.
"""

from __future__ import annotations

import gzip
import logging
from dataclasses import dataclass
from pathlib import Path

from data import tags as tagging
from data.errors import InputError

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


def _decode(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror or err}); check the path") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise InputError(
            f"{path}:{line}: bytes that are not UTF-8 ({raw[err.start:err.end]!r}); "
            "re-encode the file as UTF-8"
        ) from None


def read_blocks(path: str | Path, num_columns: int) -> list[Block]:
    """Split a file into sentences of `num_columns` columns, checking the shape of every line."""
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
        line = line.rstrip()
        if not line:
            flush()
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        if fields[0] == DOCSTART:
            flush()
            document += 1 if blocks else 0
            continue
        if len(fields) != num_columns:
            expected = ("token<TAB>tag" if num_columns == 2
                        else f"{num_columns} tab-separated columns")
            raise InputError(
                f"{path}:{number}: found {len(fields)} column(s), expected {expected}; "
                "sentences are separated by one blank line"
            )
        if not fields[0].strip():
            raise InputError(f"{path}:{number}: empty token; remove the line or give the token")
        rows.append((number, fields))
    flush()
    return blocks


def check_tags(path: Path, block: Block, tags: list[str], repair: bool) -> tuple[list[str], int]:
    """Validate one sentence's IOB2/IOBES tags; with `repair`, fix a stray I-X into B-X."""
    for i, tag in enumerate(tags):
        try:
            prefix, _ = tagging.split_tag(tag)
        except ValueError:
            prefix = ""
        if prefix not in tagging.IOBES_PREFIXES | {tagging.OUTSIDE}:
            raise InputError(
                f"{path}:{block.lines[i]}: tag {tag!r} is not O, B-TYPE, I-TYPE (or IOBES S-/E-)"
            )
    if tagging.detect_scheme(tags) == "IOBES":
        bad = tagging.iobes_violation(tags)
        if bad is not None:
            line = block.lines[min(bad, len(tags) - 1)]
            raise InputError(
                f"{path}:{line}: tag sequence breaks IOBES at {tags[min(bad, len(tags) - 1)]!r} "
                "(a file must use one scheme: IOB2, or IOBES with S-/E- throughout)"
            )
        return tagging.iobes_to_iob2(tags), 0
    bad = tagging.iob2_violation(tags)
    if bad is None:
        return tags, 0
    if repair:
        return tagging.repair_iob2(tags)
    kind = tagging.entity_type(tags[bad])
    raise InputError(
        f"{path}:{block.lines[bad]}: {tags[bad]} follows "
        f"{tags[bad - 1] if bad else 'the sentence start'}, not B-{kind} or I-{kind}; "
        f"fix the file or read it with repair (turns it into B-{kind})"
    )


def read_split(path: str | Path, *, labels: str = "iob", repair: bool = False) -> list[Sentence]:
    """Read one split. labels='iob' checks and normalises tags to IOB2; 'plain' (POS) does not."""
    path = Path(path)
    sentences, repairs = [], 0
    for block in read_blocks(path, 2):
        tokens, tags = block.columns
        if labels == "iob":
            fixed, count = check_tags(path, block, list(tags), repair)
            tags, repairs = tuple(fixed), repairs + count
        sentences.append(Sentence(tokens, tags, block.document))
    if not sentences:
        raise InputError(f"{path}: no sentences; a split needs at least one token<TAB>tag line")
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
    path.write_text("\n".join(lines), encoding="utf-8")
