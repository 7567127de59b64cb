"""Tagging a large input in several processes, results in input order, memory bounded.

The reading process cuts the input into chunks of sentences (already tokenised) and writes
the results; `Engine.tagged` sends each chunk to a pool of spawned worker processes (the
standard library's ProcessPoolExecutor), each holding the bundle once, and yields the results
back in the order the chunks were read. At most `2 x workers` chunks are in flight, so the
reader never runs ahead of the writer by more than that, whatever the input's size. With one
worker, or an input of one chunk, the chunks are tagged in this process instead (no pool
start-up for a short text); both paths call the same Tagger, so their output is the same.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterable, Iterator, Sequence

from bioner_mtl.training import quiet_tensorflow

AHEAD = 2  # chunks in flight per worker: one being tagged, one waiting


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def split_long(sentences: Iterable[Sequence], max_tokens: int) -> Iterator[Sequence]:
    """Each sentence, cut into pieces of at most `max_tokens` tokens: one over-long
    "sentence" (text with no sentence end) never becomes one huge row of a batch."""
    for sentence in sentences:
        if len(sentence) <= max_tokens:
            yield sentence
        else:
            for start in range(0, len(sentence), max_tokens):
                yield sentence[start:start + max_tokens]


# ----- what one worker process holds and does ---------------------------------------------
_JOB: dict = {}


def _start_worker(threads: int, verbose: bool) -> None:
    """Worker start-up: TensorFlow quiet, and its threads a share of the cores (2 workers x
    2 threads on 2 cores is slower than 2 x 1), set before any op runs."""
    quiet_tensorflow.install(verbose)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def tag_chunk(model: str, heads: list[str] | None, entities: bool,
              min_confidence: float | None, words: list[list[str]]):
    """One chunk in a worker: the bundle is loaded on the first call (a damaged bundle's
    InputError travels back to the reader as it is), then kept."""
    if _JOB.get("model") != model:
        from bioner_mtl.training.product.bundle import load

        _JOB.update(model=model, tagger=load(model))
    return run_chunk(_JOB["tagger"], heads, entities, min_confidence, words)


def run_chunk(tagger, heads, entities: bool, min_confidence, words):
    """Entities per sentence (`Tagger.entities`), or the tags of every head (CoNLL output:
    confidences are not written, so they are not sent back)."""
    if entities:
        return tagger.entities(words, heads, min_confidence)
    return {head: tags for head, (tags, _) in tagger.tag_sentences(words, heads).items()}


class Engine:
    """Tags chunks with a bundle in `workers` processes (or this one), results in order."""

    def __init__(self, model: str, heads: list[str] | None, entities: bool,
                 min_confidence: float | None, workers: int,
                 load_here: Callable[[], object]):
        self.job = (model, heads, entities, min_confidence)
        self.workers, self.load_here = workers, load_here
        self.pool = self.tagger = None

    def tagged(self, chunks: Iterable, words: Callable[[object], list[list[str]]]
               ) -> Iterator[tuple[object, object]]:
        """(chunk, result) for every chunk, in order; `words(chunk)` gives its tokens."""
        chunks = iter(chunks)
        first = next(chunks, None)
        if first is None:
            return
        second = next(chunks, None)
        if self.pool is None and (self.workers == 1 or second is None):
            yield from self._here(first, second, chunks, words)
            return
        pending: collections.deque = collections.deque()
        for chunk in _chained(first, second, chunks):
            pending.append((chunk, self._submit(words(chunk))))
            if len(pending) >= AHEAD * self.workers:
                chunk, future = pending.popleft()
                yield chunk, future.result()
        while pending:
            chunk, future = pending.popleft()
            yield chunk, future.result()

    def _here(self, first, second, chunks, words):
        if self.tagger is None:
            self.tagger = self.load_here()
        _, heads, entities, min_confidence = self.job
        for chunk in _chained(first, second, chunks):
            yield chunk, run_chunk(self.tagger, heads, entities, min_confidence, words(chunk))

    def _submit(self, words):
        if self.pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            threads = max(1, default_workers() // self.workers)
            self.pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(threads, quiet_tensorflow.verbose_requested()))
        return self.pool.submit(tag_chunk, *self.job, words)

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
