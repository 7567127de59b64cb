"""Readers for pre-trained vector files: word2vec binary, word2vec text, GloVe text.

The papers used GloVe 6B (WANG) and PubMed-PMC word2vec (CRICHTON); a user who has such a
file points at it. Files are streamed, so multi-gigabyte vectors do not need twice their
size in memory, and every malformed line stops the load with its line number.
"""

from __future__ import annotations

import gzip
import logging
import re
from pathlib import Path
from typing import BinaryIO

import numpy as np

from bioner_mtl.data.errors import InputError
from bioner_mtl.embeddings.vectors import WordVectors

log = logging.getLogger(__name__)

_NPZ_MAGIC = b"PK\x03\x04"
_CHUNK = 1 << 20
_FIELDS = re.compile(r"[ \t]+")  # not str.split(): GloVe words may hold other white space


def load_vectors(path: str | Path) -> WordVectors:
    """Read vectors: `.bin` is word2vec binary; other files are word2vec text (first line
    "count dim") or GloVe (no header); files written by WordVectors.save are recognised too.
    A `.gz` suffix is read through gzip."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such vectors file; give a word2vec (.bin or text) or "
                         "GloVe file, or train vectors with experiments/vectors.py train")
    with path.open("rb") as raw:
        magic = raw.read(4)
    if magic == _NPZ_MAGIC:
        return WordVectors.load(path)
    compressed = path.suffix == ".gz"
    binary = (path.stem if compressed else path.name).endswith(".bin")
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as handle:
            words, matrix = (_read_binary if binary else _read_text)(path, handle)
    except (OSError, EOFError) as err:
        raise InputError(f"{path}: cannot read ({err}); check the file is complete") from None
    vectors = _dedupe(path, words, matrix)
    vectors.origin = str(path)
    log.info("%s: %d vectors of dimension %d", path, len(vectors), vectors.dim)
    return vectors


def _empty(path: Path) -> InputError:
    return InputError(f"{path}: empty file; a vectors file needs one 'word v1 v2 ...' line "
                      "per word (word2vec text also a 'count dim' header)")


def _decode(word: bytes, bad: list[int]) -> str:
    try:
        return word.decode("utf-8")
    except UnicodeDecodeError:
        bad.append(1)  # the C word2vec tool cuts long words mid-character; keep them readable
        return word.decode("utf-8", errors="replace")


def _header(line: str) -> tuple[int, int] | None:
    fields = line.split()
    if len(fields) == 2 and all(f.isdigit() for f in fields):
        return int(fields[0]), int(fields[1])
    return None


def _read_text(path: Path, handle: BinaryIO) -> tuple[list[str], np.ndarray]:
    words: list[str] = []
    rows: list[np.ndarray] = []
    bad: list[int] = []
    count, dim, origin = None, 0, ""
    for number, raw in enumerate(handle, start=1):
        if not raw.strip():
            continue
        fields = _FIELDS.split(_decode(raw, bad).strip(" \t\r\n"))
        if not dim:
            header = _header(" ".join(fields))
            if header is not None:
                count, dim = header
                origin = f"the header on line {number} says"
                if dim < 1:
                    raise InputError(f"{path}:{number}: header gives dimension {dim}; "
                                     "it must be at least 1")
                continue
            dim, origin = len(fields) - 1, f"line {number} has"
            if dim < 1:
                raise InputError(f"{path}:{number}: expected 'word v1 v2 ...' (or a word2vec "
                                 "'count dim' header); found a single field")
        if len(fields) != dim + 1:
            raise InputError(f"{path}:{number}: found {len(fields) - 1} numbers after the word, "
                             f"expected {dim} ({origin} {dim}); every line needs the word "
                             "then one number per dimension")
        try:
            row = np.array(fields[1:], dtype=np.float32)
        except ValueError:
            raise InputError(f"{path}:{number}: a value is not a number; every line needs the "
                             "word then one number per dimension") from None
        if not np.isfinite(row).all():
            raise InputError(f"{path}:{number}: value is NaN or infinite; fix or drop the line")
        words.append(fields[0])
        rows.append(row)
    if not words:
        raise _empty(path)
    if count is not None and count != len(words):
        raise InputError(f"{path}: the header says {count} vectors but the file holds "
                         f"{len(words)}; fix the header's first number (or the truncated file)")
    if bad:
        log.warning("%s: %d word(s) are not valid UTF-8; bad bytes became U+FFFD", path, len(bad))
    return words, np.stack(rows)


def _read_binary(path: Path, handle: BinaryIO) -> tuple[list[str], np.ndarray]:
    first = handle.readline()
    if not first.strip():
        raise _empty(path)
    header = _header(first.decode("ascii", errors="replace"))
    if header is None or header[1] < 1:
        raise InputError(f"{path}:1: a word2vec binary file starts with a 'count dim' line, "
                         f"found {first[:40]!r}; is it a text file? (rename it without .bin)")
    count, dim = header
    if not count:
        raise _empty(path)
    record = 4 * dim
    matrix = np.empty((count, dim), dtype=np.float32)
    words: list[str] = []
    bad: list[int] = []
    buffer, pos = b"", 0
    for i in range(count):
        while True:
            space = buffer.find(b" ", pos)
            if space >= 0 and len(buffer) - space - 1 >= record:
                break
            chunk = handle.read(_CHUNK)
            if not chunk:
                raise InputError(f"{path}: ends after {i} of the {count} vectors its header "
                                 "promises; the file is truncated or the header is wrong")
            buffer, pos = buffer[pos:] + chunk, 0
        word = buffer[pos:space].lstrip(b"\n\r")
        if not word:
            raise InputError(f"{path}: vector {i + 1} has an empty word; the file is damaged")
        words.append(_decode(word, bad))
        matrix[i] = np.frombuffer(buffer, dtype="<f4", count=dim, offset=space + 1)
        pos = space + 1 + record
    if (buffer[pos:] + handle.read(_CHUNK)).strip():
        raise InputError(f"{path}: data after the {count} vectors the header promises; "
                         "fix the header's first number")
    if not np.isfinite(matrix).all():
        first_bad = int(np.flatnonzero(~np.isfinite(matrix).all(axis=1))[0])
        raise InputError(f"{path}: vector {first_bad + 1} ({words[first_bad]!r}) holds NaN or "
                         "infinite values; the file is damaged")
    if bad:
        log.warning("%s: %d word(s) are not valid UTF-8; bad bytes became U+FFFD", path, len(bad))
    return words, matrix


def _dedupe(path: Path, words: list[str], matrix: np.ndarray) -> WordVectors:
    """Keep the first vector of a repeated word, as gensim does, and say how many went."""
    seen: dict[str, int] = {}
    for i, word in enumerate(words):
        seen.setdefault(word, i)
    if len(seen) == len(words):
        return WordVectors(words, matrix)
    log.warning("%s: %d repeated word(s); kept the first vector of each",
                path, len(words) - len(seen))
    keep = sorted(seen.values())
    return WordVectors([words[i] for i in keep], matrix[keep])
