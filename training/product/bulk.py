"""Tagging a large input in several processes, results in input order, memory bounded.

The reading process only cuts the input into chunks and writes what comes back: a chunk of
text is a list of `Segment`s, raw text cut where a sentence ends (`text_pieces`); a chunk of
CoNLL input is its `Sentences`, tokenised already. `Engine.tagged` sends each chunk to a pool
of spawned worker processes (the standard library's ProcessPoolExecutor), each holding the
bundle once, which split the text into sentences and tokens, tag them and write the output
text (`run_chunk`); the results come back in the order the chunks were read. At most
`2 x workers` chunks are in flight, so the reader never runs ahead of the writer by more than
that, whatever the input's size. With one worker, or an input of one chunk, the chunks are
tagged in this process by the same `run_chunk`, so the output is the same.

Why a chunk of text splits into the sentences the whole text does: the sentence splitter
(data.text) decides whether a sentence ends after a word from that word, the token before it
and the word after it, so `text_pieces` ends a chunk only where the splitter, shown those
three words, starts a sentence (or a paragraph). Text with no sentence end is cut before a
word after MAX_PIECE characters, as one long sentence would be cut anyway.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple

from bioner_mtl.data.text import split_sentences
from bioner_mtl.training import quiet_tensorflow

AHEAD = 2  # chunks in flight per worker: one being tagged, one waiting
SENTENCE_CHARS = 128  # a chunk of text is --chunk x this many characters (corpora: ~120 each)
MAX_PIECE = 1 << 16  # text with no sentence end is cut before a word after this many characters
CHUNK_TOKENS = 50_000  # a batch also ends at this many tokens (1000 sentences: about 25,000)


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# ----- what the reading process does: cut the input into chunks ---------------------------
def text_pieces(lines: Iterable[str], size: int) -> Iterator[tuple[int, str]]:
    """(offset, text) pieces of the text given in `lines`, about `size` characters each: a
    piece ends at the last sentence end before `size` characters, else at the first after;
    where there is none within max(size, MAX_PIECE) characters, before the last word."""
    text, base, wanted = "", 0, size  # wanted: characters to have before looking for an end
    for line in lines:
        text += line
        start = 0
        while len(text) >= start + wanted:
            most = start + max(size, MAX_PIECE)
            cut = (_sentence_start(text, start, start, start + size, last=True)
                   or _sentence_start(text, start, start + size, most, last=False)
                   or (len(text) >= most and _before_last_word(text, start, most)))
            if not cut:  # look again when there is twice as much (a long sentence)
                wanted = min(2 * (len(text) - start), most - start)
                break
            yield base + start, text[start:cut]
            start, wanted = cut, size
        text, base = text[start:], base + start
    if text:
        yield base, text


# whitespace right after . ! ? or a closing bracket or quote, or from a blank line on: where a
# sentence may start (the splitter decides: _starts_sentence); possessive, so linear in time
_GAP = re.compile(r"(?<=[.!?)\]}\"'\u2019\u201d\u00bb])\s++|\n[^\S\n]*+\n\s*+|\u2029\s*+")


def _sentence_start(text: str, start: int, lo: int, hi: int, last: bool) -> int | None:
    """The last (or first) place in text[lo:hi] where a sentence starts, in a piece of
    `text` that starts at `start`."""
    ends = [gap.end() for gap in _GAP.finditer(text, lo, hi)]
    return next((at for at in (reversed(ends) if last else ends)
                 if _starts_sentence(text, at, start)), None)


def _starts_sentence(text: str, at: int, start: int) -> bool:
    """Does a sentence start at the word at `at` (after whitespace), judged by splitting that
    word and the two before it (not before `start`), all the splitter looks at? The word
    must be whole (whitespace after it) and have a word before it after `start`."""
    end = at
    while end < len(text) and not text[end].isspace():
        end += 1
    if end == len(text) or at == end:
        return False
    first = at
    for words in range(2):
        while first > start and text[first - 1].isspace():
            first -= 1
        while first > start and not text[first - 1].isspace():
            first -= 1
        if first == start and words == 0:
            return False
    return any(s[0].start == at - first for s in split_sentences(text[first:end]))


def _before_last_word(text: str, start: int, end: int) -> int:
    """Where text[start:end] is cut when no sentence ends in it: before its last word (which
    may go on), or at `end` if it is all one word."""
    cut = end
    while cut > start and not text[cut - 1].isspace():
        cut -= 1
    return cut if cut > start else end


def batches(items: Iterable, size: int, tokens=len) -> Iterator[list]:
    """Lists of `size` items, or fewer where their `tokens` reach CHUNK_TOKENS: pieces of an
    over-long sentence make batches of no more tokens than ordinary text does."""
    iterator = iter(items)
    while True:
        batch, total = [], 0
        for item in iterator:
            batch.append(item)
            total += tokens(item)
            if len(batch) >= size or total >= CHUNK_TOKENS:
                break
        if not batch:
            return
        yield batch


class Segment(NamedTuple):
    """Raw text of one document, from `offset` in it (a text file is one document)."""

    document: int  # its number in the input
    name: str  # what JSON lines output calls it
    offset: int
    text: str


class Sentences(NamedTuple):
    """Sentences of CoNLL input, tokenised already; `first` is the number of the first."""

    name: str
    first: int
    words: list[list[str]]
    documents: list[int] | None = None  # each sentence's -DOCSTART- block (None: its own)


# ----- what a worker (or this process, with one) does with a chunk -------------------------
@dataclasses.dataclass(frozen=True)
class Job:
    """What every chunk of a run is tagged with and written as."""

    model: str  # the bundle's directory
    heads: Sequence[str] | None  # None: every NER head
    format: str  # jsonl, conll, brat, or bioc, bioc-json, pubtator (mentions collected)
    min_confidence: float | None = None
    batch: int = 1000  # sentences tagged at once (--chunk)
    max_tokens: int = 512  # a longer sentence is tagged in pieces of this many tokens
    precision: str | None = None  # float32 or bfloat16 for a BERT encoder (None: the bundle's)


class Tagged(NamedTuple):
    """A chunk, tagged and written."""

    sentences: int  # how many were tagged (the pieces of an over-long one counted apart)
    text: str  # the output in JSON lines or CoNLL
    found: list  # BRAT lines for the writer to number, or (document, Mention) to collect


def split_long(sentences: Iterable[Sequence], max_tokens: int) -> Iterator[Sequence]:
    """Each sentence, cut into pieces of at most `max_tokens` tokens: one over-long
    "sentence" (text with no sentence end) never becomes one huge row of a batch."""
    for sentence in sentences:
        if len(sentence) <= max_tokens:
            yield sentence
        else:
            for start in range(0, len(sentence), max_tokens):
                yield sentence[start:start + max_tokens]


def run_chunk(tagger, job: Job, chunk: list[Segment] | Sentences) -> Tagged:
    """Split the chunk's text into sentences and tokens, tag them with every chosen head in
    batches of `job.batch`, and write them in `job.format`."""
    if isinstance(chunk, Sentences):  # (where, sentence number, words)
        units = [(chunk, chunk.first + i, words) for i, words in enumerate(chunk.words)]
    else:  # (where, tokens with offsets into the segment, words)
        units = [(segment, tokens, [t.text for t in tokens]) for segment in chunk
                 for tokens in split_long(split_sentences(segment.text), job.max_tokens)]
    text: list[str] = []
    found: list = []
    for batch in batches(units, job.batch, lambda unit: len(unit[2])):
        words = [unit[2] for unit in batch]
        # a packing bundle packs only sentences of one document
        if isinstance(chunk, Sentences):
            documents = (None if chunk.documents is None
                         else [chunk.documents[at - chunk.first] for _, at, _ in batch])
        else:
            documents = [unit[0].document for unit in batch]
        if job.format == "conll":  # one token a line, a tag column per head
            tags = [t for t, _ in tagger.tag_sentences(words, job.heads, documents).values()]
            text += ["".join("\t".join([word, *(t[i][j] for t in tags)]) + "\n"
                             for j, word in enumerate(sentence)) + "\n"
                     for i, sentence in enumerate(words)]
            continue
        for (where, at, sentence), entities in zip(batch, tagger.entities(
                words, job.heads, job.min_confidence, documents)):
            for entity in entities:
                row = _row(where, at, sentence, *entity)
                if job.format == "jsonl":
                    text.append(json.dumps({"document": where.name, **row},
                                           ensure_ascii=False) + "\n")
                elif job.format == "brat":  # one line: whitespace in the text shown as spaces
                    shown = re.sub(r"\s", " ", row["text"])
                    found.append(f"{brat_type(row['head'], row['type'])} {row['start']} "
                                 f"{row['end']}\t{shown}\n")
                else:
                    found.append((where.document, predicted_mention(row)))
    return Tagged(len(units), "".join(text), found)


def _row(where, at, words, head, kind, start, end, confidence) -> dict:
    """An entity as JSON lines write it: character offsets into the document, or for CoNLL
    input (no characters) its sentence's number and token offsets within it."""
    if isinstance(where, Sentences):
        return dict(head=head, type=kind, sentence=at, start=start, end=end,
                    text=" ".join(words[start:end]), confidence=round(confidence, 4))
    from bioner_mtl.training.product.bundle import with_offsets

    row = dataclasses.asdict(with_offsets([(head, kind, start, end, confidence)], at,
                                          where.text)[0])
    return {**row, "start": where.offset + row["start"], "end": where.offset + row["end"]}


def brat_type(head: str, kind: str) -> str:
    return re.sub(r"[^0-9A-Za-z_-]", "_", f"{head}_{kind}")


def predicted_mention(entity: dict):
    """An entity (as predict writes it in JSON lines) as a document's mention."""
    from bioner_mtl.data.documents import Mention

    return Mention(entity["start"], entity["end"], entity["type"], entity["text"],
                   infons={"head": entity["head"], "confidence": str(entity["confidence"])})


_WORKER: dict = {}  # what one worker process holds: the bundle it loaded


def _start_worker(threads: int, verbose: bool) -> None:
    """Worker start-up: TensorFlow quiet, and its threads a share of the cores (2 workers x
    2 threads on 2 cores is slower than 2 x 1), set before any op runs."""
    quiet_tensorflow.install(verbose)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def tag_chunk(job: Job, chunk) -> Tagged:
    """One chunk in a worker: the bundle is loaded on the first call (a damaged bundle's
    InputError travels back to the reader as it is), then kept."""
    if _WORKER.get("model") != (job.model, job.precision):
        from bioner_mtl.training.product.bundle import load

        _WORKER.update(model=(job.model, job.precision), tagger=load(job.model, job.precision))
    return run_chunk(_WORKER["tagger"], job, chunk)


class Engine:
    """Tags chunks for a job in `workers` processes (or this one), results in order."""

    def __init__(self, job: Job, workers: int, load_here: Callable[[], object]):
        self.job, self.workers, self.load_here = job, workers, load_here
        self.pool = self.tagger = None

    def tagged(self, chunks: Iterable) -> Iterator[tuple[object, Tagged]]:
        """(chunk, what run_chunk made of it) for every chunk, in order."""
        chunks = iter(chunks)
        first = next(chunks, None)
        if first is None:
            return
        second = next(chunks, None)
        if self.pool is None and (self.workers == 1 or second is None):
            if self.tagger is None:
                self.tagger = self.load_here()
            for chunk in _chained(first, second, chunks):
                yield chunk, run_chunk(self.tagger, self.job, chunk)
            return
        pending: collections.deque = collections.deque()
        for chunk in _chained(first, second, chunks):
            pending.append((chunk, self._submit(chunk)))
            if len(pending) >= AHEAD * self.workers:
                chunk, future = pending.popleft()
                yield chunk, future.result()
        while pending:
            chunk, future = pending.popleft()
            yield chunk, future.result()

    def _submit(self, chunk):
        if self.pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            threads = max(1, default_workers() // self.workers)
            self.pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(threads, quiet_tensorflow.verbose_requested()))
        return self.pool.submit(tag_chunk, self.job, chunk)

    def close(self, cancel: bool = False) -> None:
        """Stop the workers: after the last chunk, or at once (an error, an interrupt)."""
        if self.pool is None:
            return
        if cancel:
            for process in list((getattr(self.pool, "_processes", None) or {}).values()):
                process.terminate()
        self.pool.shutdown(wait=not cancel, cancel_futures=cancel)
        self.pool = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, kind, error, trace) -> None:
        self.close(cancel=error is not None)


def _chained(first, second, rest):
    yield first
    if second is not None:
        yield second
        yield from rest
