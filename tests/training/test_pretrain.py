"""The dependent model's POS branch trains until its devel accuracy stops improving (CRICHTON
trained it to convergence, 98.10% on GENIA-POS), and keeps the best evaluation's weights."""

from __future__ import annotations

import numpy as np

from bioner_mtl.models.configs import POS_TASK
from bioner_mtl.training.fit.batches import BatchStream
from bioner_mtl.training.fit.trainer import Trainer, stream_rng


def test_pretraining_stops_when_accuracy_stalls_and_keeps_the_best_weights(tiny_run,
                                                                          monkeypatch):
    run = tiny_run("NCBI-disease", (), "dependent-cnn", pretrain_steps=100,
                   pretrain_eval_every=10, pretrain_patience=1)
    trainer = Trainer(run, progress=False)
    scripted = iter([0.50, 0.70, 0.60, 0.65, 0.99])  # best at the 2nd evaluation, then 2 worse
    snapshots = {}

    def accuracy(task, split):
        value = next(scripted)
        snapshots[value] = [w.numpy().copy() for w in trainer.model.heads[POS_TASK].weights]
        return value

    monkeypatch.setattr(trainer, "accuracy", accuracy)
    streams = {n: BatchStream(t.train, 8, stream_rng(run.seed, n))
               for n, t in trainer.tasks.items()}
    reached = trainer._pretrain((POS_TASK,), streams)[POS_TASK]
    assert reached == {"devel_accuracy": 0.70, "best_step": 20, "steps": 40,
                       "stopped": "patience"}
    now = [w.numpy() for w in trainer.model.heads[POS_TASK].weights]
    assert all(np.array_equal(a, b) for a, b in zip(now, snapshots[0.70]))
    assert not all(np.array_equal(a, b) for a, b in zip(now, snapshots[0.65]))


def test_the_record_holds_the_accuracy_the_pos_branch_reached(tiny_run):
    run = tiny_run("NCBI-disease", (), "dependent-cnn", steps=20, eval_every=10,
                   pretrain_steps=30, pretrain_eval_every=10, pretrain_patience=5)
    trainer = Trainer(run, progress=False)
    record = trainer.fit()
    reached = record.pretrain[POS_TASK]
    assert reached["steps"] == 30 and reached["stopped"] == "cap"
    # the NER phase never changes the frozen POS branch: its accuracy is the one recorded
    assert trainer.accuracy(POS_TASK, "devel") == reached["devel_accuracy"] > 0.2


def test_main_training_starts_with_a_fresh_optimizer(tiny_run):
    """The rate schedule and Adam's state count main-training steps only: after 30
    pretraining steps and 20 main steps the optimizer has taken 20, so a warmed-up, decayed
    rate is where the single-task model's is (review finding: pretraining used it up)."""
    run = tiny_run("NCBI-disease", (), "dependent-cnn", steps=20, eval_every=10, warmup=0.1,
                   pretrain_steps=30, pretrain_eval_every=10, pretrain_patience=5)
    trainer = Trainer(run, progress=False)
    record = trainer.fit()
    assert record.pretrain[POS_TASK]["steps"] == 30
    assert int(trainer.optimizer.iterations.numpy()) == 20  # before: 50, the rate at 0 from 20
