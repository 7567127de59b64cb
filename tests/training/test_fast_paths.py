"""Issue 24's cheaper trainer paths change no number: a run scored the fast way (selection F1
from gold mentions read once, our mention readers) gives the record the path before them
(Trainer(fast=False): evaluate() with seqeval at every devel evaluation) gives."""

from __future__ import annotations

import dataclasses

from bioner_mtl.training.fit.trainer import Trainer

MAIN, AUX = "NCBI-disease", "BioNLP09"
TIMING = ("wall_seconds",)


def test_fast_and_before_paths_give_the_same_record(tiny_run):
    run = tiny_run(MAIN, (AUX,), steps=300, eval_every=25, patience=3, schedule="alternate")
    fast = Trainer(run, progress=False).fit()
    before = Trainer(run, progress=False, fast=False).fit()
    a, b = (dataclasses.asdict(r) for r in (fast, before))
    for key in TIMING:
        a.pop(key), b.pop(key)
    assert len(fast.history) >= 3 and fast.test_f1 > 0
    assert a == b
