"""What both sides of a benchmark share: the same sentences, the same clock, the same
memory reading."""

from __future__ import annotations

import contextlib
import resource
import sys
import time
from dataclasses import dataclass


def slice_of(corpus: str, fraction: float, seed: int, test_sentences: int):
    """(train, test) sentences exactly as the trainer cuts them for a run with these settings."""
    from bioner_mtl.data.ablation import subsample
    from bioner_mtl.data.corpora import load_corpus

    loaded = load_corpus(corpus)
    return subsample(loaded.train, fraction, seed), loaded.test[:test_sentences]


@dataclass
class Clock:
    seconds: float = 0.0


@contextlib.contextmanager
def timed():
    clock, started = Clock(), time.perf_counter()
    yield clock
    clock.seconds = time.perf_counter() - started


def memory() -> dict[str, float]:
    """Resident memory now and at its peak (this process, MB). Linux reads /proc; elsewhere
    only the peak is known."""
    found = {}
    with contextlib.suppress(OSError):
        with open("/proc/self/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(value.split()[0]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mb = peak / 2**20 if sys.platform == "darwin" else peak / 1024
    return {"rss_mb": found.get("VmRSS", peak_mb), "peak_rss_mb": found.get("VmHWM", peak_mb)}


def in_fresh_process(function, spec: dict) -> dict:
    """`function(spec)` in a spawned process of its own, so the peak memory it reads is its
    own and not what an earlier measurement left behind; TensorFlow starts quietly."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from bioner_mtl.training import quiet_tensorflow

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context, initializer=quiet_tensorflow.install,
                             initargs=(quiet_tensorflow.verbose_requested(),)) as pool:
        return pool.submit(function, spec).result()
