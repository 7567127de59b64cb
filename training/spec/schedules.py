"""Multi-task schedules: which task each step trains, one epoch at a time.

How much of each task and in what order are the two knobs (as AllenNLP splits them). Each
task's batches come from an endless shuffled stream, so a schedule only names tasks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bioner_mtl.data.errors import InputError

# (main task, {task: batches in one pass over its training split}, rng) -> task per step
Schedule = Callable[[str, dict[str, int], np.random.Generator], list[str]]


def random_task(main: str, batches: dict[str, int], rng: np.random.Generator) -> list[str]:
    """CRICHTON: each step a corpus drawn uniformly. An epoch has k x the main corpus's
    batches for k corpora, so the main corpus averages one pass per epoch, as in its
    single-task model (an epoch of the main corpus's batches alone gave it 1/k of a pass)."""
    tasks = list(batches)
    return [tasks[i] for i in rng.integers(len(tasks), size=batches[main] * len(tasks))]


def alternate(main: str, batches: dict[str, int], rng: np.random.Generator) -> list[str]:
    """WANG: turns of one main batch then one batch of each auxiliary; as many turns as the
    main corpus has batches."""
    turn = [main] + [t for t in batches if t != main]
    return turn * batches[main]


def shuffled(main: str, batches: dict[str, int], rng: np.random.Generator) -> list[str]:
    """KHAN algorithm I: every corpus's batches of one pass, merged and shuffled."""
    order = [t for t, n in batches.items() for _ in range(n)]
    return [order[i] for i in rng.permutation(len(order))]


def sequential(main: str, batches: dict[str, int], rng: np.random.Generator) -> list[str]:
    """KHAN algorithm II: corpus after corpus, auxiliaries first, the main corpus last."""
    order = [t for t in batches if t != main] + [main]
    return [t for t in order for _ in range(batches[t])]


def round_robin(main: str, batches: dict[str, int], rng: np.random.Generator) -> list[str]:
    """RODRIGUEZ: one batch per corpus in turn; a corpus whose pass ended sits out."""
    longest = max(batches.values())
    return [t for k in range(longest) for t, n in batches.items() if k < n]


def round_robin_upsample(main: str, batches: dict[str, int], rng: np.random.Generator
                         ) -> list[str]:
    """RODRIGUEZ with upsampling: smaller corpora are resampled until the largest is done."""
    return list(batches) * max(batches.values())


SCHEDULES: dict[str, Schedule] = {
    "random": random_task,
    "alternate": alternate,
    "shuffled": shuffled,
    "sequential": sequential,
    "round-robin": round_robin,
    "round-robin-upsample": round_robin_upsample,
}


def get_schedule(name: str) -> Schedule:
    if name not in SCHEDULES:
        raise InputError(f"unknown schedule {name!r}; valid schedules: {', '.join(SCHEDULES)}")
    return SCHEDULES[name]
